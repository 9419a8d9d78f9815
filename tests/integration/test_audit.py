"""The audit sink on the real broker and chDB: exactly N rows, redelivery does not double-count."""

import asyncio
from decimal import Decimal

from consumers.audit import audit_topics
from infra.clickhouse import ClickHouseStore
from infra.kafka_io import EventProducer, create_topics
from infra.settings import Settings
from schemas.events import EVENT_TYPES
from tests import stubs


def _events(n_per_type: int = 12) -> list:
    out = []
    for event_type in EVENT_TYPES:
        factory = stubs.FACTORIES[event_type]
        for i in range(n_per_type):
            kw = {"event_id": stubs.eid(f"{event_type.__name__}-{i}"), "event_time": stubs.T0 + i}
            if event_type.__name__ == "FillExecuted":
                kw.update(fill_id=f"f-{i}", qty=f"0.00{i + 1}")
            out.append(factory(**kw))
    return out


async def _publish(settings: Settings, events: list) -> None:
    await create_topics(settings)
    async with EventProducer(settings) as producer:
        await producer.send_many(events)


def test_every_event_lands_once_even_after_a_crash_between_write_and_commit(
    kafka_settings: Settings, chdb_store: ClickHouseStore
) -> None:
    events = _events()
    asyncio.run(_publish(kafka_settings, events))

    crashed = asyncio.run(
        audit_topics(kafka_settings, store=chdb_store, max_rows=50, stop_after=120)
    )
    assert crashed["crashed"] is True  # rows written, offsets of the last batch not committed
    result = asyncio.run(audit_topics(kafka_settings, store=chdb_store, drain=True, max_rows=50))

    run = kafka_settings.topic_prefix.rstrip(".")
    rows = chdb_store.query(
        "SELECT count(), uniqExact(event_id) FROM events_raw FINAL WHERE run = {r:String}",
        {"r": run},
    ).rows
    assert rows == [(len(events), len(events))]
    assert result["records"] > 0
    per_type = dict(
        chdb_store.query(
            "SELECT event_type, count() FROM events_raw FINAL WHERE run = {r:String} GROUP BY event_type",
            {"r": run},
        ).rows
    )
    assert per_type == {t.__name__: 12 for t in EVENT_TYPES}
    qty = chdb_store.query(
        "SELECT sum(qty) FROM fills FINAL WHERE run = {r:String}", {"r": run}
    ).scalar()
    assert qty == sum(Decimal(f"0.00{i + 1}") for i in range(12))
    types = dict(
        chdb_store.query(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 'fills'"
        ).rows
    )
    assert types["event_time"] == "DateTime64(3, 'UTC')" and types["qty"] == "Decimal(38, 18)"
    assert types["venue"] == "LowCardinality(String)"
