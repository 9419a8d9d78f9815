"""Bad input reaches the dead-letter topic with a reason and touches no state; acks wait for
durable snapshots (the worker driven without Faust: records in, sends out)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from decimal import Decimal as D
from typing import Any

import pytest

from infra.settings import Settings, load_settings
from projections import engine as eng
from schemas.events import (
    Event,
    EventRejected,
    FillExecuted,
    PlaceOrder,
    PositionChanged,
    SpreadUpdated,
    TargetPositionSet,
)
from schemas.serde import Serializer
from streams.snapshot_codec import decode_snapshot
from streams.worker import ENGINE_INPUTS, EngineWorker
from tests import stubs
from tests.market import T0, H, funding, ticker, two_venue_history
from tests.unit.test_simulation import CFG

YEAR = 365 * 24 * H
_OWN_KEY = b"\x00own key"  # Harness.record: use the event's own key


def _quoted() -> list[Event]:
    """Both venues quoted, Bybit's funding known: a binance funding rate makes a pair."""
    return [
        ticker("binance", "99.99", "100.01", T0),
        ticker("bybit", "99.99", "100.01", T0),
        funding("bybit", "0.00005", T0, next_funding_time=T0 + 8 * H),
    ]


def _absurd_rate() -> Event:
    """Observed fine; pricing the pair overflows (decimal.Overflow, an ArithmeticError)."""
    # past the decoder's bounds, as a trusted internal event could only be through a bug
    good = funding("binance", "0.0001", T0 + 1, next_funding_time=T0 + 8 * H)
    return good.model_copy(update={"funding_rate": D("9e999999")})


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None


def _topic(event: Event) -> str:
    from schemas.catalog import topic_for

    return topic_for(type(event)).name


@dataclass
class Harness:
    """One EngineWorker on partition 0 of every input; every input counts as caught up."""

    settings: Settings = field(default_factory=lambda: load_settings(topic_prefix="t-"))
    fail_persist: bool = False
    sent: list[tuple[str, Event]] = field(default_factory=list)
    acked: int = 0
    persisted: dict[str, bytes] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENGINE_INPUTS, 0))

    def __post_init__(self) -> None:
        self.serializer = Serializer()
        self.worker = EngineWorker(self.settings, CFG, send=self._send, persist=self._persist)
        self.worker.restore([])
        for name in ENGINE_INPUTS:
            self.worker.start[(self.settings.topic(name), 0)] = 0
            self.worker.ends[(self.settings.topic(name), 0)] = 0

    async def _send(self, topic: str, key: bytes, value: bytes, ts: int) -> Any:
        self.sent.append((topic, self.serializer.decode(value)))
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    async def _persist(self, asset: str, blob: bytes, origin: Any) -> Any:
        fut = asyncio.get_running_loop().create_future()
        if self.fail_persist:
            # what the changelog send of an over-limit snapshot does: the delivery fails
            fut.set_exception(RuntimeError("MessageSizeTooLargeError"))
        else:
            self.persisted[asset] = blob
            fut.set_result(None)
        return fut

    async def _ack(self) -> None:
        self.acked += 1

    def record(
        self,
        event: Event,
        key: bytes | None = _OWN_KEY,
        timestamp: int | None = None,
        topic: str | None = None,
    ) -> Record:
        name = topic or _topic(event)
        offset = self.offsets[name]
        self.offsets[name] += 1
        # every input is caught up to what was fed so far
        self.worker.ends[(self.settings.topic(name), 0)] = offset + 1
        return Record(
            self.settings.topic(name),
            0,
            offset,
            event.key.encode() if key == _OWN_KEY else key,
            self.serializer.encode(event),
            event.event_time if timestamp is None else timestamp,
        )

    def feed(self, *items: Event | Record, flush: bool = True) -> None:
        async def run() -> None:
            for item in items:
                rec = item if isinstance(item, Record) else self.record(item)
                await self.worker.on_record(rec, self._ack)
            await self.worker.release()
            if flush:
                await self.worker.flush()

        asyncio.run(run())

    def feed_batch(self, *items: Event) -> None:
        """``items`` handed over as one batch (as the agent does with a backlog), then a
        flush."""

        async def run() -> None:
            await self.worker.on_batch([(self.record(e), self._ack, None) for e in items])
            await self.worker.flush()

        asyncio.run(run())

    def outputs(self, kind: type[Event] = Event) -> list[Any]:
        return [e for _, e in self.sent if isinstance(e, kind)]

    def dead(self) -> list[EventRejected]:
        return self.outputs(EventRejected)


