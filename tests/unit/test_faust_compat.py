"""The faust-streaming internals the worker relies on (streams/faust_compat.py), checked against
the installed (pinned) version: if an upgrade moves them, this fails before a worker does."""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from typing import Any

import faust
import pytest
from faust.tables.table import Table

from streams import faust_compat


def test_the_installed_faust_is_a_checked_version() -> None:
    assert faust_compat.check_version() == faust.__version__


def test_a_version_outside_the_pin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust, "__version__", "0.16.0")
    with pytest.raises(RuntimeError, match="is not a version"):
        faust_compat.check_version()


def test_the_private_names_exist_with_the_shapes_used() -> None:
    from faust.streams import _current_event

    assert isinstance(_current_event, contextvars.ContextVar)
    assert callable(Table._on_changelog_sent)
    # the changelog send takes the keyword arguments send_changelog passes
    import inspect

    from faust.topics import Topic

    params = inspect.signature(Topic.send).parameters
    for name in (
        "key",
        "value",
        "partition",
        "key_serializer",
        "value_serializer",
        "callback",
        "force",
    ):
        assert name in params, name


class _Store(dict[bytes, bytes]):
    """Records which event was current when a key was written (what rocksdb files it by)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    def __setitem__(self, key: bytes, value: bytes) -> None:
        from faust.streams import _current_event

        ref = _current_event.get(None)
        self.seen.append(ref() if ref is not None else None)
        super().__setitem__(key, value)


class _Table:
    def __init__(self) -> None:
        self.data = _Store()
        self.sent: list[dict[str, Any]] = []
        self.key_serializer = self.value_serializer = "raw"
        self.changelog_topic = self

    def _on_changelog_sent(self, fut: Any) -> None:
        return None

    async def send(self, **kw: Any) -> str:
        self.sent.append(kw)
        return "delivery"


def test_write_local_files_the_key_under_the_origin_event_and_resets_the_context() -> None:
    from faust.streams import _current_event

    class Origin:
        pass

    table, origin = _Table(), Origin()
    faust_compat.write_local(table, b"BTC", b"v", origin)
    faust_compat.write_local(table, b"ETH", b"w", None)
    assert table.data.seen == [origin, None] and table.data == {b"BTC": b"v", b"ETH": b"w"}
    assert _current_event.get(None) is None  # nothing leaks into the caller's context
    assert weakref.ref(origin)() is origin


def test_send_changelog_hands_back_the_delivery_and_forces_the_send() -> None:
    table = _Table()
    got = asyncio.run(faust_compat.send_changelog(table, b"BTC", b"v"))
    assert got == "delivery"
    (kw,) = table.sent
    assert kw["force"] is True and kw["partition"] is None and kw["key"] == b"BTC"
    assert kw["callback"] == table._on_changelog_sent


def test_the_fetch_gets_a_copy_of_the_active_partitions_not_the_live_set() -> None:
    """Regression (the memory:// restart stall): Faust passed its live ``_active_partitions``
    to aiokafka's ``fetched_records``, which re-reads it while it waits and takes an empty one
    for *every* partition; pausing the partitions being read mid-call made it return the
    paused inputs' records, which Faust then dropped. The call must keep what it was given."""
    import inspect

    from faust.transport.consumer import Consumer, ThreadDelegateConsumer

    # the shapes the patch relies on: the live set handed to _getmany, the thread's getmany
    assert list(inspect.signature(ThreadDelegateConsumer._getmany).parameters) == [
        "self",
        "active_partitions",
        "timeout",
    ]
    assert "self._getmany(" in inspect.getsource(Consumer._wait_next_records)
    faust_compat.fetch_only_active_partitions()
    faust_compat.fetch_only_active_partitions()  # idempotent: one wrapper, not two
    live = {("changelog", 0)}
    seen: list[Any] = []

    class _Thread:
        async def getmany(self, partitions: Any, timeout: float) -> dict[Any, Any]:
            live.clear()  # Faust pauses the changelog while the fetch waits
            await asyncio.sleep(0)
            seen.append(set(partitions))
            return {}

    class _Consumer:
        _thread = _Thread()

    asyncio.run(ThreadDelegateConsumer._getmany(_Consumer(), live, 1.0))  # type: ignore[arg-type]
    assert seen == [{("changelog", 0)}]  # never the emptied set (= all partitions)
    got: list[Any] = []

    class _None:
        class _thread:
            @staticmethod
            async def getmany(partitions: Any, timeout: float) -> dict[Any, Any]:
                got.append(partitions)
                return {}

    asyncio.run(ThreadDelegateConsumer._getmany(_None(), None, 1.0))  # type: ignore[arg-type]
    assert got == [None]  # client-only consumers still ask for everything


def test_more_ready_sees_an_event_in_the_streams_queue_or_one_arriving_within_its_turns() -> None:
    """A real Faust stream over a channel (no broker): the engine agent closes a batch when
    ``more_ready`` is False, so it must see what the consumer hands over right after."""

    async def run() -> tuple[bool, bool, bool, bool]:
        app = faust.App("compat-ready", broker="memory://", web_enabled=False)
        channel = app.channel()
        stream = app.stream(channel)
        it = stream.channel  # what the stream iterators read (stream.channel.queue)
        empty = await faust_compat.more_ready(stream)
        it.queue.put_nowait("now")
        now = await faust_compat.more_ready(stream)
        it.queue.get_nowait()

        async def later(turns: int) -> None:
            for _ in range(turns):
                await asyncio.sleep(0)
            it.queue.put_nowait("later")

        task = asyncio.ensure_future(later(2))
        soon = await faust_compat.more_ready(stream, turns=4)
        await task
        it.queue.get_nowait()
        task = asyncio.ensure_future(later(8))
        too_late = await faust_compat.more_ready(stream, turns=4)
        await task
        return empty, now, soon, too_late

    assert asyncio.run(run()) == (False, True, True, False)


def test_the_consumer_hands_records_over_one_wait_first_at_a_time() -> None:
    """Why more_ready waits a few turns (its docstring): the drain awaits each record's
    delivery through ``wait_first``; if this changes, the turns may be unneeded."""
    import inspect

    from faust.transport.consumer import Consumer

    src = inspect.getsource(Consumer._drain_messages)
    assert "wait_first" in src and "callback(message)" in src


def test_the_drain_races_each_delivery_against_the_flow_suspension_only() -> None:
    """The call deliver_without_tasks recognises: ``wait_first(callback(message),
    self.suspend_flow.wait())``, with the consumer's own ``asyncio.Event``."""
    import inspect

    from faust.transport.consumer import Consumer

    src = inspect.getsource(Consumer._drain_messages)
    assert "self.wait_first(" in src
    assert "callback(message), self.suspend_flow.wait()" in src
    assert isinstance(_consumer().suspend_flow, asyncio.Event)


def _consumer() -> Any:
    """A real Faust aiokafka consumer object (never started: no broker is contacted)."""
    app = faust.App("compat-deliver", broker="kafka://127.0.0.1:1", web_enabled=False)
    return app.consumer


def test_a_delivery_that_does_not_wait_runs_inline_without_a_task() -> None:
    faust_compat.deliver_without_tasks()
    faust_compat.deliver_without_tasks()  # idempotent: one wrapper, not two

    async def run() -> tuple[Any, Any, Any, Any]:
        consumer = _consumer()
        caller = asyncio.current_task()

        async def deliver(n: int) -> tuple[int, Any]:
            return n * 2, asyncio.current_task()

        suspended = consumer.suspend_flow.wait()
        result = await consumer.wait_first(deliver(21), suspended)
        return result, caller, suspended.cr_frame, len(asyncio.all_tasks())

    result, caller, frame, tasks = asyncio.run(run())
    assert result.stopped is False and len(result.done) == 1
    assert result.results == [(42, caller)]  # ran in the drain's own task
    assert frame is None  # the flow wait was closed, never left pending
    assert tasks == 1  # no task made or left behind


def test_a_delivery_that_waits_finishes_in_a_task_raced_against_the_flow_as_before() -> None:
    faust_compat.deliver_without_tasks()

    async def run() -> tuple[Any, Any, list[str]]:
        consumer = _consumer()
        caller = asyncio.current_task()
        loop = asyncio.get_running_loop()
        room = loop.create_future()
        steps: list[str] = []

        async def deliver() -> Any:
            steps.append("decoded")
            got = await room  # the channel's queue was full
            steps.append(f"put {got}")
            return asyncio.current_task()

        loop.call_soon(room.set_result, "x")
        done = await consumer.wait_first(deliver(), consumer.suspend_flow.wait())
        return done, caller, steps

    done, caller, steps = asyncio.run(run())
    assert steps == ["decoded", "put x"]  # first step once, then resumed with the result
    assert done.stopped is False and done.results[0] is not caller


def test_a_waiting_delivery_is_cancelled_when_the_flow_is_suspended_as_before() -> None:
    faust_compat.deliver_without_tasks()

    async def run() -> tuple[Any, list[str]]:
        consumer = _consumer()
        loop = asyncio.get_running_loop()
        never = loop.create_future()
        steps: list[str] = []

        async def deliver() -> None:
            try:
                await never
            except asyncio.CancelledError:
                steps.append("cancelled")
                raise

        loop.call_soon(consumer.suspend_flow.set)  # a rebalance starts
        done = await consumer.wait_first(deliver(), consumer.suspend_flow.wait())
        await asyncio.sleep(0)  # the loser's cancellation is delivered
        return done, steps

    done, steps = asyncio.run(run())
    assert done.results == [True]  # the flow's suspension won
    assert steps == ["cancelled"]  # the delivery's coroutine saw the cancellation


def test_a_failed_delivery_raises_and_a_suspended_flow_takes_the_original_path() -> None:
    faust_compat.deliver_without_tasks()

    async def run() -> tuple[Any, Any]:
        consumer = _consumer()
        caller = asyncio.current_task()

        async def broken() -> None:
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await consumer.wait_first(broken(), consumer.suspend_flow.wait())

        async def deliver() -> Any:
            return asyncio.current_task()

        consumer.suspend_flow.set()  # flow suspended already: Faust's own wait_first
        done = await consumer.wait_first(deliver(), consumer.suspend_flow.wait())
        return done, caller

    done, caller = asyncio.run(run())
    assert all(r is not caller for r in done.results)  # ran in wait_first's tasks


def test_the_lean_monitor_overrides_monitor_hooks_of_the_same_shape() -> None:
    """Each per-record hook it overrides exists on Faust's Monitor with the same parameters,
    and the app built with it uses it."""
    import inspect

    from faust.sensors import Monitor

    lean = faust_compat.lean_monitor()
    assert issubclass(lean, Monitor)
    overridden = [n for n in vars(lean) if n.startswith("on_")]
    assert sorted(overridden) == sorted(
        [
            "on_message_in",
            "on_stream_event_in",
            "on_stream_event_out",
            "on_message_out",
            "on_send_initiated",
            "on_send_completed",
        ]
    )
    for name in overridden:
        want = list(inspect.signature(getattr(Monitor, name)).parameters)
        assert list(inspect.signature(getattr(lean, name)).parameters) == want, name
    app = faust.App("lean-monitor-test", Monitor=lean, web_enabled=False)
    assert type(app.monitor) is lean


def test_the_lean_monitor_keeps_what_the_consumer_reads() -> None:
    """The aiokafka driver reads ``monitor.stream_inbound_time`` (its "stream has not processed
    a record" warnings); the lean monitor still records it per partition."""
    import inspect

    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
    from faust.types import TP

    source = inspect.getsource(AIOKafkaConsumerThread.verify_event_path)
    assert "monitor.stream_inbound_time" in source
    monitor = faust_compat.lean_monitor()()
    tp = TP("md.tickers", 2)
    assert monitor.on_stream_event_in(tp, 7, object(), object()) is None
    assert tp in monitor.stream_inbound_time
    assert monitor.events_total == 0  # the per-record statistics are not kept


def test_the_stream_iterators_do_the_bookkeeping_take_ready_repeats() -> None:
    """take_ready mirrors what both stream iterators do per event; if Faust changes that
    bookkeeping (or stops turning the loop per event), this fails before the worker drifts."""
    import inspect

    from faust.streams import Stream

    src = inspect.getsource(Stream._py_aiter)
    for step in (
        "await sleep(0)",
        "self.app.flow_control.is_active()",
        "message.generation_id != self.app.consumer_generation_id",
        "topic in acking_topics and not message.tracked",
        "message.tracked = True",
        "add_unacked(message)",
        "on_message_in(message.tp, message.offset, message)",
        "on_stream_event_in(tp, offset, self, event)",
    ):
        assert step in src, step
    assert "self.events_total += 1" in inspect.getsource(Stream._c_aiter)


def test_take_ready_takes_the_queued_events_with_the_iterators_bookkeeping() -> None:
    """A real Faust app and topic stream (no broker): queued events are taken in order, up to
    the limit, tracked as unacked (acked later like any other), reported to the monitor;
    one of an older generation is dropped as the iterator drops it; a queued error and a
    non-event value stop the taking."""
    from faust.events import Event
    from faust.types import TP
    from faust.types.tuples import ConsumerMessage

    async def run() -> None:
        app = faust.App(
            "compat-take",
            broker="kafka://127.0.0.1:9",  # never started: the consumer object only
            web_enabled=False,
            Monitor=faust_compat.lean_monitor(),
        )
        topic = app.topic("t-take")
        stream = app.stream(topic).noack()
        queue = stream.channel.queue
        app.topics._acking_topics.add("t-take")
        app.flow_control.resume()  # as a started worker's (suspended during rebalances)
        app.sensors.add(app.monitor)  # as App.on_init_dependencies does at the start
        generation = app.consumer_generation_id

        def event(offset: int, gen: int = generation) -> Any:
            message = ConsumerMessage(  # what the consumer makes of a record
                "t-take", 1, offset, 0.0, 0, None, b"k", b"v", None, generation_id=gen
            )
            return Event(app, b"k", b"v", {}, message)

        events = [event(0), event(1), event(2, gen=generation - 1), event(3), event(4)]
        for e in events:
            queue.put_nowait(e)
        got = faust_compat.take_ready(stream, limit=3)
        assert [e.message.offset for e in got] == [0, 1, 3]  # offset 2: older generation
        assert all(e.message.tracked and e.message in app.consumer.unacked for e in got)
        assert not events[2].message.tracked
        assert TP("t-take", 1) in app.monitor.stream_inbound_time
        assert stream.events_total == 3
        assert [e.message.offset for e in faust_compat.take_ready(stream, limit=9)] == [4]
        assert faust_compat.take_ready(stream, limit=9) == []
        queue.put_nowait("not an event")
        assert faust_compat.take_ready(stream, limit=9) == [] and queue.qsize() == 1
        queue.get_nowait()
        queue.put_nowait(event(5))
        queue._errors.append(RuntimeError("queued"))
        assert faust_compat.take_ready(stream, limit=9) == [] and queue.qsize() == 1
        queue._errors.clear()
        app.flow_control.suspend()  # a rebalance: the iterator skips every event
        assert faust_compat.take_ready(stream, limit=9) == [] and queue.qsize() == 0

    asyncio.run(run())
