"""The fill slippage view (infra/sql/006_fill_slippage_stand_in.sql) on real chDB.

The real executor trades against the paper venue (tests/paper_loop.py) while bybit's price feed
goes quiet for more than the ticker TTL (2 h) and the market rises ~3 %: bybit's legs are then
filled against the stand-in of projections/stand_in.py, as the backtest's are. The view must
compare each fill to the quote it was priced from (its own last quote while fresh, else the
stand-in) and say which; the stand-in is recomputed here with plain code from the raw tickers.
"""

from __future__ import annotations

import statistics
from decimal import Decimal as D

import pytest

from consumers.audit import apply_ddl
from infra.clickhouse import ClickHouseStore
from producers.paper import PaperConfig, PaperVenue
from projections import executor as ex
from projections.stand_in import stand_in_quote
from schemas import events as ev
from schemas.config import ExecutionConfig
from tests import stubs
from tests.audit_sink import write_audited
from tests.paper_loop import H, Loop, leg

pytestmark = pytest.mark.integration
INST = "BTC/USDT:USDT"
T0 = stubs.T0
TTL_MS = 2 * H  # feeds.ticker_ttl_ms of the shipped configs, the view's constant
BN, BY, OK, KR = (("binance", INST), ("bybit", INST), ("okx", INST), ("kraken", INST))


def target(arb: str, legs: list[ev.TargetLeg], t: int) -> ev.Event:
    return stubs.target_position_set(
        arb_id=arb,
        correlation_id=arb,
        revision=0,
        legs=legs,
        event_id=stubs.eid(arb),
        event_time=t,
        target_notional_usd=D("1000"),
    )


def exit_(arb: str, t: int) -> ev.Event:
    return stubs.exit_requested(
        arb_id=arb,
        correlation_id=arb,
        revision=1,
        event_id=stubs.eid(f"{arb}/exit"),
        event_time=t,
        exit_reason=ev.ExitReason.profit_erosion,
    )


def executor_quotes(loop: Loop, t: int) -> None:
    """What the engine hands the executor (projections.engine.quotes): stale legs stood in."""
    rows = [
        (v, i, q.bid, q.ask, loop.venue.quotes[(v, i)].time) for (v, i), q in loop.quotes.items()
    ]
    for v, i, b, a, at in rows:
        loop.quotes[(v, i)] = ex.Quote(*stand_in_quote((v, i, b, a, at), rows, t, TTL_MS))


def scenario() -> Loop:
    loop = Loop(PaperVenue(PaperConfig()), ExecutionConfig(qty_step=D("0.00000001")))
    q = D("10")
    loop.market(T0, {BN: D("100"), BY: D("100.2"), OK: D("99.9"), KR: D("100.1")})
    # arb-a enters on fresh quotes
    loop.intent(target("arb-a", [leg(*BN, -q), leg(*BY, q)], T0 + 1))
    # bybit goes quiet; 3 h later three fresh venues: bybit sells against their median mid
    loop.market(T0 + 3 * H, {BN: D("103"), OK: D("103.4"), KR: D("102.9")})
    executor_quotes(loop, T0 + 3 * H + 5)
    loop.intent(exit_("arb-a", T0 + 3 * H + 5))
    # 5 h: kraken quiet for 2 h + 5 ms too: two fresh venues, the mean of their mids
    loop.market(T0 + 5 * H, {BN: D("104"), OK: D("104.3")})
    executor_quotes(loop, T0 + 5 * H + 5)
    loop.intent(target("arb-b", [leg(*BN, -q), leg(*BY, q)], T0 + 5 * H + 5))
    return loop


def priced_from(ticks: list[dict], fill: dict) -> tuple[float, float, bool, float, float]:
    """(bid, ask, stand-in?, stale bid, stale ask) the fill was priced from, in plain code."""
    at = fill["event_time"]
    seen = [t for t in ticks if t["event_time"] <= at]
    last: dict[tuple[str, str], dict] = {}
    for t in seen:
        last[(t["venue"], t["instrument"])] = t
    own = last[(fill["venue"], fill["instrument"])]
    bid, ask = float(own["bid"]), float(own["ask"])
    if (at - own["event_time"]).total_seconds() * 1000 <= TTL_MS:
        return bid, ask, False, bid, ask
    mids = [
        (float(t["bid"]) + float(t["ask"])) / 2
        for (venue, _), t in last.items()
        if venue != fill["venue"] and (at - t["event_time"]).total_seconds() * 1000 <= TTL_MS
    ]
    mid = statistics.median(mids)
    half = (ask - bid) / (ask + bid)
    return mid * (1 - half), mid * (1 + half), True, bid, ask


