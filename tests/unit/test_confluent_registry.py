"""The Confluent-compatible registry client, against an in-process HTTP fake of the two
endpoints it uses (httpx.MockTransport: the edge, not our logic)."""

import json

import httpx
import pytest

from infra.schema_registry import ConfluentSchemaRegistry
from schemas.serde import DecodeError, Serializer
from tests import stubs


class FakeRegistry:
    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.subjects: dict[str, int] = {}
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        path = request.url.path
        if request.method == "POST" and path.startswith("/subjects/"):
            subject = path.split("/")[2]
            body = json.loads(request.content)
            assert request.headers["content-type"] == "application/vnd.schemaregistry.v1+json"
            if subject not in self.subjects:
                new_id = 100 + len(self.schemas)
                self.schemas[new_id] = body["schema"]
                self.subjects[subject] = new_id
            return httpx.Response(200, json={"id": self.subjects[subject]})
        if request.method == "GET" and path.startswith("/schemas/ids/"):
            schema_id = int(path.rsplit("/", 1)[1])
            if schema_id not in self.schemas:
                return httpx.Response(
                    404, json={"error_code": 40403, "message": "Schema not found"}
                )
            return httpx.Response(200, json={"schema": self.schemas[schema_id]})
        return httpx.Response(404)


def _registry(fake: FakeRegistry) -> ConfluentSchemaRegistry:
    client = httpx.Client(
        base_url="http://registry.test",
        transport=httpx.MockTransport(fake),
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )
    return ConfluentSchemaRegistry("http://registry.test", client=client)


def test_events_round_trip_through_registry_ids() -> None:
    fake = FakeRegistry()
    ser = Serializer(_registry(fake))
    event = stubs.place_order()
    data = ser.encode(event)
    assert int.from_bytes(data[1:5], "big") == 100
    assert "fundarb.events.PlaceOrder" in fake.subjects
    # a fresh reader resolves the id through GET /schemas/ids/100
    assert Serializer(_registry(fake)).decode(data) == event


def test_ids_are_cached() -> None:
    fake = FakeRegistry()
    ser = Serializer(_registry(fake))
    for _ in range(5):
        ser.encode(stubs.place_order())
    assert fake.calls == 1


def test_unknown_id_is_a_decode_error() -> None:
    ser = Serializer(_registry(FakeRegistry()))
    with pytest.raises(DecodeError) as info:
        ser.decode(b"\x00\x00\x00\x03\xe7" + b"\x00" * 10)
    assert info.value.error_type == "unknown_schema_id"