def _fill(**kw: Any) -> FillExecuted:
    base: dict[str, Any] = {
        "event_id": stubs.eid(f"fill/{kw.get('fill_id', 't-1')}/{kw.get('qty', '')}"),
        "event_time": T0 + 1000,
        "ingest_time": T0 + 1000,
        "venue": "binance",
        "instrument": "BTC/USDT:USDT",
    }
    return stubs.fill_executed(**{**base, **kw})


# -- 1. any exception a fold raises is a dead letter, not a crash ------------------------------
def test_an_arithmetic_error_in_a_fold_is_dead_lettered_and_the_worker_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression: decimal.Overflow (an ArithmeticError, not a ValueError) escaped the worker,
    which exited on every start and never got past the record. The decoder now refuses the
    absurd Decimal that caused it, so the fold error is forced here (a bug in a fold)."""
    import decimal

    h = Harness()
    absurd = _fill(fill_id="t-absurd")
    handle = eng.handle

    def failing(state: Any, event: Event, config: Any) -> Any:
        if event.event_id == absurd.event_id:
            raise decimal.Overflow("forced")
        return handle(state, event, config)

    monkeypatch.setattr(eng, "handle", failing)
    h.feed(*two_venue_history(n=1), absurd, _fill(fill_id="t-2"))
    (dead,) = h.dead()
    assert dead.error_type == "Overflow"
    assert dead.causation_id == absurd.event_id
    assert (dead.source_topic, dead.source_partition, dead.source_offset) == (
        "engine:t-acct.fills",
        0,
        0,
    )
    # the worker went on: the next fill was applied, the absurd one left no trace
    (pos,) = h.outputs(PositionChanged)
    assert pos.causation_id != absurd.event_id and pos.qty == D("-0.010")
    assert h.acked == len(two_venue_history(n=1)) + 2  # the bad record is acked (dead-lettered)


def test_a_react_error_refuses_that_assets_batch_and_keeps_its_state() -> None:
    """fold_market caught only ValueError from observe; react's errors escaped it."""
    state, _, refused = eng.fold_market(eng.EngineState(), _quoted(), CFG)  # type: ignore[arg-type]
    assert not refused
    absurd = _absurd_rate()
    eth = funding("binance", "0.0001", T0 + 1, asset="ETH")
    after, out, refused = eng.fold_market(state, [absurd, eth], CFG)  # type: ignore[list-item]
    assert [(e.event_id, type(x).__name__) for e, x in refused] == [(absurd.event_id, "Overflow")]
    assert after.boards["BTC"] is state.boards["BTC"]
    assert after.clocks["BTC"] == state.clocks["BTC"] and "ETH" in after.boards
    assert not [o for o in out if o.key == "BTC"]


def test_the_simulation_dead_letters_any_fold_error_too() -> None:
    from streams.simulation import Simulation

    out: list[Event] = []
    sim = Simulation(CFG, on_output=out.append)
    for e in [*_quoted(), _absurd_rate()]:
        sim.feed(e)
    sim.finish()
    assert [r.error_type for r in sim.rejected] == ["Overflow"]
    sim._to_engine(_fill().model_copy(update={"qty": D("1e999999"), "price": D("1e999999")}))
    assert [r.error_type for r in sim.rejected] == ["Overflow", "Overflow"]


