"""The Faust worker: throughput, decision and hedge latency, and memory at scale.

1. **Throughput** (events/s through sequencer → fold → strategy → executor, one worker) on a
   15-day slice of the bundled real data, against a plain aiokafka consume + validated decode
   loop over the same topics in the same run. Each run uses a fresh prefix and worker.
2. **Decision latency**: input appended → intent appended, from broker append times (the
   run's topics use ``message.timestamp.type=LogAppendTime``): synthetic assets each get the
   funding and tickers that trigger an entry, paced 30 ms apart, the intent's
   ``causation_id`` names the triggering input. **Hedge latency**: leg-one fill appended →
   hedge PlaceOrder appended (the paper venue answers orders live; the hedge's
   ``causation_id`` is the fill).
3. **Scale**: peak RSS (VmHWM) of the worker process carrying 200 assets × 8 venues of
   synthetic-but-shaped funding and tickers, at two event counts (flat = no growth per event).

Throughput also reports the worker process's CPU time per event (``time.process_time`` in the
worker between its first record and its last fold): the figure to compare on a shared machine.
``--baseline-ref REF`` measures the same throughput and latency with the worker of another
commit (its tree exported with ``git archive``, run from there), alternating with the work tree
in the same run. Every figure is printed beside the load average (``os.getloadavg``).

    python bench/bench_worker.py [--runs 5] [--only throughput,latency,scale]
                                 [--baseline-ref REF]   (FUNDARB_BOOTSTRAP or a local broker)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.common import FILES, REPO, START, VENUES, broker, row, save, summarise
from infra.kafka_io import EventProducer, create_topics, start_consumer
from infra.settings import Settings
from producers import history as h
from producers.paper import PaperConfig, run_paper_venue
from producers.replay import replay
from schemas import events as ev
from schemas.catalog import TOPICS
from schemas.serde import Serializer
from streams.worker import ENGINE_INPUTS
from tests.worker_proc import WorkerProc, records

WINDOW = h.Window(START, START + 15 * 86_400_000, venues=VENUES)
BENCH_CONFIG = """\
[entry]
max_break_even_h = "96"
min_net_apr = "0.10"
[capacity]
max_open_arbs = 100000
max_new_per_round = 100000
max_notional_per_venue_usd = "100000000000"
"""


def _settings(bootstrap: str, tag: str) -> Settings:
    return Settings(bootstrap_servers=bootstrap, topic_prefix=f"bw-{tag}-{uuid.uuid4().hex[:6]}.")


async def plain_loop(settings: Settings, expected: int) -> float:
    """The baseline: consume every input record and decode it into a validated event."""
    serializer = Serializer()
    consumer = AIOKafkaConsumer(
        *[settings.topic(t) for t in ENGINE_INPUTS],
        bootstrap_servers=settings.bootstrap,
        group_id=f"plain-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
    )
    await start_consumer(consumer)
    n, start = 0, 0.0
    try:
        while n < expected:
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                if not start:
                    start = time.perf_counter()
                for r in recs:
                    serializer.decode(r.value)
                    n += 1
        return n / (time.perf_counter() - start)
    finally:
        await consumer.stop()


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def export(ref: str, into: Path) -> Path:
    """The tree of commit ``ref`` under ``into`` (``git archive``), for a baseline worker."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


