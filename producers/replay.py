"""The replay producer: publish recorded market data to the run's topics in event-time order.

``fundarb replay`` (and the backtest) call :func:`replay`. Events keep their original event
times (also the Kafka record timestamps); keys are base assets (DESIGN §4). Rows the history
reader refuses become ``EventRejected`` on the dead-letter topic, with the raw line.
``speed`` 0 publishes as fast as the broker takes it; ``speed`` k sleeps so that k seconds of
event time pass per second of wall time.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.kafka_io import EventProducer
from infra.settings import Settings
from producers.history import RejectedRow, ReplayPlan, Window, as_dict, coverage_notes, merged
from schemas.catalog import DEADLETTER
from schemas.envelope import IdNamespace, dead_letter
from schemas.events import Event, EventRejected


@dataclass
class ReplayReport:
    """What a replay published, and the data-quality findings."""

    events: int = 0
    rejected: int = 0
    by_topic: Counter[str] = field(default_factory=Counter)
    by_series: Counter[str] = field(default_factory=Counter)
    first_time: int = 0
    last_time: int = 0
    wall_seconds: float = 0.0
    quality: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def events_per_second(self) -> float:
        return self.events / self.wall_seconds if self.wall_seconds else 0.0


def rejected_event(row: RejectedRow) -> EventRejected:
    """The dead letter for a refused row (deterministic id from its source and line)."""
    return dead_letter(
        IdNamespace.REPLAY_REJECT.id(row.source, row.line),
        at=row.event_time if row.event_time else 1_230_768_000_000,
        asset=row.key,
        source=row.source,
        offset=row.line,
        raw_value=row.raw,
        error_type=row.error_type,
        reason=row.reason,
    )


#: (topic, partition) -> the offset after the last record published there
Segment = dict[tuple[str, int], int]


async def replay(
    settings: Settings,
    plan: ReplayPlan,
    window: Window,
    *,
    speed: float = 0.0,
    on_event: Callable[[Event], None] | None = None,
    producer: EventProducer | None = None,
    on_segment: Callable[[Segment], None] | None = None,
    segment_events: int = 4000,
    max_segment_events: int = 32_000,
) -> ReplayReport:
    """Publish the plan's merged events; returns the report once every send is acknowledged.

    ``on_segment`` (for a reader that follows the replay, the backtest): called after about
    ``segment_events`` events, then after twice as many each time up to
    ``max_segment_events`` (the reader starts early, and later segments cost it fewer, larger
    fetches), always *between two event times* (every event up to some time
    T is acknowledged by the broker, none after T is sent yet), and once at the end, with the
    end offset of every market partition written so far (cumulative). A reader that merges
    each segment's records in event-time order and concatenates the segments gets exactly
    the order of one merge over the whole replay.
    """
    report = ReplayReport(notes=list(plan.notes))
    own = producer is None
    out = producer or EventProducer(settings, linger_ms=20, max_batch_size=256 * 1024)
    if own:
        await out.producer.start()
    dead_topic = settings.topic(DEADLETTER)
    start_wall = time.perf_counter()
    first_event_time: int | None = None
    futures: list[Any] = []  # this segment's deliveries (record metadata: partition, offset)
    ends: Segment = {}
    since_cut = 0
    next_cut = segment_events
    last_time: int | None = None

    async def cut() -> None:
        await out.flush()
        for meta in await asyncio.gather(*futures):
            key = (meta.topic, meta.partition)
            ends[key] = max(ends.get(key, 0), meta.offset + 1)
        futures.clear()
        if on_segment is not None:
            on_segment(dict(ends))

    try:
        for item in merged(plan):
            if isinstance(item, RejectedRow):
                await out.send(rejected_event(item), topic=dead_topic)
                report.rejected += 1
                continue
            if speed > 0:
                if first_event_time is None:
                    first_event_time = item.event_time
                due = (item.event_time - first_event_time) / 1000 / speed
                lag = due - (time.perf_counter() - start_wall)
                if lag > 0:
                    await asyncio.sleep(lag)
            if on_segment is not None and since_cut >= next_cut and item.event_time != last_time:
                await cut()  # between two event times: the segment holds all of them up to now
                since_cut = 0
                next_cut = min(2 * next_cut, max_segment_events)
            topic = out.topic(item)
            delivery = await out.send(item, topic=topic)
            if on_segment is not None:
                futures.append(delivery)
                since_cut += 1
                last_time = item.event_time
            report.events += 1
            report.by_topic[topic] += 1
            report.by_series[f"{item.venue} {item.instrument} {type(item).__name__}"] += 1
            report.first_time = report.first_time or item.event_time
            report.last_time = item.event_time
            if on_event is not None:
                on_event(item)
        await out.flush()
        if on_segment is not None:
            await cut()
    finally:
        if own:
            await out.producer.stop()
    report.wall_seconds = time.perf_counter() - start_wall
    report.notes += coverage_notes(plan, window)  # first: it adds findings to the quality
    report.quality = [as_dict(q) for q in plan.quality]
    return report


def replay_process(
    conn: Any,
    settings: Settings,
    paths: list[Any],
    window: Window,
    half_spread: Any,
    reference_prices: dict[str, str],
    segment_events: int = 4000,
) -> None:
    """Run a replay in this (child) process, reporting over ``conn`` (a ``multiprocessing``
    connection): ``("segment", Segment)`` as segments are acknowledged (see :func:`replay`),
    then ``("done", ReplayReport)``, or ``("error", message)``.

    The plan is built again here from the same inputs (``history.plan`` is deterministic; a
    plan's streams are open generators and do not cross processes). The backtest runs this
    so that parsing, building, encoding and publishing the market data use a core of their
    own while the engine folds what is already published.
    """
    from producers import history

    try:
        plan = history.plan(
            paths, window, half_spread=half_spread, reference_prices=reference_prices
        )
        report = asyncio.run(
            replay(
                settings,
                plan,
                window,
                on_segment=lambda ends: conn.send(("segment", ends)),
                segment_events=segment_events,
            )
        )
        conn.send(("done", report))
    except BaseException as exc:  # the parent must hear of any failure, then it raises
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()
