"""The trusted decode of internal topics (issue 18, item 2): the same events as the validated
decode on everything fundarb writes, and hostile bytes are still refused where bytes come in.

``Serializer.decode_trusted`` builds events without pydantic validation. These tests compare
it with ``Serializer.decode`` (the validated path, itself tested against the models'
invariants elsewhere) field by field, on every committed fixture, on one stub per event type
and on generated events of every type.
"""

from __future__ import annotations

import io
import json
import struct
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.avro import load_avsc
from schemas.events import EVENT_TYPES, Event
from schemas.serde import DecodeError, FileSchemaRegistry, Serializer
from tests import stubs
from tests.hostile import all_poisons
from tests.property.strategies import events

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
CASES = sorted(FIXTURES.glob("*/v*.json"))
SER = Serializer()


def _fixture_bytes(path: Path) -> bytes:
    type_name, version = path.parent.name, int(path.stem[1:])
    writer = fastavro.parse_schema(load_avsc(type_name, version))
    one_line = json.dumps(json.loads(path.read_text()))
    record = next(iter(fastavro.json_reader(io.StringIO(one_line), writer)))
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, FileSchemaRegistry().id_for(type_name, version)))
    fastavro.schemaless_writer(buf, writer, record)
    return buf.getvalue()


def _shape(value: Any) -> Any:
    """A value with everything equality hides made visible: a Decimal's digits and exponent
    (``Decimal("1.0") == Decimal("1")``), an enum's class, a nested model's type and fields."""
    if isinstance(value, Decimal):
        return ("Decimal", value.as_tuple())
    if isinstance(value, list):
        return [_shape(v) for v in value]
    if hasattr(value, "__pydantic_fields_set__"):
        return (type(value), {k: _shape(v) for k, v in value.__dict__.items()})
    return (type(value), value)


def _assert_same(trusted: Event, validated: Event) -> None:
    assert type(trusted) is type(validated)
    assert trusted == validated
    assert _shape(trusted) == _shape(validated)
    assert list(trusted.__dict__) == list(validated.__dict__)  # same field order
    assert trusted.__pydantic_fields_set__ == validated.__pydantic_fields_set__
    assert trusted.model_dump() == validated.model_dump()
    assert SER.encode(trusted) == SER.encode(validated)
    assert hash(trusted.event_id) == hash(validated.event_id)


def test_every_event_type_has_a_fixture() -> None:
    assert {p.parent.name for p in CASES} >= {t.__name__ for t in EVENT_TYPES}


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_trusted_decode_equals_validated_decode_on_every_fixture(path: Path) -> None:
    data = _fixture_bytes(path)
    _assert_same(SER.decode_trusted(data), SER.decode(data))


STUBS = [getattr(stubs, name) for name in dir(stubs) if name.endswith(("_observed", "_executed"))]
STUBS += [
    stubs.funding_paid,
    stubs.target_position_set,
    stubs.exit_requested,
    stubs.place_order,
    stubs.cancel_order,
    stubs.order_accepted,
    stubs.order_rejected,
    stubs.order_canceled,
    stubs.order_expired,
    stubs.breaker_tripped,
    stubs.breaker_reset,
    stubs.spread_updated,
    stubs.position_changed,
    stubs.alert_raised,
    stubs.event_rejected,
]


@pytest.mark.parametrize("make", STUBS, ids=lambda f: f.__name__)
def test_trusted_decode_equals_validated_decode_on_every_stub(make: Any) -> None:
    event = make()
    data = SER.encode(event)
    trusted = SER.decode_trusted(data)
    _assert_same(trusted, SER.decode(data))
    assert trusted == event


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_trusted_decode_equals_validated_decode_on_generated_events(
    event_type: type[Event], data: st.DataObject
) -> None:
    event = data.draw(events(event_type))
    encoded = SER.encode(event)
    _assert_same(SER.decode_trusted(encoded), SER.decode(encoded))


def test_trusted_events_are_independent_of_each_other() -> None:
    # the record becomes the event's __dict__: two decodes of one value share nothing mutable
    data = SER.encode(stubs.target_position_set())
    a, b = SER.decode_trusted(data), SER.decode_trusted(data)
    assert a == b and a.__dict__ is not b.__dict__ and a.legs is not b.legs  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="frozen"):
        a.event_time = 1  # type: ignore[misc]


FRAMING = {"random_bytes", "truncated", "unknown_schema_id", "unknown_enum"}
VALUES = {
    "nan",
    "negative_price",
    "seconds_for_ms",
    "far_past",
    "huge_exponent",
    "huge_digits",
    "huge_value",
    "huge_string",
}


def test_every_hostile_value_is_refused_by_the_validated_decode_the_edge_uses() -> None:
    """The poisons of tests/hostile.py are refused by ``decode``, the decode of the edge (the
    worker's input topics, the connectors' and replays' bytes); bad framing is refused by the
    trusted decode too. (Wrong keys and far-future times decode: the worker refuses those.)"""
    poisons = [p for p in all_poisons(stubs.T0) if p.value is not None]
    kinds = {p.kind for p in poisons}
    assert kinds >= FRAMING | VALUES  # the suite still has every kind this test relies on
    for p in poisons:
        if p.kind in FRAMING | VALUES:
            with pytest.raises(DecodeError):
                SER.decode(p.value)  # type: ignore[arg-type]
        if p.kind in FRAMING:
            with pytest.raises(DecodeError):
                SER.decode_trusted(p.value)  # type: ignore[arg-type]


def test_a_decimal_that_is_not_a_number_is_a_decode_error_on_the_trusted_path() -> None:
    from schemas.serde import to_record
    from tests.hostile import _frame  # what a foreign producer sends, bypassing the models

    record = to_record(stubs.ticker_observed())
    data = _frame("TickerObserved", {**record, "bid": "not a number"})
    with pytest.raises(DecodeError) as err:
        SER.decode_trusted(data)
    assert err.value.error_type == "invalid"
