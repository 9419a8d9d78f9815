"""Every use of faust-streaming internals, in one place (pinned: ``faust-streaming>=0.15.3,<0.16``,
checked by ``tests/unit/test_faust_compat.py`` against the installed version).

Why they are needed: the worker writes its snapshots after the fact, in batches, and must know
when the broker has each changelog record (inputs are acked only then). ``table[key] = value``
queues the changelog record in Faust's buffer and drops its future, and Faust's rocksdb store
files a key under the partition of the event *being processed*, which at flush time is none.

* :func:`send_changelog` sends the changelog record itself (``Table._on_changelog_sent`` keeps
  the rocksdb store's persisted offsets) and returns the delivery;
* :func:`write_local` writes the local store as if ``origin`` (the asset's latest input event)
  were being processed (``faust.streams._current_event``, a ContextVar of weakrefs);
* :func:`rewind_uncommitted` repairs Faust's seek back after a rebalance for partitions the
  group has committed nothing (or offset 0) for (docs/reliability.md, "Restart stall");
* :func:`fetch_only_active_partitions` keeps the fetcher from draining paused partitions (the
  restart stall's cause, same section);
* :func:`deliver_without_tasks` lets the consumer hand a fetched record to the streams without
  four tasks and an ``asyncio.wait`` when the hand-over does not wait (the usual case);
* :func:`more_ready` says whether a stream has another event ready now (the engine agent
  closes a batch when it has none); :func:`of_current_generation` whether an event taken
  into a batch still belongs to the current assignment;
* :func:`lean_monitor` is the app's ``Monitor`` sensor without the per-record statistics
  nothing reads, keeping the one Faust's consumer reads;
* :func:`take_ready` takes the events already in a stream's queue at once, with the
  bookkeeping the stream iterator does per event, instead of one event-loop turn each.
"""

from __future__ import annotations

import asyncio
import types
import weakref
from typing import Any

#: the faust-streaming versions these workarounds were checked against
PINNED = ("0.15.",)


def check_version() -> str:
    """The installed faust-streaming version; raises ``RuntimeError`` outside :data:`PINNED`
    (the internals below must be checked again before moving the pin)."""
    import faust

    version = str(faust.__version__)
    if not version.startswith(PINNED):
        raise RuntimeError(
            f"faust-streaming {version} is not a version streams/faust_compat.py was checked "
            f"against ({', '.join(p + 'x' for p in PINNED)})"
        )
    return version


async def send_changelog(table: Any, key: bytes, value: bytes) -> Any:
    """Send one changelog record of ``table`` now; returns its delivery (awaitable of the
    record metadata). Partition: the producer's murmur2 of the key (``use_partitioner``)."""
    return await table.changelog_topic.send(
        key=key,
        value=value,
        partition=None,
        key_serializer=table.key_serializer,
        value_serializer=table.value_serializer,
        callback=table._on_changelog_sent,  # rocksdb keeps its persisted offsets
        force=True,  # never deferred to an event's ack (attachments)
    )


def write_local(table: Any, key: bytes, value: bytes, origin: Any) -> None:
    """``table.data[key] = value`` filed under ``origin``'s partition (None: no context)."""
    from faust.streams import _current_event

    token = _current_event.set(weakref.ref(origin)) if origin is not None else None
    try:
        table.data[key] = value
    finally:
        if token is not None:
            _current_event.reset(token)


_FROZEN = "_fundarb_frozen_partitions"


