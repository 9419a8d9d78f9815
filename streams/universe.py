"""``fundarb universe``: measure every perp leg in recorded data and rank the assets
(:func:`projections.universe.rank_universe`); write the asset list ``fundarb live`` reads.

Inputs, offline: funding files (every settlement: rate, interval) and candle files (the
rolling 24 h quote volume the replay's tickers carry, Σ close × base volume over the last
24 h of candles, :func:`producers.history.ticker_events`). The lookback ends at ``as_of``
(default: the data's last funding time) and spans ``lookback_days``; a leg's volume is the
mean of its rolling 24 h quote volume over the lookback (an average daily volume, so a price
series ending inside the lookback still counts for what it covers). A venue without its own candles
has an unknown volume (it passes only a zero volume threshold): no reference prices are
substituted, another venue's volume says nothing of its liquidity.

The file written is TOML (``assets = [...]``, ``venues = [...]``, one comment line per
selected asset) or, for a ``.json`` path, ``{"assets": [...], "venues": [...], "ranking":
[...]}``. With venues to ask (``--recorded DIR`` offline, or the venues themselves), each
leg's volume and depth are the venue's ticker now (:func:`venue_liquidity`) and its history
still comes from the files. ``fundarb live --assets-file FILE`` (or ``assets_file`` in the
strategy file's ``[live]`` table) reads either.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from producers import history
from projections.universe import AssetRank, LegStats, UniverseRules, rank_universe
from schemas.events import FundingRateObserved, TickerObserved
from schemas.types import base_asset, is_inverse, is_spot

MS_PER_DAY = 86_400_000


@dataclass
class _Series:
    rates_h: list[tuple[int, Decimal]]  # (interval h or 0 when unknown, rate per settlement)
    intervals: Counter[int]
    volumes: list[Decimal] = field(default_factory=list)  # rolling 24 h quote volumes


def measure(
    paths: list[Path],
    *,
    lookback_days: float = 30,
    as_of: int | None = None,
    assets: frozenset[str] | None = None,
    venues: frozenset[str] | None = None,
) -> tuple[list[LegStats], int]:
    """Per (venue, asset) perp leg: volume, settlements observed / expected and trailing mean
    rate per hour over the lookback ending at ``as_of`` (ms UTC). Returns the legs and the
    ``as_of`` used.

    Raises
    ------
    history.HistoryError
        The files cannot be read, or the selection is empty.
    """
    plan = history.plan(paths, history.Window(0, 2**62, assets, venues), need_prices=False)
    series: dict[tuple[str, str], _Series] = {}
    last_funding = 0
    events: list[FundingRateObserved | TickerObserved] = []
    for item in history.merged(plan):
        if isinstance(item, FundingRateObserved | TickerObserved) and _linear_perp(item.instrument):
            events.append(item)
            if isinstance(item, FundingRateObserved):
                last_funding = max(last_funding, item.event_time)
    end = as_of if as_of is not None else last_funding
    start = end - int(lookback_days * MS_PER_DAY)
    for e in events:
        if e.event_time > end:
            continue
        s = series.setdefault((e.venue, base_asset(e.instrument).upper()), _Series([], Counter()))
        if e.event_time <= start:
            continue
        if isinstance(e, TickerObserved):
            if e.quote_volume_24h is not None:
                s.volumes.append(e.quote_volume_24h)
        else:
            # the interval the row reports, else the one to its next settlement (DESIGN §10)
            hours = e.funding_interval_h or (
                round((e.next_funding_time - e.funding_time) / 3_600_000)  # jittered times
                if e.next_funding_time > e.funding_time
                else 0
            )
            s.rates_h.append((hours, e.funding_rate))  # per settlement; per hour below
            if hours:
                s.intervals[hours] += 1
    legs = []
    for (venue, asset), s in sorted(series.items()):
        interval = s.intervals.most_common(1)[0][0] if s.intervals else 0
        # a row with no next settlement (the series' last) is taken at the usual interval
        rates_h = [rate / (hours or interval) for hours, rate in s.rates_h if hours or interval]
        expected = int((end - start) / (interval * 3_600_000)) if interval else 0
        legs.append(
            LegStats(
                venue=venue,
                asset=asset,
                quote_volume_24h_usd=(
                    sum(s.volumes, Decimal(0)) / len(s.volumes) if s.volumes else None
                ),
                settlements=len(rates_h),
                expected_settlements=expected,
                mean_rate_h=(sum(rates_h, Decimal(0)) / len(rates_h) if rates_h else None),
            )
        )
    return legs, end


def _dec(x: Any) -> Decimal | None:
    return None if x is None else Decimal(str(x))


async def venue_liquidity(
    venues: list[str], assets: list[str], factory: Callable[..., Any]
) -> dict[tuple[str, str], tuple[Decimal | None, Decimal | None]]:
    """Per (venue, asset) perp: the venue's 24 h quote volume and top-of-book depth (bid size
    × bid + ask size × ask, USD) from its ticker now (``fetch_ticker`` through
    ``factory(spec, credentials, private=False)``: the live ccxt class, or recorded replies).
    A venue or market that fails, or a reply for another symbol, is left out (no figure)."""
    from producers.live.credentials import VenueCredentials
    from producers.venues import venue_spec

    out: dict[tuple[str, str], tuple[Decimal | None, Decimal | None]] = {}
    for venue in venues:
        spec = venue_spec(venue)
        exchange = factory(spec, VenueCredentials(), False)
        try:
            for asset in assets:
                symbol = spec.perp(asset)
                try:
                    t = await exchange.fetch_ticker(symbol)
                except Exception:  # noqa: S112 - an unreachable market has no figure
                    continue
                if t.get("symbol") != symbol:
                    continue
                bid, ask = _dec(t.get("bid")), _dec(t.get("ask"))
                bid_q, ask_q = _dec(t.get("bidVolume")), _dec(t.get("askVolume"))
                depth = (
                    bid * bid_q + ask * ask_q
                    if bid is not None
                    and ask is not None
                    and bid_q is not None
                    and ask_q is not None
                    else None
                )
                out[(venue, asset.upper())] = (_dec(t.get("quoteVolume")), depth)
        finally:
            with contextlib.suppress(Exception):
                await exchange.close()
    return out


def recorded_tickers(root: Path) -> Callable[..., Any]:
    """The exchange factory answering from recorded replies in ``root/<venue>/``."""
    from producers.recorded_venues import recorded_factory

    return recorded_factory(root)


def with_liquidity(
    legs: list[LegStats], liquidity: dict[tuple[str, str], tuple[Decimal | None, Decimal | None]]
) -> list[LegStats]:
    """``legs`` with the venues' current volume and depth where measured (the history's
    volume stays where the venue gave none)."""
    out = []
    for leg in legs:
        got = liquidity.get((leg.venue, leg.asset))
        if got is None:
            out.append(leg)
            continue
        volume, depth = got
        out.append(
            replace(
                leg,
                quote_volume_24h_usd=volume if volume is not None else leg.quote_volume_24h_usd,
                depth_usd=depth,
            )
        )
    return out


def _linear_perp(instrument: str) -> bool:
    """Perps quoted and settled in USD stablecoins only: spot legs and inverse (coin-margined)
    contracts are not traded (the backtest excludes them the same way)."""
    return not is_spot(instrument) and not is_inverse(instrument)


def select(legs: list[LegStats], rules: UniverseRules) -> list[AssetRank]:
    return rank_universe(legs, rules)


def write_asset_list(
    path: Path,
    ranks: list[AssetRank],
    as_of: int,
    rules: UniverseRules,
    legs: list[LegStats] | None = None,
) -> None:
    """The selected assets and the venues of their pairs, as TOML or (``.json``) JSON."""
    chosen = [r for r in ranks if r.selected]
    assets = [r.asset for r in chosen]
    venues = sorted({v for r in chosen for v in r.eligible_venues})
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        doc = {
            "assets": assets,
            "venues": venues,
            "as_of": history.iso(as_of),
            "as_of_ms": as_of,
            "rules": {k: str(v) for k, v in asdict(rules).items()},
            "ranking": [_jsonable(asdict(r)) for r in ranks],
            "legs": [_jsonable(asdict(leg)) for leg in legs or []],
        }
        path.write_text(json.dumps(doc, indent=2) + "\n")
        return
    lines = [
        f"# fundarb universe as of {history.iso(as_of)} UTC: "
        + ", ".join(f"{k}={v}" for k, v in asdict(rules).items()),
        "# read by `fundarb live --assets-file` (or [live] assets_file in the strategy file)",
        f"assets = {json.dumps(assets)}",
        f"venues = {json.dumps(venues)}",
    ]
    for r in chosen:
        lines.append(
            f"# {r.rank}. {r.asset}: long {r.long_venue} / short {r.short_venue}, "
            f"edge {r.edge_apr:.2%} APR"
        )
    path.write_text("\n".join(lines) + "\n")


def read_asset_list(path: Path) -> tuple[list[str], list[str]]:
    """``(assets, venues)`` of a file :func:`write_asset_list` wrote (TOML or JSON).

    Raises ``ValueError`` naming the file when it is not such a list.
    """
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
        doc: dict[str, Any] = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise ValueError(f"asset list {path}: {exc}") from exc
    assets, venues = doc.get("assets"), doc.get("venues", [])
    ok = isinstance(assets, list) and all(isinstance(a, str) for a in assets)
    if not ok or not isinstance(venues, list) or not assets:
        raise ValueError(f"asset list {path}: needs a non-empty list of names under 'assets'")
    return [a.upper() for a in assets], [str(v) for v in venues]


def _jsonable(x: Any) -> Any:
    if isinstance(x, Decimal):
        return str(x)
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x
