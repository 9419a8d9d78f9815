"""The audit sink builds its rows from Avro records without pydantic (issue 18, item 4): every
row holds what the validated event says, on every stub, fixture and generated event.

The expected values come from the validated event (``Serializer.decode``) and plain attribute
reads, not from the sink's own code: the payload is ``payload_json`` of the event, the
envelope is the event's fields, a typed column named like a field is that field (an enum's
value, a decimal rounded to Decimal(38, 18)).
"""

from __future__ import annotations

import json
from decimal import Context, Decimal
from enum import Enum
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.audit import AuditBatch, payload_json
from schemas.events import EVENT_TYPES, Event
from schemas.serde import Serializer
from tests import stubs
from tests.property.strategies import events
from tests.unit.test_trusted_decode import CASES, _fixture_bytes

SER = Serializer()
Q18 = Decimal("1e-18")


def _expected(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return value.quantize(Q18, context=Context(prec=38))
    return value


def _check(data: bytes, *, arrow: bool = True) -> None:
    event = SER.decode(data)
    batch = AuditBatch(SER, "p.")
    batch.add(
        SimpleNamespace(
            topic="p.some.topic", partition=3, offset=7, key=b"K", value=data, timestamp=1
        )
    )
    assert not batch.rejected
    ((raw,),) = [batch.rows("events_raw")]
    assert raw["payload"] == payload_json(event)
    assert (raw["run"], raw["topic"], raw["partition"], raw["offset"], raw["key"]) == (
        "p",
        "some.topic",
        3,
        7,
        "K",
    )
    assert raw["event_type"] == type(event).__name__
    for name in ("event_id", "event_time", "ingest_time", "venue", "instrument"):
        assert raw[name] == getattr(event, name)
    assert raw["correlation_id"] == event.correlation_id
    assert raw["causation_id"] == event.causation_id
    typed = [t for t in batch.tables if t != "events_raw"]
    assert len(typed) <= 1
    for table in typed:
        ((row,),) = [batch.rows(table)]
        for column, value in row.items():
            if column in ("run", "topic", "partition", "offset"):
                continue
            if column == "event_type":
                assert value == type(event).__name__
            elif column == "legs":
                legs = getattr(event, "legs", [])
                assert value == json.dumps([leg.model_dump(mode="json") for leg in legs])
            elif column in event.__dict__:
                assert value == _expected(getattr(event, column)), column
                if isinstance(value, Decimal):
                    assert value.as_tuple().exponent >= -18
        if arrow:  # the Arrow types take the values (a generated revision may exceed uint32)
            assert batch.arrow(table).num_rows == 1


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_rows_from_avro_hold_the_validated_event_on_every_fixture(path: Any) -> None:
    _check(_fixture_bytes(path))


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_rows_from_avro_hold_the_validated_event_on_every_stub(event_type: type[Event]) -> None:
    _check(SER.encode(stubs.FACTORIES[event_type]()))


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rows_from_avro_hold_the_validated_event_on_generated_events(
    event_type: type[Event], data: st.DataObject
) -> None:
    _check(SER.encode(data.draw(events(event_type))), arrow=False)


def test_special_columns() -> None:
    # columns that are not a field of the same name: the reason of an order event, the legs
    # of a target, the action of a breaker
    rejected = stubs.FACTORIES[EVENT_TYPES[10]]()  # OrderRejected
    batch = AuditBatch(SER, "p.")
    for i, e in enumerate(
        [rejected, stubs.target_position_set(), stubs.breaker_tripped(), stubs.breaker_reset()]
    ):
        batch.add(
            SimpleNamespace(
                topic="p.t", partition=0, offset=i, key=b"", value=SER.encode(e), timestamp=1
            )
        )
    (order,) = batch.rows("orders")
    assert order["reason"] == rejected.reject_reason.value  # type: ignore[attr-defined]
    (intent,) = batch.rows("intents")
    legs = stubs.target_position_set().legs
    assert intent["legs"].startswith("[{") and str(legs[0].target_qty) in intent["legs"]
    tripped, reset = batch.rows("breakers")
    assert tripped["action"] == stubs.breaker_tripped().action.value and reset["action"] is None
