"""The engine: one pure fold that runs the whole decision path for the assets it owns.

``handle(state, event, config) -> (state, outputs)`` routes an input event through the same
functions live agents and backtests use (DESIGN §6):

* market data (``FundingRateObserved``, ``TickerObserved``) → funding board; marks into the
  position book; ``SpreadUpdated`` when an asset's best pair changes; the strategy decides;
* account events (``FillExecuted``, ``FundingPaid``) → position book (``PositionChanged``)
  and the executor (fills);
* order events (``OrderAccepted/Rejected/Canceled/Expired``) → the executor;
* breaker events (``BreakerTripped/Reset``) → the strategy's breaker view (breakers the
  engine trips itself, :data:`projections.risk.LOCAL_BREAKERS` with ``venue`` ``fundarb``, are
  ignored on the way back; a venue connector's ``stale_feed`` carries the venue and binds);
* asset-local risk (:func:`projections.risk.assess`) runs before the strategy decides, so a
  breaker that trips on this input already binds this decision;
* after every input the asset's executor reconciles at the event's time and may emit
  ``PlaceOrder``/``CancelOrder`` (hedges react to the fill that just arrived).

Intents the strategy emits are applied to the executor at once (same fold), so a replay of the
same inputs yields the same intents and commands. Event time only, and **per asset**: an
asset's clock (``EngineState.clocks``) is the highest event time among that asset's own inputs,
and everything the fold emits for the asset is stamped with it; ``EngineState.now`` (the max
over assets) is for reporting only. One asset's far-future stamp therefore cannot move another
asset's decisions, breakers or staleness checks.

Raises whatever the folds raise for bad input (``OutOfOrderError``, ``UnsupportedFeeCurrencyError``,
``ValueError``, ``decimal.InvalidOperation`` and other ``ArithmeticError`` from absurd numbers):
folds are pure and return new state, so the state the caller passed in is untouched and the
caller dead-letters the event (:func:`fold_market` does that itself for market batches).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, TypeVar

from projections import board as bd
from projections import executor as ex
from projections import positions as pos
from projections import risk as rk
from projections.stand_in import stand_in_quote
from projections.strategies import registry
from projections.strategies.base import Breakers, MarketView
from projections.strategies.funding_arb import strategy as st
from schemas.config import StrategyConfig
from schemas.envelope import IdNamespace, dead_letter, envelope
from schemas.events import (
    BreakerReset,
    BreakerTripped,
    Event,
    EventRejected,
    ExitRequested,
    FillExecuted,
    FundingPaid,
    FundingRateObserved,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    PositionChanged,
    SpreadUpdated,
    TargetPositionSet,
    TickerObserved,
)
from schemas.trusted import trusted
from schemas.types import INTERNAL_VENUE, BreakerAction, base_asset

APR_Q = Decimal("1e-10")
BP_Q = Decimal("1e-4")  # the SpreadUpdated signature's and break-even's quantum


@dataclass(frozen=True)
class EngineState:
    """Boards, books and executions per asset; each strategy's state (by strategy id,
    :class:`projections.strategies.base.StrategyStateLike`) across them."""

    boards: dict[str, bd.AssetBoard] = field(default_factory=dict)
    books: dict[str, pos.PositionBook] = field(default_factory=dict)
    execs: dict[str, ex.ExecutorState] = field(default_factory=dict)
    strategies: dict[str, Any] = field(default_factory=dict)
    breakers: Breakers = field(default_factory=Breakers)
    spreads: dict[str, tuple[object, ...]] = field(default_factory=dict)  # last SpreadUpdated
    risk: dict[str, rk.RiskState] = field(default_factory=dict)
    now: int = 0  # ms UTC, max over ``clocks``: reporting only, never a decision input
    clocks: dict[str, int] = field(default_factory=dict)  # asset → its event-time clock (ms)

    @property
    def strategy(self) -> st.StrategyState:
        """The funding arbitrage's state (its arbs: what summaries, reports and the worker's
        status count); empty when no funding arbitrage runs."""
        return next(
            (s for s in self.strategies.values() if isinstance(s, st.StrategyState)),
            st.StrategyState(),
        )


def clock(state: EngineState, asset: str) -> int:
    """``asset``'s clock (ms UTC): the highest event time folded for it, 0 before any."""
    return state.clocks.get(asset, 0)


