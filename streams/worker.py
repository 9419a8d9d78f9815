"""The Faust worker (``fundarb worker``): the engine fold and the risk agent on a real broker.

Agents (DESIGN §6):

``engine``
    reads every asset-keyed input (``orders.events``, ``acct.fills``, ``acct.funding``,
    ``risk.events``, ``md.funding``, ``md.tickers``; that list is also the tie-break rank),
    merges each partition's inputs in event-time order (:mod:`streams.sequencer`) and folds them
    through :func:`projections.engine.handle`: funding board and position book (the fold
    agents; ``derived.spreads``, ``derived.positions``), the strategy (``strategy.intents``),
    asset-local breakers (``risk.events``) and the executor (``orders.commands``). One fold
    per asset rather than four agents chained by topics: the decision order is then a pure
    function of the inputs (DESIGN §6 allows "anything that does the same job").
``risk``
    reads ``acct.balances`` (keyed by venue) with the marks of ``md.tickers`` (handed over by
    the engine agent, which decodes them anyway) and trips the account
    breakers (margin ratio, liquidation distance) on ``risk.events``, which the engine honours.

State lives in a Faust table ``engine`` (changelog-backed; ``memory://`` or ``rocksdb://``
from ``Settings.table_store``): per asset, a versioned snapshot (:mod:`streams.snapshot_codec`,
no pickle) of :class:`Snapshot` (the asset's slice of
the engine state plus the last applied offset per input partition).

Delivery (at least once, idempotent; DESIGN §6.4):

1. the agent takes events in batches (a batch closes when the stream has nothing more ready,
   so a lone event goes through at once); each batch is decoded, buffered in the sequencer
   and released once; the released records are folded and their outputs sent at the end of
   that release (deterministic event ids and client order ids, so a re-send is a
   byte-identical duplicate that venues drop);
2. every ``flush_every`` records (a flush that runs while the agent folds on) or every tick:
   wait for the outputs sent so far, write the dirty snapshots to the table, and only then
   ack the input records (Faust commits acked offsets);
3. after a crash Faust restores the table and redelivers unacked records; a record at or below
   the snapshot's applied offset is skipped (counted), others are folded again and their
   outputs re-sent. Nothing is lost; nothing is decided twice differently.

   A snapshot write counts only once the broker confirmed its changelog record; if it
   fails, nothing is acked and the worker exits (:data:`EXIT_NOT_DURABLE`) so the restart
   resumes from the last durable snapshot.

Faust's ``exactly_once`` guarantee is available (``FUNDARB_PROCESSING_GUARANTEE``) but has
open duplicate bugs on rebalance and kill, so the idempotency above is the real guard.

Bad records go to the dead-letter topic with the reason, are acked, and touch no state;
nothing crashes or loops on them: undecodable, wrong topic, a key that is not the event's asset
(one asset, one partition), an event time too far ahead of the record's broker timestamp or
ingest time or of its asset's clock (outputs are stamped with event time, and the broker
refuses timestamps far in the future), any exception a fold raises, or a fold that would make
the asset's snapshot larger than ``worker_max_snapshot_bytes``.
No decision reads the wall clock: the clock only schedules flushes, end-offset refreshes and
the back-off while the broker is unreachable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from infra.settings import Settings
from projections import engine as eng
from projections import risk as rk
from schemas.catalog import ASSET_PARTITIONS, DEADLETTER, topic_for
from schemas.config import StrategyConfig
from schemas.events import BalanceObserved, Event, EventRejected, TickerObserved
from schemas.partitioning import partition_of
from schemas.serde import DecodeError, Serializer
from schemas.types import Breaker, base_asset
from streams import metrics as worker_metrics
from streams.sequencer import Sequencer
from streams.snapshot_codec import SnapshotEncoder, SnapshotVersionError, decode_snapshot
from streams.watermark import (
    CLOCK_TOPIC,
    ORDER_HEADER,
    SEQ_HEADER,
    GatedMerge,
    Heartbeat,
    seq_of,
)

log = logging.getLogger("fundarb.worker")

#: Engine inputs in tie-break rank: at equal event time market data comes first (tickers before
#: funding, the replay's own order) and is folded as one batch before any decision, then the
#: venue's answers, as in :class:`streams.simulation.Simulation`.
ENGINE_INPUTS = (
    "md.tickers",
    "md.funding",
    "orders.events",
    "acct.fills",
    "acct.funding",
    "risk.events",
)
MARKET_INPUTS = frozenset({"md.tickers", "md.funding"})
#: With ``--backtest-clock`` the engine also folds the venue's balances, as the in-process
#: simulation does (:mod:`streams.watermark`).
GATED_INPUTS = (*ENGINE_INPUTS, "acct.balances")
GROUP = "fundarb-worker"
#: Faust ``App(version=…)``: bump it when a fold changes incompatibly (a snapshot layout the
#: codec cannot upcast, a changed meaning of a stored field). Version > 1 names a fresh consumer
#: group and changelog (``<id>-v<version>``), so the new worker rebuilds its state by replaying
#: its inputs from the beginning instead of restoring what the old fold wrote.
APP_VERSION = 1
#: The engine agent hands the worker at most this many events at once (a batch closes earlier
#: when the stream has nothing more ready)
BATCH_MAX = 500
#: With the backtest clock a tick delivers the outputs and the watermark; snapshots are written
#: (and inputs acked) at most this often (s): a snapshot write is a broker round trip.
GATED_FLUSH_S = 1.0
#: Fault injection for the recovery tests: exit hard right after the outputs of the N-th
#: processed record were sent, before anything is acked.
CRASH_ENV = "FUNDARB_CRASH_AFTER_RECORDS"
#: Exit status when a snapshot (or an output) could not be made durable: nothing was acked, so
#: a restart resumes from the last durable snapshot (EX_TEMPFAIL: worth restarting).
EXIT_NOT_DURABLE = 75
#: Exit status when the table holds snapshots this code cannot read (EX_CONFIG: a restart alone
#: does not help; see streams/snapshot_codec.py)
EXIT_INCOMPATIBLE = 78


class SnapshotWriteError(RuntimeError):
    """An output or a snapshot write was not confirmed by the broker; nothing was acked."""


class SnapshotTooLargeError(ValueError):
    """A fold would make its asset's encoded snapshot larger than the configured maximum."""


@dataclass
class Snapshot:
    """What the table holds per asset: the engine slice and applied offsets per input
    (``"topic/partition" → offset``, catalog topic names)."""

    asset: str
    state: eng.EngineState
    applied: dict[str, int] = field(default_factory=dict)
    # event time of the last record refused as a clock jump (a second one near it confirms)
    jump: int | None = None


@dataclass
class WorkerStats:
    records: int = 0
    folded: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    outputs: int = 0
    flushes: int = 0
    batches: int = 0  # batches handed over by the agent (records / batches: the mean size)
    units: int = 0  # live releases that folded something
    size_checks: int = 0  # snapshot encodings to check the size limit
    # wall clock and this process's CPU time, for throughput figures only (never decisions)
    first_record_s: float = 0.0
    last_fold_s: float = 0.0
    first_record_cpu_s: float = 0.0
    last_fold_cpu_s: float = 0.0


class _Unit:
    """One live release's folds (:meth:`EngineWorker.release`): what it started from (to
    fold it again with exact size checks), its steps (a market batch, or one record), and
    its outputs and acks, kept until the end."""

    def __init__(self, state: Any, jumps: dict[str, int], stats: WorkerStats) -> None:
        self.state, self.jumps = state, jumps
        self.folded, self.dead_lettered = stats.folded, stats.dead_lettered
        self.steps: list[list[Any]] = []
        self.outputs: list[tuple[Event, str | None]] = []
        self.acks: list[Any] = []
        self.unchecked: set[str] = set()  # assets whose size is checked at the end
        self.exact = False


