"""Decode is total: any bytes, any field value either decode to an event whose values fit the
audit store (Decimal(38, 18)) or raise the one DecodeError — never another exception."""

import io
import struct
from decimal import Context, Decimal

import fastavro
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.avro import load_avsc
from schemas.events import Event
from schemas.serde import DecodeError, Serializer, to_record
from tests import stubs

ser = Serializer()
_CH = Context(prec=38)
Q18 = Decimal("1e-18")

#: strings a hostile or broken producer may put in a decimal field
HOSTILE_DECIMALS = st.one_of(
    st.builds(
        lambda m, e: f"{m}E{e:+d}",
        st.integers(-(10**6), 10**6),
        st.integers(-(10**6), 10**6),  # huge exponents (1E+100000000 is in the unit tests)
    ),
    st.integers(1, 5000).map(lambda n: "9" * n),  # huge digit strings
    st.integers(1, 5000).map(lambda n: "0." + "0" * n + "1"),
    st.sampled_from(["NaN", "nan", "sNaN", "Infinity", "-inf", "", " ", "1,5", "0x10", "1e"]),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f")),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.integers(-(10**40), 10**40).map(str).map(lambda s: "-" + s.lstrip("-")),  # negatives
    st.text(max_size=80),
)
DECIMAL_FIELDS = {
    "FundingRateObserved": ["funding_rate", "mark_price", "index_price", "predicted_rate"],
    "FillExecuted": ["qty", "price", "fee"],
    "TickerObserved": ["bid", "ask", "quote_volume_24h"],
    "PositionChanged": ["qty", "avg_entry_price", "realised_pnl_usd", "net_delta_usd"],
}
TEXT_FIELDS = {"FillExecuted": ["fill_id", "order_id", "client_order_id", "fee_currency"]}
FACTORIES = {
    "FundingRateObserved": stubs.funding_observed,
    "FillExecuted": stubs.fill_executed,
    "TickerObserved": stubs.ticker_observed,
    "PositionChanged": stubs.position_changed,
}


def _frame(type_name: str, record: dict) -> bytes:
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, ser.registry.id_for(type_name, 1)))
    fastavro.schemaless_writer(buf, fastavro.parse_schema(load_avsc(type_name, 1)), record)
    return buf.getvalue()


def _fits(event: Event) -> None:
    """Every decimal is below 10^15 in magnitude, at most 64 characters on the wire, and
    converts to Decimal(38, 18) as the audit does."""
    for name, value in event.__dict__.items():
        if isinstance(value, Decimal):
            assert abs(value) < Decimal("1e15"), name
            assert len(format(value, "f")) <= 64, name
            value.quantize(Q18, context=_CH)  # the audit's conversion: must not raise


def _decode_or_decode_error(data: bytes) -> None:
    try:
        event = ser.decode(data)
    except DecodeError:
        return
    _fits(event)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=256))
def test_any_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    _decode_or_decode_error(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64))
def test_any_payload_after_a_valid_header_decodes_or_raises_decode_error(payload: bytes) -> None:
    for type_name in FACTORIES:
        _decode_or_decode_error(struct.pack(">bI", 0, ser.registry.id_for(type_name, 1)) + payload)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_decimal_field_value_decodes_or_raises_decode_error(data: st.DataObject) -> None:
    type_name = data.draw(st.sampled_from(sorted(DECIMAL_FIELDS)))
    field = data.draw(st.sampled_from(DECIMAL_FIELDS[type_name]))
    value = data.draw(HOSTILE_DECIMALS)
    record = {**to_record(FACTORIES[type_name]()), field: value}
    _decode_or_decode_error(_frame(type_name, record))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_text_field_value_decodes_or_raises_decode_error(data: st.DataObject) -> None:
    field = data.draw(st.sampled_from(TEXT_FIELDS["FillExecuted"]))
    value = data.draw(
        st.one_of(st.text(max_size=300), st.integers(0, 10**6).map(lambda n: "x" * n))
    )
    record = {**to_record(stubs.fill_executed()), field: value}
    try:
        event = ser.decode(_frame("FillExecuted", record))
    except DecodeError:
        return
    assert len(getattr(event, field)) <= 128