def fetch_only_active_partitions() -> None:
    """Make Faust's consumer hand aiokafka a copy of its active partitions, not its live set.

    Why: ``Consumer._wait_next_records`` passes ``self._active_partitions`` itself to
    ``ThreadDelegateConsumer._getmany`` → aiokafka ``Fetcher.fetched_records(partitions,
    timeout=1.0)``, which runs in the consumer thread and re-reads ``partitions`` each time new
    data wakes it, and for which an *empty* collection means *every* assigned partition. When
    Faust pauses the partitions it was reading while that call waits (the end of table recovery:
    ``Recovery._restart_recovery`` pauses the changelogs, the inputs stayed paused since the
    assignment), the set empties and the call returns the inputs' buffered records; aiokafka
    moves their positions past them, and ``Consumer.getmany`` drops them (not active). Only a
    seek brings them back: with no committed offset there is none (the restart stall; with
    ``rocksdb://`` nothing is read during recovery, so the fetcher is not running then).
    A copy taken at the call keeps the request to the partitions active at that time
    (Faust calls ``_getmany`` only with a non-empty set). Idempotent; patches the class."""
    from faust.transport.consumer import ThreadDelegateConsumer

    original = ThreadDelegateConsumer._getmany
    if getattr(original, _FROZEN, False):
        return

    async def _getmany(self: Any, active_partitions: Any, timeout: float) -> Any:
        frozen = None if active_partitions is None else set(active_partitions)
        return await original(self, frozen, timeout)

    setattr(_getmany, _FROZEN, True)
    ThreadDelegateConsumer._getmany = _getmany  # type: ignore[method-assign]


_EAGER = "_fundarb_eager_delivery"


async def _resume(coro: Any, pending: Any) -> Any:
    """:func:`_drive` as a coroutine (``Service.wait_first`` takes awaitables)."""
    return await _drive(coro, pending)


@types.coroutine
def _drive(coro: Any, pending: Any) -> Any:
    """Go on driving ``coro``, which ran its first step and is suspended on ``pending`` (what
    that step yielded), as ``yield from`` would (PEP 380): the task running this generator
    waits on ``pending``, what it sends or throws in goes on to ``coro``, and closing this
    closes ``coro``. Returns ``coro``'s result."""
    while True:
        try:
            sent = yield pending
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # a cancellation, or the awaited future's error
            try:
                pending = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                pending = coro.send(sent)
            except StopIteration as stop:
                return stop.value


def deliver_without_tasks() -> None:
    """Make Faust's consumer run the hand-over of a fetched record to the streams inline, up
    to its first wait, instead of in a task raced against the flow's suspension.

    Why: ``Consumer._drain_messages`` awaits, per record, ``self.wait_first(callback(message),
    self.suspend_flow.wait())``; ``Service.wait_first`` wraps each of these, the service's
    ``stopped`` and ``crashed`` waits in a task (four), awaits them with ``asyncio.wait``, then
    cancels the three losers: a large share of the worker's per-record CPU. The callback
    (``Conductor.on_message`` → the per-partition handler of ``ConductorCompiler.build``) waits
    only when the flow is suspended (rebalance), the producer's buffer is over its limit, the
    subscription lock is held or a channel's queue is full; otherwise it decodes the record and
    puts it in the queue (``put_nowait_enhanced``) without ever suspending. So, when the flow
    is not suspended and the consumer neither stopped nor crashed, the callback's first step
    runs inline: if it finishes, that is the result ``wait_first`` would have returned (an
    error propagates, as ``wait_first`` propagates it) and no task is made; if it suspends, the
    rest of it runs in a task under the original ``wait_first`` (:func:`_resume`), raced
    against the same three waits as before. Records reach the channels in the same order; the
    consumer now gives the event loop a turn every 100 records (its ``yield_every``), or when a
    hand-over waits, instead of at every record. Only the drain's call (two coroutines, the
    second ``suspend_flow.wait()`` of this consumer, no timeout) takes this path; the others are
    untouched. Idempotent; patches the class."""
    from faust.transport.consumer import Consumer

    original = Consumer.wait_first
    if getattr(original, _EAGER, False):
        return
    flow_wait = asyncio.Event.wait.__code__

    async def wait_first(self: Any, *coros: Any, timeout: Any = None) -> Any:
        if not (
            timeout is None
            and len(coros) == 2
            and asyncio.iscoroutine(coros[0])
            and getattr(coros[1], "cr_code", None) is flow_wait
            and coros[1].cr_frame.f_locals.get("self") is self.suspend_flow
            and not self.suspend_flow.is_set()
            and not self._stopped.is_set()
            and not self._crashed.is_set()
        ):
            return await original(self, *coros, timeout=timeout)
        from mode.services import WaitResults

        callback, suspended = coros
        try:
            pending = callback.send(None)
        except StopIteration as stop:
            suspended.close()  # never started: nothing to wait for
            return WaitResults([callback], [stop.value], False)
        except BaseException:
            suspended.close()
            raise
        return await original(self, _resume(callback, pending), suspended)

    setattr(wait_first, _EAGER, True)
    Consumer.wait_first = wait_first  # type: ignore[method-assign]


