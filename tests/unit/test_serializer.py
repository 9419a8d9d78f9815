"""Confluent framing, typed decode errors, determinism."""

import struct

import pytest

from schemas.events import EVENT_TYPES
from schemas.serde import DecodeError, FileSchemaRegistry, Serializer
from tests import stubs

ser = Serializer()


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_every_type_round_trips_byte_for_byte(event_type: type) -> None:
    event = stubs.FACTORIES[event_type]()
    data = ser.encode(event)
    decoded = ser.decode(data)
    assert decoded == event and type(decoded) is event_type
    assert ser.encode(decoded) == data


def test_wire_header_is_magic_zero_and_schema_id() -> None:
    data = ser.encode(stubs.place_order())
    magic, schema_id = struct.unpack(">bI", data[:5])
    registry = FileSchemaRegistry()
    assert magic == 0
    assert schema_id == registry.id_for("PlaceOrder", 1)
    assert registry.entry(schema_id).type_name == "PlaceOrder"


def test_one_topic_carries_several_types_told_apart_by_schema_id() -> None:
    a, b = ser.encode(stubs.place_order()), ser.encode(stubs.cancel_order())
    assert a[1:5] != b[1:5]
    assert type(ser.decode(b)).__name__ == "CancelOrder"


def _expect(data: bytes, error_type: str) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        ser.decode(data)
    assert info.value.error_type == error_type, info.value
    assert info.value.reason
    return info.value


def test_decode_errors_are_typed_with_a_reason() -> None:
    good = ser.encode(stubs.fill_executed())
    _expect(b"", "empty")
    _expect(good[:3], "truncated")
    _expect(good[:-4], "truncated")
    _expect(b"\x01" + good[1:], "bad_magic")
    _expect(b"\x00\x00\x00\xff\xff" + good[5:], "unknown_schema_id")
    _expect(good + b"\x00\x01", "trailing_bytes")


def test_invalid_values_decode_to_invalid_with_the_field_named() -> None:
    import io

    import fastavro

    from schemas.avro import load_avsc
    from schemas.serde import to_record

    record = to_record(stubs.fill_executed())
    record["price"] = "-5"
    buf = io.BytesIO()
    buf.write(ser.encode(stubs.fill_executed())[:5])
    fastavro.schemaless_writer(buf, fastavro.parse_schema(load_avsc("FillExecuted", 1)), record)
    err = _expect(buf.getvalue(), "invalid")
    assert "price" in err.reason and "must be > 0" in err.reason


def test_encoding_is_deterministic_across_serializer_instances() -> None:
    event = stubs.target_position_set()
    assert Serializer().encode(event) == Serializer().encode(event)
