"""The worker persists the engine state per asset: slicing and merging lose nothing."""

from __future__ import annotations

import pickle

from projections import engine as eng
from schemas.config import EntryConfig, StrategyConfig
from schemas.events import BreakerTripped
from schemas.types import Breaker, BreakerAction
from streams.simulation import Simulation
from tests import stubs
from tests.market import T0, H, funding, ticker

CFG = StrategyConfig(entry=EntryConfig(max_break_even_h="96", min_net_apr="0.10"))


def _run() -> eng.EngineState:
    sim = Simulation(CFG)
    for i in range(3):
        t = T0 + i * 8 * H
        for asset in ("BTC", "ETH"):
            sim.feed(funding("binance", "0.0003", t, asset=asset))
            sim.feed(funding("bybit", "0.00005", t, asset=asset))
            sim.feed(ticker("binance", "99.99", "100.01", t, asset=asset))
            sim.feed(ticker("bybit", "99.99", "100.01", t, asset=asset))
    sim.finish()
    glob = stubs.breaker_tripped(
        instrument="ALL",
        breaker=Breaker.margin_ratio,
        action=BreakerAction.pause_entries,
        event_time=T0 + 17 * H,
    )
    assert isinstance(glob, BreakerTripped)
    state, _ = eng.handle(sim.state, glob, CFG)
    return state


def test_merge_of_slices_is_the_state() -> None:
    state = _run()
    assets = eng.assets_of(state)
    assert {"BTC", "ETH", "ALL"} <= assets
    assert state.strategy.arbs and state.books["BTC"].legs  # something worth persisting
    slices = [pickle.loads(pickle.dumps(eng.slice_for(state, a))) for a in sorted(assets)]
    assert eng.merge(slices) == state
    assert eng.merge(list(reversed(slices))) == state


def test_a_slice_holds_only_its_asset() -> None:
    state = _run()
    btc = eng.slice_for(state, "BTC")
    assert set(btc.boards) == {"BTC"} and set(btc.execs) == {"BTC"}
    assert all(a.asset == "BTC" for a in btc.strategy.arbs.values())
    assert "*" not in btc.breakers.pause_entries
    assert eng.slice_for(state, "ALL").breakers.pause_entries == frozenset({"*"})