# -- 2. acks wait for durable snapshots; snapshots are bounded --------------------------------
def test_nothing_is_acked_when_the_snapshot_write_is_not_confirmed() -> None:
    """Regression: the table write's delivery was never awaited, so inputs were acked before
    a failing changelog send; the restart then restored nothing."""
    from streams.worker import SnapshotWriteError

    h = Harness(fail_persist=True)
    with pytest.raises(SnapshotWriteError, match="MessageSizeTooLargeError"):
        h.feed(*two_venue_history(n=1))
    assert h.acked == 0 and h.worker.to_ack  # still unacked: redelivered after the restart


def test_a_record_that_would_grow_the_snapshot_past_the_limit_is_dead_lettered() -> None:
    # the decoder bounds ids to 128 chars; the limit is set just above the snapshot's size
    probe = Harness()
    probe.feed(*two_venue_history(n=1), _fill(fill_id="t-1"))
    limit = len(probe.persisted["BTC"]) + 60
    settings = load_settings(topic_prefix="t-", worker_max_snapshot_bytes=limit)
    h = Harness(settings=settings)
    h.feed(*two_venue_history(n=1), _fill(fill_id="t-1"))
    before = h.worker.state
    huge = _fill(fill_id="x" * 128)
    h.feed(huge)
    (dead,) = h.dead()
    assert dead.error_type == "SnapshotTooLargeError" and dead.causation_id == huge.event_id
    assert f"limit {limit}" in dead.reason
    assert h.worker.state is before  # the previous state is kept
    assert len(h.outputs(PositionChanged)) == 1  # nothing was emitted for the refused fill
    _, state, _, _ = decode_snapshot(h.persisted["BTC"])
    assert len(h.persisted["BTC"]) <= limit and state.books["BTC"] is not None


def test_a_batch_refuses_exactly_the_records_that_one_at_a_time_refuses() -> None:
    """Within a batch the size of an asset well under the limit is checked at the batch's
    end; a batch that ends over it is folded again with a check after every fold. Expected:
    the refusals and outputs of feeding the records one at a time (one check per record)."""
    history = two_venue_history(n=1)
    fills = [_fill(fill_id=f"t-{i:03d}-" + "x" * 100) for i in range(60)]
    probe = Harness()
    probe.feed(*history)
    start = len(probe.worker.snapshot("BTC"))
    probe.feed(*fills[:20])
    grown = len(probe.worker.snapshot("BTC"))
    limit = max(2 * start, grown)  # well under at the start; fills 20.. cannot fit
    settings = load_settings(topic_prefix="t-", worker_max_snapshot_bytes=limit)
    one, batch = Harness(settings=settings), Harness(settings=settings)
    one.feed(*history)
    batch.feed(*history)
    for f in fills:
        one.feed(f)
    checks = batch.worker.stats.size_checks
    batch.feed_batch(*fills)
    refused = [d.causation_id for d in one.dead()]
    assert 0 < len(refused) < len(fills) and {d.error_type for d in one.dead()} == {
        "SnapshotTooLargeError"
    }
    assert [d.causation_id for d in batch.dead()] == refused
    assert [e.event_id for _, e in batch.sent] == [e.event_id for _, e in one.sent]
    assert batch.worker.snapshot("BTC") == one.worker.snapshot("BTC")
    assert batch.acked == one.acked == len(history) + len(fills)
    # the batch was checked at its end, then folded again fold by fold
    assert batch.worker.stats.size_checks - checks > len(fills) - len(refused)


