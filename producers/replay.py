"""The replay producer: publish recorded market data to the run's topics in event-time order.

``fundarb replay`` calls :func:`replay_parallel`, the backtest :func:`replay` (in a process
of its own, :func:`replay_process`). Events keep their original event times (also the Kafka
record timestamps); keys are base assets (DESIGN §4). Rows the history reader refuses become
``EventRejected`` on the dead-letter topic, with the raw line. ``speed`` 0 publishes as fast
as the broker takes it; ``speed`` k sleeps so that k seconds of event time pass per second of
wall time.

Both publish the same records: every topic partition receives the same keys, values and
timestamps (no headers) in the same order as one process sending ``merged(plan)`` event by
event through :class:`infra.kafka_io.EventProducer` (``tests/integration/
test_replay_parallel.py`` compares the topics byte for byte). The producer is the same too:
``acks=all`` and idempotence on (a retried batch is not duplicated by the broker), no
compression. What differs is the work per record on the sending core:

* encoding (:func:`encoded`) parses, builds and encodes; in :func:`replay_parallel` it runs in
  ``workers`` children (:class:`Encoders`), each over a share of the plan's streams (all
  streams of one series in one child), and the parent merges their sorted outputs on the
  replay's own merge key, so the order is the one ``heapq.merge`` over all streams gives;
* sending (:class:`BatchPublisher`) appends the bytes to one open record batch per topic
  partition and hands full batches to aiokafka's ``send_batch``: no per-record future,
  partitioner call or accumulator lookup. A partition is the producer's own
  ``DefaultPartitioner`` choice (murmur2 of the key over the topic's partitions), computed
  once per (topic, key).
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import heapq
import itertools
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from infra.kafka_io import EventProducer
from infra.settings import Settings
from producers.history import (
    Item,
    RejectedRow,
    ReplayPlan,
    SeriesQuality,
    Window,
    as_dict,
    coverage_notes,
    merged,
)
from schemas.catalog import DEADLETTER, topic_for
from schemas.envelope import IdNamespace, dead_letter
from schemas.events import Event, EventRejected
from schemas.serde import Serializer


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
    #: CPU seconds of each encoding child (:func:`replay_parallel`; empty in one process)
    encoder_cpu_seconds: list[float] = field(default_factory=list)
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

#: one record to publish: (full topic name, key, value, timestamp ms, is an event — False for
#: a refused row's dead letter, which is counted as rejected and not paced)
Record = tuple[str, bytes, bytes, int, bool]

#: producer settings of every replay: ``acks=all`` and idempotence come from EventProducer
PRODUCER_SETTINGS: dict[str, Any] = {"linger_ms": 20, "max_batch_size": 256 * 1024}


def encoded(
    settings: Settings, items: Iterator[Event | RejectedRow], serializer: Serializer
) -> Iterator[tuple[Record, Event | None]]:
    """Each merged item as the record the replay publishes (and the event, None for a
    refused row): the topic of its type under the run's prefix, the key (base asset), the
    Avro value and the event time as timestamp; a refused row as its dead letter."""
    dead = settings.topic(DEADLETTER)
    topics: dict[type, tuple[str, bool]] = {}  # type -> (topic, keyed by its instrument's asset)
    keys: dict[str, bytes] = {}  # instrument -> its key (the base asset), encoded once
    encode = serializer.encode
    for item in items:
        if isinstance(item, RejectedRow):
            letter = rejected_event(item)
            yield (dead, letter.key.encode(), encode(letter), letter.event_time, False), None
            continue
        kind = type(item)
        known = topics.get(kind)
        if known is None:
            known = topics[kind] = (settings.topic(topic_for(kind).name), kind.key is Event.key)
        if known[1]:
            key = keys.get(item.instrument)
            if key is None:
                key = keys[item.instrument] = item.key.encode()
        else:
            key = item.key.encode()
        yield (known[0], key, encode(item), item.event_time, True), item


class BatchPublisher:
    """Publishes records through ``producer`` one record batch per topic partition at a time.

    Records go to the partition ``producer.send`` would pick (its ``DefaultPartitioner``:
    murmur2 of the key over the topic's sorted partitions), in the order given, so each
    partition receives them in that order. A batch is handed to ``send_batch`` when it is
    full (``max_batch_size``), at :meth:`cut` and at :meth:`flush`; ``send_batch`` waits while
    the partition's previous batch is still queued (back-pressure). The producer's delivery
    guarantees hold per batch: ``acks=all``, idempotent sequence numbers, retries.
    """

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self._partitioner = DefaultPartitioner()
        self._partition: dict[tuple[str, bytes], int] = {}
        self._tp: dict[tuple[str, bytes], tuple[str, int]] = {}  # (topic, key) -> its partition
        self._open: dict[tuple[str, int], Any] = {}  # aiokafka BatchBuilder per partition
        self._sent: list[tuple[tuple[str, int], Any, int]] = []  # (tp, delivery, records)
        self.ends: Segment = {}

    async def add(self, topic: str, key: bytes, value: bytes, timestamp_ms: int) -> None:
        """Append one record (sends the partition's batch first when it is full)."""
        partition = self._partition.get((topic, key))
        if partition is None:
            partitions = sorted(await self.producer.partitions_for(topic))
            partition = self._partitioner(key, partitions, partitions)
            self._partition[(topic, key)] = partition
        tp = (topic, partition)
        batch = self._open.get(tp)
        if batch is None:
            batch = self._open[tp] = self.producer.create_batch()
        if batch.append(timestamp=timestamp_ms, key=key, value=value, headers=[]) is None:
            await self._submit(tp)
            batch = self._open[tp] = self.producer.create_batch()
            # an empty batch takes any record (one above max_request_size fails its send)
            batch.append(timestamp=timestamp_ms, key=key, value=value, headers=[])

    async def add_all(self, records: list[Record]) -> None:
        """:meth:`add` each record in turn (a loop here: no coroutine per record)."""
        tps = self._tp
        opened = self._open
        for topic, key, value, timestamp_ms, _ in records:
            tp = tps.get((topic, key))
            if tp is None:
                partitions = sorted(await self.producer.partitions_for(topic))
                self._partition[(topic, key)] = p = self._partitioner(key, partitions, partitions)
                tp = tps[(topic, key)] = (topic, p)
            batch = opened.get(tp)
            if batch is None:
                batch = opened[tp] = self.producer.create_batch()
            if batch.append(timestamp=timestamp_ms, key=key, value=value, headers=[]) is None:
                await self._submit(tp)
                batch = opened[tp] = self.producer.create_batch()
                batch.append(timestamp=timestamp_ms, key=key, value=value, headers=[])

    async def _submit(self, tp: tuple[str, int]) -> None:
        batch = self._open.pop(tp)
        batch.close()  # closed: the sender takes it at once instead of lingering
        delivery = await self.producer.send_batch(batch, tp[0], partition=tp[1])
        self._sent.append((tp, delivery, batch.record_count()))

    async def cut(self) -> Segment:
        """Send every open batch, wait until all are acknowledged; the end offset of every
        partition written so far (cumulative).

        Raises whatever a delivery failed with (after the producer's own retries)."""
        for tp in list(self._open):
            await self._submit(tp)
        sent, self._sent = self._sent, []
        for (tp, _, count), meta in zip(
            sent, await asyncio.gather(*(d for _, d, _ in sent)), strict=True
        ):
            self.ends[tp] = max(self.ends.get(tp, 0), meta.offset + count)
        return dict(self.ends)

    async def flush(self) -> None:
        """Everything added so far is acknowledged (raises a failed delivery's error)."""
        await self.cut()


class _Tally:
    """The report's counts, kept as records are published in the replay's order."""

    def __init__(self, report: ReplayReport) -> None:
        self.report = report

    def count(self, record: Record) -> None:
        report = self.report
        if not record[4]:
            report.rejected += 1
            return
        report.events += 1
        report.by_topic[record[0]] += 1
        report.first_time = report.first_time or record[3]
        report.last_time = record[3]

    def count_all(self, records: list[Record]) -> None:
        """:meth:`count` each record in turn."""
        report = self.report
        events = [r for r in records if r[4]]
        report.rejected += len(records) - len(events)
        if not events:
            return
        report.events += len(events)
        report.by_topic.update(r[0] for r in events)
        if not report.first_time:  # as count does: the first non-zero time
            report.first_time = next((r[3] for r in events if r[3]), 0)
        report.last_time = events[-1][3]


def _series(event: Event) -> str:
    return f"{event.venue} {event.instrument} {type(event).__name__}"


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
    """Publish the plan's merged events from this process; returns the report once every send
    is acknowledged.

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
    tally = _Tally(report)
    own = producer is None
    out = producer or EventProducer(settings, **PRODUCER_SETTINGS)
    if own:
        await out.producer.start()
    publisher = BatchPublisher(out.producer)
    start_wall = time.perf_counter()
    first_event_time: int | None = None
    since_cut = 0
    next_cut = segment_events
    last_time: int | None = None
    try:
        for record, event in encoded(settings, merged(plan), out.serializer):
            if event is not None:
                if speed > 0:
                    if first_event_time is None:
                        first_event_time = record[3]
                    await _pace(record[3] - first_event_time, speed, start_wall)
                if on_segment is not None and since_cut >= next_cut and record[3] != last_time:
                    # between two event times: the segment holds all of them up to now
                    on_segment(_market(await publisher.cut(), settings))
                    since_cut = 0
                    next_cut = min(2 * next_cut, max_segment_events)
                since_cut += 1
                last_time = record[3]
                report.by_series[_series(event)] += 1
            await publisher.add(*record[:4])
            tally.count(record)
            if event is not None and on_event is not None:
                on_event(event)
        ends = await publisher.cut()
        if on_segment is not None:
            on_segment(_market(ends, settings))
    finally:
        if own:
            await out.producer.stop()
    report.wall_seconds = time.perf_counter() - start_wall
    report.notes += coverage_notes(plan, window)  # first: it adds findings to the quality
    report.quality = [as_dict(q) for q in plan.quality]
    return report


def _market(ends: Segment, settings: Settings) -> Segment:
    """The segment without the dead-letter topic (a refused row's letter is not an event)."""
    dead = settings.topic(DEADLETTER)
    return {tp: end for tp, end in ends.items() if tp[0] != dead}


async def _pace(event_ms: int, speed: float, start_wall: float) -> None:
    """Sleep until ``event_ms`` of event time after the first event is due at ``speed``."""
    lag = event_ms / 1000 / speed - (time.perf_counter() - start_wall)
    if lag > 0:
        await asyncio.sleep(lag)


# ---- the replay with encoding in child processes ---------------------------------------------
@dataclass(frozen=True)
class ReplaySource:
    """What a process needs to build a plan again (a plan's streams are open generators and
    do not cross processes): the files, their index, the window and the plan's options."""

    paths: list[Path]
    window: Window
    half_spread: Decimal
    reference_prices: dict[str, str]
    need_prices: bool
    indexed: list[Any]  # the files' index (producers.history.Run), read once by the parent


def shares(plan: ReplayPlan, workers: int) -> list[list[int]]:
    """The plan's stream indices per worker: the streams of one series (they fill one quality
    counter) stay together; series are dealt largest first (rows) to the least loaded worker,
    ties to the lowest. Deterministic for a plan; empty shares are dropped."""
    groups: dict[int, list[int]] = {}
    rows: dict[int, int] = {}
    for i, (q, n) in enumerate(plan.sources):
        groups.setdefault(id(q), []).append(i)
        rows[id(q)] = rows.get(id(q), 0) + n
    load = [0] * max(1, workers)
    out: list[list[int]] = [[] for _ in load]
    for gid in sorted(groups, key=lambda g: -rows[g]):  # stable: plan order among equals
        w = load.index(min(load))
        out[w] += groups[gid]
        load[w] += rows[gid]
    return [sorted(s) for s in out if s]


def merged_indexed(
    streams: list[Iterator[Item]], indices: list[int]
) -> Iterator[tuple[tuple[Any, ...], Event | RejectedRow]]:
    """The items of ``streams`` (the plan's streams ``indices``, ascending) in the order of
    ``heapq.merge(*streams, key=merge key)``, each with its merge key extended by its
    stream's index in the plan: ``(time, rank, venue, instrument, index)``.

    ``heapq.merge`` breaks ties by stream order, so the extended key orders the items of
    several such merges (one per encoder) as one merge over all their streams. A k-way merge
    of its own (``heapq``'s C heap): wrapping each stream in a generator that extends its
    keys, under ``heapq.merge``'s own Python loop, cost as much as encoding the events.
    """
    heap: list[tuple[tuple[Any, ...], int, Any, Any]] = []
    for index, stream in zip(indices, streams, strict=True):
        step = stream.__next__
        for key, item in stream:
            heap.append((key, index, item, step))
            break
    heapq.heapify(heap)  # (key, index) is unique among the heads: items never compared
    while len(heap) > 1:
        key, index, item, step = heap[0]
        yield (*key, index), item
        try:
            key, item = step()
        except StopIteration:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (key, index, item, step))
    if heap:
        key, index, item, step = heap[0]
        yield (*key, index), item
        for key, item in _rest(step):
            yield (*key, index), item


def _rest(step: Callable[[], Item]) -> Iterator[Item]:
    while True:
        try:
            yield step()
        except StopIteration:
            return


#: records per message from an encoding child (a pickled list; ~150 bytes a record)
CHUNK = 2000


def encode_process(
    conn: Any,
    settings: Settings,
    plan: ReplayPlan | ReplaySource,
    share: list[int],
    chunk: int = CHUNK,
) -> None:
    """An encoding child of :func:`replay_parallel`: merge the streams of ``share`` (indices
    into the plan's streams) and send ``("records", [(merge key, Record), ...])`` in merge
    order, then ``("done", (quality, by_series, CPU seconds))`` with the quality counters its
    streams filled (by index in the plan's ``quality``), or ``("error", message)``.

    ``plan``: the parent's plan itself in a forked child (its streams not started yet), or the
    :class:`ReplaySource` to build it again from in a spawned one. The merge key is the
    replay's own (event time, rank, venue, instrument) and the stream's index in the plan
    (:func:`merged_indexed`), so the parent's merge of the children's outputs on it is the
    order of one merge over every stream.
    """
    from producers import history

    try:
        if isinstance(plan, ReplaySource):
            plan = history.plan(
                plan.paths,
                plan.window,
                half_spread=plan.half_spread,
                reference_prices=plan.reference_prices,
                need_prices=plan.need_prices,
                indexed=plan.indexed,
            )
        # what exists now (modules, the plan, a forked parent's objects) lives to the end:
        # collections need not scan it again (nor touch its pages, shared with the parent);
        # a chunk of events in flight is ~20k objects: collected every 10k allocations, not
        # every 700 (75 collections to 2, ~3 % of a child's CPU)
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        merged_items = merged_indexed([plan.streams[i] for i in share], share)
        serializer = Serializer()
        by_series: Counter[str] = Counter()
        series: dict[tuple[type, str, str], str] = {}
        while True:
            # a chunk of items first, then their encoding: each loop runs hot in the caches
            # (interleaved, the encoding cost a third more CPU per event)
            items = list(itertools.islice(merged_items, chunk))
            if not items:
                break
            records = encoded(settings, (item for _, item in items), serializer)
            batch = []
            for (key, _), (record, event) in zip(items, records, strict=True):
                if event is not None:
                    s = (type(event), event.venue, event.instrument)
                    name = series.get(s)
                    if name is None:
                        name = series[s] = _series(event)
                    by_series[name] += 1
                batch.append((key, record))
            conn.send(("records", batch))
        owned = {id(plan.sources[i][0]) for i in share}
        quality = [(i, q) for i, q in enumerate(plan.quality) if id(q) in owned]
        conn.send(("done", (quality, by_series, time.process_time())))
    except BaseException as exc:  # the parent must hear of any failure, then it raises
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


class EncodeFailed(RuntimeError):
    """An encoding child failed (its message) or died without a word."""


class _Child:
    """One encoding child and the chunks it has sent, read ahead in a thread."""

    def __init__(
        self, ctx: Any, settings: Settings, plan: ReplayPlan | ReplaySource, share: list[int]
    ) -> None:
        self.conn, child = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(
            target=encode_process,
            args=(child, settings, plan, share),
            name="fundarb-replay-encode",
            daemon=True,
        )
        self.proc.start()
        child.close()
        self.quality: list[tuple[int, SeriesQuality]] = []
        self.by_series: Counter[str] = Counter()
        self.cpu_seconds = 0.0

    def _recv(self) -> tuple[str, Any]:
        try:
            return self.conn.recv()  # type: ignore[no-any-return]
        except EOFError:
            self.proc.join(timeout=5)
            return "error", f"the encoding process ended (exit code {self.proc.exitcode})"

    async def chunks(self) -> AsyncIterator[list[tuple[tuple[Any, ...], Record]]]:
        pending = asyncio.ensure_future(asyncio.to_thread(self._recv))
        while True:
            kind, payload = await pending
            if kind == "records":
                pending = asyncio.ensure_future(asyncio.to_thread(self._recv))  # read ahead
                yield payload
            elif kind == "done":
                self.quality, self.by_series, self.cpu_seconds = payload
                return
            else:
                raise EncodeFailed(f"replay encoding failed: {payload}")

    def close(self) -> None:
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=10)
        self.conn.close()


class Encoders:
    """The encoding children of one replay (:func:`replay_parallel`), one per share of the
    plan's streams (:func:`shares`).

    Forked when this process runs one thread (the CLI starts them before its event loop):
    a forked child reads the parent's plan as it is (streams not started, files already
    decompressed in memory) and starts at once. Otherwise (threads: a running event loop's
    executor, a client) they are ``spawn`` processes that build the plan again from
    ``source`` (about a second of imports and planning each), because forking a threaded
    process can copy a lock another thread holds. Both read the same streams in the same
    order: the records are the same.
    """

    def __init__(
        self,
        settings: Settings,
        plan: ReplayPlan,
        source: ReplaySource,
        workers: int,
        *,
        fork: bool | None = None,
    ) -> None:
        if fork is None:  # ``fork`` given: the tests run both ways
            fork = threading.active_count() == 1 and (
                "fork" in multiprocessing.get_all_start_methods()
            )
        self.forked = fork
        ctx = multiprocessing.get_context("fork" if self.forked else "spawn")
        self.children = [
            _Child(ctx, settings, plan if self.forked else source, share)
            for share in shares(plan, workers)
        ]

    def close(self) -> None:
        for c in self.children:
            c.close()


async def _merged_records(children: list[_Child]) -> AsyncIterator[list[Record]]:
    """The children's records in the order of one merge over all streams, in chunks.

    Each child's records come sorted on their merge keys (:func:`merged_indexed`), unique
    but for items of one stream, which keep their order. So every record up to the smallest
    of the children's last keys received is final: those of every child are taken (bisect)
    and sorted on the key (a stable sort: the items of one stream keep their order), which
    is the order ``heapq.merge`` gives, with timsort merging the sorted runs in C instead of
    a Python heap step per record."""
    if len(children) == 1:
        async for chunk in children[0].chunks():
            yield [r for _, r in chunk]
        return
    feeds = [c.chunks() for c in children]
    buffers: list[list[tuple[tuple[Any, ...], Record]]] = [[] for _ in feeds]
    live = list(range(len(feeds)))  # children that may send more
    by_key = itemgetter(0)
    while live:
        for i in live:  # the child holding the bound gets more first (the others have some)
            if not buffers[i]:
                buffers[i] = await anext(feeds[i], [])
        live = [i for i in live if buffers[i]]
        if not live:
            break
        bound = min(buffers[i][-1][0] for i in live)
        ready: list[tuple[tuple[Any, ...], Record]] = []
        for i in live:
            buffer = buffers[i]
            cut = bisect.bisect_right(buffer, bound, key=by_key)
            ready += buffer[:cut]
            buffers[i] = buffer[cut:]
        ready.sort(key=by_key)
        yield [r for _, r in ready]


async def replay_parallel(
    settings: Settings,
    plan: ReplayPlan,
    source: ReplaySource,
    *,
    workers: int = 2,
    speed: float = 0.0,
    on_progress: Callable[[int], None] | None = None,
    encoders: Encoders | None = None,
) -> ReplayReport:
    """Publish ``plan`` (built from ``source`` in this process: its streams are not read
    here) with parsing, building and encoding in ``workers`` child processes; this process
    only merges their records and sends bytes (module docstring). Same records on every
    topic partition as :func:`replay`; ``on_progress(records published)`` after each chunk.
    ``encoders``: children started before the event loop (:class:`Encoders`, forked, so they
    start at once); closed here. Otherwise ``workers`` are started here.

    Raises
    ------
    EncodeFailed
        A child failed (with its message) or died.
    """
    report = ReplayReport(notes=list(plan.notes))
    tally = _Tally(report)
    start_wall = time.perf_counter()
    encoders = encoders or Encoders(settings, plan, source, workers)
    children = encoders.children
    try:
        async with EventProducer(settings, **PRODUCER_SETTINGS) as out:
            publisher = BatchPublisher(out.producer)
            first_event_time: int | None = None
            published = 0
            async for chunk in _merged_records(children):
                if speed > 0:
                    for record in chunk:
                        if record[4]:
                            if first_event_time is None:
                                first_event_time = record[3]
                            await _pace(record[3] - first_event_time, speed, start_wall)
                        await publisher.add(*record[:4])
                else:
                    await publisher.add_all(chunk)
                tally.count_all(chunk)
                published += len(chunk)
                if on_progress is not None:
                    on_progress(published)
            await publisher.flush()
    finally:
        encoders.close()
    report.wall_seconds = time.perf_counter() - start_wall
    for c in children:
        report.encoder_cpu_seconds.append(c.cpu_seconds)
        report.by_series += c.by_series
        for i, q in c.quality:
            plan.quality[i] = q
    report.by_series = Counter(dict(sorted(report.by_series.items())))  # counts, not order
    report.notes += coverage_notes(plan, window=source.window)  # adds findings: before
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


__all__ = [
    "BatchPublisher",
    "EncodeFailed",
    "Encoders",
    "Record",
    "ReplayReport",
    "ReplaySource",
    "Segment",
    "encoded",
    "rejected_event",
    "replay",
    "replay_parallel",
    "replay_process",
    "shares",
]