class ClockJumpError(ValueError):
    """An event stamped too far ahead of its asset's clock (:func:`check_clock`)."""


def check_clock(state: EngineState, event: Event, max_ahead_ms: int) -> None:
    """Refuse ``event`` when its event time is more than ``max_ahead_ms`` ahead of its asset's
    clock (once that clock is set). ``max_ahead_ms <= 0`` disables the check.

    Raises :class:`ClockJumpError`; pure, touches nothing.
    """
    asset = base_asset(event.instrument)
    now = clock(state, asset)
    if max_ahead_ms > 0 and now and event.event_time > now + max_ahead_ms:
        raise ClockJumpError(
            f"event_time {event.event_time} is {event.event_time - now} ms ahead of {asset}'s "
            f"clock {now} (limit {max_ahead_ms} ms)"
        )


V = TypeVar("V")


def _with(mapping: dict[str, V], key: str, value: V) -> dict[str, V]:
    new = dict(mapping)
    new[key] = value
    return new


def quotes(board: bd.AssetBoard, now: int, max_age_ms: int) -> dict[tuple[str, str], ex.Quote]:
    """Top of book per (venue, instrument) from the board's tickers at ``now`` (ms UTC); a
    quote older than ``max_age_ms`` is replaced by its stand-in (:mod:`projections.stand_in`:
    the paper venue fills against the same one)."""
    rows = [(k[0], k[1], t.bid, t.ask, t.observed_at) for k, t in board.tickers.items()]
    return {
        (v, i): ex.Quote(*stand_in_quote((v, i, b, a, t), rows, now, max_age_ms))
        for v, i, b, a, t in rows
    }


def _spread_event(
    asset: str, pairs: list[bd.PairQuote], now: int, cause: str, last: object
) -> tuple[tuple[object, ...], SpreadUpdated] | None:
    """A SpreadUpdated when the best pair or its APR (to 1e-4) differs from ``last``.

    The signature is compared before the event is built: building (validation, uuid5) cost
    18% of the fold when done for every market event (bench/profile_engine.py).
    """
    if not pairs:
        return None
    q = pairs[0]
    if q.blocked:
        return None
    sig = (q.long, q.short, q.spread_apr.quantize(BP_Q))
    if sig == last:
        return None
    event_id = IdNamespace.DERIVED.id("spread", asset, now, cause)
    fields = envelope(event_id, now, INTERNAL_VENUE, asset, cause)
    fields["long_venue"] = q.long[0]
    fields["long_instrument"] = q.long[1]
    fields["short_venue"] = q.short[0]
    fields["short_instrument"] = q.short[1]
    fields["long_rate_h"] = q.long_rate_h
    fields["short_rate_h"] = q.short_rate_h
    fields["spread_h"] = q.spread_h
    fields["spread_apr"] = q.spread_apr.quantize(APR_Q)
    fields["net_edge_apr"] = q.net_edge_apr.quantize(APR_Q)
    fields["break_even_h"] = q.break_even_h.quantize(BP_Q) if q.break_even_h is not None else None
    return sig, trusted(SpreadUpdated, fields)


def _position_event(
    book: pos.PositionBook, venue: str, instrument: str, now: int, cause: str
) -> PositionChanged:
    leg = book.leg(venue, instrument)
    arb = leg.arb_id
    event_id = IdNamespace.DERIVED.id("position", venue, instrument, cause)
    if leg.avg_entry_price < 0:  # NonNegativeDec's check, kept on the trusted path
        raise ValueError(f"avg_entry_price must be >= 0, got {leg.avg_entry_price}")
    fields = envelope(event_id, now, venue, instrument, cause, arb)
    fields["qty"] = leg.qty
    fields["avg_entry_price"] = leg.avg_entry_price
    fields["realised_pnl_usd"] = leg.realised_pnl
    fields["fees_usd"] = leg.fees
    fields["funding_usd"] = leg.funding
    fields["net_delta_base"] = book.net_delta_base(arb) if arb else None
    fields["net_delta_usd"] = book.net_delta_usd(arb) if arb else None
    return trusted(PositionChanged, fields)


