"""The grid strategy: its rules worked by hand, and the plug-in's lifecycle on scripted quotes."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from projections import positions as pos
from projections.strategies.base import Breakers, MarketView
from projections.strategies.grid import rules
from projections.strategies.grid.strategy import Grid, GridState
from schemas.config import StrategyConfig
from schemas.events import TargetPositionSet
from schemas.strategy_specs import GridSpec
from tests.market import T0, H, board_of, ticker

SPEC = GridSpec(
    id="grid-btc",
    venue="binance",
    instrument="BTC/USDT:USDT",
    qty_per_level=D("0.01"),
    levels=3,
    atr_periods=2,
    atr_mult=D("1"),
    min_spacing_frac=D("0.001"),
    max_spacing_frac=D("0.05"),
    skew=D("0.5"),
    stop_levels=2,
)
CFG = StrategyConfig(strategies=[SPEC])


# ---- rules, worked by hand -------------------------------------------------------------------
def test_atr_is_the_mean_of_the_last_n_absolute_ranges() -> None:
    ranges = rules.with_range((), D("-4"), 2)
    ranges = rules.with_range(ranges, D("2"), 2)
    ranges = rules.with_range(ranges, D("-6"), 2)
    assert ranges == (D("2"), D("6"))  # oldest dropped, signs dropped
    assert rules.average_true_range(ranges) == D("4")
    assert rules.average_true_range(()) == 0


def test_spacing_is_atr_times_mult_clamped_to_the_price_fractions() -> None:
    # 1.5 × 40 = 60 inside [0.001 × 10000, 0.05 × 10000] = [10, 500]
    assert rules.grid_spacing(D("40"), D("10000"), D("1.5"), D("0.001"), D("0.05")) == D("60")
    assert rules.grid_spacing(D("1"), D("10000"), D("1"), D("0.001"), D("0.05")) == D("10")
    assert rules.grid_spacing(D("900"), D("10000"), D("1"), D("0.001"), D("0.05")) == D("500")


def test_skew_widens_the_adding_step_and_narrows_the_reducing_one() -> None:
    # long 2 of 4 levels, skew 0.5: tilt 0.25 → buy (adds) 100 × 1.25, sell (reduces) 100 × 0.75
    assert rules.buy_trigger(D("1000"), 2, 4, D("0.5"), D("100")) == D("875")
    assert rules.sell_trigger(D("1000"), 2, 4, D("0.5"), D("100")) == D("1075")
    # short 2 of 4: the mirror
    assert rules.buy_trigger(D("1000"), -2, 4, D("0.5"), D("100")) == D("925")
    assert rules.sell_trigger(D("1000"), -2, 4, D("0.5"), D("100")) == D("1125")
    # flat: both steps one spacing
    assert rules.buy_trigger(D("1000"), 0, 4, D("0.5"), D("100")) == D("900")


def test_a_gap_crosses_several_levels_and_stops_at_the_cap() -> None:
    # levels 3, spacing 100, skew 0: triggers 900, 800, 700; the cap holds at 3
    assert rules.step_levels(0, D("1000"), D("750"), D("100"), 3, D("0")) == (2, D("800"))
    assert rules.step_levels(0, D("1000"), D("100"), D("100"), 3, D("0")) == (3, D("700"))
    assert rules.step_levels(0, D("1000"), D("950"), D("100"), 3, D("0")) == (0, D("1000"))
    # back up from long 2 at anchor 800: sells at 900 and 1000, then short at 1100
    assert rules.step_levels(2, D("800"), D("1100"), D("100"), 3, D("0")) == (-1, D("1100"))


def test_the_stop_fires_only_at_the_cap_and_far_enough_against_it() -> None:
    assert rules.stopped(3, D("700"), D("500"), D("100"), 3, 2)
    assert not rules.stopped(3, D("700"), D("501"), D("100"), 3, 2)
    assert not rules.stopped(2, D("700"), D("100"), D("100"), 3, 2)  # not at the cap
    assert rules.stopped(-3, D("1300"), D("1500"), D("100"), 3, 2)


# ---- the plug-in -----------------------------------------------------------------------------
def _decide(
    grid: Grid, state: GridState, mids: list[str], breakers: Breakers | None = None
) -> tuple[GridState, list[TargetPositionSet]]:
    """Feed one hourly quote per mid (spread 2) and decide after each; collect the intents."""
    out: list[TargetPositionSet] = []
    events = []
    for i, mid in enumerate(mids):
        t = T0 + i * H
        m = D(mid)
        events.append(ticker("binance", str(m - 1), str(m + 1), t))
        market = MarketView("BTC", board_of(events))
        state, intents = grid.decide(
            state, market, pos.PositionBook("BTC"), breakers or Breakers(), t, f"c{i}"
        )
        out += [x for x in intents if isinstance(x, TargetPositionSet)]
    return state, out


def test_warm_up_then_anchor_then_one_target_per_level_crossed() -> None:
    grid = Grid(SPEC, CFG)
    # ranges 100, 100 → ATR 100 → spacing 100 (within [10, 500] of ~10000)
    state, out = _decide(grid, GridState(), ["10000", "10100", "10000"])
    assert out == [] and state.anchor == D("10000") and state.level == 0  # started, flat
    state, out = _decide(grid, GridState(), ["10000", "10100", "10000", "9890"])
    # the 4th hour's range 110 joins the window: ATR (100 + 110) / 2 = 105, buy trigger 9895
    assert [(x.revision, x.legs[0].target_qty) for x in out] == [(0, D("0.01"))]
    assert state.level == 1 and state.anchor == D("9895")
    x = out[0]
    assert x.strategy_id == "grid-btc" and x.arb_id == state.grid_id == x.correlation_id
    assert x.expected_apr is None and x.instrument == "BTC"
    assert (x.legs[0].venue, x.legs[0].instrument) == ("binance", "BTC/USDT:USDT")


def test_another_asset_is_not_the_grids_business() -> None:
    grid = Grid(SPEC, CFG)
    market = MarketView("ETH", board_of([ticker("binance", "99", "101", T0, asset="ETH")], "ETH"))
    state, out = grid.decide(GridState(), market, pos.PositionBook("ETH"), Breakers(), T0, None)
    assert (state, out) == (GridState(), [])


def test_paused_entries_let_only_reducing_steps_through_and_a_forced_exit_flattens() -> None:
    grid = Grid(SPEC, CFG)
    paused = Breakers(pause_entries=frozenset({"BTC"}))
    state, out = _decide(grid, GridState(), ["10000", "10100", "10000", "9890"], paused)
    assert out == [] and state.level == 0  # buying would add inventory
    state, out = _decide(grid, GridState(), ["10000", "10100", "10000", "9890"])
    assert state.level == 1
    forced = Breakers(force_exit=frozenset({"BTC"}))
    mids = ["10000", "10100", "10000", "9890", "9895"]
    state, out = _decide(grid, GridState(), mids[:4])
    events = [
        ticker("binance", str(D(m) - 1), str(D(m) + 1), T0 + i * H) for i, m in enumerate(mids)
    ]
    t = T0 + 4 * H
    state, intents = grid.decide(
        state, MarketView("BTC", board_of(events)), pos.PositionBook("BTC"), forced, t, "f"
    )
    assert [
        (x.revision, x.legs[0].target_qty) for x in intents if isinstance(x, TargetPositionSet)
    ] == [(1, D("0"))]
    assert state.level == 0 and state.anchor == D("9895")


def test_a_stale_quote_stops_the_grid_stepping() -> None:
    grid = Grid(SPEC, CFG)
    state, _ = _decide(grid, GridState(), ["10000", "10100", "10000"])
    events = [ticker("binance", "9999", "10001", T0 + 2 * H)]
    late = T0 + 2 * H + CFG.feeds.ticker_ttl_ms + 1
    market = MarketView("BTC", board_of(events))
    again, out = grid.decide(state, market, pos.PositionBook("BTC"), Breakers(), late, None)
    assert out == [] and again.level == 0


@pytest.mark.parametrize("change", [{"instrument": "BTC/USDT"}, {"levels": 0}, {"skew": "0.95"}])
def test_the_spec_refuses_what_is_not_a_grid(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        GridSpec.model_validate({**SPEC.model_dump(), **change})