class EngineWorker:
    """The engine agent's logic, independent of Faust's decorators (tested through Faust).

    ``send(topic, key, value, timestamp_ms)`` returns an awaitable delivery; ``caught_up`` is
    fed by the app's end-offset refresher; ``persist(asset, blob, origin)`` writes the table and
    returns an awaitable of the changelog record's delivery (or None when already durable).
    Records: ``topic``, ``partition``, ``offset``, ``key`` (bytes), ``value`` (bytes) and
    ``timestamp`` (the broker timestamp, int ms UTC, or None).
    """

    def __init__(
        self,
        settings: Settings,
        config: StrategyConfig,
        *,
        send: Any,
        persist: Any,
        flush_every: int = 500,
        gated: bool = False,
        publish_clock: Any = None,
        member: str = "worker",
    ) -> None:
        self.settings = settings
        self.config = config
        self.send = send
        self.persist = persist
        self.flush_every = flush_every
        self.serializer = Serializer()
        self.inputs = GATED_INPUTS if gated else ENGINE_INPUTS
        self.catalog = {settings.topic(n): n for n in self.inputs}
        self.full_names: dict[str, str] = {}  # catalog name → the run's topic name
        # backtest clock (streams/watermark.py): one event-time merge over every partition,
        # gated by the paper venue's heartbeats; None live (nothing gates)
        self.gate: GatedMerge | None = None
        if gated:
            self.gate = GatedMerge(
                (settings.topic(t), p)
                for t in sorted(MARKET_INPUTS)
                for p in range(ASSET_PARTITIONS)
            )
        self.publish_clock = publish_clock
        self.member = member
        # gated: the asset partitions this worker owns (None until the group assigns them)
        self.owned: list[int] | None = None
        # gated: the order key of the fold whose outputs are being sent (streams/watermark.py)
        self.order_base: tuple[Any, ...] = ()
        self.order_index: dict[str, int] = {}
        self.out_seq = 0  # outputs sent (the venue orders commands of one arrival time by it)
        self.sent: dict[str, int] = {}  # orders.commands "topic/partition" → next offset sent
        self.published: tuple[int, dict[str, int]] | None = None
        # gated: records not folded (risk.events echoes, which the simulation does not fold;
        # balances about another worker's assets)
        self.skipped = 0
        self.asset_partitions: dict[str, int] = {}  # asset → its partition (partition_of)
        # gated: one release at a time (the agent and the tick both release; interleaved folds
        # would interleave their outputs), one delivery at a time (a watermark may only follow
        # every output sent before it)
        self.releasing = asyncio.Lock()
        self.delivering = asyncio.Lock()
        # live: one unit of folds at a time, and a flush takes its share between two units
        self.folding = asyncio.Lock()
        self.flushing = asyncio.Lock()
        self.unit: _Unit | None = None
        self.flush_task: asyncio.Future[None] | None = None
        self.failed: SnapshotWriteError | None = None  # sticky: the worker must stop
        self.acking = 0  # records a running flush is about to ack
        #: live: each accepted ``md.tickers`` record goes to the risk agent's marks too
        self.on_mark: Callable[[TickerObserved], None] | None = None
        self.sizes: dict[str, int] = {}  # asset → last measured snapshot size (bytes)
        # snapshots for flushes and size checks: the same bytes as encode_snapshot, with the
        # text of the unchanged immutable parts kept from one encoding to the next
        self.encoder = SnapshotEncoder()
        # (record, event, asset, ack, origin) per held record
        self.sequencer: Sequencer[tuple[Any, Event, str, Any, Any]] = Sequencer(ENGINE_INPUTS)
        self.state: eng.EngineState | None = None
        self.applied: dict[str, dict[str, int]] = {}
        self.seen_next: dict[tuple[str, int], int] = {}
        self.start: dict[tuple[str, int], int] = {}
        self.ends: dict[tuple[str, int], int] = {}
        self.pending: list[Any] = []
        # per partition: market records of one event time awaiting their fold
        self.batches: dict[int, list[Any]] = {}
        self.jumps: dict[str, int] = {}  # asset → time of the last record refused as a jump
        self.to_ack: list[Any] = []
        self.dirty: set[str] = set()
        self.origin: dict[str, Any] = {}
        self.stats = WorkerStats()
        self.crash_after = int(os.environ.get(CRASH_ENV, "0") or 0)

    # -- state --
    def restore(self, blobs: Iterable[bytes]) -> None:
        """Rebuild the merged engine state from the table's snapshots."""
        slices, self.applied, self.jumps = [], {}, {}
        for blob in blobs:
            # raises SnapshotVersionError (a clear message) for a layout this code cannot read
            asset, state, applied, jump = decode_snapshot(blob)
            slices.append(state)
            self.applied[asset] = applied
            if jump is not None:
                self.jumps[asset] = jump
        self.state = eng.merge(slices)
        log.info("restored %d asset snapshots (event time %s)", len(slices), self.state.now)

    def snapshot(self, asset: str) -> bytes:
        assert self.state is not None
        return self.encoder.encode(
            asset,
            eng.slice_for(self.state, asset),
            self.applied.get(asset, {}),
            self.jumps.get(asset),
        )

    def _check_clock(self, event: Event, asset: str) -> None:
        """Raise :class:`projections.engine.ClockJumpError` for an event too far ahead of its
        asset's clock, unless the previous record refused for that reason lies within the
        limit of this one: two records in a row that agree on a new time mean the feed really
        moved on (an outage longer than the limit), so the clock follows instead of refusing
        the asset's data for ever. One stray far-future record is refused; records near the
        clock clear the candidate. The candidate is part of the asset's snapshot, so a
        restart decides the same way."""
        limit = self.settings.worker_max_clock_jump_ms
        assert self.state is not None
        try:
            eng.check_clock(self.state, event, limit)
        except eng.ClockJumpError:
            last = self.jumps.pop(asset, None)
            if last is not None and abs(event.event_time - last) <= limit:
                return
            self.jumps[asset] = event.event_time
            raise
        self.jumps.pop(asset, None)

    # -- positions --
    def caught_up(self, topic: str, partition: int) -> bool:
        """Whether the worker has seen every record of the input ``topic`` (catalog name)
        up to the partition's last known end offset."""
        full = self.full_names.get(topic)
        if full is None:
            full = self.full_names[topic] = self.settings.topic(topic)
        tp = (full, partition)
        end = self.ends.get(tp)
        if end is None:
            return False
        pos = self.seen_next.get(tp, self.start.get(tp))
        return pos is not None and pos >= end

    def assign(self, partitions: Iterable[int]) -> None:
        """The group gave this worker ``partitions``: it restores only their assets'
        snapshots (a table's local store may hold standby copies of others'); gated, the merge
        waits for those partitions only (the venue's heartbeats are kept)."""
        self.owned = sorted(set(partitions))
        if self.gate is None:
            return
        self.gate = self.gate.reassigned(
            (self.settings.topic(t), p) for t in sorted(MARKET_INPUTS) for p in self.owned
        )

    def revoked(self, partitions: Iterable[int]) -> None:
        """The group took ``partitions`` away (a rebalance: every partition, then the new
        assignment): held records are dropped (unacked, they come back from the committed
        offset to whoever gets them), the state is rebuilt from the table on the next record,
        and, gated, no venue heartbeat counts until the answers it names are consumed again
        (:meth:`GatedMerge.reassigned`)."""
        self.sequencer.drop(sorted(set(partitions)))
        self.batches.clear()  # held market records were not acked: they come back too
        self.state = None
        self.to_ack.clear()
        self.dirty.clear()
        self.seen_next.clear()
        self.start.clear()
        self.owned = None  # no claims until the next assignment
        if self.gate is not None:
            self.gate = self.gate.reassigned(self.gate.market_tps)

    def positions(self) -> dict[tuple[str, int], int]:
        """Next offset per input topic partition this worker is past: consumed since the
        assignment, else its committed offset (folded before, in the restored snapshots)."""
        return {**self.start, **self.seen_next}

    def _owns(self, asset: str) -> bool:
        """Whether ``asset``'s partition (its key's) is assigned to this worker (any, before
        the first assignment)."""
        part = self.asset_partitions.get(asset)
        if part is None:
            part = self.asset_partitions[asset] = partition_of(asset)
        return self.owned is None or part in self.owned

    # -- records --
    async def on_record(self, record: Any, ack: Any, origin: Any = None) -> None:
        """One record: :meth:`on_batch` of one."""
        await self.on_batch([(record, ack, origin)])

    async def on_batch(self, items: list[tuple[Any, Any, Any]]) -> None:
        """Records from Faust, in the order consumed: ``(record, ack, origin)`` each
        (``record`` has topic/partition/offset/key/value/timestamp; ``ack`` an async callable
        acking it; ``origin`` the Faust event, the context a table write of its asset needs).

        Each record is decoded and checked (bad ones dead-lettered) and buffered in the
        sequencer; then **one** release folds what may go (per batch, not per record)."""
        self.stats.batches += 1
        for record, ack, origin in items:
            await self._take(record, ack, origin)
        await self.release()

    async def _take(self, record: Any, ack: Any, origin: Any) -> None:
        self.stats.records += 1
        if not self.stats.first_record_s:
            self.stats.first_record_s = time.time()
            self.stats.first_record_cpu_s = time.process_time()
        tp = (record.topic, record.partition)
        self.seen_next[tp] = record.offset + 1
        try:
            if not isinstance(record.value, bytes):
                raise DecodeError("empty", "record has no value (tombstone)")
            try:
                event = self.serializer.decode(record.value)
            except DecodeError:
                raise
            except Exception as exc:  # a decoder bug must not stop the partition either
                raise DecodeError("undecodable", f"{type(exc).__name__}: {exc}") from exc
            name = self.catalog[record.topic]
            if topic_for(type(event)).name != name:
                raise DecodeError(
                    "wrong_topic", f"{type(event).__name__} does not belong on {name}"
                )
            self._check_record(record, event)
        except DecodeError as exc:
            await self._dead_letter(record, exc)
            self.to_ack.append(ack)
            return
        if self.on_mark is not None and isinstance(event, TickerObserved):
            self.on_mark(event)  # the risk agent's marks, from this one validated decode
        asset = base_asset(event.instrument)
        if self.gate is not None and not self._owns(asset):
            # gated, the engine folds acct.balances, keyed by venue: a balance about an asset
            # of another worker's partition sits on this one. Folded here, it made a slice of
            # that asset from nothing and its snapshot overwrote the owner's in the table:
            # the owner, restoring it after a rebalance, forgot its open arbs and opened them
            # again (issue 20). Only the asset's owner folds its records.
            self.skipped += 1
            self.to_ack.append(ack)
            return
        key = f"{name}/{record.partition}"
        if record.offset <= self.applied.get(asset, {}).get(key, -1):
            self.stats.duplicates += 1  # folded before a restart, already in the snapshot
            self.to_ack.append(ack)
            return
        if self.gate is not None:
            self._push_gated(name, record, event, asset, ack, origin)
            return
        self.sequencer.push(
            name,
            record.partition,
            record.offset,
            event.event_time,
            (record, event, asset, ack, origin),
        )

    def _push_gated(
        self, name: str, record: Any, event: Event, asset: str, ack: Any, origin: Any
    ) -> None:
        """Backtest clock: market records keyed by the replay's order, answers by the venue's
        sequence number. ``risk.events`` are not folded: the engine's own breakers come back
        there (already applied), and the simulation has no account risk agent."""
        assert self.gate is not None
        tp = (record.topic, record.partition)
        item = (record, event, asset, ack, origin)
        if name == "risk.events":
            self.skipped += 1
            self.to_ack.append(ack)
        elif name in MARKET_INPUTS:
            rank = 0 if isinstance(event, TickerObserved) else 1  # the replay's own tie rule
            order = (rank, event.venue, event.instrument)
            if not self.gate.push_market(tp, record.offset, event.event_time, order, item):
                self.to_ack.append(ack)  # a second copy of a held record (redelivered)
        else:
            seq = seq_of(getattr(record, "headers", None))
            if not self.gate.push_answer(tp, record.offset, event.event_time, seq or 0, item):
                self.to_ack.append(ack)

    def _gate_caught_up(self, tp: tuple[str, int]) -> bool:
        return self.caught_up(self.catalog[tp[0]], tp[1])

    async def _release_gated(self) -> None:
        async with self.releasing:
            await self._release_gated_locked()

    async def _release_gated_locked(self) -> None:
        assert self.gate is not None and self.state is not None
        self.gate.refresh(self.positions())
        folded = self.stats.folded
        for kind, payload in self.gate.release(self._gate_caught_up):
            if kind == "market":
                await self._fold_market(payload, gated=True)
            else:
                record, event, asset, ack, origin = payload
                self._order(event.event_time, 1, seq_of(getattr(record, "headers", None)) or 0)
                await self._fold_one(record, event, asset, ack, origin)
            if len(self.to_ack) >= self.flush_every:
                await self.flush()
        if self.stats.folded != folded:
            self._stamp()

    def _stamp(self) -> None:
        """When the last fold ended, wall and CPU (per release, not per fold: reading the
        process's CPU clock is a system call)."""
        self.stats.last_fold_s = time.time()
        self.stats.last_fold_cpu_s = time.process_time()

    async def _publish_watermark(self) -> None:
        """After a flush (outputs delivered): tell the venue how far the commands are
        complete, when that changed."""
        if self.gate is None or self.publish_clock is None or self.state is None:
            return
        if self.releasing.locked() or self.pending:
            return  # a fold is under way (its outputs are not all sent): the next tick says it
        self.gate.refresh(self.positions())
        w = self.gate.watermark(self._gate_caught_up, self.sent)
        if w is None or self.owned is None or (w, self.sent) == self.published:
            return
        hb = Heartbeat("worker", self.member, w, w, dict(self.sent), {}, self.owned)
        await self.publish_clock(hb.encode())  # queued; ordered after the delivered outputs
        self.published = (w, dict(self.sent))

    def _check_record(self, record: Any, event: Event) -> None:
        """Refuse what must never reach a fold (raises :class:`DecodeError`).

        * ``wrong_key``: the record key is not the event's asset key. Partitioning is by key, so
          such a record sits on another asset's partition; folding it would let two workers
          change one asset's state (one asset, one partition).
        * ``future_event_time``: the event time is more than ``worker_max_ahead_of_record_ms``
          ahead of the record's broker timestamp or of its own ``ingest_time``. Outputs are
          stamped with event time and the broker refuses far-future timestamps; the record's
          own timestamp is what the broker accepted, so it bounds what is plausible.
        """
        want = event.key.encode()
        if record.key != want:
            raise DecodeError(
                "wrong_key",
                f"record key {record.key!r} is not the event's asset key {want!r} "
                f"({type(event).__name__} on {event.instrument})",
            )
        limit = self.settings.worker_max_ahead_of_record_ms
        ts = record.timestamp
        if isinstance(ts, int) and ts > 0 and event.event_time > ts + limit:
            raise DecodeError(
                "future_event_time",
                f"event_time {event.event_time} is {event.event_time - ts} ms ahead of the "
                f"record's broker timestamp {ts} (limit {limit} ms)",
            )
        if event.event_time > event.ingest_time + limit:
            raise DecodeError(
                "future_event_time",
                f"event_time {event.event_time} is {event.event_time - event.ingest_time} ms "
                f"ahead of its ingest_time {event.ingest_time} (limit {limit} ms)",
            )

    async def release(self) -> None:
        """Fold what the sequencer releases. Market records of one event time on a partition
        are held until the next record of that partition is known not to be one of them
        (another time or topic, or every input caught up), then folded as one batch
        (:func:`projections.engine.fold_market`): a decision at ``t`` never sees a quote older
        than one stamped ``t`` that is in the log. Held records are not acked.

        Live, one call is one *unit* (:class:`_Unit`): its folds run without awaiting, their
        outputs are kept and sent at the end, in fold order, then its records join the acks of
        the next flush. The snapshot-size limit is checked per fold (exact) for an asset whose
        last measured snapshot is unknown or above half the limit, else once at the unit's end;
        if an asset is then over the limit, the unit is folded again from its start with the
        check after every fold (so a record is refused exactly as with per-fold checks)."""
        if self.gate is not None:
            await self._release_gated()
            return
        async with self.folding:
            unit = self.unit = _Unit(self.state, dict(self.jumps), self.stats)
            try:
                for item in self.sequencer.release(self.caught_up):
                    record, event = item[0], item[1]
                    if self.catalog[record.topic] in MARKET_INPUTS:
                        self.batches.setdefault(record.partition, []).append(item)
                        if self._batch_open(record.partition, event.event_time):
                            continue
                        unit.steps.append(self.batches.pop(record.partition))
                    else:
                        unit.steps.append([item])
                for partition, batch in sorted(self.batches.items()):
                    if batch and not self._batch_open(partition, batch[-1][1].event_time):
                        unit.steps.append(self.batches.pop(partition))  # caught up since held
                if unit.steps:
                    self.stats.units += 1
                    await self._run_unit(unit)
            finally:
                self.unit = None
        if len(self.to_ack) >= self.flush_every:
            await self._flush_behind()

    async def _flush_behind(self) -> None:
        """Start a flush that runs while the agent folds on (its share is taken at once,
        :meth:`flush`); wait for the running one only when the records awaiting acks pile up
        past ``4 × flush_every``. Raises the :class:`SnapshotWriteError` of a finished flush
        that failed (the caller stops the worker)."""
        task = self.flush_task
        if task is not None and task.done():
            self.flush_task = None
            task.result()  # raises the failed flush's SnapshotWriteError
        elif task is not None:
            if len(self.to_ack) >= 4 * self.flush_every:
                await task
            return
        self.flush_task = asyncio.ensure_future(self.flush())

    async def _run_unit(self, unit: _Unit) -> None:
        """Fold ``unit``'s steps, check the sizes left for its end, send its outputs."""
        await self._fold_steps(unit)
        try:
            for asset in sorted(unit.unchecked):
                self._check_size(self.state, asset, exact=True)  # type: ignore[arg-type]
        except SnapshotTooLargeError:
            # fold the unit again with the check after every fold (module docstring)
            self.state, self.jumps = unit.state, unit.jumps
            self.stats.folded, self.stats.dead_lettered = unit.folded, unit.dead_lettered
            unit.outputs.clear()
            unit.acks.clear()
            unit.unchecked.clear()
            unit.exact = True
            await self._fold_steps(unit)
        self.unit = None
        for event, topic in unit.outputs:
            await self._send(event, topic)
        self.to_ack += unit.acks  # acked by a flush that also waits for these outputs
        self._stamp()
        await self._maybe_crash()

    async def _fold_steps(self, unit: _Unit) -> None:
        for step in unit.steps:
            record, event, asset, ack, origin = step[0]
            if self.catalog[record.topic] in MARKET_INPUTS:
                await self._fold_market(step)
            else:
                await self._fold_one(record, event, asset, ack, origin)

    def _batch_open(self, partition: int, event_time: int) -> bool:
        nxt = self.sequencer.peek(partition, self.caught_up)
        if nxt == "behind":
            return True
        return nxt is not None and nxt[1] in MARKET_INPUTS and nxt[0] == event_time

    def _refusal(self, record: Any, event: Event, exc: Exception) -> EventRejected:
        """The dead letter for a record the engine refused, naming the record and the error."""
        log.warning(
            "dead-lettered %s/%s@%s: %s: %s",
            record.topic,
            record.partition,
            record.offset,
            type(exc).__name__,
            exc,
        )
        self.stats.dead_lettered += 1
        return eng.rejected(
            event, exc, f"engine:{record.topic}", partition=record.partition, offset=record.offset
        )

    def _snapshot_size(self, state: eng.EngineState, asset: str) -> int:
        return len(
            self.encoder.encode(
                asset, eng.slice_for(state, asset), self.applied.get(asset, {}), None
            )
        )

    def _check_size(self, state: eng.EngineState, asset: str, exact: bool = False) -> None:
        """Raise :class:`SnapshotTooLargeError` when ``asset``'s snapshot in ``state`` would
        exceed ``worker_max_snapshot_bytes`` (it could not be written to the changelog).
        Within a live unit, an asset last measured at no more than half the limit is
        measured once at the unit's end instead (:meth:`release`)."""
        limit = self.settings.worker_max_snapshot_bytes
        unit = self.unit
        lenient = not exact and unit is not None and not unit.exact
        if lenient and self.sizes.get(asset, limit + 1) <= limit // 2:
            assert unit is not None
            unit.unchecked.add(asset)
            return
        size = self._snapshot_size(state, asset)
        self.stats.size_checks += 1
        if size > limit:
            raise SnapshotTooLargeError(
                f"{asset}'s snapshot would be {size} bytes after this record (limit {limit})"
            )
        self.sizes[asset] = size

    async def _fold_market(self, batch: list[Any], gated: bool = False) -> None:
        """Fold one market batch (records of one event time: a partition's, or gated every
        partition's) through :func:`projections.engine.fold_market`."""
        assert self.state is not None
        by_event = {id(event): record for record, event, _, _, _ in batch}
        dead: list[Event] = []
        events: list[Any] = []
        for record, event, asset, _, _ in batch:
            try:
                self._check_clock(event, asset)
            except eng.ClockJumpError as exc:
                dead.append(self._refusal(record, event, exc))
                continue
            events.append(event)
        # fold; an asset whose snapshot would grow past the limit loses its events of this
        # batch (dead-lettered) and the batch is folded again without them
        too_big: dict[str, SnapshotTooLargeError] = {}
        while True:
            kept = [e for e in events if base_asset(e.instrument) not in too_big]
            state, outputs, refused = eng.fold_market(self.state, kept, self.config)
            grown: dict[str, SnapshotTooLargeError] = {}
            for asset in dict.fromkeys(base_asset(e.instrument) for e in kept):
                try:
                    self._check_size(state, asset)
                except SnapshotTooLargeError as exc:
                    grown[asset] = exc
            if not grown:
                break
            too_big |= grown
        self.state = state
        for e in events:
            if base_asset(e.instrument) in too_big:
                dead.append(self._refusal(by_event[id(e)], e, too_big[base_asset(e.instrument)]))
        dead += [self._refusal(by_event[id(e)], e, exc) for e, exc in refused]
        acks = self.unit.acks if self.unit is not None else self.to_ack
        for record, _event, asset, ack, origin in batch:
            self.applied.setdefault(asset, {})[
                f"{self.catalog[record.topic]}/{record.partition}"
            ] = record.offset
            self.dirty.add(asset)
            self.origin[asset] = origin
            acks.append(ack)
        self.stats.folded += len(batch)
        for out in dead:
            await self._send(out)
        if gated:
            # outputs come grouped by asset in order of first appearance in the batch
            # (projections.engine.fold_market): key each asset by its first record's replay
            # key, the same whichever worker folds it (streams/watermark.py)
            first: dict[str, tuple[Any, ...]] = {}
            for record, event, asset, _, _ in batch:
                if asset not in first:
                    rank = 0 if isinstance(event, TickerObserved) else 1
                    first[asset] = (
                        rank,
                        event.venue,
                        event.instrument,
                        record.partition,
                        record.offset,
                    )
            t = batch[0][1].event_time
            for out in outputs:
                self._order(t, 0, first.get(base_asset(out.instrument), ()))
                await self._send(out)
        else:
            for out in outputs:
                await self._send(out)
        await self._maybe_crash()

    async def _fold_one(self, record: Any, event: Event, asset: str, ack: Any, origin: Any) -> None:
        """:meth:`_fold`, then the record joins the acks (of its unit, when live)."""
        await self._fold(record, event, asset)
        self.origin[asset] = origin
        (self.unit.acks if self.unit is not None else self.to_ack).append(ack)

    async def _fold(self, record: Any, event: Event, asset: str) -> None:
        """Fold one record. Any ``Exception`` from the fold (``ValueError``, an
        ``ArithmeticError`` from an absurd ``Decimal``, a bug) dead-letters the record instead
        of stopping the worker: folds are pure and return new state, so on error the state is
        simply not replaced. A record that would push the asset's snapshot past the limit is
        refused the same way (its outputs are not sent)."""
        assert self.state is not None
        try:
            self._check_clock(event, asset)
            state, outputs = eng.handle(self.state, event, self.config)
            self._check_size(state, asset)
        except Exception as exc:  # see the docstring: refuse the record, keep the state
            outputs = [self._refusal(record, event, exc)]
        else:
            self.state = state
        self.stats.folded += 1
        applied = self.applied.setdefault(asset, {})
        applied[f"{self.catalog[record.topic]}/{record.partition}"] = record.offset
        self.dirty.add(asset)
        for out in outputs:
            await self._send(out)
        await self._maybe_crash()

    async def _maybe_crash(self) -> None:
        if self.unit is not None:
            return  # after the unit's outputs were sent (_run_unit)
        if self.crash_after and self.stats.folded >= self.crash_after:
            await asyncio.gather(*self.pending)  # the outputs went out; nothing is acked
            log.warning("fault injection: exiting hard after %d records", self.stats.folded)
            os._exit(137)

    async def emit(self, event: Event) -> None:
        """Send an output another agent produced (the risk agent's breakers) with the
        engine's own: delivered, and checked, at the next flush."""
        await self._send(event)

    def _order(self, t: int, kind: int, key: Any) -> None:
        """Gated: the fold about to send its outputs (``kind`` 0: a market batch at ``t``,
        ``key`` the asset's first record's replay key; 1: an answer, ``key`` the venue's
        sequence number)."""
        base = (t, kind, key)
        if base != self.order_base:
            self.order_base, self.order_index = base, {}

    def _order_key(self, event: Event) -> bytes:
        n = self.order_index.get(event.key, 0)
        self.order_index[event.key] = n + 1
        return json.dumps([*self.order_base, n]).encode()

    async def _send(self, event: Event, topic: str | None = None) -> None:
        if self.unit is not None:  # sent at the unit's end (release)
            self.unit.outputs.append((event, topic))
            return
        name = topic or self.settings.topic(topic_for(type(event)).name)
        self.out_seq += 1
        try:
            if self.gate is not None:
                fut = await self.send(
                    name,
                    event.key.encode(),
                    self.serializer.encode(event),
                    event.event_time,
                    [
                        (SEQ_HEADER, str(self.out_seq).encode()),
                        (ORDER_HEADER, self._order_key(event)),
                    ],
                )
            else:
                fut = await self.send(
                    name, event.key.encode(), self.serializer.encode(event), event.event_time
                )
        except Exception as exc:  # refused before it left (too large, producer stopped)
            raise SnapshotWriteError(
                f"{type(event).__name__} {event.event_id} to {name} was not sent: "
                f"{_name(exc)}: {exc}"
            ) from exc
        self.pending.append(fut)
        self.stats.outputs += 1

    async def _dead_letter(self, record: Any, exc: DecodeError) -> None:
        from infra.kafka_io import rejected_event

        dead = rejected_event(record, exc, int(time.time() * 1000))
        log.warning(
            "dead-lettered %s/%s@%s: %s", record.topic, record.partition, record.offset, exc
        )
        self.stats.dead_lettered += 1
        await self._send(dead, self.settings.topic(DEADLETTER))

    async def deliver(self) -> None:
        """Wait for the outputs sent so far (raises :class:`SnapshotWriteError` when one was
        not delivered); with the backtest clock, then publish the worker's watermark."""
        async with self.delivering:
            await self._deliver_locked()

    async def _deliver_locked(self, pending: list[Any] | None = None) -> None:
        """Wait for ``pending`` (default: every output sent so far)."""
        if pending is None:
            pending, self.pending = self.pending, []
        if pending:
            try:
                delivered = await asyncio.gather(*pending)
            except Exception as exc:
                raise SnapshotWriteError(
                    f"an output was not delivered: {_name(exc)}: {exc}"
                ) from exc
            commands = self.settings.topic("orders.commands")
            for meta in delivered:
                if getattr(meta, "topic", None) == commands:
                    name = f"{meta.topic}/{meta.partition}"
                    self.sent[name] = max(self.sent.get(name, 0), meta.offset + 1)
        # the outputs are delivered: the venue may go on while the snapshots are written
        await self._publish_watermark()

    async def flush(self) -> None:
        """Outputs delivered → snapshots written and confirmed by the broker → inputs acked.

        What a flush covers is taken at once between two units of folds (:meth:`release`):
        the outputs sent so far, the records to ack, and the state with the dirty assets'
        applied offsets, so every fold in the snapshots has its outputs among those waited
        for. The snapshots are then encoded from that state one asset at a time, letting the
        event loop run the agent in between (the encoding is the costly part of a flush);
        flushes do not overlap (an older snapshot never lands after a newer one).

        Raises :class:`SnapshotWriteError` when an output or a snapshot write failed:
        nothing is acked then, and the caller must stop the worker so that the restart resumes
        from the last durable snapshot (this process's state is ahead of the changelog).
        """
        async with self.flushing:
            if self.failed is not None:  # a flush behind the agent failed: nothing more acks
                raise self.failed
            try:
                await self._flush_locked()
            except SnapshotWriteError as exc:
                self.failed = exc
                raise

    async def _flush_locked(self) -> None:
        async with self.delivering:
            async with self.folding:
                pending, self.pending = self.pending, []
                acks, self.to_ack = self.to_ack, []
                self.acking = len(acks)
                dirty, self.dirty = sorted(self.dirty), set()
                state = self.state
                taken = [
                    (a, dict(self.applied.get(a, {})), self.jumps.get(a), self.origin.get(a))
                    for a in dirty
                ]
            try:
                await self._deliver_locked(pending)
            except SnapshotWriteError:
                self.to_ack[:0] = acks  # nothing acked: redelivered after the restart
                self.acking = 0
                raise
        if taken and state is not None:
            deliveries = []
            try:
                for asset, applied, jump, origin in taken:
                    blob = self.encoder.encode(asset, eng.slice_for(state, asset), applied, jump)
                    deliveries.append(await self.persist(asset, blob, origin))
                    await asyncio.sleep(0)  # let the agent fold between two encodings
                await asyncio.gather(*(d for d in deliveries if d is not None))
            except Exception as exc:
                self.to_ack[:0] = acks
                self.acking = 0
                raise SnapshotWriteError(
                    f"a snapshot write was not confirmed by the broker: {_name(exc)}: {exc}"
                ) from exc
        for ack in acks:
            await ack()
        self.acking = 0
        if acks:
            self.stats.flushes += 1

    def status(self) -> dict[str, Any]:
        """What ``fundarb worker`` writes to its status file (and tests wait on)."""
        state = self.state or eng.EngineState()
        # caught_up is False for a partition whose end offset is not known yet
        caught = all(self.caught_up(t, p) for t in ENGINE_INPUTS for p in range(ASSET_PARTITIONS))
        pnl = eng.pnl(state)
        return {
            **self.stats.__dict__,
            "buffered": self.sequencer.size + (self.gate.size if self.gate else 0),
            "unacked": len(self.to_ack) + self.acking,
            "caught_up": caught,
            "idle": caught
            and self.sequencer.size == 0
            and not (self.gate and self.gate.size)
            and not self.to_ack
            and not self.acking
            # a release sending its outputs holds its records' acks until it ends
            and not self.folding.locked()
            and not self.releasing.locked()
            and not any(self.batches.values()),
            "event_time": state.now,
            "open_arbs": len(state.strategy.live()),
            "net_delta_usd": str(eng.net_delta_usd(state)),
            "pnl_usd": str(pnl.total),
        }


