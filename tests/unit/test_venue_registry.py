"""Every registered venue has each part (docs/adding-a-venue.md), and nothing else names venues.

One package per venue, ``producers/venues/<venue>/``, discovered: its spec, fees with their
source, client-order-id rule, symbol map, funding interval and settlement, ccxt class,
credentials, recorded replies. These checks fail for a package that leaves a part out or
gets one inconsistent (a rule whose ids its own venue would refuse).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import pkgutil
import re
import tomllib
from decimal import Decimal
from pathlib import Path

import ccxt.async_support as ccxt_async
import pytest

import producers.venues as registry
from producers.live import ws_channels
from projections import executor
from schemas.config import DEFAULT_FEES, MAX_FEE_FRAC, FeeConfig
from schemas.types import base_asset, is_spot
from schemas.venues import DEFAULT_CLIENT_ID, VenueSpec

REPO = Path(__file__).resolve().parents[2]
RESOURCES = REPO / "tests" / "resources"
VENUES = sorted(registry.VENUES)
CREDENTIAL_NAMES = {"apiKey", "secret", "password", "walletAddress", "privateKey"}
URL = re.compile(r"https?://\S+")
#: Venues without recorded replies yet (issue 21): this set may only shrink.
NOT_YET_RECORDED: set[str] = set()


def test_every_package_is_registered_under_its_folder_name() -> None:
    folders = sorted(m.name for m in pkgutil.iter_modules(registry.__path__) if m.ispkg)
    assert folders == VENUES
    assert len(VENUES) >= 10  # the eight live venues of issue 9 plus kraken and dydx


@pytest.mark.parametrize("venue", VENUES)
def test_the_package_holds_a_spec_with_its_sources(venue: str) -> None:
    module = importlib.import_module(f"producers.venues.{venue}")
    spec = module.SPEC
    assert isinstance(spec, VenueSpec) and spec.id == venue
    doc = inspect.getdoc(module) or ""
    assert URL.search(doc), f"{venue}: the package docstring cites no doc link"
    assert URL.search(spec.docs), f"{venue}: SPEC.docs is not a link"


@pytest.mark.parametrize("venue", VENUES)
def test_fees_are_bounded_sourced_and_in_the_default_table(venue: str) -> None:
    fees = registry.VENUES[venue].fees
    assert fees.source.strip(), f"{venue}: fees without a source"
    for frac in (fees.maker, fees.taker):
        assert isinstance(frac, Decimal) and -MAX_FEE_FRAC <= frac <= MAX_FEE_FRAC
    assert fees.maker <= fees.taker  # a base tier never charges makers more than takers
    assert DEFAULT_FEES[venue] == fees.config()
    assert FeeConfig().venues[venue] == fees.config()


def test_the_bundled_configs_fee_table_matches_the_packages() -> None:
    # config/strategy.toml spells the table out for users; it must not drift from the packages
    table = tomllib.loads((REPO / "config" / "strategy.toml").read_text())["fees"]["venues"]
    assert set(table) == set(VENUES)
    for venue, row in table.items():
        fees = registry.VENUES[venue].fees
        assert (Decimal(row["maker"]), Decimal(row["taker"])) == (fees.maker, fees.taker), venue


@pytest.mark.parametrize("venue", VENUES)
def test_client_order_ids_are_ones_the_venue_accepts(venue: str) -> None:
    spec = registry.VENUES[venue]
    assert spec.client_id.field, f"{venue}: no venue field for the client order id"
    ids = {executor.client_order_id("s", f"arb-{i}", 0, 1, i % 2, i, venue) for i in range(200)}
    assert len(ids) == 200  # distinct per order
    for cid in ids:
        assert spec.accepts_client_id(cid), f"{venue} would refuse our id {cid!r}"
    assert not spec.accepts_client_id("not an id!")


def test_the_client_id_rules_of_the_venues_that_differ() -> None:
    digest = hashlib.sha256(b"s|a|0|1|0|1").hexdigest()
    cid = executor.client_order_id("s", "a", 0, 1, 0, 1, "lighter")  # an integer < 2^48
    assert cid == str(int(digest[:12], 16))
    assert executor.client_order_id("s", "a", 0, 1, 0, 1, "hyperliquid") == "0x" + digest[:32]
    assert executor.client_order_id("s", "a", 0, 1, 0, 1, "gate") == "t-" + digest[:26]
    assert executor.client_order_id("s", "a", 0, 1, 0, 1, "dydx") == str(
        int(digest[:8], 16)
    )  # uint32
    assert executor.client_order_id("s", "a", 0, 1, 0, 1, "binance") == "fa" + digest[:30]
    # a venue id with no package (tests, unnamed backtest venues) gets the default rule
    assert executor.client_order_id("s", "a", 0, 1, 0, 1, "nowhere") == "fa" + digest[:30]
    assert DEFAULT_CLIENT_ID.accepts("fa" + digest[:30])


@pytest.mark.parametrize("venue", VENUES)
def test_symbols_interval_and_settlement(venue: str) -> None:
    spec = registry.VENUES[venue]
    perp = spec.perp("BTC")
    assert not is_spot(perp) and base_asset(perp) == "BTC" and ":" in perp
    spot = spec.spot("BTC")
    assert spot is None or (is_spot(spot) and base_asset(spot) == "BTC")
    assert spec.funding_interval_h in (1, 4, 8)
    assert all(h in (1, 2, 4, 8) for h in spec.interval_overrides_h.values())
    assert spec.settlement in ("discrete", "hourly", "continuous")
    if spec.settlement == "hourly":
        assert spec.funding_interval_h == 1
    assert spec.funding_history_sign in (1, -1)
    assert (spec.spot_margin_open is None) == (spec.spot_margin_close is None)
    if spec.spot_symbol is None:
        assert spec.spot_margin_open is None


@pytest.mark.parametrize("venue", VENUES)
def test_ccxt_class_and_credentials(venue: str) -> None:
    spec = registry.VENUES[venue]
    assert hasattr(ccxt_async, spec.exchange_id), f"ccxt has no {spec.exchange_id} class"
    assert spec.credentials and set(spec.credentials) <= CREDENTIAL_NAMES
    # every venue names its websocket channel, or why it has none (producers/live/ws_channels.py)
    channel = ws_channels.ws_channel(venue)
    assert (channel is None) != (venue not in ws_channels.REST_ONLY)
    if channel is not None:
        import ccxt.pro as ccxt_pro

        assert hasattr(getattr(ccxt_pro, spec.exchange_id), channel.method)


def test_our_kraken_is_ccxts_krakenfutures() -> None:
    # ccxt's "kraken" is the spot exchange: trading our perps there would be wrong
    assert registry.venue_spec("kraken").exchange_id == "krakenfutures"
    assert registry.venue_spec("kraken").perp("BTC") == "BTC/USD:USD"  # the bundled data's


@pytest.mark.parametrize("venue", VENUES)
def test_recorded_replies(venue: str) -> None:
    recorded = (RESOURCES / venue / f"{venue}.json").exists()
    markets = (RESOURCES / venue / "markets.json").exists()
    if venue in NOT_YET_RECORDED:
        assert not recorded, f"{venue} has recordings now: drop it from NOT_YET_RECORDED"
    else:
        assert recorded and markets, f"{venue}: tests/resources/{venue}/ is incomplete"


def test_an_unknown_venue_lists_the_supported_ones() -> None:
    with pytest.raises(registry.UnknownVenueError, match="supported are binance"):
        registry.venue_spec("nope")


def test_nothing_outside_the_packages_names_a_venue_in_code() -> None:
    # the five places a venue used to touch: none may branch on a venue id again
    names = "|".join(VENUES)
    pattern = re.compile(rf"""==\s*["']({names})["']""")
    offenders = []
    for folder in ("producers", "projections", "schemas"):
        for path in (REPO / folder).rglob("*.py"):
            if "venues" in path.relative_to(REPO).parts[1:2]:
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert offenders == []


def test_a_venue_package_importing_io_breaks_the_pure_data_contract() -> None:
    """The contract that lets the core read venue packages can fail: a package importing the
    parsers (and through them ccxt's world) is caught."""
    import subprocess
    import sys

    probe = REPO / "producers" / "venues" / "okx" / "_tmp_contract_probe.py"
    probe.write_text("import producers.parse\n")
    try:
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        probe.unlink()
    assert proc.returncode != 0
    assert "producers.venues.okx._tmp_contract_probe" in proc.stdout
