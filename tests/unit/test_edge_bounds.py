"""Bounds at the decode edge: absurd decimals and oversized text are refused with one
DecodeError naming the field, before anything huge is built (schemas/types.py)."""

import io
import struct
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal

import fastavro
import pytest
from pydantic import ValidationError

from schemas import types as T
from schemas.avro import load_avsc
from schemas.serde import DecodeError, Serializer, to_record
from schemas.types import canonical_decimal
from tests import stubs

ser = Serializer()


def _frame(type_name: str, record: dict) -> bytes:
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, ser.registry.id_for(type_name, 1)))
    fastavro.schemaless_writer(buf, fastavro.parse_schema(load_avsc(type_name, 1)), record)
    return buf.getvalue()


def _funding(**fields: object) -> bytes:
    return _frame("FundingRateObserved", {**to_record(stubs.funding_observed()), **fields})


def _fill(**fields: object) -> bytes:
    return _frame("FillExecuted", {**to_record(stubs.fill_executed()), **fields})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("funding_rate", "1E+400000"),  # decoded before; downstream math raised InvalidOperation
        ("funding_rate", "1E+31"),
        ("funding_rate", "1E-31"),
        ("funding_rate", "1" * 65),  # digit count: longer than 64 characters
        ("funding_rate", "1.5"),  # 150 % per interval: beyond the funding-rate cap
        ("funding_rate", "-1.0001"),
        ("mark_price", "1E+15"),  # a price of 10^15 quote units is not a market
        ("mark_price", "1000000000000000"),
        ("mark_price", "-91319.2"),
        ("mark_price", "NaN"),
        ("mark_price", "Infinity"),
    ],
)
def test_absurd_decimals_are_refused_at_decode(field: str, value: str) -> None:
    with pytest.raises(DecodeError) as err:
        ser.decode(_funding(**{field: value}))
    assert err.value.error_type == "invalid"
    assert field in err.value.reason


def test_a_huge_exponent_is_refused_before_any_huge_decimal_is_built() -> None:
    # 60 bytes on the wire that used to expand into a 100 MB plain-notation Decimal
    data = _funding(funding_rate="1E+100000000")
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DecodeError, match="funding_rate"):
            ser.decode(data)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 1_000_000


def test_bounds_are_inclusive_where_documented() -> None:
    cap = str(T.MAX_ABS_FUNDING_RATE)
    assert ser.decode(_funding(funding_rate=cap)).funding_rate == T.MAX_ABS_FUNDING_RATE
    assert ser.decode(_funding(funding_rate="-" + cap)).funding_rate == -T.MAX_ABS_FUNDING_RATE
    below = T.MAX_MAGNITUDE - Decimal("0.01")
    assert ser.decode(_funding(mark_price=str(below))).mark_price == below
    assert ser.decode(_funding(funding_rate="1.2E-5")).funding_rate == Decimal("0.000012")


def test_digits_are_kept_exactly_within_the_length_bound() -> None:
    # a quotient computed in code carries 28 digits; the shadow ledger re-prices them exactly
    third = Decimal("0.0001") / 3
    assert canonical_decimal(third) == third
    event = stubs.funding_observed(funding_rate=third)
    assert ser.decode(ser.encode(event)) == event
    # beyond 40 places (only tiny values computed to 28 digits): rounded, so the wire string
    # of any event stays within the decoder's 64 characters
    assert canonical_decimal(Decimal("1E-63")) == 0
    assert canonical_decimal(Decimal("1.5E-40")) == Decimal("2E-40")
    assert canonical_decimal("0." + "1" * 62) == Decimal("0." + "1" * 40)
    tiny = stubs.balance_observed(used=Decimal("1E-63") + Decimal("3E-40"))
    assert ser.decode(ser.encode(tiny)) == tiny


@pytest.mark.parametrize(
    "value", ["1E+100000000", "9" * 65, "1E+31", "1E-31", Decimal("1E+20"), 10**15]
)
def test_canonical_decimal_refuses_absurd_values_with_a_value_error(value: object) -> None:
    with pytest.raises(ValueError) as err:
        canonical_decimal(value)
    assert len(str(err.value)) < 200  # the message never echoes a huge input


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fill_id", "f" * 1_000_000),  # a valid fill with a 1 MB fill id
        ("fill_id", "f" * 129),
        ("order_id", "o" * 129),
        ("client_order_id", "c" * 129),
        ("fee_currency", "U" * 33),
        ("correlation_id", "a" * 129),
        ("causation_id", "a" * 129),
    ],
)
def test_oversized_text_fields_are_refused_at_decode(field: str, value: str) -> None:
    with pytest.raises(DecodeError) as err:
        ser.decode(_fill(**{field: value}))
    assert err.value.error_type == "invalid" and field in err.value.reason
    assert len(err.value.reason) < 500


def test_text_limits_accept_the_limit_itself() -> None:
    assert len(ser.decode(_fill(fill_id="f" * 128)).fill_id) == 128  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("factory", "field", "limit"),
    [
        (stubs.order_rejected, "message", 2000),
        (stubs.alert_raised, "message", 2000),
        (stubs.alert_raised, "rule", 128),
        (stubs.breaker_tripped, "detail", 2000),
        (stubs.exit_requested, "arb_id", 128),
        (stubs.funding_paid, "funding_id", 128),
        (stubs.balance_observed, "currency", 32),
    ],
)
def test_text_limits_per_field(factory: Callable[..., object], field: str, limit: int) -> None:
    factory(**{field: "x" * limit})
    with pytest.raises(ValidationError, match=field):
        factory(**{field: "x" * (limit + 1)})
