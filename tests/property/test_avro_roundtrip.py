"""Avro round trip is the identity for every event type (hypothesis)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import EVENT_TYPES, Event
from schemas.serde import Serializer
from tests.property.strategies import events

ser = Serializer()


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_encode_decode_is_identity(event_type: type[Event], data: st.DataObject) -> None:
    event = data.draw(events(event_type))
    encoded = ser.encode(event)
    decoded = ser.decode(encoded)
    assert decoded == event
    assert ser.encode(decoded) == encoded  # byte for byte
