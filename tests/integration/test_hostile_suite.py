"""The hostile-input suite: every poison kind of tests/hostile.py on every input topic of a
running worker, then the audit sink over the run. Every bad record is dead-lettered exactly
once, no process exits, the valid records give byte-identical outputs to a clean run, and the
audit holds exactly the records on the run's topics."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

from aiokafka import AIOKafkaProducer

from consumers.audit import audit_topics
from infra.clickhouse import ClickHouseStore
from infra.kafka_io import create_topics
from infra.settings import Settings
from schemas.catalog import DEADLETTER, TOPICS
from schemas.events import EventRejected
from schemas.serde import Serializer
from tests.conftest import Broker
from tests.hostile import Poison, all_poisons
from tests.market import T0, H, two_venue_history
from tests.worker_proc import WorkerProc, publish, records

VALID = two_venue_history(n=4)
OUTPUTS = ("derived.spreads", "derived.positions", "strategy.intents", "orders.commands")
ALL_TOPICS = tuple(dict.fromkeys([*(t.name for t in TOPICS), DEADLETTER]))


async def _poison(settings: Settings, poisons: list[Poison]) -> dict[tuple[str, int, int], Poison]:
    """Produce raw, as a foreign producer would; returns each poison's (topic, partition,
    offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, max_request_size=2**21)
    await producer.start()
    placed: dict[tuple[str, int, int], Poison] = {}
    try:
        for p in poisons:
            meta = await producer.send_and_wait(
                settings.topic(p.topic), p.value, key=p.key, timestamp_ms=p.timestamp_ms
            )
            placed[(p.topic, meta.partition, meta.offset)] = p
    finally:
        await producer.stop()
    return placed


def _run_worker(settings: Settings, home: Path, n_records: int) -> WorkerProc:
    worker = WorkerProc(settings, home)
    worker.start()
    worker.wait(lambda s: s["idle"] and s["records"] >= n_records, 120, "all records read")
    assert worker.proc is not None and worker.proc.poll() is None  # still running
    return worker


def test_every_poison_is_dead_lettered_once_and_valid_outputs_match_a_clean_run(
    kafka_broker: Broker, chdb_store: ClickHouseStore, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    clean = Settings(bootstrap_servers=kafka_broker.bootstrap, topic_prefix=f"clean-{run}.")
    hostile = Settings(bootstrap_servers=kafka_broker.bootstrap, topic_prefix=f"hostile-{run}.")
    poisons = all_poisons(T0 + 4 * H)
    ser = Serializer()

    async def go() -> tuple[dict, dict, dict, list]:
        await create_topics(clean)
        await publish(clean, VALID)
        worker = await asyncio.to_thread(_run_worker, clean, tmp_path / "clean", len(VALID))
        worker.stop()
        expected = await records(clean, *OUTPUTS)

        await create_topics(hostile)
        await publish(hostile, VALID[: len(VALID) // 2])
        placed = await _poison(hostile, poisons)
        await publish(hostile, VALID[len(VALID) // 2 :])
        n = len(VALID) + len(poisons)
        worker = await asyncio.to_thread(_run_worker, hostile, tmp_path / "hostile", n)
        worker.stop()
        got = await records(hostile, *OUTPUTS, "risk.events")
        letters = [ser.decode(r.value) for _, _, r in await records(hostile, DEADLETTER)]
        return (
            {(t, p, r.offset): r.value for t, p, r in expected},
            {(t, p, r.offset): r.value for t, p, r in got},
            placed,
            letters,
        )

    expected, got, placed, letters = asyncio.run(go())

    # every poison exactly once, naming its record
    assert all(isinstance(d, EventRejected) for d in letters)
    sources = Counter(
        (
            d.source_topic.removeprefix("engine:").removeprefix(hostile.topic_prefix),
            d.source_partition,
            d.source_offset,
        )
        for d in letters
    )
    assert set(sources) == set(placed), {placed[k].kind for k in set(placed) - set(sources)}
    assert all(c == 1 for c in sources.values()), [k for k, c in sources.items() if c > 1]
    by_kind = {placed[k].kind for k in sources}
    assert {"huge_exponent", "huge_string", "far_future", "wrong_key", "tombstone"} <= by_kind

    # the valid records' outputs, byte for byte, in the same order per topic partition
    def ordered(values: dict, skip: set) -> dict:
        out: dict = {}
        for (t, p, o), v in sorted(values.items()):
            if (t, p, o) not in skip and t in OUTPUTS:
                out.setdefault((t, p), []).append(v)
        return out

    assert ordered(got, set(placed)) == ordered(expected, set())
    assert any(t == "orders.commands" for t, _ in ordered(expected, set()))

    # the audit sink holds exactly the run's records, poisons and dead letters included
    result = asyncio.run(audit_topics(hostile, store=chdb_store, drain=True))

    async def total() -> int:
        return len(await records(hostile, *ALL_TOPICS))

    on_topics = asyncio.run(total())
    rows = chdb_store.query(
        "SELECT count() FROM events_raw FINAL WHERE run = {r:String}",
        {"r": hostile.topic_prefix.rstrip(".")},
    ).scalar()
    assert rows == on_topics
    assert result.dead_lettered == 0  # the worker owns its topics' dead letters
