"""The audit sink on the real broker and chDB: exactly N rows, redelivery does not double-count."""

import asyncio
from decimal import Decimal
from typing import Any

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
    assert crashed.crashed is True  # rows written, offsets of the last batch not committed
    result = asyncio.run(audit_topics(kafka_settings, store=chdb_store, drain=True, max_rows=50))

    run = kafka_settings.topic_prefix.rstrip(".")
    rows = chdb_store.query(
        "SELECT count(), uniqExact(event_id) FROM events_raw FINAL WHERE run = {r:String}",
        {"r": run},
    ).rows
    assert rows == [(len(events), len(events))]
    assert result.records > 0
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


async def _dead_letters(settings: Settings) -> list:
    from aiokafka import AIOKafkaConsumer

    from schemas.serde import Serializer

    ser = Serializer()
    consumer = AIOKafkaConsumer(
        settings.topic("deadletter"),
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
        return [ser.decode(r.value) for records in batch.values() for r in records]
    finally:
        await consumer.stop()


def test_one_value_beyond_decimal_38_18_is_kept_raw_and_the_rest_is_audited(
    kafka_settings: Settings, chdb_store: ClickHouseStore
) -> None:
    from schemas.events import FundingRateObserved

    valid = _events(n_per_type=3)
    # bypass validation (model_construct): what an older writer or a foreign producer may send;
    # 1e25 does not fit ClickHouse Decimal(38, 18), which stopped the sink for good
    bad = FundingRateObserved.model_construct(
        **{
            **stubs.funding_observed().__dict__,
            "event_id": stubs.eid("huge"),
            "funding_rate": Decimal("1E+25"),
        }
    )
    asyncio.run(_publish(kafka_settings, [*valid[:20], bad, *valid[20:]]))

    result = asyncio.run(audit_topics(kafka_settings, store=chdb_store, drain=True, max_rows=7))

    run = kafka_settings.topic_prefix.rstrip(".")
    ids = {
        r[0]
        for r in chdb_store.query(
            "SELECT event_id FROM events_raw FINAL WHERE run = {r:String} "
            "AND event_type != 'Undecodable'",
            {"r": run},
        ).rows
    }
    on_topic = asyncio.run(_dead_letters(kafka_settings))  # with the 3 stub EventRejected
    letters = [d for d in on_topic if d.source_topic == kafka_settings.topic("md.funding")]
    # every valid record; the dead letter written during the run may be audited as well
    assert {e.event_id for e in valid} <= ids
    assert ids - {e.event_id for e in valid} <= {d.event_id for d in letters}
    funding = chdb_store.query(
        "SELECT count() FROM funding_observations FINAL WHERE run = {r:String}", {"r": run}
    ).scalar()
    assert funding == 3
    kept = chdb_store.query(
        "SELECT topic, payload FROM events_raw FINAL WHERE run = {r:String} "
        "AND event_type = 'Undecodable'",
        {"r": run},
    ).rows
    assert len(kept) == 1 and kept[0][0] == "md.funding"  # the bad record's bytes are kept
    assert "funding_rate" in kept[0][1]  # with the decoder's reason
    # the decoder's bounds refuse it; md.funding's processor (the worker) dead-letters it, the
    # audit does not send a second dead letter for the same record
    assert result.dead_lettered == 0 and letters == []


def test_a_row_only_the_audit_cannot_build_is_dead_lettered_once_by_the_sink(
    kafka_settings: Settings, chdb_store: ClickHouseStore, monkeypatch: Any
) -> None:
    # the sink starts its dead-letter producer only for its first dead letter: this run has
    # one (a typed row that cannot be built, injected), which must reach the dead-letter
    # topic before the offsets are committed; a second drain sends nothing again
    from consumers import audit
    from schemas.events import FundingRateObserved

    plan = audit._plan(FundingRateObserved)
    built = plan.row
    bad_id = stubs.eid("unbuildable")

    def row(values: dict[str, Any]) -> Any:
        if values["event_id"] == bad_id:
            raise ArithmeticError("cannot hold")
        return built(values)  # type: ignore[misc]

    monkeypatch.setattr(plan, "row", row)
    valid = _events(n_per_type=2)
    asyncio.run(_publish(kafka_settings, [*valid, stubs.funding_observed(event_id=bad_id)]))

    first = asyncio.run(audit_topics(kafka_settings, store=chdb_store, drain=True))
    again = asyncio.run(audit_topics(kafka_settings, store=chdb_store, drain=True))

    letters = [
        d
        for d in asyncio.run(_dead_letters(kafka_settings))
        if d.source_topic == kafka_settings.topic("md.funding")
    ]
    assert first.dead_lettered == 1 and len(letters) == 1
    assert letters[0].error_type == "audit_convert"
    # the second drain resumes after the committed offsets: nothing is read or sent again
    # except the dead letter the first drain wrote (audited, never re-sent)
    assert again.dead_lettered == 0 and again.records == 1
    run = kafka_settings.topic_prefix.rstrip(".")
    kept = chdb_store.query(
        "SELECT count() FROM events_raw FINAL WHERE run = {r:String} "
        "AND event_type = 'Undecodable'",
        {"r": run},
    ).scalar()
    assert kept == 1