def observe(state: EngineState, event: FundingRateObserved | TickerObserved) -> EngineState:
    """Fold one market event into its asset's funding board and position book (marks).

    No decision and no outputs: :func:`react` decides once every market event of the same
    event time is observed (DESIGN §6: a decision at ``t`` sees every quote stamped ``t``).
    Raises what :func:`projections.board.apply` raises for bad input; ``state`` is untouched.
    """
    asset = base_asset(event.instrument)
    board = bd.apply(state.boards.get(asset) or bd.AssetBoard(asset), event)
    book = state.books.get(asset) or pos.PositionBook(asset)
    if isinstance(event, TickerObserved):
        book = pos.mark(
            book, event.venue, event.instrument, event.mark_price or (event.bid + event.ask) / 2
        )
    return EngineState(  # not dataclasses.replace: this runs on every market event
        boards=_with(state.boards, asset, board),
        books=_with(state.books, asset, book),
        execs=state.execs,
        strategies=state.strategies,
        breakers=state.breakers,
        spreads=state.spreads,
        risk=state.risk,
        now=max(state.now, event.event_time),
        clocks=_with(state.clocks, asset, max(clock(state, asset), event.event_time)),
    )


def react(
    state: EngineState,
    asset: str,
    now: int,
    cause: str,
    config: StrategyConfig,
    *,
    owned: bool = False,
) -> tuple[EngineState, list[Event]]:
    """The decision step for ``asset`` after market data observed at event time ``now`` (ms
    UTC; the asset's clock if that is later).

    ``cause`` is the id of the asset's last market event at ``now``. Emits ``SpreadUpdated``
    when the best pair changed, breaker transitions, intents and orders. ``owned``: the
    state's per-asset maps belong to the caller's batch (:func:`fold_market`), so the step
    writes ``asset``'s entries into them and returns the same state, instead of copying every
    map (O(assets) per reaction); it still writes only after everything is computed, so a
    raise leaves them as they were.
    """
    now = max(clock(state, asset), now)
    board = state.boards.get(asset) or bd.AssetBoard(asset)
    pairs = bd.candidate_pairs(board, config, now)
    spreads = state.spreads
    outputs: list[Event] = []
    spread = _spread_event(asset, pairs, now, cause, spreads.get(asset))
    if spread is not None:
        if not owned:
            spreads = _with(spreads, asset, spread[0])
        outputs.append(spread[1])
    return _conclude(
        state,
        asset,
        now,
        cause,
        config,
        board=board,
        book=state.books.get(asset) or pos.PositionBook(asset),
        execs=state.execs.get(asset) or ex.ExecutorState(asset),
        breakers=state.breakers,
        spreads=spreads,
        outputs=outputs,
        decide=True,
        pairs=pairs,
        rejected=False,
        owned_spread=spread[0] if owned and spread is not None else None,
        owned=owned,
    )


def handle(
    state: EngineState, event: Event, config: StrategyConfig
) -> tuple[EngineState, list[Event]]:
    """Fold one input; return the new state and every event it caused (see module docstring).

    A market event alone is :func:`observe` then :func:`react`; callers that hold several
    market events of one event time observe them all before reacting (``fold_market``).
    A fill or funding payment whose id was already applied changes nothing and emits nothing
    (venues and redeliveries repeat them; the first one was answered already).
    """
    if isinstance(event, FundingRateObserved | TickerObserved):
        return react(
            observe(state, event),
            base_asset(event.instrument),
            event.event_time,
            event.event_id,
            config,
        )
    asset = base_asset(event.instrument)
    step = _Step(
        asset=asset,
        now=max(clock(state, asset), event.event_time),
        book=state.books.get(asset) or pos.PositionBook(asset),
        execs=state.execs.get(asset) or ex.ExecutorState(asset),
        breakers=state.breakers,
    )
    fold = _FOLDS.get(type(event))
    if fold is not None:
        fold(step, event)
        if step.duplicate:
            return state, []
    return _conclude(
        state,
        asset,
        step.now,
        event.event_id,
        config,
        board=state.boards.get(asset) or bd.AssetBoard(asset),
        book=step.book,
        execs=step.execs,
        breakers=step.breakers,
        spreads=state.spreads,
        outputs=step.outputs,
        decide=step.decide,
        pairs=None,
        rejected=type(event) is OrderRejected,
    )


