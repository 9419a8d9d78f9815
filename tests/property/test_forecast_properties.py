"""Properties of the funding forecast and the forecast rule (hypothesis)."""

import pickle
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from projections import positions as pos
from projections.strategies.funding_arb import forecast as fc
from projections.strategies.funding_arb import strategy as st_
from schemas.config import EntryConfig, ExitConfig, ForecastConfig, StrategyConfig
from tests.market import T0, H, board_of, funding, ticker

RATES = st.decimals(D("-0.003"), D("0.003"), places=6)


@st.composite
def series(draw: st.DrawFn) -> tuple[list[tuple[int, D]], int]:
    interval = draw(st.sampled_from([1, 4, 8]))
    rates = draw(st.lists(RATES, min_size=1, max_size=60))
    return [(T0 + i * interval * H, r) for i, r in enumerate(rates)], interval


PARAMS = st.builds(
    ForecastConfig,
    half_life_h=st.sampled_from([D(0), D(6), D(24), D(72)]),
    window_h=st.sampled_from([D(8), D(24), D(168)]),
    shrink=st.just(D(0)),
    use_predicted=st.just(False),
)


@settings(max_examples=80, deadline=None)
@given(series(), PARAMS)
def test_forecast_is_a_weighted_mean_within_the_kept_rates(s, params) -> None:
    points, interval = s
    f = fc.forecast_rate_h(points, interval, params, D(24))
    latest = points[-1][0]
    kept = [r / interval for t, r in points if (latest - t) // H < int(params.window_h)]
    assert kept, "the latest settlement is always kept"
    assert min(kept) - D("1e-20") <= f <= max(kept) + D("1e-20")
    assert fc.forecast_rate_h(points, interval, params, D(24)) == f  # deterministic


@settings(max_examples=60, deadline=None)
@given(series(), PARAMS, st.decimals(D(0), D(1), places=2))
def test_shrinkage_toward_zero_scales_the_forecast(s, params, shrink) -> None:
    points, interval = s
    f0 = fc.forecast_rate_h(points, interval, params, D(24))
    shrunk = params.model_copy(update={"shrink": shrink, "prior": "zero"})
    assert fc.forecast_rate_h(points, interval, shrunk, D(24)) == (1 - shrink) * f0 or shrink == 0


@settings(max_examples=60, deadline=None)
@given(series(), PARAMS, RATES, st.sampled_from([D(1), D(24), D(168)]))
def test_predicted_rate_moves_the_forecast_between_mean_and_prediction(s, params, p, h) -> None:
    points, interval = s
    mean = fc.forecast_rate_h(points, interval, params, h)
    with_p = params.model_copy(update={"use_predicted": True})
    f = fc.forecast_rate_h(points, interval, with_p, h, predicted_rate=p)
    lo, hi = sorted((mean, p / interval))
    assert lo - D("1e-20") <= f <= hi + D("1e-20")


CFG = StrategyConfig(
    entry=EntryConfig(decide_on="forecast", min_net_apr=D("0.05"), max_break_even_h=D("720")),
    exits=ExitConfig(exit_apr=D("0")),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(RATES, RATES), min_size=1, max_size=12))
def test_forecast_decisions_are_deterministic_and_state_pickles(rates) -> None:
    events = []
    for i, (a, b) in enumerate(rates):
        t = T0 + i * 8 * H
        events += [
            funding("binance", str(a), t),
            funding("bybit", str(b), t),
            ticker("binance", "99.99", "100.01", t),
            ticker("bybit", "99.99", "100.01", t),
        ]
    board = board_of(events)
    now = T0 + (len(rates) - 1) * 8 * H
    book = pos.PositionBook("BTC")
    s1, o1 = st_.decide("BTC", board, book, st_.StrategyState(), CFG, now, "c")
    s2, o2 = st_.decide("BTC", board, book, st_.StrategyState(), CFG, now, "c")
    assert o1 == o2 and s1 == s2
    assert pickle.loads(pickle.dumps(s1)) == s1  # the worker pickles per-asset slices
    for intent in o1:  # an entry only on a forecast net edge that clears the threshold
        assert intent.expected_apr >= CFG.entry.min_net_apr  # type: ignore[union-attr]