async def rewind_uncommitted(app: Any, topics: set[str], committed: dict[Any, int]) -> list[Any]:
    """Seek every assigned partition of ``topics`` whose committed offset (``committed``: the
    group's, from the admin API; missing = none) is none or 0 back to its first offset.

    Why: on a rebalance Faust stops the flow, clears the agents' buffers (records already
    fetched, so past the consumer's position) and, once the tables are recovered, calls
    ``Consumer.perform_seek`` → aiokafka ``seek_to_committed``, which seeks only partitions
    whose committed offset is ``> 0``. A partition with no commit yet keeps its position after
    the dropped records: they are never delivered (the restart stall's drain is another path:
    :func:`fetch_only_active_partitions`). Called from ``app.on_rebalance_complete``, which
    Faust sends just before ``perform_seek``, so partitions with a commit are left to it.
    Returns the partitions rewound. Public Faust calls (``assignment``, ``earliest_offsets``,
    ``seek_wait``); here because it works around a Faust behaviour of the pinned version."""
    tps = [
        tp
        for tp in app.consumer.assignment()
        if tp.topic in topics and not committed.get((tp.topic, tp.partition))
    ]
    if not tps:
        return []
    earliest = await app.consumer.earliest_offsets(*tps)
    await app.consumer.seek_wait({tp: earliest[tp] or 0 for tp in tps})
    return tps


#: event-loop turns :func:`more_ready` gives the consumer to hand over its next fetched record
READY_TURNS = 4


async def more_ready(stream: Any, turns: int = READY_TURNS) -> bool:
    """Whether ``stream`` has another event ready: one is in its channel's queue now, or
    arrives within ``turns`` turns of the event loop (so taking it does not wait for the
    broker). False when the consumer has nothing more fetched.

    Why the turns: Faust's consumer hands records to the streams one at a time, each through
    ``Service.wait_first(callback(message), ...)`` (``Consumer._drain_messages``: four tasks
    and an ``asyncio.wait`` per record), so a stream that takes its events as they come finds
    its queue empty after every event even when the fetch holds hundreds more; a few turns
    let the next one through (with :func:`deliver_without_tasks` the consumer hands up to 100
    over between two turns, but a hand-over that waits still takes a task and a turn).
    ``Stream.take`` / ``take_events`` / ``noack_take`` close a batch
    only when ``max_`` events are buffered or ``within`` seconds have passed
    (``Service.wait_for_stopped(buffer_full, timeout=within)``), which puts a lone event's
    latency at ``within``; ``take`` and ``take_events`` also ack a batch when the agent asks
    for the next one, before the worker has made its outputs and snapshots durable. Both
    stream iterators (the Cython ``StreamIterator`` and ``Stream._py_aiter``) read
    ``stream.channel.queue``."""
    queue = stream.channel.queue
    for _ in range(turns):
        if not queue.empty():
            return True
        await asyncio.sleep(0)
    return not queue.empty()