@dataclass
class _Step:
    """What one input other than market data changes for its asset (:func:`handle`'s working
    copy): the book, the executor, the breakers, the outputs, and whether to decide now."""

    asset: str
    now: int
    book: pos.PositionBook
    execs: ex.ExecutorState
    breakers: Breakers
    outputs: list[Event] = field(default_factory=list)
    decide: bool = False
    duplicate: bool = False  # a fill or payment already applied: no state change, no output


#: event type → its fold in :func:`handle`; a type not listed changes nothing but the clock
#: (event types are final pydantic models: the exact type is the key)
_FOLDS: dict[type[Event], Callable[[_Step, Any], None]] = {}


def _folds(
    *types: type[Event],
) -> Callable[[Callable[[_Step, Any], None]], Callable[[_Step, Any], None]]:
    def register(fold: Callable[[_Step, Any], None]) -> Callable[[_Step, Any], None]:
        _FOLDS.update(dict.fromkeys(types, fold))
        return fold

    return register


def _booked(step: _Step, event: FillExecuted | FundingPaid) -> bool:
    """Apply a fill or payment to the book with its PositionChanged; False for a duplicate."""
    applied = pos.apply(step.book, event)
    if applied is step.book:
        step.duplicate = True  # a duplicate id: pos.apply returns the very same book
        return False
    step.book = applied
    step.outputs.append(
        _position_event(applied, event.venue, event.instrument, step.now, event.event_id)
    )
    return True


@_folds(FillExecuted)
def _on_fill(step: _Step, event: FillExecuted) -> None:
    if _booked(step, event):
        step.execs = ex.apply(step.execs, event)


@_folds(FundingPaid)
def _on_payment(step: _Step, event: FundingPaid) -> None:
    step.decide = _booked(step, event)


# order events; intents from an external strategy (live split agents)
@_folds(OrderAccepted, OrderRejected, OrderCanceled, OrderExpired, TargetPositionSet, ExitRequested)
def _on_execution(step: _Step, event: Event) -> None:
    step.execs = ex.apply(step.execs, event)


def _breaker_target(step: _Step, event: BreakerTripped | BreakerReset) -> str | None:
    """The breakers' key an external breaker event applies to (``*`` for ``ALL``); None for
    our own breaker echoed back from risk.events (already applied when it tripped)."""
    if event.breaker in rk.LOCAL_BREAKERS and event.venue == INTERNAL_VENUE:
        return None
    return "*" if step.asset == "ALL" else step.asset


@_folds(BreakerTripped)
def _on_trip(step: _Step, event: BreakerTripped) -> None:
    target, b = _breaker_target(step, event), step.breakers
    if target is None:
        return
    if event.action is BreakerAction.force_exit:
        step.breakers = replace(b, force_exit=b.force_exit | {target})
    else:
        step.breakers = replace(b, pause_entries=b.pause_entries | {target})
    step.decide = True


@_folds(BreakerReset)
def _on_reset(step: _Step, event: BreakerReset) -> None:
    target, b = _breaker_target(step, event), step.breakers
    if target is not None:
        step.breakers = replace(
            b, force_exit=b.force_exit - {target}, pause_entries=b.pause_entries - {target}
        )


