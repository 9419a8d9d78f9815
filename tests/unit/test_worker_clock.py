"""The engine agent's record handling with the backtest clock, driven in-process without Faust
(records in, sends and heartbeats out): nothing is folded before the venue's watermark allows
it, commands carry the worker's sequence number, the worker's watermark follows only delivered
commands, and the engine's own breakers coming back on ``risk.events`` are not folded."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from infra.settings import load_settings
from schemas.catalog import ASSET_PARTITIONS
from schemas.events import BreakerTripped, Event, PlaceOrder, TickerObserved
from schemas.partitioning import partition_of
from schemas.serde import Serializer
from schemas.types import INTERNAL_VENUE, BreakerAction
from streams.watermark import DONE, SEQ_HEADER, Heartbeat, seq_of
from streams.worker import GATED_INPUTS, EngineWorker
from tests.market import T0, H
from tests.unit.test_simulation import CFG, stale_quote_history

T1 = T0 + 8 * H


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp: int
    headers: Any = None


@dataclass
class Meta:
    topic: str
    partition: int
    offset: int


@dataclass
class Harness:
    settings: Any = field(default_factory=lambda: load_settings(topic_prefix="t-"))
    sent: list[tuple[Event, Any]] = field(default_factory=list)
    beats: list[Heartbeat] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)
    next_offset: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.serializer = Serializer()

        async def send(topic: str, key: bytes, value: bytes, ts: int, headers: Any = None) -> Any:
            self.sent.append((self.serializer.decode(value), headers))
            off = self.offsets.get(topic, 0)
            self.offsets[topic] = off + 1
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(Meta(topic, 0, off))
            return fut

        async def persist(asset: str, blob: bytes, origin: Any) -> None:
            return None

        async def publish(value: bytes) -> None:
            self.beats.append(Heartbeat.decode(value))

        self.worker = EngineWorker(
            self.settings, CFG, send=send, persist=persist, gated=True, publish_clock=publish
        )
        self.worker.restore([])
        # one worker: the group assigns it every asset partition (Faust calls assign)
        self.worker.assign(range(ASSET_PARTITIONS))

    def inputs_end(self, counts: dict[str, int]) -> None:
        """Every input partition's start and end offsets (all records written beforehand)."""
        for name in GATED_INPUTS:
            for p in range(ASSET_PARTITIONS):
                tp = (self.settings.topic(name), p)
                self.worker.start[tp] = 0
                self.worker.ends[tp] = counts.get(name, 0) if p == 0 else 0

    async def feed(self, name: str, event: Event, seq: int | None = None) -> None:
        topic = self.settings.topic(name)
        off = self.next_offset.get(topic, 0)
        self.next_offset[topic] = off + 1
        headers = [(SEQ_HEADER, str(seq).encode())] if seq is not None else None
        record = Record(
            topic,
            0,
            off,
            event.key.encode(),
            self.serializer.encode(event),
            event.event_time,
            headers,
        )

        async def ack() -> None:
            return None

        await self.worker.on_record(record, ack)

    def venue(self, time: int, pending: int = DONE, consumed: dict[str, int] | None = None) -> None:
        assert self.worker.gate is not None
        self.worker.gate.on_heartbeat(
            Heartbeat("venue", "paper", time, pending, {}, consumed or {})
        )


def _market(events: list[Event]) -> list[tuple[str, Event]]:
    return [("md.tickers" if isinstance(e, TickerObserved) else "md.funding", e) for e in events]


def test_market_waits_for_the_venue_then_decides_and_tells_the_venue_how_far() -> None:
    h = Harness()
    market = _market(stale_quote_history())

    async def run() -> None:
        counts: dict[str, int] = {}
        for name, _ in market:
            counts[name] = counts.get(name, 0) + 1
        h.inputs_end(counts)
        for name, e in market:
            await h.feed(name, e)
        await h.worker.flush()
        assert h.worker.stats.folded == 0 and not h.sent and not h.beats  # no venue word yet

        h.venue(T1 - 1, pending=T1)  # answers before T1 - 1 are in; the venue's next item: T1
        await h.worker.release()
        await h.worker.flush()
        assert h.worker.stats.folded == len(market) - 2  # everything before T1
        assert not [e for e, _ in h.sent if isinstance(e, PlaceOrder)]
        # nothing sent to the venue yet, and it has nothing before T1: W = T1
        assert h.beats[-1].time == T1 and h.beats[-1].offsets == {}

        h.venue(T1, pending=T1)
        await h.worker.release()
        await h.worker.flush()
        assert h.worker.stats.folded == len(market)
        orders = [(e, hd) for e, hd in h.sent if isinstance(e, PlaceOrder)]
        assert orders and orders[0][0].event_time == T1
        assert seq_of(orders[0][1]) is not None  # the venue orders same-time commands by it
        commands = h.settings.topic("orders.commands")
        beat = h.beats[-1]
        assert beat.offsets == {f"{commands}/0": len(orders)}
        # the venue has not seen that command: the bound is its V, not its pending time
        assert beat.time == T1

    asyncio.run(run())


