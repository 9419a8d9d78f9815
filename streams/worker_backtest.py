"""``fundarb backtest --engine worker``: the replay, then real ``fundarb worker`` processes and the
paper venue service over the run's topics, in lockstep by watermarks (:mod:`streams.watermark`).

Steps: create the run's topics (and ``backtest.clock``), replay the data, start the paper venue
(this process, :func:`run_gated_venue`) and ``workers`` ``fundarb worker --backtest-clock``
subprocesses, wait until both sides report that nothing is left (``DONE`` heartbeats), stop
the workers, and compute the run's ``output_digest`` from its topics exactly as
:func:`streams.backtest.output_digest` does. With the same inputs and config it equals the
in-process simulation's digest (``tests/integration/test_worker_backtest.py``).

Not modelled on this path (nor in the in-process simulation): the worker's account risk agent
(margin ratio, liquidation distance) is off with ``--backtest-clock``; the simulation has no
such agent either.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from pydantic import BaseModel, ConfigDict

from infra.kafka_io import EventProducer, create_topics
from infra.settings import Settings
from producers.paper import PaperConfig, PaperVenue
from schemas.catalog import ASSET_PARTITIONS, topic_for
from schemas.config import StrategyConfig
from schemas.events import CancelOrder, Event, PlaceOrder
from schemas.serde import Serializer
from streams.watermark import (
    CLOCK_TOPIC,
    DONE,
    SEQ_HEADER,
    Heartbeat,
    VenueGate,
    order_of,
    seq_of,
)

if TYPE_CHECKING:
    from streams.backtest import BacktestOptions, Prepared

REPO = Path(__file__).resolve().parents[1]


async def create_clock_topic(settings: Settings) -> None:
    """The one-partition ``backtest.clock`` topic of the run (heartbeats of both sides)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        if settings.topic(CLOCK_TOPIC) not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(settings.topic(CLOCK_TOPIC), 1, 1)])
    finally:
        await admin.close()


async def _lookahead(it: AsyncIterator[Event]) -> AsyncIterator[Event | None]:
    async for e in it:
        yield e
    yield None