async def throughput(
    bootstrap: str, home: Path, runs: int, trees: dict[str, Path]
) -> list[dict[str, Any]]:
    base: list[float] = []
    figure: dict[str, list[float]] = {name: [] for name in trees}
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    events = 0
    for i in range(runs):
        line = f"  run {i + 1}:"
        # alternate the order of the trees from run to run (the machine's load drifts); each
        # tree gets its own prefix (topics, consumer group, changelog)
        for name, tree in sorted(trees.items(), reverse=bool(i % 2)):
            settings = _settings(bootstrap, f"tp{i}")
            await create_topics(settings)
            report = await replay(settings, h.plan(FILES, WINDOW), WINDOW)
            events = report.events
            if name == "work tree":
                base.append(await plain_loop(settings, events))
                line += f" plain {base[-1]:,.0f}/s"
            worker = WorkerProc(settings, home / f"tp{i}-{name}", config=BENCH_CONFIG)
            worker.repo = tree
            worker.start()
            try:
                st = await asyncio.to_thread(worker.wait_idle, events, 900)
            finally:
                worker.stop()
            figure[name].append(st["folded"] / (st["last_fold_s"] - st["first_record_s"]))
            if st.get("last_fold_cpu_s"):
                cpu[name].append(
                    1e6 * (st["last_fold_cpu_s"] - st["first_record_cpu_s"]) / st["folded"]
                )
            line += f", {name} {figure[name][-1]:,.0f}/s"
            if cpu[name]:
                line += f" ({cpu[name][-1]:,.1f} µs CPU/event)"
        print(f"{line}  [{_load()}]")
    print(f"worker throughput: {events:,} events per run (15 days of bundled data)")
    rows = [row("worker (events/s)", summarise(figure["work tree"]), summarise(base), 0.50)]
    for name in trees:
        if cpu[name]:
            c = summarise(cpu[name])
            print(
                f"  {name}: worker CPU per event {c['median']:.1f} µs "
                f"(min {c['min']:.1f}, max {c['max']:.1f})"
            )
            rows.append({"stage": f"worker CPU µs/event ({name})", "figure": c})
        if name != "work tree":
            rows.append({"stage": f"worker events/s ({name})", "figure": summarise(figure[name])})
    return rows


async def _log_append_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    settings.topic(s.name),
                    s.partitions,
                    1,
                    topic_configs={**s.configs(), "message.timestamp.type": "LogAppendTime"},
                )
                for s in TOPICS
            ]
        )
    finally:
        await admin.close()
    await create_topics(settings)  # waits for leaders, checks partitions


def _entry_events(asset: str, t: int) -> list[ev.Event]:
    from tests.market import funding, ticker

    return [
        funding("binance", "0.0003", t, asset=asset),
        funding("bybit", "0.00005", t, asset=asset),
        ticker("binance", "99.99", "100.01", t, asset=asset),
        ticker("bybit", "99.99", "100.01", t, asset=asset),
    ]