# -- 3 + 5. far-future event times; one clock per asset ---------------------------------------
def test_an_event_far_ahead_of_its_record_timestamp_or_ingest_time_is_dead_lettered() -> None:
    """Regression: a 2099 event time was folded and its outputs, stamped 2099, were refused by
    the broker (timestamps > 1 h ahead): the worker exited on every start."""
    h = Harness()
    far = 4_070_908_800_000  # 2099-01-01
    late = ticker("binance", "99.99", "100.01", far)
    h.feed(*two_venue_history(n=1), h.record(late, timestamp=T0 + 60_000))
    forged = stubs.ticker_observed(event_time=far, ingest_time=T0, event_id=stubs.eid("forged"))
    h.feed(h.record(forged))  # broker timestamp forged to match: the ingest time disagrees
    dead = h.dead()
    assert [d.error_type for d in dead] == ["future_event_time", "future_event_time"]
    assert "ahead of the record's broker timestamp" in dead[0].reason
    assert "ahead of its ingest_time" in dead[1].reason
    assert all(e.event_time < far for _, e in h.sent if not isinstance(e, EventRejected))
    assert h.worker.state is not None and eng.clock(h.worker.state, "BTC") == T0


def test_an_event_far_ahead_of_its_assets_clock_is_dead_lettered() -> None:
    h = Harness()
    ahead = ticker("binance", "99.99", "100.01", T0 + 2 * 24 * H)
    ahead = ahead.model_copy(update={"ingest_time": ahead.event_time})
    h.feed(*two_venue_history(n=1), ahead)
    (dead,) = h.dead()
    assert dead.error_type == "ClockJumpError" and "ahead of BTC's clock" in dead.reason
    assert eng.clock(h.worker.state, "BTC") == T0  # type: ignore[arg-type]


def test_a_feed_that_really_moved_on_is_followed_not_refused_for_ever() -> None:
    """After an outage longer than the limit, a second record agreeing on the new time moves
    the asset's clock (two in a row), while a single stray far-future record stays refused."""
    h = Harness()
    later = T0 + 3 * 24 * H
    h.feed(*two_venue_history(n=1))
    stray = ticker("binance", "99.99", "100.01", T0 + YEAR)
    back = [ticker("binance", "99.99", "100.01", T0 + 8 * H)]
    h.feed(stray.model_copy(update={"ingest_time": stray.event_time}), *back)
    assert [d.error_type for d in h.dead()] == ["ClockJumpError"]
    resumed = [ticker(v, "99.99", "100.01", later) for v in ("binance", "bybit")]
    resumed = [e.model_copy(update={"ingest_time": e.event_time}) for e in resumed]
    h.feed(*resumed)
    assert [d.error_type for d in h.dead()] == ["ClockJumpError", "ClockJumpError"]
    assert eng.clock(h.worker.state, "BTC") == later  # type: ignore[arg-type]
    # the candidate travels with the snapshot: a restart decides the same way
    h.feed(ticker("binance", "99.99", "100.01", later + 5 * 24 * H))
    snap = h.worker.snapshot("BTC")
    again = Harness()
    again.worker.restore([snap])
    assert again.worker.jumps == {"BTC": later + 5 * 24 * H}


def test_each_asset_has_its_own_clock() -> None:
    """Regression: EngineState.now was the max over every asset. One DOGE ticker stamped a year
    ahead made later BTC data produce no decisions and stamped BTC's outputs a year ahead."""
    state, _ = eng.handle(
        eng.EngineState(), ticker("binance", "0.1", "0.2", T0 + YEAR, asset="DOGE"), CFG
    )
    outputs: list[Event] = []
    for e in two_venue_history(n=2):
        state, out = eng.handle(state, e, CFG)
        outputs += out
    assert [type(o) for o in outputs if not isinstance(o, SpreadUpdated)] == [
        TargetPositionSet,
        PlaceOrder,
    ]
    t1 = T0 + 8 * H
    assert all(o.event_time == t1 for o in outputs)
    assert eng.clock(state, "BTC") == t1 and eng.clock(state, "DOGE") == T0 + YEAR
    assert state.now == T0 + YEAR  # the max, for reporting only
    # a slice keeps its own clock; merging gives the max back
    btc = eng.slice_for(state, "BTC")
    assert btc.clocks == {"BTC": t1} and btc.now == t1
    assert eng.merge([btc, eng.slice_for(state, "DOGE")]).now == T0 + YEAR


