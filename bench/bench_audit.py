"""Audit sink rate (events/s from topic to committed ClickHouse rows) against a raw chDB Arrow
insert of the same rows, in the same run.

The sink consumes, decodes, builds raw + typed rows, inserts through the store and commits
offsets; the baseline inserts the already-built ``events_raw`` rows as one Arrow table.
5 runs each on fresh topic prefixes and databases, 20,000 market events per run.

A third figure bounds what any sink that decodes in Python can reach: a plain aiokafka
consumer (no group, no commit) reading the same topics to their end and Avro-decoding each
record (``Serializer.decode_record``: unframe + fastavro, no rows, no insert), against the
same baseline.

    python bench/bench_audit.py      (uses FUNDARB_BOOTSTRAP or starts a local broker)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import broker, market_events, row, save, summarise
from consumers.audit import AuditBatch, apply_ddl, audit_topics
from infra.clickhouse import open_chdb
from infra.kafka_io import EventProducer, create_topics, topic_partitions
from infra.settings import Settings
from producers import history as h
from schemas.serde import Serializer

REPO = Path(__file__).resolve().parents[1]
FILES = [
    REPO / "data/funding/finm33150_2025-12-03_2026-03-07.csv.gz",
    REPO / "data/prices/finm33150_perp_ohlcv_1h_2025-12-02_2026-03-07.csv.gz",
]
N = 20_000
RUNS = 5


class _Record:
    def __init__(self, topic: str, partition: int, offset: int, key: bytes, value: bytes) -> None:
        self.topic, self.partition, self.offset, self.key, self.value = (
            topic,
            partition,
            offset,
            key,
            value,
        )
        self.timestamp = 0


async def consume_and_decode(settings: Settings, ser: Serializer) -> int:
    """Every record of the run's market topics, read to the end and Avro-decoded; returns
    the number of records (the floor of a sink that decodes in Python)."""
    parts = await topic_partitions(
        settings.bootstrap, [settings.topic("md.tickers"), settings.topic("md.funding")]
    )
    tps = [TopicPartition(t, p) for t, ps in sorted(parts.items()) for p in ps]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap, enable_auto_commit=False, max_poll_records=5000
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        position = {tp: 0 for tp in tps}
        n = 0
        while any(position[tp] < end for tp, end in ends.items()):
            records = await consumer.getmany(timeout_ms=200, max_records=N)
            for tp, part in records.items():
                for record in part:
                    ser.decode_record(record.value)
                n += len(part)
                position[tp] = part[-1].offset + 1
        return n
    finally:
        await consumer.stop()


def first_events() -> list[Any]:
    """The first :data:`N` market events of the bundled window (binance, bybit, okx)."""
    events: list[Any] = []
    for e in market_events(h.plan(FILES, h.Window(venues=frozenset({"binance", "bybit", "okx"})))):
        events.append(e)
        if len(events) == N:
            break
    return events


async def published(bootstrap: str, events: list[Any], ser: Serializer) -> Settings:
    """A fresh topic prefix holding ``events``: the settings the sink under test reads."""
    settings = Settings(bootstrap_servers=bootstrap, topic_prefix=f"ab-{uuid.uuid4().hex[:6]}.")
    await create_topics(settings)
    async with EventProducer(settings, serializer=ser) as p:
        await p.send_many(events)
    return settings


async def main(bootstrap: str) -> None:
    events = first_events()
    ser = Serializer()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_chdb(Path(tmp), database="bench")
        sink_rates, raw_rates, floor_rates = [], [], []
        for i in range(RUNS):
            settings = await published(bootstrap, events, ser)
            db = store.database_view(f"run_{i}")
            apply_ddl(db)
            start = time.perf_counter()
            result = await audit_topics(settings, store=db, drain=True)
            sink_rates.append(result.records / (time.perf_counter() - start))

            start = time.perf_counter()
            floor_rates.append(
                await consume_and_decode(settings, ser) / (time.perf_counter() - start)
            )

            # baseline: the same raw rows, built beforehand, one Arrow insert
            batch = AuditBatch(ser, settings.topic_prefix)
            for n, e in enumerate(events):
                batch.add(
                    _Record(settings.topic("md.tickers"), 0, n, e.key.encode(), ser.encode(e))
                )
            table = batch.arrow("events_raw")
            base_db = store.database_view(f"base_{i}")
            apply_ddl(base_db)
            start = time.perf_counter()
            base_db.insert_arrow("events_raw", table)
            raw_rates.append(table.num_rows / (time.perf_counter() - start))
        store.close()
    print(f"audit sink: {N:,} events per run, {RUNS} runs each")
    rows = [
        row(
            "audit sink (events/s to committed rows)",
            summarise(sink_rates),
            summarise(raw_rates),
            0.30,
        ),
        row(
            "floor: plain consume + Avro decode",
            summarise(floor_rates),
            summarise(raw_rates),
            None,
        ),
    ]
    print(f"saved {save('audit', rows)}")


if __name__ == "__main__":
    with broker() as bootstrap:
        asyncio.run(main(bootstrap))
