"""Deterministic simulation: the engine and the paper venue, merged in event-time order.

Why in one loop (DESIGN §6, "ordering and determinism"): a venue in another process answers
after an unknown delay, so watermarks through that feedback loop advance by at most the modelled
latency per round trip. Here the venue's answers are queued at their own event times
(order time + latency) and merged with the market data, so the decision order is a pure function
of the recorded inputs. Every event still goes to Kafka (the caller publishes ``outputs``), and
the engine is the same fold the live worker runs.

Order of processing for the market events stamped ``t`` (one batch):
1. queued items due strictly before ``t``, in (time, sequence) order: commands reaching the
   venue (order time + latency; the venue fills them against its quote *then* and changes
   the position *then*) and the venue's answers (fills, order events, funding payments),
   each answer folded by the engine (which may answer with commands);
2. the venue sees every market event of ``t`` (new quotes; a funding settlement at ``t`` pays
   exactly the positions held at ``t``);
3. the engine observes every market event of ``t``, then reacts once per asset
   (:func:`projections.engine.fold_market`): no decision or paper fill at ``t`` ever sees a
   quote older than one stamped ``t`` (the worker's sequencer applies the same rule);
4. the commands it emits are queued for the venue at ``t + latency``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field, replace

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
        if self.paper.fees is not None and self.paper.fees != self.config.fees:
            raise ValueError(
                "the paper venue must charge the strategy's fee table: leave PaperConfig.fees "
                "unset (one fee table, from the config, for both)"
            )
        # one staleness rule for the executor's prices and the venue's fills (projections.stand_in)
        self.venue = PaperVenue(
            replace(
                self.paper,
                fees=self.config.fees,
                max_quote_age_ms=self.config.feeds.ticker_ttl_ms,
            )
        )
        # (time, sequence, to_venue, event): to_venue marks a command on its way to the venue
        self._queue: list[tuple[int, int, bool, Event]] = []
        self._batch: list[Event] = []
        self._seq = 0
        self.inputs = 0

    # -- the loop --
    def feed(self, event: Event) -> None:
        """Take one market event; events of one event time are processed together, when the
        next time arrives (or on ``advance_to``/``finish``). Feed in event-time order."""
        if self._batch and self._batch[0].event_time != event.event_time:
            self._fold_batch()
        self._batch.append(event)
        self.inputs += 1

    def advance_to(self, t: int) -> None:
        """Process everything due strictly before ``t`` (the same order ``feed`` uses)."""
        if self._batch and self._batch[0].event_time < t:
            self._fold_batch()
        self._drain(t - 1)

    def finish(self) -> None:
        """Process the last batch and every queued item (answers to the last commands)."""
        if self._batch:
            self._fold_batch()
        self._drain(2**62)

    # -- internals --
    def _emit(self, event: Event) -> None:
        if self.on_output is not None:
            self.on_output(event)

    def _push(self, t: int, to_venue: bool, event: Event) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t, self._seq, to_venue, event))

    def _to_venue(self, event: Event) -> None:
        for answer in self.venue.on_event(event):
            self._push(answer.event_time, False, answer)

    def _fold_batch(self) -> None:
        batch, self._batch = self._batch, []
        self._drain(batch[0].event_time - 1)
        for event in batch:
            self._to_venue(event)
        self.state, outputs, refused = eng.fold_market(self.state, batch, self.config)  # type: ignore[arg-type]  # feed() takes market events only
        for event, exc in refused:
            self._reject(event, exc)
        self._outputs(outputs)

    def _drain(self, until: int) -> None:
        while self._queue and self._queue[0][0] <= until:
            _, _, to_venue, event = heapq.heappop(self._queue)
            if to_venue:
                self._to_venue(event)
            else:
                self._emit(event)
                self._to_engine(event)

    def _reject(self, event: Event, exc: Exception) -> None:
        dead = eng.rejected(event, exc, f"engine:{type(event).__name__}")
        self.rejected.append(dead)
        self._emit(dead)

    def _to_engine(self, event: Event) -> None:
        try:
            self.state, outputs = eng.handle(self.state, event, self.config)
        except Exception as exc:
            # any error a fold raises (ValueError, ArithmeticError from an absurd Decimal, …)
            # is bad input: dead-letter it; folds are pure, so the state stays as it was
            self._reject(event, exc)
            return
        self._outputs(outputs)

    def _outputs(self, outputs: list[Event]) -> None:
        for out in outputs:
            self._emit(out)
            if isinstance(out, PlaceOrder | CancelOrder):
                # the command reaches the venue after the modelled latency, not at once
                self._push(out.event_time + self.paper.latency_ms, True, out)
