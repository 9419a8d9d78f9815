"""Replay publish rate against a plain aiokafka producer sending the same pre-encoded records.

The replay (``fundarb replay``'s :func:`producers.replay.replay_parallel`) reads the bundled
CSVs, merges the series, builds and encodes events in ``--workers`` child processes and
publishes them from this one; the baseline only sends the already-encoded bytes (same topics,
keys and timestamps, one ``send`` per record, same producer settings: acks=all, idempotence,
linger 20 ms, 256 KiB batches). Also measured: the replay in one process (:func:`replay`, the
backtest's replay child). A 30-day slice of the bundled window, runs alternating, fresh topic
prefixes per run.

    python bench/bench_replay.py [--runs 5] [--workers 2]   (FUNDARB_BOOTSTRAP or a local broker)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaProducer

from bench.common import FILES, START, VENUES, broker, market_events, row, save, summarise
from infra.kafka_io import create_topics
from infra.settings import Settings
from producers import history as h
from producers.history.base import _gz_memory
from producers.replay import Encoders, ReplaySource, replay, replay_parallel
from schemas.catalog import topic_for
from schemas.serde import Serializer

WINDOW = h.Window(START, START + 30 * 86_400_000, venues=VENUES)


def main(bootstrap: str, runs: int, workers: int) -> None:
    ser = Serializer()
    records = [
        (topic_for(type(e)).name, e.key.encode(), ser.encode(e), e.event_time)
        for e in market_events(h.plan(FILES, WINDOW))
    ]
    print(f"replay publish: {len(records):,} events per run, {runs} runs each")

    def fresh() -> Settings:
        settings = Settings(
            bootstrap_servers=bootstrap, topic_prefix=f"bench-{uuid.uuid4().hex[:6]}."
        )
        asyncio.run(create_topics(settings))
        return settings

    cpu: dict[str, list[float]] = {"plain": [], "parent": [], "encoder": [], "one": []}

    async def plain(settings: Settings) -> float:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            max_batch_size=256 * 1024,
        )
        await producer.start()
        start, cpu0 = time.perf_counter(), time.process_time()
        for topic, key, value, ts in records:
            await producer.send(settings.topic(topic), value=value, key=key, timestamp_ms=ts)
        await producer.flush()
        elapsed = time.perf_counter() - start
        cpu["plain"].append((time.process_time() - cpu0) / len(records) * 1e6)
        await producer.stop()
        return len(records) / elapsed

    def ours(settings: Settings, parallel: bool) -> float:
        _gz_memory.clear()  # as a fresh `fundarb replay`: the files are read and indexed
        start, cpu0 = time.perf_counter(), time.process_time()
        plan = h.plan(FILES, WINDOW)
        if parallel:  # as the CLI: children started before the event loop (forked)
            source = ReplaySource(FILES, WINDOW, Decimal("0.0001"), {}, True, plan.indexed)
            encoders = Encoders(settings, plan, source, workers)
            report = asyncio.run(replay_parallel(settings, plan, source, encoders=encoders))
        else:
            report = asyncio.run(replay(settings, plan, WINDOW))
        elapsed = time.perf_counter() - start
        us = (time.process_time() - cpu0) / report.events * 1e6
        if parallel:
            cpu["parent"].append(us)
            cpu["encoder"].append(max(report.encoder_cpu_seconds) / report.events * 1e6)
        else:
            cpu["one"].append(us)
        return report.events / elapsed

    rates: dict[str, list[float]] = {"plain": [], "parallel": [], "one": []}
    for _ in range(runs):  # alternating: the machine's load moves all three alike
        rates["plain"].append(asyncio.run(plain(fresh())))
        rates["parallel"].append(ours(fresh(), parallel=True))
        rates["one"].append(ours(fresh(), parallel=False))
    base = summarise(rates["plain"])
    rows = [
        row(
            f"replay publish, {workers} encoders (events/s)",
            summarise(rates["parallel"]),
            base,
            0.60,
        ),
        row("replay publish, one process (events/s)", summarise(rates["one"]), base, None),
    ]
    rows[0]["key"] = "replay"  # the target row (bench/run_all.py's table)
    rows[0]["workers"] = workers
    # CPU per event of each process (µs, medians): on free cores the replay runs at the pace
    # of its busiest process, the plain producer at the pace of its one
    med = {k: statistics.median(v) for k, v in cpu.items()}
    busiest = max(med["parent"], med["encoder"])
    rows[0]["cpu_us_per_event"] = {**med, "busiest": busiest, "ratio": med["plain"] / busiest}
    print(
        "CPU µs/event (median): plain producer {plain:.1f}; replay parent {parent:.1f}, "
        "busiest encoder {encoder:.1f}; one process {one:.1f}".format(**med)
        + f" -> plain / busiest process {med['plain'] / busiest:.0%} (the ratio on free cores)"
    )
    print(f"saved {save('replay', rows)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with broker() as bootstrap:
        main(bootstrap, args.runs, args.workers)
