"""Watermarks between the worker and the paper venue when a backtest runs on real processes.

The in-process simulation (:mod:`streams.simulation`) merges the engine and the paper venue in
one event-time loop. ``fundarb backtest --engine worker`` runs them as separate processes over
Kafka and must take the very same decisions, so each side tells the other how far its outputs
are complete, on a one-partition topic ``backtest.clock`` (JSON :class:`Heartbeat` records):

* the **venue** says ``time = V``: every answer (order event, fill, funding payment, balance)
  stamped before ``V`` is published, up to the offsets it names; ``pending`` is the time of its
  earliest own pending item (the next market event or command), whatever the worker sends next;
* the **worker** says ``time = W``: every command it will still emit has an event time ≥ ``W``
  (its commands so far are published, up to the offsets it names).

Rules that make the run a pure function of the recorded inputs (the simulation's order):

* the worker folds the market events stamped ``t`` (one batch over every partition, in the
  replay's order) once ``V ≥ t``, and an answer stamped ``a`` once ``V > a``; answers are
  ordered by ``(event time, the venue's sequence number)`` (record header ``fundarb-seq``);
* the venue takes a market event at ``x ≤ W + latency`` and a command arriving at
  ``x < W + latency`` (commands ordered by ``(arrival, the worker's sequence number)``);
* a heartbeat counts only once the reader has consumed the sender's records up to the offsets
  it names (records on other topics are not ordered with the clock topic).

Several workers (``fundarb backtest --engine worker --workers N``, one consumer group): a
worker's heartbeat names the asset partitions it owns and its ``W`` bounds the commands of those
partitions; the venue's ``W`` is the minimum over the newest claim for **each** partition
(``ASSET_PARTITIONS`` of them), so it needs no notion of how many workers there are or which
one owns what. A claim stays true after its partition moves to another worker (a crashed one,
or a rebalance): decisions are a pure function of a partition's inputs (the capacity budget is
split per partition, :mod:`projections.budget`), so the new owner re-sends, byte for byte,
only commands the venue already has (it drops them by event id), and every new command is
stamped at or after any ``W`` claimed for the partition. Commands of one arrival time are
ordered by the ``fundarb-order`` header: the key of the input whose fold emitted them (a
market batch: its time, then the asset's first record's replay key; an answer: its time and
the venue's sequence number) and the output's index in that fold, the very order one worker
emits them in, whatever the number of workers.

Quiescence: when the venue's heartbeat was sent after it had consumed every command the
worker has sent, the worker's bound is the venue's ``pending`` time, not ``V``; otherwise both
sides would creep forward one latency per round trip between market events.

Pure: no I/O, no clock. Live the worker runs without a :class:`GatedMerge` (nothing gates).
"""

from __future__ import annotations

import heapq
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

CLOCK_TOPIC = "backtest.clock"
#: "never": a side with nothing left to emit (and a bound larger than any event time)
DONE = 2**62
SEQ_HEADER = "fundarb-seq"
#: The worker's output order key (JSON list; module docstring)
ORDER_HEADER = "fundarb-order"

TP = tuple[str, int]


def tp_name(tp: TP) -> str:
    return f"{tp[0]}/{tp[1]}"


def covers(have: Mapping[str, int], need: Mapping[str, int]) -> bool:
    """Every ``topic/partition`` in ``need`` is consumed at least up to its next offset."""
    return all(have.get(k, 0) >= v for k, v in need.items())


