"""Strategies as plug-ins: ``[[strategies]]`` loading, the executor's lock per (strategy,
asset), and the funding arbitrage keeping off a market another strategy owns."""

from __future__ import annotations

import tomllib
from decimal import Decimal as D
from pathlib import Path

import pytest
from pydantic import ValidationError

from projections import executor as ex
from projections import positions as pos
from projections.strategies import registry
from projections.strategies.base import Breakers, MarketView
from projections.strategies.funding_arb import strategy as st
from projections.strategies.funding_arb.plugin import FundingArb
from projections.strategies.grid.strategy import Grid
from schemas import events as ev
from schemas.config import StrategyConfig
from schemas.strategy_specs import FundingArbSpec, GridSpec
from tests import stubs
from tests.market import board_of, two_venue_history
from tests.unit.test_executor import CFG as EXEC
from tests.unit.test_executor import QUOTES, T
from tests.unit.test_strategy import CFG as ARB_CFG
from tests.unit.test_strategy import NOW

REPO = Path(__file__).resolve().parents[2]
GRID = {
    "kind": "grid",
    "id": "grid-btc",
    "venue": "binance",
    "instrument": "BTC/USDT:USDT",
    "qty_per_level": "0.01",
}


# ---- loading ---------------------------------------------------------------------------------
def test_a_file_without_strategies_runs_the_funding_arbitrage_alone() -> None:
    data = tomllib.loads((REPO / "config" / "strategy.toml").read_text())
    config = StrategyConfig.model_validate(data)
    assert config.strategies == [FundingArbSpec()]
    (only,) = registry.plugins(config)
    assert isinstance(only, FundingArb) and only.id == "funding_arb" and not only.reserved


def test_strategies_side_by_side_in_order() -> None:
    config = StrategyConfig.model_validate(
        {"strategies": [{"kind": "funding_arb"}, GRID, {**GRID, "id": "g2", "venue": "okx"}]}
    )
    arb, grid, grid2 = registry.plugins(config)
    assert (arb.id, grid.id, grid2.id) == ("funding_arb", "grid-btc", "g2")
    assert isinstance(arb, FundingArb) and isinstance(grid, Grid)
    assert arb.reserved == {("binance", "BTC/USDT:USDT"), ("okx", "BTC/USDT:USDT")}
    assert registry.directional_ids(config) == {"grid-btc", "g2"}
    assert registry.plugins(config) is registry.plugins(config)  # built once per config


