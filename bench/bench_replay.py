"""Replay publish rate against a plain aiokafka producer sending the same pre-encoded records.

The replay reads the bundled CSVs, merges the series, builds and encodes events and publishes
them; the baseline only sends the already-encoded bytes (same topics, keys and timestamps).
A 30-day slice of the bundled window, 5 runs each, fresh topic prefixes per run.

    python bench/bench_replay.py      (uses FUNDARB_BOOTSTRAP or starts a local broker)
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaProducer

from bench.common import FILES, START, VENUES, broker, row, save, summarise
from infra.kafka_io import create_topics
from infra.settings import Settings
from producers import history as h
from producers.replay import replay
from schemas.catalog import topic_for
from schemas.serde import Serializer

WINDOW = h.Window(START, START + 30 * 86_400_000, venues=VENUES)
RUNS = 5


async def main(bootstrap: str) -> None:
    ser = Serializer()
    records = [
        (topic_for(type(e)).name, e.key.encode(), ser.encode(e), e.event_time)
        for e in h.merged(h.plan(FILES, WINDOW))
    ]
    print(f"replay publish: {len(records):,} events per run, {RUNS} runs each")

    async def plain() -> float:
        settings = Settings(
            bootstrap_servers=bootstrap, topic_prefix=f"bench-{uuid.uuid4().hex[:6]}."
        )
        await create_topics(settings)
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            max_batch_size=256 * 1024,
        )
        await producer.start()
        start = time.perf_counter()
        for topic, key, value, ts in records:
            await producer.send(settings.topic(topic), value=value, key=key, timestamp_ms=ts)
        await producer.flush()
        elapsed = time.perf_counter() - start
        await producer.stop()
        return len(records) / elapsed

    async def ours() -> float:
        settings = Settings(
            bootstrap_servers=bootstrap, topic_prefix=f"bench-{uuid.uuid4().hex[:6]}."
        )
        await create_topics(settings)
        plan = h.plan(FILES, WINDOW)  # indexing the files is part of the replay's cost
        start = time.perf_counter()
        report = await replay(settings, plan, WINDOW)
        return report.events / (time.perf_counter() - start)

    base = summarise([await plain() for _ in range(RUNS)])
    figure = summarise([await ours() for _ in range(RUNS)])
    rows = [row("replay publish (events/s)", figure, base, 0.60)]
    print(f"saved {save('replay', rows)}")


if __name__ == "__main__":
    with broker() as bootstrap:
        asyncio.run(main(bootstrap))