def fold_market(
    state: EngineState, events: list[FundingRateObserved | TickerObserved], config: StrategyConfig
) -> tuple[EngineState, list[Event], list[tuple[Event, Exception]]]:
    """Fold market events that share one event time: observe them all, then react once per
    asset (in order of first appearance, caused by the asset's last event of the batch).

    Returns the new state, the outputs, and the events a fold refused with their errors
    (the caller dead-letters them). Any ``Exception`` a fold raises is a refusal, not a crash:
    folds are pure, so a refused observation leaves the state as it was; when an asset's
    reaction raises, every event of that asset in the batch is refused and the asset's board,
    book and clock go back to what they were before the batch. ``BaseException`` that is not
    an ``Exception`` (cancellation, exit) propagates.
    """
    original = state
    touched: dict[str, str] = {}
    observed: dict[str, list[Event]] = {}
    refused: list[tuple[Event, Exception]] = []
    # observe every event into maps owned by this batch (one copy per batch, not three per
    # event); each step computes everything before it writes, so a refusal changes nothing
    boards, books, clocks = dict(state.boards), dict(state.books), dict(state.clocks)
    now = state.now
    for event in events:
        try:
            asset = base_asset(event.instrument)
            board = bd.apply_own(boards.get(asset) or bd.AssetBoard(asset), event)
            book = books.get(asset) or pos.PositionBook(asset)
            if isinstance(event, TickerObserved):
                book = pos.mark(
                    book,
                    event.venue,
                    event.instrument,
                    event.mark_price or (event.bid + event.ask) / 2,
                )
        except Exception as exc:  # any fold error is this event's refusal, never a crash
            refused.append((event, exc))
            continue
        boards[asset] = board
        books[asset] = book
        t = event.event_time
        if t > now:
            now = t
        if t > clocks.get(asset, 0):
            clocks[asset] = t
        else:
            clocks.setdefault(asset, 0)
        touched[asset] = event.event_id  # keeps first-seen order
        observed.setdefault(asset, []).append(event)
    if touched:
        # the reactions write their asset's entries into these batch-owned copies (one copy
        # of each map per batch, not per reaction); nobody else sees them before we return
        state = EngineState(
            boards=boards,
            books=books,
            execs=dict(state.execs),
            strategies=state.strategies,
            breakers=state.breakers,
            spreads=dict(state.spreads),
            risk=dict(state.risk),
            now=now,
            clocks=clocks,
        )
    outputs: list[Event] = []
    for asset, cause in touched.items():
        try:
            state, out = react(state, asset, clock(state, asset), cause, config, owned=True)
        except Exception as exc:  # see the docstring: refuse the asset's batch
            state = _revert_asset(state, original, asset)
            refused += [(event, exc) for event in observed[asset]]
            continue
        outputs += out
    return state, outputs, refused


def _revert_asset(state: EngineState, original: EngineState, asset: str) -> EngineState:
    """``state`` with ``asset``'s board, book and clock as in ``original`` (undoes
    :func:`observe` for that asset; other assets are untouched)."""

    def back(new: dict[str, V], old: dict[str, V]) -> dict[str, V]:
        out = dict(new)
        if asset in old:
            out[asset] = old[asset]
        else:
            out.pop(asset, None)
        return out

    clocks = back(state.clocks, original.clocks)
    return replace(
        state,
        boards=back(state.boards, original.boards),
        books=back(state.books, original.books),
        clocks=clocks,
        now=max([original.now, *clocks.values()]),
    )