@dataclass(frozen=True)
class Heartbeat:
    """One side's watermark (see the module docstring). Times in ms UTC (``DONE``: never);
    ``offsets``/``consumed``: ``"topic/partition" → next offset`` written / read."""

    role: str  # "venue" or "worker"
    member: str
    time: int
    pending: int = DONE
    offsets: dict[str, int] = field(default_factory=dict)
    consumed: dict[str, int] = field(default_factory=dict)
    #: a worker's asset partitions (the ones ``time`` speaks for); None: every partition
    partitions: list[int] | None = None

    def encode(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Heartbeat:
        """Raises ``ValueError`` for a record that is not a heartbeat."""
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("role") not in ("venue", "worker"):
            raise ValueError(f"not a heartbeat: {raw[:80]!r}")
        return cls(**data)


def order_of(headers: Any) -> tuple[Any, ...] | None:
    """The ``fundarb-order`` header of a record as a tuple (nested lists as tuples), or None."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    for k, v in items:
        if k == ORDER_HEADER and v is not None:
            return _tuples(json.loads(v))  # type: ignore[no-any-return]  # a JSON list: a tuple
    return None


def _tuples(v: Any) -> Any:
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def seq_of(headers: Any) -> int | None:
    """The ``fundarb-seq`` header of a record (list of pairs or a mapping), or None."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    for k, v in items:
        if k == SEQ_HEADER and v is not None:
            return int(v.decode() if isinstance(v, bytes) else v)
    return None


class GatedMerge:
    """The worker's event-time merge across **all** its partitions, gated by the venue.

    ``market_tps``: the market topic partitions (complete before the run starts). Push market
    records with their replay order key and answers with the venue's sequence number; feed
    venue heartbeats; ``release`` yields ``("market", [items of one event time])`` and
    ``("answer", item)`` in the in-process simulation's order.
    """

    def __init__(self, market_tps: Iterable[TP]) -> None:
        self.market_tps = sorted(market_tps)
        self.partitions = {p for _, p in self.market_tps}
        self.heap: list[tuple[tuple[Any, ...], Any]] = []
        self.last_market: dict[TP, int] = {}  # last pushed event time per market tp
        self.buffered: dict[TP, int] = {}  # buffered count per market tp
        self.heartbeats: deque[Heartbeat] = deque()
        self.venue: Heartbeat | None = None  # the newest effective venue heartbeat
        self.released_time = 0
        self.held: set[tuple[TP, int]] = set()  # (tp, offset) in the heap

    @property
    def size(self) -> int:
        return len(self.heap)

    def push_market(
        self, tp: TP, offset: int, event_time: int, order: tuple[Any, ...], item: Any
    ) -> bool:
        """``order``: the replay's tie order at equal time (ticker before funding, venue,
        instrument); partition and offset come last. A record already held (redelivered after
        a seek back) is not pushed twice."""
        if (tp, offset) in self.held:
            return False
        self.held.add((tp, offset))
        heapq.heappush(self.heap, ((event_time, 0, *order, tp[1], offset), (tp, item)))
        self.last_market[tp] = event_time
        self.buffered[tp] = self.buffered.get(tp, 0) + 1
        return True

    def push_answer(self, tp: TP, offset: int, event_time: int, seq: int, item: Any) -> bool:
        """False (nothing pushed) for a record already held."""
        if (tp, offset) in self.held:
            return False
        self.held.add((tp, offset))
        heapq.heappush(self.heap, ((event_time, 1, seq, tp[0], tp[1], offset), (tp, item)))
        return True

    def on_heartbeat(self, hb: Heartbeat) -> None:
        if hb.role == "venue":
            self.heartbeats.append(hb)

    def reassigned(self, market_tps: Iterable[TP]) -> GatedMerge:
        """A fresh merge over ``market_tps`` for a new assignment (or none, after a
        revocation): nothing held, the venue's heartbeats kept, but **none in force**: the
        newest one that was goes back to waiting until the answers it names are consumed
        again.

        Why: a rebalance drops the records held and rewinds the partitions to their committed
        offsets. Were the venue's time kept in force, a market record at ``t`` fetched again
        before an answer stamped ``a < t`` (another topic, fetched at its own pace) would be
        folded first, which the simulation never does: the decisions after it differ (an
        order looks unfilled, a new intent follows)."""
        gate = GatedMerge(market_tps)
        gate.heartbeats = deque(self.heartbeats)
        if self.venue is not None:
            gate.heartbeats.appendleft(self.venue)
        return gate

    def refresh(self, seen: Mapping[TP, int]) -> None:
        """Take the newest venue heartbeat whose answers have all been consumed (``seen``:
        next offset per topic partition: consumed here, or folded before and committed)."""
        have = {tp_name(tp): off for tp, off in seen.items()}
        while self.heartbeats and covers(have, self._mine(self.heartbeats[0].offsets)):
            self.venue = self.heartbeats.popleft()

    def _mine(self, offsets: Mapping[str, int]) -> dict[str, int]:
        """The offsets of the partitions this merge reads (another worker reads the rest)."""
        return {k: v for k, v in offsets.items() if int(k.rsplit("/", 1)[1]) in self.partitions}

    def _market_complete(self, t: int, caught_up: Callable[[TP], bool]) -> bool:
        """Every market record stamped ≤ ``t`` has been pushed."""
        return all(self.last_market.get(tp, -1) > t or caught_up(tp) for tp in self.market_tps)

    def release(self, caught_up: Callable[[TP], bool]) -> Iterator[tuple[str, Any]]:
        v = self.venue.time if self.venue is not None else None
        while self.heap and v is not None:
            key, _ = self.heap[0]
            t = key[0]
            if not self._market_complete(t, caught_up):
                return
            if key[1] == 0:
                if v < t:
                    return
                batch = []
                while self.heap and self.heap[0][0][:2] == (t, 0):
                    (*_, offset), (tp, item) = heapq.heappop(self.heap)
                    self.held.discard((tp, offset))
                    self.buffered[tp] -= 1
                    batch.append(item)
                self.released_time = t
                yield "market", batch
            else:
                if v <= t:
                    return
                (*_, offset), (tp, item) = heapq.heappop(self.heap)
                self.held.discard((tp, offset))
                self.released_time = t
                yield "answer", item

    def watermark(self, caught_up: Callable[[TP], bool], sent: Mapping[str, int]) -> int | None:
        """``W``: a lower bound on the event time of every command still to come, given the
        commands sent so far (``sent``: next offset per ``topic/partition``). None before the
        venue's first heartbeat."""
        if self.venue is None:
            return None
        bound = self.heap[0][0][0] if self.heap else DONE
        for tp in self.market_tps:
            if not self.buffered.get(tp) and not caught_up(tp):
                bound = min(bound, self.last_market.get(tp, self.released_time))
        venue = self.venue.pending if covers(self.venue.consumed, sent) else self.venue.time
        return min(bound, venue)


@dataclass
class VenueGate:
    """The paper venue's side: which worker heartbeats count, and how far it may go.

    ``partitions``: how many asset partitions the workers' claims must cover (each worker's
    heartbeat covers its own partitions and the commands it sent; one without ``partitions``
    covers all of them); ``start``: the first market event time (no command can be stamped
    before it).
    """

    latency_ms: int
    partitions: int = 1
    start: int = 0
    waiting: deque[Heartbeat] = field(default_factory=deque)
    claims: dict[int, int] = field(default_factory=dict)  # partition → newest claimed W

    def on_heartbeat(self, hb: Heartbeat) -> None:
        if hb.role == "worker":
            self.waiting.append(hb)

    def refresh(self, consumed: Mapping[str, int]) -> None:
        """Take, in order, the worker heartbeats whose commands have all been consumed (a
        later one of the same worker cannot count before an earlier one)."""
        keep: deque[Heartbeat] = deque()
        blocked: set[str] = set()
        for hb in self.waiting:
            if hb.member not in blocked and covers(consumed, hb.offsets):
                parts = hb.partitions if hb.partitions is not None else range(self.partitions)
                for p in parts:
                    self.claims[p] = hb.time
            else:
                blocked.add(hb.member)
                keep.append(hb)
        self.waiting = keep

    @property
    def w(self) -> int:
        """The workers' watermark (``start`` until every partition has a claim)."""
        if any(p not in self.claims for p in range(self.partitions)):
            return self.start
        return max(self.start, min(self.claims[p] for p in range(self.partitions)))

    def may_take_market(self, t: int) -> bool:
        return t <= self.w + self.latency_ms

    def may_take_command(self, arrival: int) -> bool:
        return arrival < self.w + self.latency_ms