def _pct(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": q[49], "p99": q[98], "max": max(values), "n": len(values)}


async def latency(
    bootstrap: str, home: Path, assets: int, name: str = "work tree", tree: Path = REPO
) -> list[dict[str, Any]]:
    settings = _settings(bootstrap, "lat")
    await _log_append_topics(settings)
    worker = WorkerProc(settings, home / f"lat-{uuid.uuid4().hex[:6]}", config=BENCH_CONFIG)
    worker.repo = tree
    worker.start()
    await asyncio.to_thread(worker.wait, lambda s: s["caught_up"], 120, "worker ready")
    paper = asyncio.create_task(run_paper_venue(settings, PaperConfig(latency_ms=0), drain_ms=8000))
    t = int(time.time() * 1000) - 9 * 3_600_000
    async with EventProducer(settings, linger_ms=0) as producer:
        # round 1: a first settlement per asset (the funding interval is inferred from two)
        await producer.send_many(
            [e for i in range(assets) for e in _entry_events(f"L{i:03d}", t + i)]
        )
        await asyncio.sleep(2)
        for i in range(assets):  # round 2, paced: each asset's last ticker triggers an entry
            for e in _entry_events(f"L{i:03d}", t + 8 * 3_600_000 + i):
                await (await producer.send(e))
            await asyncio.sleep(0.03)
    await paper
    await asyncio.to_thread(worker.wait_idle, assets * 8, 120)
    worker.stop()
    ser = Serializer()
    append: dict[str, int] = {}
    intents, hedges = [], []
    # md.funding too: a batch folds an asset's funding and tickers of one time together, and
    # the intent's cause is then the batch's first record
    for _topic, _, r in await records(
        settings, "md.tickers", "md.funding", "acct.fills", "strategy.intents", "orders.commands"
    ):
        e = ser.decode(r.value)
        append[e.event_id] = r.timestamp
        if isinstance(e, ev.TargetPositionSet):
            intents.append((e.causation_id, r.timestamp))
        elif isinstance(e, ev.PlaceOrder) and e.is_hedge:
            hedges.append((e.causation_id, r.timestamp))
    decision = [float(ts - append[c]) for c, ts in intents if c in append]
    hedge = [float(ts - append[c]) for c, ts in hedges if c in append]
    d, hd = _pct(decision), _pct(hedge)
    if "-v" in sys.argv:
        print(sorted(decision), sorted(hedge))
    print(
        f"{name}: decision latency (input append → intent append): p50 {d['p50']:.1f} ms, "
        f"p99 {d['p99']:.1f} ms, max {d['max']:.0f} ms over {d['n']} intents (target p99 < 25)"
        f"  [{_load()}]"
    )
    print(
        f"{name}: hedge latency (fill append → hedge append): p50 {hd['p50']:.1f} ms, "
        f"p99 {hd['p99']:.1f} ms, max {hd['max']:.0f} ms over {hd['n']} hedges (target p99 < 15)"
    )
    if name != "work tree":
        return [
            {"stage": f"decision latency (ms) ({name})", "figure": d},
            {"stage": f"hedge latency (ms) ({name})", "figure": hd},
        ]
    return [
        {
            "stage": "decision latency (ms)",
            "figure": d,
            "target": {"p99_below": 25},
            "met": d["p99"] < 25,
        },
        {
            "stage": "hedge latency (ms)",
            "figure": hd,
            "target": {"p99_below": 15},
            "met": hd["p99"] < 15,
        },
    ]


def _shaped(rounds: int) -> list[ev.Event]:
    """200 assets × 8 venues: hourly/8-hourly funding around 1 bp with a per-venue tilt,
    tickers every round; deterministic."""
    from tests.market import funding, ticker

    venues = ("binance", "bybit", "okx", "bitget", "gate", "kraken", "dydx", "hyperliquid")
    out: list[ev.Event] = []
    for r in range(rounds):
        t = START + r * 3_600_000
        for a in range(200):
            asset = f"S{a:03d}"
            for k, venue in enumerate(venues):
                rate = Decimal(1 + (a * 7 + k * 3 + r) % 9 - 4) / Decimal(40000)
                out.append(funding(venue, str(rate), t, asset=asset))
                px = Decimal(100 + a) + Decimal(k) / 100
                out.append(
                    ticker(
                        venue,
                        str(px - Decimal("0.01")),
                        str(px + Decimal("0.01")),
                        t + k,
                        asset=asset,
                    )
                )
    return out


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def scale(bootstrap: str, home: Path) -> list[dict[str, Any]]:
    out = []
    for rounds in (2, 6):
        settings = _settings(bootstrap, f"sc{rounds}")
        await create_topics(settings)
        data = _shaped(rounds)
        async with EventProducer(settings, linger_ms=20) as producer:
            await producer.send_many(data)
        worker = WorkerProc(settings, home / f"sc{rounds}", config=BENCH_CONFIG)
        worker.start()
        try:
            await asyncio.to_thread(worker.wait_idle, len(data), 900)
            assert worker.proc is not None
            rss = _peak_rss_mb(worker.proc.pid)
        finally:
            worker.stop()
        print(f"scale: 200 assets × 8 venues, {len(data):,} events → worker peak RSS {rss:.0f} MB")
        out.append({"events": len(data), "peak_rss_mb": rss})
    return [
        {
            "stage": "scale: worker peak RSS (MB)",
            "figure": out,
            "target": {"below_mb": 400},
            "met": all(o["peak_rss_mb"] < 400 for o in out),
        }
    ]


async def main(bootstrap: str, runs: int, only: set[str], baseline: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        trees = {"work tree": REPO}
        if baseline:
            trees[f"baseline {baseline}"] = export(baseline, home / "baseline")
        rows: list[dict[str, Any]] = []
        if "throughput" in only:
            rows += await throughput(bootstrap, home, runs, trees)
        if "latency" in only:
            for i in range(runs if baseline else 1):
                for name, tree in sorted(trees.items(), reverse=bool(i % 2)):
                    rows += await latency(bootstrap, home, 120, name, tree)
        if "scale" in only:
            rows += await scale(bootstrap, home)
    print(f"saved {save('worker', rows)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--only",
        default="throughput,latency,scale",
        help="comma-separated parts: throughput, latency, scale",
    )
    parser.add_argument(
        "--baseline-ref", default=None, help="also measure the worker of this commit"
    )
    args = parser.parse_args()
    with broker() as bootstrap:
        asyncio.run(main(bootstrap, args.runs, set(args.only.split(",")), args.baseline_ref))