def _conclude(
    state: EngineState,
    asset: str,
    now: int,
    cause: str,
    config: StrategyConfig,
    *,
    board: bd.AssetBoard,
    book: pos.PositionBook,
    execs: ex.ExecutorState,
    breakers: Breakers,
    spreads: dict[str, tuple[object, ...]],
    outputs: list[Event],
    decide: bool,
    pairs: list[bd.PairQuote] | None,
    rejected: bool,
    owned_spread: tuple[object, ...] | None = None,
    owned: bool = False,
) -> tuple[EngineState, list[Event]]:
    """Asset-local risk, then (when ``decide``) the strategies in ``[[strategies]]`` order,
    then the executor at ``now`` (every strategy's active target on the asset).

    ``owned`` (:func:`react`): write ``asset``'s board, book, execution, risk, clock and
    ``owned_spread`` (its new SpreadUpdated signature, if any) into ``state``'s own maps,
    after everything else is computed, and return ``state`` with the new strategies."""
    plugins = registry.plugins(config)
    strategies = state.strategies
    market = MarketView(asset, board, pairs)
    stale = None
    for p in plugins:
        own = strategies.get(p.id)
        stale = p.stale(own if own is not None else p.initial_state(), market, now)
        if stale is not None:
            break
    positions = tuple(o for o in outputs if isinstance(o, PositionChanged))
    directional = registry.directional_ids(config)
    if directional and positions:  # a grid's delta is its purpose, not one-legged exposure
        positions = tuple(p for p in positions if not _owned_by(execs, p, directional))
    risk_state = state.risk.get(asset) or rk.RiskState()
    risk_state, tripped = rk.assess(
        risk_state,
        asset,
        now=now,
        cause=cause,
        config=config.risk,
        rejected=rejected,
        positions=positions,
        stale=stale,
    )
    if tripped:
        outputs += tripped
        decide = True
    if decide:
        effective = breakers
        if risk_state.open:
            effective = replace(
                breakers,
                pause_entries=breakers.pause_entries
                | ({asset} if risk_state.action(BreakerAction.pause_entries) else set()),
                force_exit=breakers.force_exit
                | ({asset} if risk_state.action(BreakerAction.force_exit) else set()),
            )
        for p in plugins:
            own = strategies.get(p.id)
            new, intents = p.decide(
                own if own is not None else p.initial_state(), market, book, effective, now, cause
            )
            if new is not own:
                strategies = _with(strategies, p.id, new)
            for intent in intents:
                execs = ex.apply(execs, intent)
            outputs += intents
    if execs.active is not None:  # the quotes only matter to an active execution
        execs, commands = ex.reconcile(
            execs, quotes(board, now, config.feeds.ticker_ttl_ms), config.execution, now, cause
        )
        outputs += commands
    if owned:  # every value is computed: from here on nothing raises
        state.boards[asset] = board
        state.books[asset] = book
        state.execs[asset] = execs
        if owned_spread is not None:
            state.spreads[asset] = owned_spread
        if risk_state is not state.risk.get(asset):
            state.risk[asset] = risk_state
        if clock(state, asset) != now:
            state.clocks[asset] = now
        if strategies is state.strategies and breakers is state.breakers and state.now >= now:
            return state, outputs
        return EngineState(  # not dataclasses.replace: a decision that changed a strategy
            boards=state.boards,
            books=state.books,
            execs=state.execs,
            strategies=strategies,
            breakers=breakers,
            spreads=state.spreads,
            risk=state.risk,
            now=max(state.now, now),
            clocks=state.clocks,
        ), outputs
    # a map is copied only when this step changed its asset's entry (a payment changes the
    # book, not the board; most account events leave the executor as it was)
    boards, books, all_execs = state.boards, state.books, state.execs
    return EngineState(
        boards=boards if boards.get(asset) is board else _with(boards, asset, board),
        books=books if books.get(asset) is book else _with(books, asset, book),
        execs=all_execs if all_execs.get(asset) is execs else _with(all_execs, asset, execs),
        strategies=strategies,
        breakers=breakers,
        spreads=spreads,
        risk=state.risk
        if risk_state is state.risk.get(asset)
        else _with(state.risk, asset, risk_state),
        now=max(state.now, now),
        clocks=state.clocks if clock(state, asset) == now else _with(state.clocks, asset, now),
    ), outputs


def _owned_by(execs: ex.ExecutorState, change: PositionChanged, ids: frozenset[str]) -> bool:
    """Is ``change``'s position held by a target of one of the strategies ``ids``?"""
    owner = execs.arbs.get(change.correlation_id or "")
    return owner is not None and owner.strategy_id in ids


def rejected(
    event: Event, exc: Exception, source: str, partition: int = 0, offset: int = 0
) -> EventRejected:
    """The dead letter for an event a fold refused (``source`` names where it came from: a
    topic, with the record's ``partition`` and ``offset`` when it was read from one).

    The id derives from the event's id, so a replay dead-letters identically. ``raw_value``
    is the event as JSON; :class:`EventRejected` itself cuts it to fit the broker's message
    limit, keeping the full value's size and SHA-256 (an absurd Decimal is ~1 MB of digits).
    """
    return dead_letter(
        IdNamespace.REJECT.id(event.event_id),
        at=event.event_time,
        asset=base_asset(event.instrument),
        caused_by=event.event_id,
        source=source,
        partition=partition,
        offset=offset,
        raw_value=event.model_dump_json().encode(),
        error_type=type(exc).__name__,
        reason=str(exc) or type(exc).__name__,
    )