def test_each_fill_is_compared_to_the_quote_it_was_priced_from(
    chdb_store: ClickHouseStore,
) -> None:
    assert "006" in apply_ddl(chdb_store)
    loop = scenario()
    write_audited(chdb_store, loop.events, "slip.")
    view = chdb_store.query(
        "SELECT * FROM v_fill_slippage WHERE run = 'slip' ORDER BY event_time, venue"
    ).dicts()
    fills = chdb_store.query(
        "SELECT * FROM fills FINAL WHERE run = 'slip' ORDER BY event_time, venue"
    ).dicts()
    ticks = chdb_store.query(
        "SELECT * FROM tickers FINAL WHERE run = 'slip' ORDER BY event_time, offset"
    ).dicts()
    assert len(view) == len(fills) == 6
    stood_in = 0
    for row, fill in zip(view, fills, strict=True):
        bid, ask, stand_in, stale_bid, stale_ask = priced_from(ticks, fill)
        assert (row["venue"], row["side"]) == (fill["venue"], fill["side"])
        assert row["stand_in"] == stand_in
        assert row["quoted_bid"] == pytest.approx(bid, rel=1e-12)
        assert row["quoted_ask"] == pytest.approx(ask, rel=1e-12)
        price = float(fill["price"])
        buy = fill["side"] == "buy"
        plain_bps = ((price - ask) / ask if buy else (bid - price) / bid) * 10_000
        assert row["slippage_bps"] == pytest.approx(plain_bps, abs=1e-6)
        # the paper venue's model: 1 bp + 5 bp per million USD of notional at the touch
        touch = ask if buy else bid
        model_bps = 1 + 5 * float(fill["qty"]) * touch / 1e6
        assert row["slippage_bps"] == pytest.approx(model_bps, abs=1e-3)
        if stand_in:
            stood_in += 1
            assert row["venue"] == "bybit" and row["quote_age_ms"] > TTL_MS
            # against the stale own quote (what version 2 showed) it reads ~300 bp
            stale = (price - stale_ask) / stale_ask if buy else (stale_bid - price) / stale_bid
            assert abs(stale * 10_000) > 100
        else:
            assert row["quote_age_ms"] <= TTL_MS
    assert stood_in == 2  # arb-a's bybit exit (3 fresh venues) and arb-b's entry (2)


def test_cost_attribution_measures_spread_over_the_priced_from_mid(
    chdb_store: ClickHouseStore,
) -> None:
    assert "007" in apply_ddl(chdb_store)
    loop = scenario()
    write_audited(chdb_store, loop.events, "cost6.")
    fills = chdb_store.query("SELECT * FROM fills FINAL WHERE run = 'cost6'").dicts()
    ticks = chdb_store.query(
        "SELECT * FROM tickers FINAL WHERE run = 'cost6' ORDER BY event_time, offset"
    ).dicts()
    plain: dict[str, float] = {}
    stale: dict[str, float] = {}
    for fill in fills:
        bid, ask, _, stale_bid, stale_ask = priced_from(ticks, fill)
        sign = 1 if fill["side"] == "buy" else -1
        qty, price = float(fill["qty"]), float(fill["price"])
        arb = fill["correlation_id"]
        plain[arb] = plain.get(arb, 0.0) + sign * qty * (price - (bid + ask) / 2)
        stale[arb] = stale.get(arb, 0.0) + sign * qty * (price - (stale_bid + stale_ask) / 2)
    view = {
        r["arb_id"]: r["spread_slippage_usd"]
        for r in chdb_store.query(
            "SELECT arb_id, spread_slippage_usd FROM v_arb_cost_attribution WHERE run = 'cost6'"
        ).dicts()
    }
    assert set(view) == set(plain) == {"arb-a", "arb-b"}
    for arb, usd in view.items():
        assert usd == pytest.approx(plain[arb], rel=1e-9), arb
        # half-spread (0.05 on ~100: 5 bp) + ~1 bp slippage on each ~1,000 USD fill: ~0.6 USD
        assert 0 < usd < 0.7 * len([f for f in fills if f["correlation_id"] == arb]), arb
    # the stale own quote's mid (version 5) booked the market's 3 % move as ~30 USD of cost
    assert abs(stale["arb-a"]) > 10