async def run_gated_venue(
    settings: Settings,
    paper: PaperConfig,
    *,
    timeout_s: float = 600.0,
    counts: dict[str, int] | None = None,
) -> dict[str, int]:
    """The paper venue service in lockstep with the workers: market events (the run's complete
    market topics, replay order) and commands (``orders.commands``, arrival = event time +
    latency, ties by the worker's ``fundarb-order`` key) are taken in the simulation's order as
    the workers' watermark allows (their claims for every asset partition, however many
    workers make them); answers are published with the venue's own sequence number, then a
    venue heartbeat. A command seen before (same event id: re-sent by a worker that restarted
    or took over a partition) is dropped. Returns counts (``counts``, filled as the run goes,
    when given). Raises ``TimeoutError`` when the workers fall silent for ``timeout_s`` (wall
    clock: supervision only, never a decision)."""
    from streams.backtest import ordered_market_events

    venue = PaperVenue(paper)
    ser = Serializer()
    market = _lookahead(ordered_market_events(settings, ser))
    nxt = await anext(market)
    gate = VenueGate(paper.latency_ms, ASSET_PARTITIONS, start=nxt.event_time if nxt else DONE)
    cmd_topic = settings.topic("orders.commands")
    clock_topic = settings.topic(CLOCK_TOPIC)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20
    )
    await consumer.start()
    tps = [TopicPartition(cmd_topic, p) for p in range(ASSET_PARTITIONS)]
    clock_tp = TopicPartition(clock_topic, 0)
    consumer.assign([*tps, clock_tp])
    await consumer.seek_to_beginning(*tps, clock_tp)
    # (arrival, 1, order key, partition, offset, command)
    pending: list[tuple[int, int, tuple[Any, ...], int, int, Event]] = []
    taken: set[str] = set()  # event ids of the commands taken
    consumed: dict[str, int] = {}
    offsets: dict[str, int] = {}
    seq = 0
    counts = counts if counts is not None else {}
    counts.update({"market": 0, "commands": 0, "duplicates": 0, "answers": 0, "heartbeats": 0})
    last_sent: tuple[int, int] | None = None
    quiet_since = time.monotonic()
    try:
        async with EventProducer(settings, serializer=ser, linger_ms=0) as out:

            async def heartbeat(v: int, own: int) -> None:
                nonlocal last_sent
                if last_sent == (v, own):
                    return
                hb = Heartbeat("venue", "paper", v, own, dict(offsets), dict(consumed))
                await out.producer.send(clock_topic, hb.encode(), key=b"paper")  # not awaited
                last_sent = (v, own)
                counts["heartbeats"] += 1

            while True:
                batch = await consumer.getmany(timeout_ms=20, max_records=5000)
                for tp, recs in batch.items():
                    for r in recs:
                        quiet_since = time.monotonic()
                        if tp == clock_tp:
                            with contextlib.suppress(ValueError):
                                gate.on_heartbeat(Heartbeat.decode(r.value))
                            continue
                        consumed[f"{tp.topic}/{tp.partition}"] = r.offset + 1
                        cmd = ser.decode(r.value)
                        if not isinstance(cmd, PlaceOrder | CancelOrder):
                            continue
                        if cmd.event_id in taken:
                            counts["duplicates"] += 1
                            continue
                        order = order_of(r.headers)
                        if order is None:  # a worker without order keys: its own sequence
                            order = (seq_of(r.headers) or 0,)
                        heapq.heappush(
                            pending,
                            (
                                cmd.event_time + paper.latency_ms,
                                1,
                                order,
                                tp.partition,
                                r.offset,
                                cmd,
                            ),
                        )
                gate.refresh(consumed)
                futures = []
                while True:
                    head = pending[0][0] if pending else DONE
                    if nxt is not None and nxt.event_time <= head:
                        if not gate.may_take_market(nxt.event_time):
                            break
                        event, nxt = nxt, await anext(market)
                        counts["market"] += 1
                    elif pending and gate.may_take_command(head):
                        event = heapq.heappop(pending)[-1]
                        if event.event_id in taken:  # both copies were pending
                            counts["duplicates"] += 1
                            continue
                        taken.add(event.event_id)
                        counts["commands"] += 1
                    else:
                        break
                    for answer in venue.on_event(event):
                        seq += 1
                        futures.append(
                            await out.producer.send(
                                settings.topic(topic_for(type(answer)).name),
                                ser.encode(answer),
                                key=answer.key.encode(),
                                timestamp_ms=answer.event_time,
                                headers=[(SEQ_HEADER, str(seq).encode())],
                            )
                        )
                        counts["answers"] += 1
                for meta in await asyncio.gather(*futures):
                    name = f"{meta.topic}/{meta.partition}"
                    offsets[name] = max(offsets.get(name, 0), meta.offset + 1)
                own = min(
                    pending[0][0] if pending else DONE, nxt.event_time if nxt is not None else DONE
                )
                w = gate.w
                await heartbeat(min(own, w + paper.latency_ms), own)
                if own == DONE and w == DONE:
                    await heartbeat(DONE, DONE)
                    return counts
                if time.monotonic() - quiet_since > timeout_s:
                    raise TimeoutError(
                        f"no worker heartbeat or command for {timeout_s:.0f} s "
                        f"(workers' watermark {w}, venue pending {own})"
                    )
    finally:
        await consumer.stop()


def _worker_cmd(settings: Settings, config_file: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streams.cli",
        "worker",
        "--prefix",
        settings.topic_prefix,
        "--config",
        str(config_file),
        "--backtest-clock",
        "--loglevel",
        "warning",
    ]