def pnl(state: EngineState) -> pos.PnL:
    """Portfolio PnL over every asset's book (USD); parts sum to the total exactly."""
    parts = [b.pnl() for b in state.books.values()]
    zero = Decimal(0)
    return pos.PnL(
        funding=sum((p.funding for p in parts), zero),
        price=sum((p.price for p in parts), zero),
        fees=sum((p.fees for p in parts), zero),
        borrow=sum((p.borrow for p in parts), zero),
    )


def net_delta_usd(state: EngineState) -> Decimal:
    """Σ over assets of net base qty × the asset's reference price (USD): the portfolio's
    directional exposure (:meth:`projections.positions.PositionBook.net_delta_usd_all`)."""
    return sum((book.net_delta_usd_all() for book in state.books.values()), Decimal(0))


def slice_for(state: EngineState, asset: str) -> EngineState:
    """The part of ``state`` that belongs to ``asset`` (the worker persists one per asset).

    Breakers on every asset (``*``) belong to the pseudo-asset ``ALL``. The slice keeps the
    asset's own clock; its ``now`` is that clock (the merged ``now`` is the max over slices).
    ``merge`` is the inverse.
    """
    scope = "*" if asset == "ALL" else asset

    def one(mapping: dict[str, V]) -> dict[str, V]:
        return {asset: mapping[asset]} if asset in mapping else {}

    return EngineState(
        boards=one(state.boards),
        books=one(state.books),
        execs=one(state.execs),
        strategies={k: s.for_asset(asset) for k, s in state.strategies.items()},
        breakers=Breakers(
            pause_entries=state.breakers.pause_entries & {scope},
            force_exit=state.breakers.force_exit & {scope},
        ),
        spreads=one(state.spreads),
        risk=one(state.risk),
        now=clock(state, asset),
        clocks=one(state.clocks),
    )


def merge(slices: list[EngineState]) -> EngineState:
    """One state from per-asset slices (assets are disjoint; order does not matter)."""
    boards: dict[str, bd.AssetBoard] = {}
    books: dict[str, pos.PositionBook] = {}
    execs: dict[str, ex.ExecutorState] = {}
    spreads: dict[str, tuple[object, ...]] = {}
    risk: dict[str, rk.RiskState] = {}
    clocks: dict[str, int] = {}
    parts: dict[str, list[Any]] = {}
    pause: set[str] = set()
    force: set[str] = set()
    now = 0
    for s in slices:
        boards.update(s.boards)
        books.update(s.books)
        execs.update(s.execs)
        spreads.update(s.spreads)
        risk.update(s.risk)
        clocks.update(s.clocks)
        for k, part in s.strategies.items():
            parts.setdefault(k, []).append(part)
        pause |= s.breakers.pause_entries
        force |= s.breakers.force_exit
        now = max(now, s.now)
    return EngineState(
        boards=dict(sorted(boards.items())),
        books=dict(sorted(books.items())),
        execs=dict(sorted(execs.items())),
        spreads=dict(sorted(spreads.items())),
        risk=dict(sorted(risk.items())),
        strategies={k: type(ps[0]).merged(ps) for k, ps in sorted(parts.items())},
        breakers=Breakers(frozenset(pause), frozenset(force)),
        now=now,
        clocks=dict(sorted(clocks.items())),
    )


def assets_of(state: EngineState) -> set[str]:
    """Every asset ``state`` holds something for (plus ``ALL`` when a global breaker is open)."""
    assets = set(state.boards) | set(state.books) | set(state.execs) | set(state.risk)
    for s in state.strategies.values():
        assets |= s.assets()
    if "*" in state.breakers.pause_entries | state.breakers.force_exit:
        assets.add("ALL")
    return assets