def take_ready(stream: Any, limit: int) -> list[Any]:
    """Up to ``limit`` events already waiting in ``stream``'s channel queue, in queue order,
    taken now (no await), each with the bookkeeping Faust's stream iterator does for an event
    it yields from a stream whose acks are off (``Stream.noack()``): an event fetched before
    the current rebalance generation, or while the flow is stopped, is dropped as the
    iterator skips it; a message of an acking topic not tracked yet is tracked (the
    consumer's unacked set: it is acked, and its offset committed, when the agent acks it)
    and reported to the sensors (``on_message_in``), then ``on_stream_event_in``.

    Why: the iterator (the Cython ``StreamIterator.next`` and ``Stream._py_aiter`` alike)
    awaits ``asyncio.sleep(0)`` before every event, so an agent taking a batch through it
    gives the event loop a turn per event (an epoll poll and every ready callback) and lets
    the consumer put one more record into a full queue each time (the conductor's slow path:
    a task and an ``asyncio.wait`` per record). The agent takes the first event of a batch
    through the iterator and the rest with this. Not taken: what follows a queued error
    (the iterator raises it) and non-event values (a topic's channel holds events only;
    taking stops there). Both iterators set the stream's current event, which the agent
    does not use (table writes name their event: :func:`write_local`)."""
    from faust.types import EventT

    queue = stream.channel.queue
    errors = queue._errors
    app = stream.app
    flow_active = app.flow_control.is_active
    unacked = app.consumer.unacked
    acking_topics = app.topics.acking_topics
    on_message_in, on_event_in = stream._on_message_in, stream._on_stream_event_in
    out: list[Any] = []
    while len(out) < limit and not errors and not queue.empty():
        if not isinstance(queue._queue[0], EventT):
            break  # the iterator's business (asyncio.Queue keeps its items in _queue)
        event = queue.get_nowait()
        message = event.message
        if not flow_active() or message.generation_id != app.consumer_generation_id:
            continue  # skipped, as the iterator skips it
        tp, offset = message.tp, message.offset
        if message.topic in acking_topics and not message.tracked:
            message.tracked = True
            unacked.add(message)
            on_message_in(tp, offset, message)
        on_event_in(tp, offset, stream, event)
        stream.events_total += 1
        out.append(event)
    return out


def of_current_generation(app: Any, event: Any) -> bool:
    """Whether ``event`` was fetched in the consumer group's current generation.

    Why: the stream skips events of an older generation (a rebalance happened since they were
    fetched: ``message.generation_id != app.consumer_generation_id`` in both stream
    iterators), but an event already taken into the agent's batch when a rebalance starts has
    passed that test; it is dropped unacked instead, and comes back to the partition's owner
    from the committed offset."""
    return bool(event.message.generation_id == app.consumer_generation_id)


def lean_monitor() -> type:
    """A ``faust.sensors.Monitor`` (the app's ``Monitor`` setting) whose per-record hooks keep
    only what Faust itself reads: ``stream_inbound_time`` per partition, which the aiokafka
    driver's ``verify_event_path`` uses for its "stream has not processed a record" warnings.

    Why: Faust calls the monitor for every record it receives, hands to a stream, acks and
    every record the producer sends (``on_message_in``, ``on_stream_event_in`` and ``_out``,
    ``on_message_out``, ``on_send_initiated`` and ``_completed``): counters per topic, stream
    and task (a ``str`` of the stream looked up per record), clock readings, a latency
    ``deque`` per event and per send, a state ``dict`` per event. The worker serves none of it
    (no Faust web views; its metrics are its own, :mod:`streams.metrics`). The other hooks
    (commits, rebalances, assignments, tables) are Faust's own, per batch or rarer."""
    from time import monotonic

    from faust.sensors import Monitor

    class LeanMonitor(Monitor):
        def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
            return None

        def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
            self.stream_inbound_time[tp] = monotonic()
            return None

        def on_stream_event_out(
            self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
        ) -> None:
            return None

        def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
            return None

        def on_send_initiated(
            self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
        ) -> None:
            return None

        def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
            return None

    return LeanMonitor