def _name(exc: BaseException) -> str:
    return type(exc).__name__


class InputRecord(NamedTuple):
    """A consumed record as :class:`EngineWorker` reads it (``timestamp`` in int ms UTC;
    Faust's message carries float seconds). A named tuple: one is built per record, and a
    frozen dataclass's ``__init__`` (``object.__setattr__`` per field) cost 3× as much."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None
    headers: Any = None

    @classmethod
    def of(cls, message: Any) -> InputRecord:
        ts = message.timestamp
        return cls(
            message.topic,
            message.partition,
            message.offset,
            message.key,
            message.value,
            round(ts * 1000) if isinstance(ts, int | float) else None,
            getattr(message, "headers", None),
        )


class BrokerWatch:
    """Back-off and one log line per state change for calls that need the broker.

    ``ready()`` says whether to try now; ``failed(exc)`` after a failed call schedules the next
    try with a capped exponential back-off (``base_s`` doubling up to ``cap_s``) and logs one
    line when the broker first becomes unreachable; ``succeeded()`` logs one line when it is
    back (with the outage's length). ``clock`` is monotonic seconds (scheduling only, never a
    decision). Errors are swallowed by the caller: an outage is waited out, not fatal.
    """

    def __init__(
        self, base_s: float = 0.5, cap_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.base_s, self.cap_s, self.clock = base_s, cap_s, clock
        self.down_since: float | None = None
        self.failures = 0
        self.next_try = 0.0

    def ready(self) -> bool:
        return self.clock() >= self.next_try

    def failed(self, exc: BaseException) -> None:
        now = self.clock()
        if self.down_since is None:
            self.down_since = now
            log.warning(
                "broker unreachable (%s: %s); retrying with back-off up to %.0f s",
                _name(exc),
                exc,
                self.cap_s,
            )
        self.failures += 1
        self.next_try = now + min(self.cap_s, self.base_s * 2 ** (self.failures - 1))

    def succeeded(self) -> None:
        if self.down_since is not None:
            log.warning("broker back after %.1f s unreachable", self.clock() - self.down_since)
        self.down_since, self.failures, self.next_try = None, 0, 0.0


class RepeatFilter(logging.Filter):
    """Lets one warning/error per (logger, message template) through per ``window_s`` seconds.

    aiokafka logs every failed reconnect (~100 ERROR lines/s while a broker is down); the
    worker's own :class:`BrokerWatch` says what matters once per state change. ``clock`` is
    monotonic seconds (log scheduling only).
    """

    def __init__(self, window_s: float = 60.0, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.window_s, self.clock = window_s, clock
        self.last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key, now = (record.name, str(record.msg)), self.clock()
        seen = self.last.get(key)
        if seen is not None and now - seen < self.window_s:
            return False
        self.last[key] = now
        return True


def quiet_client_logs(prefix: str = "aiokafka", window_s: float = 60.0) -> RepeatFilter:
    """Install one :class:`RepeatFilter` on every ``prefix`` logger created so far (filters
    on a logger see only its own records, so each module logger gets it)."""
    repeat = RepeatFilter(window_s)
    names = [prefix, *(n for n in logging.Logger.manager.loggerDict if n.startswith(prefix + "."))]
    for name in names:
        logging.getLogger(name).addFilter(repeat)
    return repeat


def status_path(settings: Settings) -> Path:
    """Where the worker of a run (topic prefix) writes its status JSON."""
    return settings.state_dir / "worker" / f"{settings.topic_prefix or 'default'}status.json"


def build_app(settings: Settings, config: StrategyConfig, *, backtest_clock: bool = False) -> Any:
    """The Faust app: topics, the ``engine`` table, the ``engine`` and ``risk`` agents.

    ``backtest_clock``: run in lockstep with the paper venue by watermarks (``fundarb backtest
    --engine worker``, :mod:`streams.watermark`); the risk agent is off then."""
    import faust
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    from streams import faust_compat

    faust_compat.check_version()
    faust_compat.fetch_only_active_partitions()  # paused inputs are not drained (restart stall)
    faust_compat.deliver_without_tasks()  # no four tasks per record to hand it to the streams

    datadir = settings.state_dir / "worker" / (settings.topic_prefix or "default")
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.topic(GROUP),
        version=APP_VERSION,
        broker=[f"kafka://{h.strip()}" for h in settings.bootstrap.split(",")],
        store=settings.table_store,
        datadir=str(datadir),
        topic_partitions=ASSET_PARTITIONS,
        topic_replication_factor=1,
        web_enabled=False,
        processing_guarantee=settings.processing_guarantee,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.worker_session_timeout_s,
        broker_heartbeat_interval=1.0,
        # a member killed mid-rebalance holds the group for at most this long (default 60 s)
        broker_rebalance_timeout=20.0,
        producer_acks=-1,
        table_cleanup_interval=3600.0,
        # on a rebalance, do not wait for every record taken to be acked: the worker holds
        # records unacked until it may fold them (the sequencer; with the backtest clock,
        # until the venue's watermark passes them, which may wait on the partitions being
        # moved: the rebalance never ended). Held records are dropped on revocation and come
        # back to the new owner from the committed offset (see rewind below); the acked ones
        # are committed either way.
        stream_wait_empty=False,
        Monitor=faust_compat.lean_monitor(),  # no per-record statistics nothing reads
    )
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    engine_inputs = GATED_INPUTS if backtest_clock else ENGINE_INPUTS
    inputs = app.topic(*[settings.topic(n) for n in engine_inputs], **raw)
    # the risk agent's marks come from the engine agent's decode of md.tickers (EngineWorker.
    # on_mark): one validated decode per ticker instead of two
    risk_inputs = app.topic(settings.topic("acct.balances"), **raw)
    table = app.Table(
        "engine",
        default=None,
        partitions=ASSET_PARTITIONS,
        use_partitioner=True,  # changelog partition = murmur2(asset) = the inputs' partition
        key_type=bytes,
        value_type=bytes,
    )

    async def send(
        topic: str, key: bytes, value: bytes, timestamp_ms: int, headers: Any = None
    ) -> Any:
        # Faust takes seconds; +0.5 ms so int(ts * 1000) gives back exactly timestamp_ms
        return await app.producer.send(
            topic, key, value, None, (timestamp_ms + 0.5) / 1000, headers
        )

    async def persist(asset: str, blob: bytes, origin: Any) -> Any:
        # ``table[key] = blob`` would queue the changelog record in Faust's producer buffer and
        # drop its future (a failed send then crashes the app after the inputs were acked).
        # Send it ourselves and hand the delivery back, so flush() acks only once the broker
        # has it; the local store is written after the send was accepted by the producer.
        key = asset.encode()
        delivery = await faust_compat.send_changelog(table, key, blob)
        # Faust's rocksdb store files a key under the partition of the event being processed;
        # we write after the fact (batched), so name the asset's latest input as that event.
        faust_compat.write_local(table, key, blob, origin)
        return delivery

    import aiokafka.consumer.fetcher
    import aiokafka.consumer.group_coordinator
    import aiokafka.producer.sender  # noqa: F401 (their loggers exist before the filter)

    quiet_client_logs()
    clock_topic = settings.topic(CLOCK_TOPIC)

    async def publish_clock(value: bytes) -> None:
        await app.producer.send(clock_topic, b"worker", value, 0, None, None)

    worker = EngineWorker(
        settings,
        config,
        send=send,
        persist=persist,
        gated=backtest_clock,
        publish_clock=publish_clock,
        member=f"{socket.gethostname()}-{os.getpid()}",
    )

    def restore() -> None:
        """Rebuild the state from the table's snapshots of the assets this worker owns."""
        owned = worker.owned
        try:
            worker.restore(
                v
                for k, v in table.items()
                if v and (owned is None or partition_of(bytes(k).decode()) in owned)
            )
        except SnapshotVersionError as exc:
            # a crash loop would not help: say what to do and stop (EX_CONFIG)
            log.error(
                "cannot restore the engine's snapshots: %s. Run the worker that wrote "
                "them, or bump APP_VERSION so that this one rebuilds by replay",
                exc,
            )
            logging.shutdown()
            os._exit(EXIT_INCOMPATIBLE)

    app.fundarb_worker = worker  # type: ignore[attr-defined]  # our handle on faust's App
    offsets: dict[str, Any] = {}

    watch = BrokerWatch()

    def not_durable(exc: SnapshotWriteError) -> None:
        # nothing was acked since the last durable snapshot, so a restart (by the supervisor)
        # folds the rest again. Exit hard: Faust's shutdown would try to flush and commit
        # against the same failing broker.
        log.error(
            "%s; nothing acked since the last durable snapshot: exiting (%d) to resume from it",
            exc,
            EXIT_NOT_DURABLE,
        )
        logging.shutdown()
        os._exit(EXIT_NOT_DURABLE)

    refreshing: dict[str, Any] = {"task": None}
    closing: set[asyncio.Future[None]] = set()  # stopped clients, referenced until closed

    def settle(task: asyncio.Task[None]) -> None:
        refreshing["task"] = None
        if task.cancelled():
            return  # shutting down
        exc = task.exception()
        if exc is not None:
            watch.failed(exc)
        else:
            watch.succeeded()

    async def refresh_ends_guarded() -> None:
        """End offsets for the sequencer; while the broker is unreachable, keep the last known
        ones and retry with back-off (a timer that raises would crash the app).

        The call runs as its own task and is waited for at most 15 s: a client call that does
        not give up when cancelled (it may wait for the broker's own request timeout) must not
        hold the timer, and the outage is logged when it starts, not when the broker returns.
        At most one call is in flight; its late result is taken on a later tick."""
        task = refreshing["task"]
        if task is not None:
            if task.done():
                settle(task)
                return
            if time.monotonic() - refreshing["since"] < 30.0:
                return  # still waiting for the broker (already reported as unreachable)
            # a client stuck on a connection the outage broke: drop it, start afresh
            task.cancel()
            refreshing["task"] = None
            stale = offsets.pop("consumer", None)
            if stale is not None:
                closing.add(asyncio.ensure_future(stale.stop()))
                closing.difference_update([t for t in closing if t.done()])
        if not watch.ready():
            return
        task = asyncio.ensure_future(refresh_ends())
        refreshing["task"], refreshing["since"] = task, time.monotonic()
        done, _ = await asyncio.wait({task}, timeout=15.0)
        if done:
            settle(task)
        else:
            watch.failed(TimeoutError("no end offsets from the broker in 15 s"))

    async def refresh_ends() -> None:
        consumer = offsets.get("consumer")
        if consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=settings.bootstrap, enable_auto_commit=False
            )
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()  # a client that never started still holds sockets
                raise
            offsets["consumer"] = consumer
        tps = [
            TopicPartition(settings.topic(t), p)
            for t in engine_inputs
            for p in range(ASSET_PARTITIONS)
        ]
        missing = [tp for tp in tps if (tp.topic, tp.partition) not in worker.start]
        if missing:
            admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
            await admin.start()
            try:
                committed = await admin.list_consumer_group_offsets(app.conf.id)
            finally:
                await admin.close()
            begins = await consumer.beginning_offsets(missing)
            for tp in missing:
                meta = committed.get(tp)
                worker.start[(tp.topic, tp.partition)] = (
                    meta.offset if meta is not None and meta.offset >= 0 else begins[tp]
                )
        ends = await consumer.end_offsets(tps)
        worker.ends = {(tp.topic, tp.partition): off for tp, off in ends.items()}

    @app.agent(inputs, name="engine")
    async def engine_agent(stream: Any) -> None:
        """Takes events (acked by hand, after their outputs and snapshots are durable) and
        hands them to the worker in batches: a batch closes when the stream has nothing more
        ready or holds :data:`BATCH_MAX` events, so a lone event goes through at once."""
        manual = stream.noack()
        batch: list[tuple[InputRecord, Any, Any]] = []
        async for event in manual.events():

            async def ack(event: Any = event) -> None:
                await manual.ack(event)

            batch.append((InputRecord.of(event.message), ack, event))
            if len(batch) < BATCH_MAX and await faust_compat.more_ready(manual):
                continue
            taken = [t for t in batch if faust_compat.of_current_generation(app, t[2])]
            batch = []
            if not taken:
                continue
            if worker.state is None:
                # only with a record of the current generation in hand: Faust resumes the
                # partitions once the table has recovered their changelogs. A batch taken
                # before a rebalance reaches here mid-rebalance; restoring then built the
                # state without the snapshots of partitions just assigned (not recovered
                # yet), and their records below the committed offset never came back: the
                # decisions they had made were forgotten and taken afresh (issue 20)
                restore()
            try:
                await worker.on_batch(taken)
            except SnapshotWriteError as exc:
                not_durable(exc)

    account = {"state": rk.AccountRiskState()}
    # venue → the account breakers it opened (marks stay in memory: every ticker refreshes them)
    risk_table: Any = None
    if not backtest_clock:  # the simulation has no account risk agent
        risk_table = app.Table(
            "risk",
            default=None,
            partitions=ASSET_PARTITIONS,
            use_partitioner=True,  # changelog partition = murmur2(venue) = acct.balances'
            key_type=bytes,
            value_type=bytes,
        )

    if backtest_clock:

        @app.task  # type: ignore[untyped-decorator]  # faust's App.task is unannotated
        async def read_clock() -> None:
            """The venue's heartbeats (every worker reads all of them: no consumer group)."""
            consumer = AIOKafkaConsumer(
                bootstrap_servers=settings.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20
            )
            await consumer.start()
            tp = TopicPartition(clock_topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            try:
                while True:
                    batch = await consumer.getmany(tp, timeout_ms=50)
                    for r in batch.get(tp, []):
                        try:
                            hb = Heartbeat.decode(r.value)
                        except ValueError:
                            continue
                        assert worker.gate is not None
                        worker.gate.on_heartbeat(hb)
            finally:
                await consumer.stop()

    marks = PendingMarks()

    async def risk_agent(stream: Any) -> None:
        serializer = Serializer()
        async for event in stream.events():
            msg = event.message
            try:
                ev = serializer.decode(msg.value)
            except DecodeError:
                continue  # a balance this agent cannot read is skipped
            if isinstance(ev, BalanceObserved):
                # the open breakers come from the changelog-backed table: after a restart the
                # venue that tripped one still resets it (an in-memory dict forgot it, and the
                # engine stayed paused for ever)
                state = replace(
                    marks.into(account["state"]), open=open_breakers(risk_table.items())
                )
                state, trips = rk.assess_balance(state, ev, config.risk)
                account["state"] = state
                if trips:
                    risk_table[ev.venue.encode()] = encode_breakers(state.open, ev.venue)
                for trip in trips:
                    await worker.emit(trip)  # delivered and checked at the next flush

    if not backtest_clock:  # the simulation has no account risk agent either
        app.agent(risk_inputs, name="risk")(risk_agent)
        worker.on_mark = marks.put

    flushed = {"at": 0.0}

    @app.timer(interval=settings.worker_tick_s)  # type: ignore[untyped-decorator]  # faust's App.timer is unannotated
    async def tick() -> None:
        if worker.sequencer.size or not worker.ends:
            await refresh_ends_guarded()
        if (
            worker.gate is not None
            and worker.state is None
            and worker.owned is not None
            and not app.rebalancing
            and app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]  # faust's TableManager has it, TableManagerT does not say so
        ):
            # a worker whose partitions hold no record yet must still speak for them (its
            # claims gate the venue): restore now instead of on the first record
            restore()
        try:
            if worker.state is not None:
                await worker.release()
            if worker.gate is not None and time.monotonic() - flushed["at"] < GATED_FLUSH_S:
                await worker.deliver()  # outputs and the watermark; snapshots less often
            else:
                await worker.flush()
                flushed["at"] = time.monotonic()
        except SnapshotWriteError as exc:
            not_durable(exc)

    @app.timer(interval=1.0)  # type: ignore[untyped-decorator]  # faust's App.timer is unannotated
    async def write_status() -> None:
        await refresh_ends_guarded()
        path = status_path(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**worker.status(), "pid": os.getpid()}))
        tmp.replace(path)
        worker_metrics.publish(worker, settings)  # Prometheus /metrics (streams/metrics.py)

    # faust types the handler with a keyword-only `signal`; it is passed in **kw here
    @app.on_rebalance_complete.connect  # type: ignore[arg-type]  # `signal` arrives in **kw
    async def rewind(app_: Any, **kw: Any) -> None:
        """Records fetched before a rebalance and dropped by it come back from the committed
        offset, or from the start when the group has committed none (faust_compat)."""
        topics = {*worker.catalog, settings.topic("acct.balances")}  # the risk agent's too
        try:
            admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
            await admin.start()
            try:
                group = await admin.list_consumer_group_offsets(app.conf.id)
            finally:
                await admin.close()
            committed = {
                (tp.topic, tp.partition): m.offset for tp, m in group.items() if m.offset > 0
            }
            rewound = await faust_compat.rewind_uncommitted(app, topics, committed)
        except Exception as exc:  # the broker went away mid-rebalance: the next one retries
            log.warning("could not rewind uncommitted partitions: %s: %s", _name(exc), exc)
            return
        if rewound:
            log.info("rewound %d partitions without a committed offset", len(rewound))

    # faust's handler type takes *args; it sends the partition set as the one positional
    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # named `assigned` for reading
    async def on_assigned(app_: Any, assigned: Any, **kw: Any) -> None:
        worker.assign(tp.partition for tp in assigned if tp.topic in worker.catalog)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # named `revoked` for reading
    async def on_revoked(app_: Any, revoked: Any, **kw: Any) -> None:
        # unacked records come back to whoever gets the partition; rebuild from the table
        worker.revoked(tp.partition for tp in revoked)

    return app