# -- 7. the record key must be the event's asset ------------------------------------------------
@pytest.mark.parametrize("key", [b"ETH", b"SOL", b"", None, b"\xff\x00garbage"])
def test_a_record_keyed_for_another_asset_is_dead_lettered(key: bytes | None) -> None:
    """Regression: records keyed ETH (or empty, or garbage) carrying a BTC instrument were
    applied to BTC state, from whatever partition the key hashed to."""
    h = Harness()
    event = ticker("binance", "99.99", "100.01", T0)
    h.feed(h.record(event, key=key))
    (dead,) = h.dead()
    assert dead.error_type == "wrong_key" and "b'BTC'" in dead.reason
    assert h.worker.state is not None and "BTC" not in h.worker.state.boards
    assert h.acked == 1


# -- 12. a duplicate fill emits nothing ----------------------------------------------------------
def test_duplicate_fills_and_funding_payments_emit_nothing() -> None:
    """Regression: 50 copies of one fill gave 50 PositionChanged events."""
    state, _ = eng.handle(eng.EngineState(), _fill(), CFG)
    again, out = eng.handle(state, _fill(), CFG)
    assert out == [] and again is state
    paid = stubs.funding_paid(event_time=T0 + 2000, ingest_time=T0 + 2000)
    state, out = eng.handle(state, paid, CFG)
    assert [type(o) for o in out] == [PositionChanged]
    again, out = eng.handle(state, paid, CFG)
    assert out == [] and again is state

    h = Harness()
    h.feed(*[_fill() for _ in range(50)])
    assert len(h.outputs(PositionChanged)) == 1


# -- 8. the broker watch: back-off and one line per state change --------------------------------
def test_broker_watch_backs_off_and_logs_once_per_state_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from streams.worker import BrokerWatch

    now = [0.0]
    watch = BrokerWatch(base_s=0.5, cap_s=4.0, clock=lambda: now[0])
    waits = []
    with caplog.at_level(logging.INFO, logger="fundarb.worker"):
        for _ in range(8):
            assert watch.ready()
            watch.failed(TimeoutError("end_offsets"))
            waits.append(watch.next_try - now[0])
            assert not watch.ready()
            now[0] = watch.next_try
        watch.succeeded()
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("broker unreachable (TimeoutError: end_offsets)")
    assert lines[1] == f"broker back after {sum(waits):.1f} s unreachable"
    assert watch.ready()


def test_repeated_client_errors_are_logged_once_per_window() -> None:
    from streams.worker import RepeatFilter

    now = [0.0]
    f = RepeatFilter(window_s=60, clock=lambda: now[0])

    def rec(msg: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord("aiokafka.conn", level, __file__, 1, msg, (), None)

    kept = []
    for i in range(6000):  # a minute of reconnect errors at 100 lines/s
        now[0] = i / 100
        kept.append(f.filter(rec("Unable connect to node with id %s")))
    assert sum(kept) == 1
    assert f.filter(rec("Unable to update metadata from %s"))  # another message: once too
    assert f.filter(rec("info goes through", logging.INFO))
    now[0] = 61.0
    assert f.filter(rec("Unable connect to node with id %s"))  # the next window


def test_the_risk_agents_marks_come_from_the_tickers_the_engine_accepted() -> None:
    """The risk agent no longer decodes md.tickers itself: the engine hands over each ticker
    it decoded and accepted (a dead-lettered one is not a mark)."""
    h = Harness()
    marks: list[Event] = []
    h.worker.on_mark = marks.append
    good = ticker("binance", "99.99", "100.01", T0)
    wrong_key = ticker("bybit", "99.99", "100.01", T0)
    h.feed(good, h.record(wrong_key, key=b"ETH"), funding("bybit", "0.00005", T0))
    assert [m.event_id for m in marks] == [good.event_id]
    assert [d.error_type for d in h.dead()] == ["wrong_key"]
