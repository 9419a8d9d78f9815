"""The funding forecast (projections/strategies/funding_arb/forecast.py): trailing mean / EWMA, shrinkage, the venue's
predicted rate, realised funding; expected values worked by hand in each test."""

from decimal import Decimal as D

import pytest

from projections import board as bd
from projections.strategies.funding_arb import forecast as fc
from schemas.config import ForecastConfig
from tests import stubs
from tests.market import T0, H, board_of, funding

MEAN = ForecastConfig(half_life_h=D(0), window_h=D(24), use_predicted=False)


def pts(*rates: str, step_h: int = 8, start: int = T0) -> list[tuple[int, D]]:
    return [(start + i * step_h * H, D(r)) for i, r in enumerate(rates)]


def test_trailing_mean_over_the_window_per_hour() -> None:
    # 8-hourly: ages 24, 16, 8, 0 h; the 24 h window keeps ages < 24: the last three
    points = pts("0.0009", "0.0003", "0.0006", "0.0009")
    got = fc.forecast_rate_h(points, 8, MEAN, D(24))
    assert got == (D("0.0003") + D("0.0006") + D("0.0009")) / 3 / 8


def test_ewma_halves_the_weight_every_half_life() -> None:
    params = ForecastConfig(half_life_h=D(8), window_h=D(100), use_predicted=False)
    points = pts("0.0008", "0.0002")  # ages 8 h (weight 1/2) and 0 h (weight 1)
    got = fc.forecast_rate_h(points, 8, params, D(24))
    want = (D("0.5") * D("0.0008") + D("0.0002")) / D("1.5") / 8
    assert abs(got - want) < D("1e-25")


def test_shrinkage_toward_zero_and_toward_the_long_mean() -> None:
    points = pts("0.0016", "0.0008", step_h=1)  # 1 h interval; 2 h window keeps both
    base = {"half_life_h": D(0), "window_h": D(1), "use_predicted": False}
    # window 1 h keeps the latest only: mean 0.0008/h
    zero = ForecastConfig(**base, shrink=D("0.25"), prior="zero")
    assert fc.forecast_rate_h(points, 1, zero, D(24)) == D("0.75") * D("0.0008")
    long = ForecastConfig(**base, shrink=D("0.5"), prior="long_mean")
    # long mean of every kept point 0.0012/h: halfway between 0.0008 and 0.0012
    assert fc.forecast_rate_h(points, 1, long, D(24)) == D("0.0010")


def test_predicted_rate_covers_the_next_interval_of_the_horizon() -> None:
    params = ForecastConfig(half_life_h=D(0), window_h=D(24), use_predicted=True)
    points = pts("0.0008")
    # 8 h of 24 h at the predicted 0.0024/8h, 16 h at the mean 0.0008/8h
    got = fc.forecast_rate_h(points, 8, params, D(24), predicted_rate=D("0.0024"))
    assert got == D(1) / 3 * D("0.0003") + D(2) / 3 * D("0.0001")
    off = params.model_copy(update={"use_predicted": False})
    assert fc.forecast_rate_h(points, 8, off, D(24), predicted_rate=D("0.0024")) == D("0.0001")


def test_no_settlements_no_forecast_and_bad_arguments_raise() -> None:
    assert fc.forecast_rate_h([], 8, MEAN, D(24)) is None
    with pytest.raises(ValueError, match="interval"):
        fc.forecast_rate_h(pts("0.1"), 0, MEAN, D(24))
    with pytest.raises(ValueError, match="horizon"):
        fc.forecast_rate_h(pts("0.1"), 8, MEAN, D(0))


def test_realised_rate_sums_the_settlements_in_the_span() -> None:
    points = pts("0.0001", "0.0002", "0.0003", "0.0004")  # T0, +8, +16, +24 h
    assert fc.realised_rate_h(points, T0, 24) == (D("0.0002") + D("0.0003") + D("0.0004")) / 24
    assert fc.realised_rate_h(points, T0 + H, 24) is None  # the span ends after the data


def test_board_keeps_settled_rates_and_the_live_estimate() -> None:
    b = board_of([funding("binance", "0.0001", T0), funding("binance", "0.0002", T0 + 8 * H)])
    feed = b.funding[("binance", "BTC/USDT:USDT")]
    assert feed.rates == ((T0, D("0.0001")), (T0 + 8 * H, D("0.0002")))
    assert feed.predicted_rate is None  # the latest observation was settled
    live = stubs.funding_observed(
        event_id=stubs.eid("live-1"),
        venue="binance",
        instrument="BTC/USDT:USDT",
        funding_rate="0.0005",
        funding_interval_h=8,
        funding_time=T0 + 16 * H,
        next_funding_time=T0 + 24 * H,
        event_time=T0 + 9 * H,
        ingest_time=T0 + 9 * H,
        settled=False,
        mark_price=None,
    )
    feed = bd.apply(b, live).funding[("binance", "BTC/USDT:USDT")]
    assert feed.rates == ((T0, D("0.0001")), (T0 + 8 * H, D("0.0002")))  # estimates not kept
    assert feed.predicted_rate == D("0.0005")


def test_history_is_bounded() -> None:
    events = [
        funding("kraken", "0.00001", T0 + i * H, instrument="BTC/USD:USD") for i in range(400)
    ]
    feed = board_of(events).funding[("kraken", "BTC/USD:USD")]
    assert len(feed.rates) == bd.RATE_HISTORY and feed.rates[-1][0] == T0 + 399 * H
