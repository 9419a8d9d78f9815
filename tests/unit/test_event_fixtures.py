"""Every committed sample payload of every version decodes with the current reader."""

import io
import json
import struct
from pathlib import Path

import fastavro
import pytest

from schemas.avro import load_avsc
from schemas.events import EVENT_TYPES, ExitRequested, TargetPositionSet
from schemas.serde import FileSchemaRegistry, Serializer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
CASES = sorted(FIXTURES.glob("*/v*.json"))


def test_every_type_has_a_fixture_for_its_current_version() -> None:
    have = {(p.parent.name, int(p.stem[1:])) for p in CASES}
    for event_type in EVENT_TYPES:
        assert (event_type.__name__, event_type.SCHEMA_VERSION) in have


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_fixture_decodes_with_the_current_reader(path: Path) -> None:
    type_name, version = path.parent.name, int(path.stem[1:])
    writer = fastavro.parse_schema(load_avsc(type_name, version))
    one_line = json.dumps(json.loads(path.read_text()))  # the Avro JSON reader reads lines
    record = next(iter(fastavro.json_reader(io.StringIO(one_line), writer)))
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, FileSchemaRegistry().id_for(type_name, version)))
    fastavro.schemaless_writer(buf, writer, record)

    event = Serializer().decode(buf.getvalue())
    assert Serializer().decode_trusted(buf.getvalue()) == event  # internal topics' path

    assert type(event).__name__ == type_name
    raw = json.loads(path.read_text())
    assert event.event_id == raw["event_id"]
    assert event.event_time == raw["event_time"]
    assert event.instrument == raw["instrument"]


@pytest.mark.parametrize("type_name", ["TargetPositionSet", "ExitRequested"])
def test_v1_intents_upcast_as_the_funding_arbitrages(type_name: str) -> None:
    """Every v1 intent came from the only strategy there was: v2 names it."""
    path = FIXTURES / type_name / "v1.json"
    writer = fastavro.parse_schema(load_avsc(type_name, 1))
    raw = json.loads(path.read_text())
    record = next(iter(fastavro.json_reader(io.StringIO(json.dumps(raw)), writer)))
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, FileSchemaRegistry().id_for(type_name, 1)))
    fastavro.schemaless_writer(buf, writer, record)
    event = Serializer().decode(buf.getvalue())
    assert isinstance(event, TargetPositionSet | ExitRequested)
    assert event.schema_version == 2
    assert event.strategy_id == "funding_arb"
    assert event.arb_id == raw["arb_id"]
    if isinstance(event, TargetPositionSet):
        assert str(event.expected_apr) == raw["expected_apr"]
