"""Funding math with hand-computed expected values."""

from decimal import Decimal as D

import pytest

from projections import funding as f
from schemas.config import FeeConfig, VenueFees

H = f.MS_PER_HOUR
T0 = 1_764_748_800_000


@pytest.mark.parametrize("hours", [1, 4, 8])
def test_interval_inferred_from_settlement_times(hours: int) -> None:
    times = [T0 + i * hours * H for i in range(4)]
    assert f.infer_interval_h(times) == hours


def test_interval_tolerates_millisecond_jitter() -> None:
    # Binance stamps some settlements at ...00.001 (shared/data provenance)
    assert f.infer_interval_h([1741449600001, 1741478400001, 1741507200000]) == 8


def test_interval_change_mid_series_takes_effect_at_once() -> None:
    times = [T0, T0 + 8 * H, T0 + 16 * H, T0 + 20 * H]  # 8h, 8h, then 4h
    assert f.infer_interval_h(times) == 4


def test_a_missed_settlement_is_a_gap_not_a_new_interval() -> None:
    times = [T0, T0 + 8 * H, T0 + 24 * H]  # 8h then 16h (one settlement missing)
    assert f.infer_interval_h(times) == 8


def test_no_interval_from_one_time_or_irregular_deltas() -> None:
    assert f.infer_interval_h([T0]) is None
    assert f.infer_interval_h([T0, T0 + 90 * 60_000]) is None  # 1.5h is not a whole hour


def test_interval_resolution_order_and_no_silent_8h() -> None:
    kw = dict(funding_time=T0, next_funding_time=T0 + H, history=[T0 - 8 * H, T0], label="x")
    assert f.resolve_interval_h(reported_h=4, configured_h=8, **kw) == (4, "reported")
    assert f.resolve_interval_h(reported_h=0, configured_h=8, **kw) == (1, "next_funding_time")
    kw["next_funding_time"] = 0
    assert f.resolve_interval_h(reported_h=0, configured_h=2, **kw) == (8, "history")
    kw["history"] = [T0]
    assert f.resolve_interval_h(reported_h=0, configured_h=2, **kw) == (2, "configured")
    with pytest.raises(f.UnknownFundingIntervalError, match="not configured"):
        f.resolve_interval_h(reported_h=0, configured_h=None, **kw)


def test_apr_normalises_by_the_real_interval() -> None:
    # 1 bp per 8h = 0.0001 × 8760 / 8 = 0.1095; the same APR as 0.125 bp per hour
    assert f.apr(D("0.0001"), 8) == D("0.1095")
    assert f.apr(D("0.0000125"), 1) == D("0.1095")
    assert f.rate_per_hour(D("0.0001"), 4) == D("0.000025")


@pytest.mark.parametrize(
    ("long_h", "short_h", "spread"),
    [
        ("0.00001", "0.00003", "0.00002"),  # both positive: short the higher
        ("-0.00001", "0.00002", "0.00003"),  # mixed: long receives, short receives
        ("0.00002", "-0.00001", "-0.00003"),  # mixed the wrong way round: pays both sides
        ("-0.00003", "-0.00001", "0.00002"),
    ],  # both negative: long the more negative
)
def test_spread_sign_matrix(long_h: str, short_h: str, spread: str) -> None:
    assert f.spread_per_hour(D(long_h), D(short_h)) == D(spread)


def test_spot_legs_have_no_funding_and_short_spot_pays_borrow() -> None:
    borrow = D("0.000005")
    assert f.effective_rate_h(D("0.00003"), spot=False, short=True, borrow_rate_h=borrow) == D(
        "0.00003"
    )
    assert f.effective_rate_h(D("0.00003"), spot=True, short=False, borrow_rate_h=borrow) == 0
    assert f.effective_rate_h(D("0.00003"), spot=True, short=True, borrow_rate_h=borrow) == D(
        "-0.000005"
    )


@pytest.mark.parametrize(
    ("qty", "mark", "rate", "amount"),
    [
        ("2", "50000", "0.0001", "-10"),  # long pays a positive rate
        ("-2", "50000", "0.0001", "10"),  # short receives it
        ("1", "100", "-0.0002", "0.02"),  # long receives a negative rate
        ("-0.5", "100", "-0.0002", "-0.01"),
    ],  # short pays it
)
def test_funding_settlement_sign(qty: str, mark: str, rate: str, amount: str) -> None:
    assert f.funding_payment(D(qty), D(mark), D(rate)) == D(amount)


def test_round_trip_cost_break_even_and_net_edge() -> None:
    fees = FeeConfig(
        venues={
            "binance": VenueFees(maker=D("0.0002"), taker=D("0.0005")),
            "bybit": VenueFees(maker=D("0.0002"), taker=D("0.00055")),
        },
        slippage_frac=D("0"),
    )
    cost = f.round_trip_cost_frac(
        f.LegCost("binance", D("100"), D("100")), f.LegCost("bybit", D("100"), D("100")), fees
    )
    assert cost == D("0.0021")  # 2 × 0.0005 + 2 × 0.00055
    e = f.edge(D("0.00002"), cost, D("168"))
    assert e.break_even_h == D("105")  # 0.0021 / 0.00002
    assert e.net_edge_frac == D("0.00126")  # 0.00002 × 168 − 0.0021
    assert e.net_edge_apr == D("0.0657")  # 0.00126 × 8760 / 168
    assert e.clears(D("0.05"), D("120")) and not e.clears(D("0.07"), D("120"))
    assert not e.clears(D("0.05"), D("100"))
    assert f.edge(D("-0.00001"), cost, D("168")).break_even_h is None


def test_default_slippage_is_half_the_quoted_spread() -> None:
    assert f.slippage_frac(D("99.9"), D("100.1"), FeeConfig()) == D("0.001")


def test_unknown_venue_fees_are_an_error_not_zero() -> None:
    with pytest.raises(f.UnknownVenueFeesError, match="nowhere"):
        f.venue_fees(FeeConfig(), "nowhere")


def test_a_data_gap_is_not_read_as_an_interval_even_after_another_gap() -> None:
    # hourly, then 24 h and 30 h without data (two gaps in a row, as in Lighter's series)
    assert f.infer_interval_h([T0, T0 + H, T0 + 25 * H, T0 + 55 * H]) == 1
    assert f.infer_interval_h([T0, T0 + 8 * H, T0 + 20 * H]) == 8  # 12 h: not a multiple
    # a longer interval counts once two consecutive deltas agree on it
    assert f.infer_interval_h([T0, T0 + 4 * H, T0 + 12 * H, T0 + 20 * H]) == 8
