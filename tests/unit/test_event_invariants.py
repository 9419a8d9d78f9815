"""Invariants enforced at construction, with clear messages (DESIGN §10)."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from schemas import events as ev
from schemas.types import base_asset, canonical_decimal, is_inverse, is_spot
from tests import stubs


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (1_764_748_800, "looks like seconds"),
        (1_764_748_800_000_000, "looks like microseconds"),
        (12, "is not ms UTC"),
        (-5, "is not ms UTC"),
    ],
)
def test_timestamps_must_be_ms_utc(value: int, hint: str) -> None:
    with pytest.raises(ValidationError, match=hint):
        stubs.funding_observed(event_time=value)


def test_timestamps_refuse_floats_and_strings() -> None:
    with pytest.raises(ValidationError):
        stubs.funding_observed(event_time=1_764_748_800_000.0)
    with pytest.raises(ValidationError):
        stubs.funding_observed(event_time="1764748800000")


@pytest.mark.parametrize("bad", ["NaN", "nan", "Infinity", "-inf", "sNaN"])
def test_non_finite_decimals_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match=r"not finite|not a decimal"):
        stubs.funding_observed(funding_rate=bad)


def test_floats_are_refused_for_money() -> None:
    with pytest.raises(ValidationError, match="float"):
        stubs.fill_executed(price=91319.2)


@pytest.mark.parametrize("field", ["price", "qty"])
@pytest.mark.parametrize("value", ["0", "-1", "-0.00000001"])
def test_prices_and_quantities_are_positive(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match="must be > 0"):
        stubs.fill_executed(**{field: value})


def test_spot_funding_sentinel() -> None:
    spot = stubs.funding_observed(
        instrument="BTC/USDT", funding_rate="0", funding_interval_h=0, next_funding_time=0
    )
    assert spot.funding_rate == 0 and spot.next_funding_time == 0
    with pytest.raises(ValidationError, match="spot sentinel"):
        stubs.funding_observed(
            instrument="BTC/USDT", funding_rate="0.0001", funding_interval_h=0, next_funding_time=0
        )
    with pytest.raises(ValidationError, match="spot sentinel"):
        stubs.funding_observed(instrument="BTC/USDT", funding_rate="0", funding_interval_h=0)


def test_perp_needs_a_funding_time() -> None:
    with pytest.raises(ValidationError, match="funding_time"):
        stubs.funding_observed(funding_time=0)


def test_unknown_enum_values_are_refused() -> None:
    with pytest.raises(ValidationError, match="side"):
        stubs.fill_executed(side="short")
    with pytest.raises(ValidationError, match="liquidity"):
        stubs.fill_executed(liquidity="rebate")


@pytest.mark.parametrize("bad", ["BTCUSDT", "BTC-USDT-SWAP", "btc usdt", "BTC/USDT:USDT:X", ""])
def test_instruments_must_be_ccxt_unified(bad: str) -> None:
    with pytest.raises(ValidationError, match="ccxt unified"):
        stubs.funding_observed(instrument=bad)


def test_asset_level_events_take_a_bare_asset() -> None:
    intent = stubs.target_position_set()
    assert intent.instrument == "BTC" and intent.key == "BTC"


def test_crossed_book_is_refused() -> None:
    with pytest.raises(ValidationError, match="crossed book"):
        stubs.ticker_observed(bid="91320", ask="91319")


def test_limit_orders_need_a_price_and_market_orders_cannot_post_only() -> None:
    with pytest.raises(ValidationError, match="limit_price"):
        stubs.place_order(limit_price=None)
    with pytest.raises(ValidationError, match="post-only"):
        stubs.place_order(order_type="market", time_in_force="PO", limit_price=None)


def test_short_spot_leg_needs_margin() -> None:
    with pytest.raises(ValidationError, match="margin"):
        ev.TargetLeg(venue="binance", instrument="BTC/USDT", market_type="spot", target_qty="-1")


def test_events_are_immutable_and_reject_unknown_fields() -> None:
    event = stubs.funding_observed()
    with pytest.raises(ValidationError):
        event.funding_rate = Decimal(1)  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        stubs.funding_observed(surprise=1)


def test_keys_follow_the_catalog() -> None:
    assert stubs.funding_observed(instrument="ETH/USDC:USDC").key == "ETH"
    assert stubs.balance_observed().key == "binance"
    assert stubs.alert_raised().key == "funding_flip"
    assert stubs.event_rejected().key == "md.funding"


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("1.208e-05", "0.00001208"),
        ("1E+3", "1000"),
        ("-0", "0"),
        ("0E-8", "0"),
        ("0.000", "0"),
        ("91319.20", "91319.20"),
        (5, "5"),
        (Decimal("2.5E+1"), "25"),
    ],
)
def test_decimals_are_canonical_plain_notation(raw: object, plain: str) -> None:
    assert str(canonical_decimal(raw)) == plain


def test_symbol_helpers() -> None:
    assert base_asset("1000PEPE/USDT:USDT") == "1000PEPE"
    assert is_spot("BTC/USDT") and not is_spot("BTC/USDT:USDT") and not is_spot("BTC")
    # coin-margined: settle currency == base (ccxt), perpetual or dated
    assert is_inverse("BTC/USD:BTC") and is_inverse("ETH/USD:ETH-240628")
    for linear in ("BTC/USDT:USDT", "BTC/USD:USD", "BTC/USD:USDC", "BTC/USDT", "BTC"):
        assert not is_inverse(linear), linear


def test_current_version_is_stamped_and_others_refused() -> None:
    assert stubs.funding_observed().schema_version == ev.FundingRateObserved.SCHEMA_VERSION
    with pytest.raises(ValidationError, match="upcast"):
        stubs.funding_observed(schema_version=7)
