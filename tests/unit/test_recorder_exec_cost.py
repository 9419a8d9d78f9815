"""The backtest summary's spread/slippage (streams.backtest.Recorder.fill_cost) is measured over
the mid of the quote the paper venue filled against: the stand-in of projections/stand_in.py
once the leg's own quote is older than the ticker TTL, not that stale quote (on the demo the
stale mids booked 549.42 USD where the fills paid 176.41)."""

from __future__ import annotations

from decimal import Decimal as D

from schemas.config import StrategyConfig
from schemas.events import Side
from streams.backtest import Recorder
from streams.simulation import Simulation
from tests import stubs
from tests.market import T0, H, ticker

CFG = StrategyConfig()


def fed(t: int, *events: object) -> Simulation:
    """A simulation that has processed ``events`` and everything due before ``t``."""
    sim = Simulation(CFG)
    for e in events:
        sim.feed(e)  # type: ignore[arg-type]
    sim.advance_to(t)
    return sim


def test_a_stale_leg_costs_over_the_stand_in_mid() -> None:
    assert CFG.feeds.ticker_ttl_ms == 2 * H
    sim = fed(
        T0 + 3 * H + 5,
        ticker("bybit", "99.95", "100.05", T0),  # bybit then goes quiet
        ticker("binance", "102.95", "103.05", T0 + 3 * H),
        ticker("okx", "103.35", "103.45", T0 + 3 * H),
        ticker("kraken", "102.85", "102.95", T0 + 3 * H),
    )
    fill = stubs.fill_executed(
        venue="bybit", side=Side.sell, qty=D("10"), price=D("102.9"), event_time=T0 + 3 * H + 5
    )
    rec = Recorder()
    rec.fill_cost(fill, sim)
    # plain: median of the other venues' fresh mids (103, 103.4, 102.9) = 103; a sell pays
    # (mid − price) × qty = (103 − 102.9) × 10; against bybit's stale mid 100 it read −29
    assert rec.exec_cost["arb-1"] == (D("103") - D("102.9")) * 10


def test_a_fresh_leg_costs_over_its_own_mid() -> None:
    sim = fed(
        T0 + H + 5,
        ticker("bybit", "99.95", "100.05", T0 + H),
        ticker("binance", "102.95", "103.05", T0 + H),
    )
    fill = stubs.fill_executed(
        venue="bybit", side=Side.buy, qty=D("2"), price=D("100.06"), event_time=T0 + H + 5
    )
    rec = Recorder()
    rec.fill_cost(fill, sim)
    assert rec.exec_cost["arb-1"] == (D("100.06") - D("100")) * 2