@pytest.mark.parametrize(
    ("strategies", "message"),
    [
        (
            [{"kind": "martingale"}],
            "does not match any of the expected tags: 'funding_arb', 'grid'",
        ),
        ([{**GRID, "levles": 3}], "levles"),
        ([GRID, GRID], "duplicate id(s) grid-btc"),
        ([{"kind": "funding_arb"}, {"kind": "funding_arb", "id": "fa2"}], "one funding_arb"),
        ([GRID, {**GRID, "id": "g2"}], "both own binance BTC/USDT:USDT"),
        ([{**GRID, "instrument": "BTC/USDT"}], "is spot"),
        ([{**GRID, "venue": "nowhere"}], "nowhere, which has no fees"),
        ([], "at least 1 item"),
    ],
)
def test_loading_refuses_what_cannot_run_naming_it(
    strategies: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        StrategyConfig.model_validate({"strategies": strategies})
    assert message in str(info.value)


# ---- the executor: one target in flight per (strategy, asset) -------------------------------
def _grid_target(rev: int, qty: str, strategy: str = "grid-btc") -> ev.TargetPositionSet:
    return stubs.target_position_set(
        event_id=stubs.eid(f"g{strategy}{rev}"),
        strategy_id=strategy,
        arb_id="grid-1",
        correlation_id="grid-1",
        revision=rev,
        legs=[
            ev.TargetLeg(
                venue="okx",
                instrument="BTC/USDT:USDT",
                market_type=ev.MarketType.perp,
                target_qty=D(qty),
            )
        ],
        expected_apr=None,
    )


def test_two_strategies_work_one_asset_side_by_side() -> None:
    quotes = {**QUOTES, ("okx", "BTC/USDT:USDT"): ex.Quote(D("99.9"), D("100.1"))}
    state = ex.apply(ex.ExecutorState("BTC"), stubs.target_position_set())  # the arb
    state = ex.apply(state, _grid_target(0, "0.02"))  # the grid, same asset
    assert state.refused == ()
    assert {a.strategy_id for a in state.arbs.values()} == {"funding_arb", "grid-btc"}
    state, cmds = ex.reconcile(state, quotes, EXEC, T, "c")
    by_venue = {c.venue: c for c in cmds if isinstance(c, ev.PlaceOrder)}
    assert set(by_venue) == {"binance", "okx"}  # the arb's first leg and the grid's order
    assert (by_venue["okx"].side, by_venue["okx"].qty) == (ev.Side.buy, D("0.02"))
    assert by_venue["okx"].correlation_id == "grid-1"
    # the same (arb, revision, step, leg, seq) under another strategy is another order id
    assert by_venue["okx"].client_order_id == ex.client_order_id(
        "grid-btc", "grid-1", 0, 0, 0, 1, "okx"
    )
    # a second target of the same strategy while its first works: refused
    other = _grid_target(0, "0.05").model_copy(
        update={"arb_id": "grid-2", "event_id": stubs.eid("x")}
    )
    state = ex.apply(state, other)
    assert state.refused == (other.event_id,)
    assert state.active_for("grid-btc") is not None and state.active_for("funding_arb") is not None


def test_an_exit_names_its_strategy_and_another_strategys_target_is_not_taken_over() -> None:
    state = ex.apply(ex.ExecutorState("BTC"), stubs.target_position_set())
    wrong = stubs.exit_requested(strategy_id="grid-btc")
    assert ex.apply(state, wrong) == state
    assert ex.apply(state, stubs.exit_requested()).arbs["arb-1"].kind == "exit"
    takeover = _grid_target(1, "0").model_copy(update={"arb_id": "arb-1"})
    assert ex.apply(state, takeover).refused == (takeover.event_id,)


# ---- the funding arbitrage keeps off an owned market -----------------------------------------
def test_the_funding_arbitrage_does_not_enter_a_pair_with_a_leg_another_strategy_owns() -> None:
    alone = ARB_CFG
    beside = ARB_CFG.model_copy(
        update={"strategies": [FundingArbSpec(), GridSpec.model_validate(GRID)]}
    )
    market = MarketView("BTC", board_of(two_venue_history()))

    def entries(config: StrategyConfig) -> list[ev.Event]:
        (arb, *_) = registry.plugins(config)
        _, out = arb.decide(
            st.StrategyState(), market, pos.PositionBook("BTC"), Breakers(), NOW, "c"
        )
        return out

    (entry,) = entries(alone)  # binance short / bybit long
    assert isinstance(entry, ev.TargetPositionSet) and entry.strategy_id == "funding_arb"
    assert {leg.venue for leg in entry.legs} == {"binance", "bybit"}
    assert entries(beside) == []  # the grid owns binance BTC: the only pair is off limits


def test_the_grid_example_is_the_strategy_file_plus_a_grid() -> None:
    base = tomllib.loads((REPO / "config" / "strategy.toml").read_text())
    grid = tomllib.loads((REPO / "config" / "grid.toml").read_text())
    kinds = [s["kind"] for s in grid.pop("strategies")]
    assert kinds == ["funding_arb", "grid"] and grid == base  # no drift between the two
    config = StrategyConfig.model_validate(
        tomllib.loads((REPO / "config" / "grid.toml").read_text())
    )
    assert [p.id for p in registry.plugins(config)] == ["funding_arb", "grid-btc"]
