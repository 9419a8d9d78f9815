"""Deterministic simulation: the engine and the paper venue, merged in event-time order.

Why in one loop (DESIGN §6, "ordering and determinism"): a venue in another process answers
after an unknown delay, so watermarks through that feedback loop advance by at most the modelled
latency per round trip. Here the venue's answers are queued at their own event times
(order time + latency) and merged with the market data, so the decision order is a pure function
of the recorded inputs. Every event still goes to Kafka (the caller publishes ``outputs``), and
the engine is the same fold the live worker runs.

Order of processing for a market event at ``t``:
1. venue events due at or before ``t`` (fills, order events, funding payments), in
   (time, sequence) order, each folded by the engine (which may answer with commands);
2. the venue sees the market event (new quote, funding settlement → queued at ``t``);
3. the engine folds the market event; its commands reach the venue and are queued.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from producers.paper import PaperConfig, PaperVenue
from projections import engine as eng
from schemas.config import StrategyConfig
from schemas.events import CancelOrder, Event, EventRejected, PlaceOrder


@dataclass
class Simulation:
    """Feed market events in event-time order; collect everything the run produced."""

    config: StrategyConfig
    paper: PaperConfig = field(default_factory=PaperConfig)
    on_output: Callable[[Event], None] | None = None
    state: eng.EngineState = field(default_factory=eng.EngineState)
    rejected: list[EventRejected] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.venue = PaperVenue(self.paper)
        self._queue: list[tuple[int, int, Event]] = []
        self._seq = 0
        self.inputs = 0

    # -- the loop --
    def feed(self, event: Event) -> None:
        """Process one market event (and every venue event due before it)."""
        self._drain(event.event_time)
        self.inputs += 1
        self._to_venue(event)
        self._to_engine(event)

    def advance_to(self, t: int) -> None:
        """Process the venue events due strictly before ``t`` (the same order ``feed`` uses)."""
        self._drain(t - 1)

    def finish(self) -> None:
        """Process the venue events still queued (answers to the last commands)."""
        self._drain(2**62)

    # -- internals --
    def _emit(self, event: Event) -> None:
        if self.on_output is not None:
            self.on_output(event)

    def _to_venue(self, event: Event) -> None:
        for answer in self.venue.on_event(event):
            self._seq += 1
            heapq.heappush(self._queue, (answer.event_time, self._seq, answer))

    def _drain(self, until: int) -> None:
        while self._queue and self._queue[0][0] <= until:
            _, _, event = heapq.heappop(self._queue)
            self._emit(event)
            self._to_engine(event)

    def _to_engine(self, event: Event) -> None:
        try:
            self.state, outputs = eng.handle(self.state, event, self.config)
        except ValueError as exc:  # bad input: dead-letter it, the state stays as it was
            dead = eng.rejected(event, exc, f"engine:{type(event).__name__}")
            self.rejected.append(dead)
            self._emit(dead)
            return
        for out in outputs:
            self._emit(out)
            if isinstance(out, PlaceOrder | CancelOrder):
                self._to_venue(out)
