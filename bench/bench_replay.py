"""Replay publish rate against a plain aiokafka producer sending the same pre-encoded records.

The replay (``fundarb replay``'s :func:`producers.replay.replay_parallel`) reads the bundled
CSVs, merges the series, builds and encodes events in ``--workers`` child processes and
publishes them from this one; the baseline only sends the already-encoded bytes (same topics,
keys and timestamps, one ``send`` per record, same producer settings: acks=all, idempotence,
linger 20 ms, 256 KiB batches). Also measured: the replay in one process (:func:`replay`, the
backtest's replay child). A 30-day slice of the bundled window, runs alternating, fresh topic
prefixes per run.

The parallel replay runs in a fresh interpreter per run, as ``fundarb replay`` does (this
script with ``--child``; its CPU per event counts the parent and the busiest encoder from
the files' indexing to the last acknowledgement). ``--baseline-ref REF`` also measures the
parallel replay of another commit in the same run: its tree is exported with ``git archive``
into a temporary directory and this script's ``--child`` runs there, alternating with the
work tree's, so both see the same load (the load average is printed and saved).

    python bench/bench_replay.py [--runs 5] [--workers 2] [--baseline-ref REF]
                                                        (FUNDARB_BOOTSTRAP or a local broker)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaProducer

from bench.common import (
    FILES,
    START,
    VENUES,
    broker,
    export_ref,
    market_events,
    row,
    save,
    summarise,
)
from infra.kafka_io import create_topics
from infra.settings import Settings
from producers import history as h
from producers.history.base import _gz_memory
from producers.replay import Encoders, ReplaySource, replay, replay_parallel
from schemas.catalog import topic_for
from schemas.serde import Serializer

WINDOW = h.Window(START, START + 30 * 86_400_000, venues=VENUES)


REPO = Path(__file__).resolve().parents[1]


def parallel_once(bootstrap: str, prefix: str, workers: int) -> dict[str, float]:
    """One cold ``fundarb replay`` path in this interpreter (topics under ``prefix`` exist):
    events, wall seconds and CPU µs per event of this process and of the busiest encoder."""
    settings = Settings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    _gz_memory.clear()  # as a fresh `fundarb replay`: the files are read and indexed
    start, cpu0 = time.perf_counter(), time.process_time()
    plan = h.plan(FILES, WINDOW)
    # as the CLI: children started before the event loop (forked)
    source = ReplaySource(FILES, WINDOW, Decimal("0.0001"), {}, True, plan.indexed)
    encoders = Encoders(settings, plan, source, workers)
    report = asyncio.run(replay_parallel(settings, plan, source, encoders=encoders))
    elapsed = time.perf_counter() - start
    return {
        "events": report.events,
        "seconds": elapsed,
        "parent": (time.process_time() - cpu0) / report.events * 1e6,
        "encoder": max(report.encoder_cpu_seconds) / report.events * 1e6,
    }


def _parallel_in(tree: Path, bootstrap: str, prefix: str, workers: int) -> dict[str, float]:
    """:func:`parallel_once` run by ``tree``'s copy of this script in a fresh interpreter."""
    script = str(tree / "bench" / "bench_replay.py")
    out = subprocess.run(
        [sys.executable, script, "--child", bootstrap, prefix, "--workers", str(workers)],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(bootstrap: str, runs: int, workers: int, ref: str | None) -> None:
    ser = Serializer()
    records = [
        (topic_for(type(e)).name, e.key.encode(), ser.encode(e), e.event_time)
        for e in market_events(h.plan(FILES, WINDOW))
    ]
    print(f"replay publish: {len(records):,} events per run, {runs} runs each")
    load = [os.getloadavg()[0]]

    def fresh() -> Settings:
        settings = Settings(
            bootstrap_servers=bootstrap, topic_prefix=f"bench-{uuid.uuid4().hex[:6]}."
        )
        asyncio.run(create_topics(settings))
        return settings

    cpu: dict[str, list[float]] = {"plain": [], "parent": [], "encoder": [], "one": []}
    cpu_ref: dict[str, list[float]] = {"parent": [], "encoder": []}

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

    def one(settings: Settings) -> float:
        _gz_memory.clear()  # as a fresh replay: the files are read and indexed
        start, cpu0 = time.perf_counter(), time.process_time()
        plan = h.plan(FILES, WINDOW)
        report = asyncio.run(replay(settings, plan, WINDOW))
        elapsed = time.perf_counter() - start
        cpu["one"].append((time.process_time() - cpu0) / report.events * 1e6)
        return report.events / elapsed

    def parallel(tree: Path, into: dict[str, list[float]]) -> float:
        r = _parallel_in(tree, bootstrap, fresh().topic_prefix, workers)
        into["parent"].append(r["parent"])
        into["encoder"].append(r["encoder"])
        return r["events"] / r["seconds"]

    rates: dict[str, list[float]] = {"plain": [], "parallel": [], "one": [], "ref": []}
    with tempfile.TemporaryDirectory() as tmp:
        exported = Path(tmp)
        if ref is not None:
            export_ref(ref, exported, Path(__file__))
        for i in range(runs):  # alternating: the machine's load moves them all alike
            rates["plain"].append(asyncio.run(plain(fresh())))
            rates["parallel"].append(parallel(REPO, cpu))
            if ref is not None:
                rates["ref"].append(parallel(exported, cpu_ref))
            rates["one"].append(one(fresh()))
            load.append(os.getloadavg()[0])
            line = (
                f"  run {i + 1}: plain {rates['plain'][-1]:,.0f}/s, work tree "
                f"{rates['parallel'][-1]:,.0f}/s ({rates['parallel'][-1] / rates['plain'][-1]:.0%})"
            )
            if ref is not None:
                line += (
                    f", {ref} {rates['ref'][-1]:,.0f}/s "
                    f"({rates['ref'][-1] / rates['plain'][-1]:.0%})"
                )
            print(line + f"; load {load[-1]:.1f}", flush=True)
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
    rows[0]["key"] = "replay"  # the issue's target row (bench/run_all.py's table)
    rows[0]["workers"] = workers
    rows[0]["load_average"] = {"min": min(load), "max": max(load)}
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
    if ref is not None:
        ref_med = {k: statistics.median(v) for k, v in cpu_ref.items()}
        ref_busiest = max(ref_med.values())
        rows[0]["baseline_ref"] = {
            "ref": ref,
            "figure": summarise(rates["ref"]),
            "ratio": statistics.median(rates["ref"]) / base["median"],
            "cpu_us_per_event": {
                **ref_med,
                "busiest": ref_busiest,
                "ratio": med["plain"] / ref_busiest,
            },
        }
        print(
            f"{ref}: {statistics.median(rates['ref']):,.0f}/s "
            f"(min {min(rates['ref']):,.0f}, max {max(rates['ref']):,.0f}), ratio "
            f"{rows[0]['baseline_ref']['ratio']:.0%}; CPU µs/event parent "
            f"{ref_med['parent']:.1f}, busiest encoder {ref_med['encoder']:.1f} -> plain / "
            f"busiest {med['plain'] / ref_busiest:.0%}"
        )
    print(f"load average {min(load):.1f}–{max(load):.1f}")
    print(f"saved {save('replay', rows)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-ref", default=None, help="also measure this commit's replay")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)  # bootstrap, topic prefix
    args = parser.parse_args()
    if args.child:
        print(json.dumps(parallel_once(args.child[0], args.child[1], args.workers)))
    else:
        with broker() as bootstrap:
            main(bootstrap, args.runs, args.workers, args.baseline_ref)