def test_own_breakers_coming_back_on_risk_events_are_not_folded() -> None:
    h = Harness()
    trip = BreakerTripped(
        event_id="6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
        event_time=T0,
        ingest_time=T0,
        venue=INTERNAL_VENUE,
        instrument="BTC",
        breaker="order_failures",
        action=BreakerAction.pause_entries,
        detail="test",
    )

    async def run() -> None:
        h.inputs_end({"risk.events": 1})
        await h.feed("risk.events", trip)
        await h.worker.flush()
        assert h.worker.skipped == 1 and h.worker.stats.folded == 0
        assert h.worker.gate is not None and h.worker.gate.size == 0

    asyncio.run(run())


def test_a_rebalanced_worker_waits_for_the_answers_again_unless_they_were_committed() -> None:
    """After a revocation the venue's time counts only once the answers its heartbeat names
    are consumed again, or lie below the group's committed offset (folded into the restored
    snapshots): kept in force, it let a market record fetched again overtake a fill (issue 20,
    2 workers, one killed: intents and orders no single worker takes)."""
    settings = load_settings(topic_prefix="t-")
    worker = EngineWorker(settings, CFG, send=None, persist=None, gated=True)
    worker.assign(range(ASSET_PARTITIONS))
    gate = worker.gate
    assert gate is not None
    fills = (settings.topic("acct.fills"), 2)
    hb = Heartbeat("venue", "paper", T0 + H, DONE, {f"{fills[0]}/2": 3}, {})
    gate.on_heartbeat(hb)
    worker.seen_next[fills] = 3
    gate.refresh(worker.positions())
    assert gate.venue == hb
    worker.revoked(range(ASSET_PARTITIONS))
    worker.assign([2, 3])
    assert worker.gate is not None and worker.gate.venue is None
    worker.gate.refresh(worker.positions())
    assert worker.gate.venue is None  # nothing consumed again, no committed offset known
    worker.start[fills] = 3  # the group's committed offset: the fills were folded before
    worker.gate.refresh(worker.positions())
    assert worker.gate.venue == hb


def test_a_balance_about_another_workers_asset_is_not_folded_here() -> None:
    """Gated, the engine folds ``acct.balances``, keyed by venue: a balance about SOL
    (partition 3) from hyperliquid sits on partition 2. The owner of partition 2 alone must not
    fold it: that made a SOL slice from nothing whose snapshot overwrote the SOL owner's in the
    table, and the owner, restoring it after a rebalance, opened its open arb again (issue 20).
    A worker owning both partitions folds it, as one worker does."""
    from tests.stubs import balance_observed

    settings = load_settings(topic_prefix="t-")
    sol = balance_observed(venue="hyperliquid", instrument="SOL/USDC:USDC", currency="USDC")
    assert partition_of(sol.key) == 2 and partition_of("SOL") == 3
    record = Record(
        settings.topic("acct.balances"),
        2,
        0,
        sol.key.encode(),
        Serializer().encode(sol),
        sol.event_time,
        [(SEQ_HEADER, b"1")],
    )

    async def ack() -> None:
        return None

    async def take(owned: list[int]) -> EngineWorker:
        worker = EngineWorker(settings, CFG, send=None, persist=None, gated=True)
        worker.restore([])
        worker.assign(owned)
        await worker._take(record, ack, None)
        return worker

    alone = asyncio.run(take([0, 2]))
    assert alone.gate is not None and alone.gate.size == 0 and alone.skipped == 1
    # acked at the next flush (its owner folds it), nothing of SOL here
    assert alone.to_ack == [ack] and "SOL" not in alone.applied and not alone.dirty
    both = asyncio.run(take([2, 3]))
    assert both.gate is not None and both.gate.size == 1 and both.skipped == 0
