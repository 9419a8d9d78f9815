"""Events written to the audit store through the audit sink's own batch (consumers/audit.py),
as if consumed from the run's topics: what the SQL-view tests read back."""

from __future__ import annotations

from types import SimpleNamespace

from consumers.audit import AuditBatch
from infra.clickhouse import ClickHouseStore
from schemas import events as ev
from schemas.catalog import TOPICS
from schemas.serde import Serializer

#: each event type's topic in the catalog
TOPIC = {et: t.name for t in TOPICS for et in t.event_types}


def write_audited(
    store: ClickHouseStore, events: list[ev.Event], prefix: str, key: bytes = b"BTC"
) -> None:
    """Write ``events`` (one partition, offsets in list order) under the run ``prefix``;
    asserts every one became a row and none was refused."""
    serializer = Serializer()
    batch = AuditBatch(serializer, prefix)
    for offset, e in enumerate(events):
        batch.add(
            SimpleNamespace(
                topic=prefix + TOPIC[type(e)],
                partition=0,
                offset=offset,
                key=key,
                value=serializer.encode(e),
                timestamp=e.event_time,
            )
        )
    assert batch.write(store) == len(events) and not batch.rejected