class PendingMarks:
    """The marks the engine agent hands the risk agent (``on_mark``), latest per market,
    until the risk agent next assesses a balance.

    Why: folding each ticker's mark into the account state at once (``rk.observe_mark``
    copies every market's mark, per ticker) cost more than the risk agent's own work; a
    dict store per ticker, folded in arrival order when a balance needs the marks, leaves the
    state as the ticker-by-ticker fold would (same marks, same order)."""

    def __init__(self) -> None:
        self.pending: dict[tuple[str, str], Decimal] = {}

    def put(self, event: TickerObserved) -> None:
        """Keep ``event``'s mark price (quote currency), if it has one."""
        if event.mark_price is not None:
            self.pending[(event.venue, event.instrument)] = event.mark_price

    def into(self, state: rk.AccountRiskState) -> rk.AccountRiskState:
        """``state`` with the marks kept since the last call (then forgotten here)."""
        for (venue, instrument), mark in self.pending.items():
            state = rk.observe_mark(state, venue, instrument, mark)
        self.pending.clear()
        return state


def encode_breakers(open_: Any, venue: str) -> bytes:
    """The risk table's value for ``venue``: the account breakers it opened, as JSON
    ``[[breaker, scope], ...]`` (sorted)."""
    return json.dumps(
        sorted([b.value, scope] for (b, scope), v in open_.items() if v == venue)
    ).encode()


