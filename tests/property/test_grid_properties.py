"""Properties of the grid's rules (hypothesis): spacing within its bounds, skewed steps within
``[1 − skew, 1 + skew]`` spacings, inventory within the cap, monotone in price, deterministic."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from projections import positions as pos
from projections.strategies.base import Breakers, MarketView
from projections.strategies.grid import rules
from projections.strategies.grid.strategy import Grid, GridState
from schemas.config import StrategyConfig
from schemas.events import TargetPositionSet
from schemas.strategy_specs import GridSpec
from tests.market import T0, H, board_of, ticker

PRICES = st.decimals(D("1"), D("100000"), places=2)
FRACS = st.decimals(D("0.0001"), D("0.5"), places=4)
SKEWS = st.decimals(D("0"), D("0.9"), places=2)
LEVELS = st.integers(1, 20)


@given(atr=st.decimals(D("0"), D("100000"), places=4), price=PRICES, mult=FRACS, a=FRACS, b=FRACS)
def test_spacing_stays_within_its_price_fractions(atr: D, price: D, mult: D, a: D, b: D) -> None:
    lo, hi = min(a, b), max(a, b)
    spacing = rules.grid_spacing(atr, price, mult * 10, lo, hi)
    assert lo * price <= spacing <= hi * price
    if lo * price <= mult * 10 * atr <= hi * price:
        assert spacing == mult * 10 * atr  # unclamped, it is the scaled ATR


@given(
    levels=LEVELS, data=st.data(), skew=SKEWS, spacing=st.decimals(D("0.01"), D("1000"), places=2)
)
def test_skewed_steps_stay_within_one_skew_of_the_spacing_and_lean_against_inventory(
    levels: int, data: st.DataObject, skew: D, spacing: D
) -> None:
    level = data.draw(st.integers(-levels, levels))
    adding = rules.step_distance(level, levels, skew, spacing, adding=True)
    reducing = rules.step_distance(level, levels, skew, spacing, adding=False)
    assert spacing * (1 - skew) <= reducing <= spacing <= adding <= spacing * (1 + skew)
    assert reducing > 0
    # the more inventory, the further the next adding step
    if abs(level) < levels:
        further = level + (1 if level >= 0 else -1)
        assert rules.step_distance(further, levels, skew, spacing, adding=True) >= adding


@given(
    levels=LEVELS,
    skew=SKEWS,
    anchor=PRICES,
    spacing=st.decimals(D("0.01"), D("5000"), places=2),
    moves=st.lists(PRICES, min_size=1, max_size=30),
)
def test_inventory_stays_within_the_cap_and_every_step_is_one_trigger(
    levels: int, skew: D, anchor: D, spacing: D, moves: list[D]
) -> None:
    level = 0
    for price in moves:
        new_level, new_anchor = rules.step_levels(level, anchor, price, spacing, levels, skew)
        assert -levels <= new_level <= levels
        if new_level > level:  # bought: the price is at or below the last trigger crossed
            assert price <= new_anchor < anchor
        elif new_level < level:
            assert price >= new_anchor > anchor
        else:
            assert new_anchor == anchor
        level, anchor = new_level, new_anchor


@given(
    levels=LEVELS,
    skew=SKEWS,
    spacing=st.decimals(D("0.01"), D("5000"), places=2),
    p1=PRICES,
    p2=PRICES,
    data=st.data(),
)
def test_a_lower_price_never_leaves_the_grid_less_long(
    levels: int, skew: D, spacing: D, p1: D, p2: D, data: st.DataObject
) -> None:
    level = data.draw(st.integers(-levels, levels))
    anchor = data.draw(PRICES)
    lo, hi = min(p1, p2), max(p1, p2)
    at_lo = rules.step_levels(level, anchor, lo, spacing, levels, skew)[0]
    at_hi = rules.step_levels(level, anchor, hi, spacing, levels, skew)[0]
    assert at_lo >= at_hi


@given(mids=st.lists(st.decimals(D("9000"), D("11000"), places=1), min_size=4, max_size=40))
def test_the_plug_in_is_deterministic_and_its_targets_are_whole_levels(mids: list[D]) -> None:
    spec = GridSpec(
        id="g",
        venue="binance",
        instrument="BTC/USDT:USDT",
        qty_per_level=D("0.01"),
        levels=4,
        atr_periods=3,
        min_spacing_frac=D("0.001"),
    )
    grid = Grid(spec, StrategyConfig(strategies=[spec]))

    def run() -> tuple[GridState, list[TargetPositionSet]]:
        state, out, events = GridState(), [], []
        for i, mid in enumerate(mids):
            t = T0 + i * H
            events.append(ticker("binance", str(mid - 1), str(mid + 1), t))
            market = MarketView("BTC", board_of(events))
            state, intents = grid.decide(state, market, pos.PositionBook("BTC"), Breakers(), t, "c")
            out += [x for x in intents if isinstance(x, TargetPositionSet)]
        return state, out

    first, second = run(), run()
    assert first == second
    out = first[1]
    assert [x.revision for x in out] == list(range(len(out)))
    for x in out:
        qty = x.legs[0].target_qty
        assert qty % spec.qty_per_level == 0 and abs(qty) <= spec.levels * spec.qty_per_level
