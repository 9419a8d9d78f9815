"""The .avsc files are the wire truth: models mirror them, every version stays compatible,
every type has a topic, ids are stable."""

import itertools
import json

import fastavro
import pytest

from schemas import catalog
from schemas.avro import REGISTRY_FILE, committed_versions, load_avsc, schema_for
from schemas.events import EVENT_TYPES
from schemas.evolution import UPCASTERS, compatibility_problems


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_model_mirrors_its_latest_avsc(event_type: type) -> None:
    latest = committed_versions(event_type.__name__)[-1]
    assert latest == event_type.SCHEMA_VERSION, "bump SCHEMA_VERSION with the new .avsc"
    assert schema_for(event_type) == load_avsc(event_type.__name__, latest), (
        f"{event_type.__name__} changed: bump SCHEMA_VERSION, run `python -m schemas.avro`, "
        "add an upcaster if it is not a pure addition with defaults"
    )


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_consecutive_versions_are_compatible_both_ways(event_type: type) -> None:
    versions = committed_versions(event_type.__name__)
    for old, new in itertools.pairwise(versions):
        problems = compatibility_problems(
            load_avsc(event_type.__name__, old), load_avsc(event_type.__name__, new)
        )
        if (event_type.__name__, old) in UPCASTERS:
            # a deliberate break carried by its upcaster: the old fixtures must still decode
            # (tests/unit/test_event_fixtures.py), and only the new reader reads new records
            assert problems, f"{event_type.__name__} v{old}: an upcaster for a compatible step"
            continue
        assert not problems, problems
    for version in versions:
        fastavro.parse_schema(load_avsc(event_type.__name__, version))


def test_registry_ids_are_unique_and_cover_every_avsc() -> None:
    entries = json.loads(REGISTRY_FILE.read_text())["schemas"]
    ids = [e["id"] for e in entries]
    assert len(ids) == len(set(ids))
    listed = {(e["type"], e["version"]) for e in entries}
    for event_type in EVENT_TYPES:
        for version in committed_versions(event_type.__name__):
            assert (event_type.__name__, version) in listed


def test_every_event_type_has_exactly_one_topic() -> None:
    for event_type in EVENT_TYPES:
        homes = [t for t in catalog.TOPICS if event_type in t.event_types]
        assert len(homes) == 1, event_type


def test_co_partitioned_topics_share_one_partition_count_and_the_asset_key() -> None:
    co = [t for t in catalog.TOPICS if t.co_partitioned]
    assert {t.partitions for t in co} == {catalog.ASSET_PARTITIONS}
    assert {t.key for t in co} == {"base asset"}
    assert {
        "md.funding",
        "md.tickers",
        "acct.fills",
        "strategy.intents",
        "orders.commands",
        "orders.events",
    } <= {t.name for t in co}


def test_table_topics_are_compacted() -> None:
    assert catalog.TOPICS_BY_NAME["derived.spreads"].cleanup_policy == "compact"
    assert catalog.TOPICS_BY_NAME["md.funding"].cleanup_policy == "delete"