def open_breakers(rows: Iterable[tuple[bytes, bytes | None]]) -> dict[tuple[Breaker, str], str]:
    """``AccountRiskState.open`` from the risk table's rows (venue → :func:`encode_breakers`)."""
    out: dict[tuple[Breaker, str], str] = {}
    for key, blob in rows:
        if blob:
            venue = key.decode() if isinstance(key, bytes) else str(key)
            for breaker, scope in json.loads(blob):
                out[(Breaker(breaker), scope)] = venue
    return dict(sorted(out.items(), key=lambda kv: (kv[0][0].value, kv[0][1])))


def check_topics(settings: Settings) -> None:
    """Create the run's topics if missing; refuse co-partitioned topics whose partition
    counts differ (raises :class:`infra.kafka_io.TopicMismatchError`)."""
    from infra.kafka_io import create_topics

    asyncio.run(create_topics(settings))


def run_worker(
    settings: Settings,
    config: StrategyConfig,
    loglevel: str = "info",
    *,
    backtest_clock: bool = False,
) -> None:
    """``fundarb worker``: check the topics, then run the Faust worker until stopped."""
    import faust

    check_topics(settings)
    app = build_app(settings, config, backtest_clock=backtest_clock)
    faust.Worker(
        app, loglevel=loglevel, quiet=True, redirect_stdouts=False
    ).execute_from_commandline()