def start_worker(settings: Settings, home: Path, i: int) -> subprocess.Popen[bytes]:
    """Worker ``i`` of the run (``home/strategy.json`` written by :func:`start_workers`; its
    log is appended to ``home/worker-<i>.log``, so a restarted worker keeps one log)."""
    env = {
        **os.environ,
        "FUNDARB_BOOTSTRAP": settings.bootstrap,
        "FUNDARB_STATE_DIR": str(home / f"state-{i}"),
        "FUNDARB_WORKER_TICK_S": "0.01",
        "PYTHONPATH": str(REPO),
    }
    log = (home / f"worker-{i}.log").open("ab")
    return subprocess.Popen(
        _worker_cmd(settings, home / "strategy.json"),
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def start_workers(
    settings: Settings, config: StrategyConfig, home: Path, n: int
) -> list[subprocess.Popen[bytes]]:
    """``n`` ``fundarb worker --backtest-clock`` subprocesses for the run (logs under ``home``),
    one consumer group over the asset partitions."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "strategy.json").write_text(config.model_dump_json())
    return [start_worker(settings, home, i) for i in range(n)]


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def run_engine_worker(
    settings: Settings,
    config: StrategyConfig,
    paper: PaperConfig,
    home: Path,
    *,
    workers: int = 1,
    replay_plan: Any = None,
    window: Any = None,
    chaos: Any = None,
) -> dict[str, Any]:
    """Replay (when a plan is given), run the venue and ``workers`` worker processes to the end
    of the input, then digest the run's topics. Returns ``output_digest``, ``digest_records``,
    the venue's counts and the wall time.

    ``chaos(procs, counts)`` (tests): called about every second with the worker processes (a
    list it may change: kill one, put its restart in its place) and the venue's counts so
    far; a worker found dead after it returns fails the run."""
    from producers.replay import replay
    from streams.backtest import output_digest

    started = time.perf_counter()
    await create_topics(settings)
    await create_clock_topic(settings)
    if replay_plan is not None:
        await replay(settings, replay_plan, window)
    procs = start_workers(settings, config, home, workers)
    try:
        paper = replace(paper, fees=config.fees, max_quote_age_ms=config.feeds.ticker_ttl_ms)
        counts: dict[str, int] = {}
        venue = asyncio.ensure_future(run_gated_venue(settings, paper, counts=counts))
        while not venue.done():
            await asyncio.wait({venue}, timeout=1.0)
            if chaos is not None and not venue.done():
                await asyncio.to_thread(chaos, procs, counts)
            dead = [p for p in procs if p.poll() is not None]
            if dead and not venue.done():
                venue.cancel()
                logs = "\n".join(
                    (home / f"worker-{i}.log").read_text(errors="replace")[-3000:]
                    for i in range(workers)
                )
                raise RuntimeError(f"a worker exited with {dead[0].returncode}:\n{logs}")
        venue.result()
    finally:
        stop_workers(procs)
    digest, digest_counts = await output_digest(settings)
    return {
        "output_digest": digest,
        "digest_records": dict(sorted(digest_counts.items())),
        "venue": counts,
        "workers": workers,
        "wall_seconds": round(time.perf_counter() - started, 2),
    }


def write_summary(out_dir: Path, summary: dict[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "summary.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


class WorkerBacktestSummary(BaseModel):
    """What :func:`run_backtest_on_workers` returns: its ``summary.json`` (the digest and the
    venue's counts; the decisions' figures are the simulation's, same digest)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    engine: str  # "worker"
    output_digest: str  # SHA-256 hex, as streams.backtest.output_digest
    digest_records: dict[str, int]  # records per topic the digest covers
    venue: dict[str, int]  # the paper venue's counts
    workers: int
    wall_seconds: float
    run: str  # the topic prefix without its dot
    topic_prefix: str
    inputs: dict[str, Any]  # data files, window, config (streams.backtest.run_inputs)


def run_backtest_on_workers(
    settings: Settings,
    opts: BacktestOptions,
    prepared: Prepared,
    *,
    workers: int = 1,
    chaos: Any = None,
) -> WorkerBacktestSummary:
    """``fundarb backtest --engine worker``: like :func:`streams.backtest.run_backtest` (the
    local broker started and stopped when none runs), but the decisions are taken by real
    worker processes; writes ``summary.json`` (digest, digest records, venue counts, inputs)
    to ``opts.out_dir``. Raises ``kafka_local.BrokerError`` when no broker could be started.
    ``chaos``: see :func:`run_engine_worker` (tests)."""
    from infra import kafka_local
    from streams.backtest import run_inputs

    started = None
    if settings.uses_local_broker and not kafka_local.status(settings).running:
        started = kafka_local.up(settings)
    try:
        result = asyncio.run(
            run_engine_worker(
                settings,
                prepared.config,
                opts.paper,
                opts.out_dir / "workers",
                workers=workers,
                replay_plan=prepared.plan,
                window=opts.window,
                chaos=chaos,
            )
        )
    finally:
        if started is not None and started.started_now:
            kafka_local.down(settings)
    summary = {
        "run_id": opts.run_id,
        "engine": "worker",
        **result,
        "run": settings.topic_prefix.rstrip("."),
        "topic_prefix": settings.topic_prefix,
        "inputs": run_inputs(opts, prepared),
    }
    write_summary(opts.out_dir, summary)
    return WorkerBacktestSummary.model_validate(summary)
