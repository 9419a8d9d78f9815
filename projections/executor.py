"""Executor reconciliation: turn a declarative target into orders, hedging as fills arrive.

Pure (DESIGN §6 item 4, seeds/000 "target-state", seeds/002 "atomic execution"):

* ``apply(state, event)`` folds intents, fills and order events into the per-asset execution
  state; ``reconcile(state, quotes, config, now, cause)`` returns the new state and the
  commands that move actual positions toward the target. Feeding the returned state back in
  emits nothing new; calling it twice on the *same* input state emits the same commands with
  the same client order ids (a venue or gateway drops the duplicate). Both are tested.
* **Entry** is sequential: leg 0 first (IOC limit at ``limit_offset_frac`` from the opposite
  touch, a GTC limit with a timeout, or with ``maker_first`` a post-only limit at its own
  touch with a timeout), then leg 1 is sized from leg 0's **executed**
  quantity as partial fills arrive: ``need1 = start1 + (pos0 − start0) × (target1 − start1) /
  (target0 − start0)``, rounded toward ``start1`` to ``qty_step`` so a hedge never exceeds
  what leg 0 executed. An unfilled remainder of leg 0 is retried as a new step up to
  ``max_entry_attempts``; then the target shrinks to what was hedged.
* A hedge that is rejected, expires or times out is retried up to ``max_hedge_attempts``;
  after that the arb is **unwound**: every leg back to where this revision started.
* **Exits** and unwinds work all legs at once (a failure on one leg never blocks another),
  with reduce-only perp orders.
* One entry/exit in flight per (strategy, asset): an intent for another target of the same
  strategy while one works is refused; targets of different strategies (``strategy_id``) work
  side by side, each reconciled on its own.

Client order ids are a hash of (strategy, arb, revision, step, leg, seq), shaped per venue
(the venue's :class:`schemas.venues.ClientIdRule`), so a replay or restart produces the same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any, Literal

from producers.venues import VENUES
from schemas.config import ExecutionConfig
from schemas.envelope import IdNamespace, envelope
from schemas.events import (
    CancelOrder,
    Event,
    ExitRequested,
    FillExecuted,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    PlaceOrder,
    TargetPositionSet,
)
from schemas.strategy_specs import FUNDING_ARB_ID
from schemas.trusted import make
from schemas.types import INTERNAL_VENUE, MarketType, OrderType, Side, TimeInForce
from schemas.venues import DEFAULT_CLIENT_ID

ZERO = Decimal(0)

OrderStatus = Literal["pending", "accepted", "filled", "rejected", "canceled", "expired"]
OPEN: frozenset[str] = frozenset({"pending", "accepted"})
Phase = Literal["working", "done", "unwinding", "failed", "abandoned"]
Command = PlaceOrder | CancelOrder


# ---- client order ids ----------------------------------------------------------------------
def client_order_id(
    strategy_id: str, arb_id: str, revision: int, step: int, leg: int, seq: int, venue: str
) -> str:
    """Deterministic client order id of one order, shaped by ``venue``'s rule.

    SHA-256 of ``strategy|arb|revision|step|leg|seq``, shaped by the venue package's
    :class:`schemas.venues.ClientIdRule` (``producers/venues/<venue>/``: prefix and hex
    digits, or a decimal integer for Lighter); a venue with no package gets ``fa`` + 30 hex.
    """
    key = f"{strategy_id}|{arb_id}|{revision}|{step}|{leg}|{seq}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    spec = VENUES.get(venue)
    return (spec.client_id if spec else DEFAULT_CLIENT_ID).shape(digest)


# ---- state ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LegTarget:
    """One leg of the target: signed base quantity the arb should hold there."""

    venue: str
    instrument: str
    market_type: MarketType
    target_qty: Decimal
    margin: bool = False


@dataclass(frozen=True)
class OrderState:
    """An order this arb placed, as far as events have told us."""

    client_order_id: str
    leg: int
    revision: int
    step: int
    seq: int
    side: Side
    qty: Decimal
    placed_at: int
    is_hedge: bool
    filled: Decimal = ZERO
    status: OrderStatus = "pending"
    cancel_sent: bool = False

    @property
    def open(self) -> bool:
        return self.status in OPEN

    @property
    def remaining_signed(self) -> Decimal:
        left = self.qty - self.filled if self.open else ZERO
        return left if self.side is Side.buy else -left


@dataclass(frozen=True)
class ArbExecution:
    """Execution state of one arb: its target (current revision), positions and orders.

    ``positions`` are the arb's executed quantities per leg (from its own fills);
    ``start`` the positions when the current revision began.
    """

    arb_id: str
    asset: str
    revision: int
    kind: Literal["entry", "exit"]
    legs: tuple[LegTarget, ...]
    start: tuple[Decimal, ...]
    positions: tuple[Decimal, ...]
    orders: Mapping[str, OrderState] = field(default_factory=dict)
    phase: Phase = "working"
    step: int = 0
    entry_attempts: int = 0
    hedge_failures: int = 0
    unwind_attempts: int = 0
    seq: int = 0
    fills: frozenset[str] = frozenset()
    causation_id: str | None = None
    detail: str = ""
    strategy_id: str = FUNDING_ARB_ID  # the strategy whose target this is

    @property
    def active(self) -> bool:
        return self.phase in ("working", "unwinding")

    def open_orders(self, leg: int | None = None) -> list[OrderState]:
        return [o for o in self.orders.values() if o.open and (leg is None or o.leg == leg)]

    def inflight(self, leg: int) -> Decimal:
        return sum((o.remaining_signed for o in self.open_orders(leg)), ZERO)


@dataclass(frozen=True)
class ExecutorState:
    """All executions of one asset; at most one active per strategy (one in flight per
    (strategy, asset)). ``active`` is the first active one in arb-id order, if any."""

    asset: str
    arbs: Mapping[str, ArbExecution] = field(default_factory=dict)
    refused: tuple[str, ...] = ()  # event ids of intents refused (kept for the audit trail)

    @property
    def active(self) -> ArbExecution | None:
        # computed once per state (immutable); the cache is not a field: not compared, not
        # pickled (__getstate__)
        d = self.__dict__
        if "_active" not in d:
            object.__setattr__(
                self, "_active", next((a for a in self.arbs.values() if a.active), None)
            )
        return d["_active"]  # type: ignore[no-any-return]  # cached in __dict__ above

    def active_for(self, strategy_id: str) -> ArbExecution | None:
        """The active execution of ``strategy_id``'s target on this asset, if any."""
        return next(
            (a for a in self.arbs.values() if a.active and a.strategy_id == strategy_id), None
        )

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "_active"}


@dataclass(frozen=True)
class Quote:
    """Top of book for a leg (quote per base)."""

    bid: Decimal
    ask: Decimal


def _put(state: ExecutorState, ex: ArbExecution) -> ExecutorState:
    arbs = dict(state.arbs)
    new = ex.arb_id not in arbs
    arbs[ex.arb_id] = ex  # replacing keeps the (sorted) order: re-sort for a new key only
    return replace(state, arbs=dict(sorted(arbs.items())) if new else arbs)


def _put_order(ex: ArbExecution, order: OrderState) -> ArbExecution:
    orders = dict(ex.orders)
    new = order.client_order_id not in orders
    orders[order.client_order_id] = order  # as in _put
    return replace(ex, orders=dict(sorted(orders.items())) if new else orders)


# ---- folding events ------------------------------------------------------------------------
def apply(state: ExecutorState, event: Event) -> ExecutorState:
    """Fold an intent, fill or order event into the executor state (no commands); any other
    event leaves it as it is."""
    fold = _APPLY.get(type(event))
    return state if fold is None else fold(state, event)


def _on_order(state: ExecutorState, e: FillExecuted | OrderEvent) -> ExecutorState:
    ex = _owner(state, e.client_order_id, e.correlation_id)
    if ex is None:
        return state  # not ours (another strategy, or a manual order)
    return _put(state, _ORDER_EVENTS[type(e)](ex, ex.orders[e.client_order_id], e))


def _owner(state: ExecutorState, cid: str, arb_id: str | None) -> ArbExecution | None:
    if arb_id and arb_id in state.arbs and cid in state.arbs[arb_id].orders:
        return state.arbs[arb_id]
    return next((a for a in state.arbs.values() if cid in a.orders), None)


def _on_target(state: ExecutorState, t: TargetPositionSet) -> ExecutorState:
    current = state.arbs.get(t.arb_id)
    if current is not None and current.revision >= t.revision:
        return state  # duplicate or stale intent: idempotent
    if current is not None and current.strategy_id != t.strategy_id:
        return replace(state, refused=(*state.refused, t.event_id))  # another strategy's id
    active = state.active_for(t.strategy_id)
    if active is not None and active.arb_id != t.arb_id:
        # one in flight per (strategy, asset)
        return replace(state, refused=(*state.refused, t.event_id))
    legs = tuple(
        LegTarget(leg.venue, leg.instrument, leg.market_type, leg.target_qty, leg.margin)
        for leg in t.legs
    )
    if len({(leg.venue, leg.instrument) for leg in legs}) != len(legs):
        return replace(state, refused=(*state.refused, t.event_id))  # a leg named twice
    if current is None:
        ex = ArbExecution(
            arb_id=t.arb_id,
            asset=state.asset,
            revision=t.revision,
            kind="entry",
            legs=legs,
            start=tuple(ZERO for _ in legs),
            positions=tuple(ZERO for _ in legs),
            causation_id=t.event_id,
            strategy_id=t.strategy_id,
        )
        return _put(state, ex)
    return _put(state, _retarget(current, legs, t))


def _retarget(
    current: ArbExecution, legs: tuple[LegTarget, ...], t: TargetPositionSet
) -> ArbExecution:
    """A new revision of an arb already trading: the target-state diff, leg by leg.

    Legs are matched on (venue, instrument); a leg the arb holds that the target does not
    name is targeted at 0 (the target is the whole arb). Legs whose target differs from the
    position come first, in the target's order (leg 0 trades first, leg 1 hedges it: a switch
    that keeps a shared leg opens the new leg and buys back the old one as it fills), then the
    legs already on target — the shared leg of a switch, which no order touches. Order states
    keep their leg by (venue, instrument) (their index is remapped)."""
    key = {i: (leg.venue, leg.instrument) for i, leg in enumerate(current.legs)}
    held = {key[i]: p for i, p in enumerate(current.positions)}
    named = {(leg.venue, leg.instrument) for leg in legs}
    dropped = [replace(leg, target_qty=ZERO) for i, leg in enumerate(current.legs)]
    wanted = [*legs, *(leg for i, leg in enumerate(dropped) if key[i] not in named)]

    def on_target(leg: LegTarget) -> bool:
        return leg.target_qty == held.get((leg.venue, leg.instrument), ZERO)

    ordered = (
        *(leg for leg in wanted if not on_target(leg)),
        *(leg for leg in wanted if on_target(leg)),
    )
    index = {(leg.venue, leg.instrument): i for i, leg in enumerate(ordered)}
    positions = tuple(held.get((leg.venue, leg.instrument), ZERO) for leg in ordered)
    orders = {cid: replace(o, leg=index[key[o.leg]]) for cid, o in current.orders.items()}
    return ArbExecution(
        arb_id=t.arb_id,
        asset=current.asset,
        revision=t.revision,
        kind="entry",
        legs=ordered,
        start=positions,
        positions=positions,
        orders=orders,
        fills=current.fills,
        causation_id=t.event_id,
        strategy_id=t.strategy_id,
    )


def _on_exit(state: ExecutorState, x: ExitRequested) -> ExecutorState:
    current = state.arbs.get(x.arb_id)
    if current is None or current.revision >= x.revision or current.strategy_id != x.strategy_id:
        return state
    legs = tuple(replace(leg, target_qty=ZERO) for leg in current.legs)
    ex = replace(
        current,
        revision=x.revision,
        kind="exit",
        legs=legs,
        start=current.positions,
        phase="working",
        step=0,
        entry_attempts=0,
        hedge_failures=0,
        unwind_attempts=0,
        causation_id=x.event_id,
        detail=x.exit_reason.value,
    )
    return _put(state, ex)


def _on_fill(ex: ArbExecution, order: OrderState, e: FillExecuted) -> ArbExecution:
    fill_key = f"{e.venue}:{e.fill_id}"
    if fill_key in ex.fills:
        return ex
    filled = order.filled + e.qty
    status: OrderStatus = "filled" if filled >= order.qty else order.status
    signed = e.qty if e.side is Side.buy else -e.qty
    positions = tuple(p + signed if i == order.leg else p for i, p in enumerate(ex.positions))
    ex = replace(ex, positions=positions, fills=ex.fills | {fill_key})
    return _put_order(ex, replace(order, filled=filled, status=status))


def _on_status(status: OrderStatus) -> Callable[[ArbExecution, OrderState, Event], ArbExecution]:
    """The fold of an order event that moves an open order to ``status``; terminal states do
    not regress (events may arrive in any order). A rejection, or a cancel / expiry before the
    order filled, counts as a failure; the venue's filled_qty on a cancel is informational:
    positions move only on fills (no double count)."""

    def fold(ex: ArbExecution, order: OrderState, e: Event) -> ArbExecution:
        if not order.open:
            return ex
        if status == "rejected" or (status != "accepted" and order.filled < order.qty):
            ex = _count_failure(ex, order)
        return _put_order(ex, replace(order, status=status))

    return fold


OrderEvent = OrderAccepted | OrderRejected | OrderCanceled | OrderExpired
#: order-event type → how it moves its order (and the arb's positions, for fills)
_ORDER_EVENTS: dict[type[Event], Callable[[ArbExecution, OrderState, Any], ArbExecution]] = {
    FillExecuted: _on_fill,
    OrderAccepted: _on_status("accepted"),
    OrderRejected: _on_status("rejected"),
    OrderCanceled: _on_status("canceled"),
    OrderExpired: _on_status("expired"),
}
#: event type → its fold in :func:`apply` (event types are final: the exact type is the key)
_APPLY: dict[type[Event], Callable[[ExecutorState, Any], ExecutorState]] = {
    TargetPositionSet: _on_target,
    ExitRequested: _on_exit,
    **dict.fromkeys(_ORDER_EVENTS, _on_order),
}


def _count_failure(ex: ArbExecution, order: OrderState) -> ArbExecution:
    if ex.phase == "unwinding":
        return replace(ex, unwind_attempts=ex.unwind_attempts + 1)
    if order.is_hedge:
        return replace(ex, hedge_failures=ex.hedge_failures + 1)
    return ex


# ---- reconciling ---------------------------------------------------------------------------
def _round_qty(qty: Decimal, step: Decimal) -> Decimal:
    """Round a magnitude toward zero to the quantity step."""
    return (abs(qty) / step).to_integral_value(rounding=ROUND_DOWN) * step * (1 if qty >= 0 else -1)


def _tick_round(price: Decimal, reference: Decimal, up: bool) -> Decimal:
    exponent = reference.as_tuple().exponent
    tick = Decimal(1).scaleb(exponent if isinstance(exponent, int) else 0)
    return price.quantize(tick, rounding=ROUND_UP if up else ROUND_DOWN)


def hedge_need(ex: ArbExecution, step: Decimal) -> Decimal:
    """Where leg 1 should be given leg 0's executed progress (entry; see module docstring)."""
    start0, start1 = ex.start[0], ex.start[1]
    full0 = ex.legs[0].target_qty - start0
    if full0 == 0:
        return ex.legs[1].target_qty
    ratio = (ex.legs[1].target_qty - start1) / full0
    return start1 + _round_qty((ex.positions[0] - start0) * ratio, step)


def _place(
    ex: ArbExecution,
    leg: int,
    signed_qty: Decimal,
    quotes: Mapping[tuple[str, str], Quote],
    config: ExecutionConfig,
    now: int,
    cause: str | None,
    *,
    first_leg: bool,
    reduce_only: bool,
) -> tuple[ArbExecution, PlaceOrder | None]:
    target = ex.legs[leg]
    quote = quotes.get((target.venue, target.instrument))
    if quote is None:
        return ex, None  # no price yet: wait for a ticker (reconcile runs again then)
    side = Side.buy if signed_qty > 0 else Side.sell
    passive = first_leg and config.maker_first
    if passive:  # post-only at our own touch: it rests, and fills as maker or not at all
        raw = quote.bid if side is Side.buy else quote.ask
        tif = TimeInForce.PO
    elif first_leg:
        off = config.limit_offset_frac
        raw = quote.ask * (1 - off) if side is Side.buy else quote.bid * (1 + off)
        tif = TimeInForce.IOC if config.first_leg == "ioc" else TimeInForce.GTC
    else:
        cross = config.hedge_cross_frac
        raw = quote.ask * (1 + cross) if side is Side.buy else quote.bid * (1 - cross)
        tif = TimeInForce.IOC
    # round away from the book when passive (never into a cross), toward it otherwise
    up = (side is Side.sell) if passive else (side is Side.buy)
    price = _tick_round(raw, quote.ask if side is Side.buy else quote.bid, up=up)
    seq = ex.seq + 1
    cid = client_order_id(ex.strategy_id, ex.arb_id, ex.revision, ex.step, leg, seq, target.venue)
    is_hedge = not first_leg
    spot = target.market_type is MarketType.spot
    event_id = IdNamespace.COMMAND.id("place", cid)
    cmd = make(
        PlaceOrder,
        **envelope(event_id, now, target.venue, target.instrument, cause, ex.arb_id),
        client_order_id=cid,
        arb_id=ex.arb_id,
        step=ex.step,
        leg=leg,
        side=side,
        qty=abs(signed_qty),
        order_type=OrderType.limit,
        time_in_force=tif,
        limit_price=price,
        market_type=target.market_type,
        reduce_only=reduce_only and not spot,
        margin=spot and (target.margin or (side is Side.sell and target.target_qty < 0)),
        is_hedge=is_hedge,
    )
    order = OrderState(
        client_order_id=cid,
        leg=leg,
        revision=ex.revision,
        step=ex.step,
        seq=seq,
        side=side,
        qty=abs(signed_qty),
        placed_at=now,
        is_hedge=is_hedge,
    )
    return _put_order(replace(ex, seq=seq), order), cmd


def _cancel(
    ex: ArbExecution, order: OrderState, now: int, cause: str | None, why: str
) -> tuple[ArbExecution, CancelOrder]:
    venue_leg = ex.legs[order.leg]
    event_id = IdNamespace.COMMAND.id("cancel", order.client_order_id)
    cmd = make(
        CancelOrder,
        **envelope(event_id, now, venue_leg.venue, venue_leg.instrument, cause, ex.arb_id),
        client_order_id=order.client_order_id,
        arb_id=ex.arb_id,
        detail=why,
    )
    return _put_order(ex, replace(order, cancel_sent=True)), cmd


def _reduces(position: Decimal, delta: Decimal) -> bool:
    return position != 0 and (position > 0) != (delta > 0) and abs(delta) <= abs(position)


def reconcile(
    state: ExecutorState,
    quotes: Mapping[tuple[str, str], Quote],
    config: ExecutionConfig,
    now: int,
    cause: str | None = None,
) -> tuple[ExecutorState, list[Command]]:
    """Commands that move each active target (one per strategy) toward its target at event
    time ``now``, in arb-id order.

    ``quotes`` maps (venue, instrument) to the current top of book; a leg without a quote
    waits. ``cause`` becomes each command's ``causation_id``.
    """
    commands: list[Command] = []
    for ex in [a for a in state.arbs.values() if a.active]:
        state, cmds = _reconcile_one(state, ex, quotes, config, now, cause)
        commands += cmds
    return state, commands


def _reconcile_one(
    state: ExecutorState,
    ex: ArbExecution,
    quotes: Mapping[tuple[str, str], Quote],
    config: ExecutionConfig,
    now: int,
    cause: str | None,
) -> tuple[ExecutorState, list[Command]]:
    """:func:`reconcile` for one active execution ``ex`` of ``state``."""
    commands: list[Command] = []
    step = config.qty_step

    # timeouts on event time: cancel once, the venue's answer drives the rest
    for order in ex.open_orders():
        limit = config.hedge_timeout_ms if order.is_hedge else config.leg_timeout_ms
        if not order.cancel_sent and now - order.placed_at > limit:
            ex, cmd = _cancel(ex, order, now, cause, "timeout")
            commands.append(cmd)
    # orders of an older revision must be gone before this revision trades
    stale = [o for o in ex.open_orders() if o.revision != ex.revision]
    if stale:
        for order in stale:
            if not order.cancel_sent:
                ex, cmd = _cancel(ex, order, now, cause, "superseded")
                commands.append(cmd)
        return _put(state, ex), commands

    if ex.phase == "unwinding":
        ex, cmds = _work_parallel(
            ex,
            ex.start,
            quotes,
            config,
            now,
            cause,
            attempts_left=(ex.unwind_attempts < 2 * config.max_hedge_attempts),
        )
        commands += cmds
    elif ex.kind == "exit" or len(ex.legs) == 1 or _legs_to_move(ex) > 2:
        # exits, and a re-target moving more than two legs (no one leg to hedge from): all
        # legs at once
        ex, cmds = _work_parallel(
            ex,
            tuple(leg.target_qty for leg in ex.legs),
            quotes,
            config,
            now,
            cause,
            attempts_left=ex.hedge_failures < config.max_hedge_attempts,
        )
        commands += cmds
    else:
        ex, cmds = _work_entry(ex, quotes, config, now, cause, step)
        commands += cmds
    return _put(state, ex), commands


def _legs_to_move(ex: ArbExecution) -> int:
    """How many legs this revision moves (target ≠ where the revision started)."""
    return sum(1 for leg, s in zip(ex.legs, ex.start, strict=True) if leg.target_qty != s)


def _work_parallel(
    ex: ArbExecution,
    goal: tuple[Decimal, ...],
    quotes: Mapping[tuple[str, str], Quote],
    config: ExecutionConfig,
    now: int,
    cause: str | None,
    attempts_left: bool,
) -> tuple[ArbExecution, list[Command]]:
    """Every leg toward ``goal`` at once with crossing IOC orders (exits, unwinds)."""
    commands: list[Command] = []
    settled = True
    for leg in range(len(ex.legs)):
        gap = _round_qty(goal[leg] - ex.positions[leg] - ex.inflight(leg), config.qty_step)
        if ex.open_orders(leg):
            settled = False
            continue
        if gap == 0:
            continue
        settled = False
        if not attempts_left:
            continue
        ex, cmd = _place(
            ex,
            leg,
            gap,
            quotes,
            config,
            now,
            cause,
            first_leg=False,
            reduce_only=_reduces(ex.positions[leg], gap),
        )
        if cmd is not None:
            commands.append(cmd)
    if settled:
        # an unwind that reached its start is flat again: the entry was abandoned, not stuck
        ex = replace(ex, phase="abandoned" if ex.phase == "unwinding" else "done")
    elif not attempts_left and not ex.open_orders():
        ex = replace(ex, phase="failed", detail=f"{ex.detail} legs could not reach target".strip())
    return ex, commands


def _work_entry(
    ex: ArbExecution,
    quotes: Mapping[tuple[str, str], Quote],
    config: ExecutionConfig,
    now: int,
    cause: str | None,
    step: Decimal,
) -> tuple[ArbExecution, list[Command]]:
    commands: list[Command] = []
    # 1. hedge leg 1 from leg 0's executed quantity (reactive hedging)
    gap1 = _round_qty(hedge_need(ex, step) - ex.positions[1] - ex.inflight(1), step)
    if gap1 != 0:
        if ex.hedge_failures >= config.max_hedge_attempts:
            return _start_unwind(ex, quotes, config, now, cause)
        ex, cmd = _place(
            ex,
            1,
            gap1,
            quotes,
            config,
            now,
            cause,
            first_leg=False,
            reduce_only=_reduces(ex.positions[1], gap1),
        )
        if cmd is not None:
            commands.append(cmd)
    # 2. leg 0 toward its target, one order at a time
    gap0 = _round_qty(ex.legs[0].target_qty - ex.positions[0] - ex.inflight(0), step)
    if gap0 != 0 and not ex.open_orders(0):
        if ex.entry_attempts < config.max_entry_attempts:
            ex = replace(ex, step=ex.step + 1, entry_attempts=ex.entry_attempts + 1)
            ex, cmd = _place(
                ex,
                0,
                gap0,
                quotes,
                config,
                now,
                cause,
                first_leg=True,
                reduce_only=_reduces(ex.positions[0], gap0),
            )
            if cmd is not None:
                commands.append(cmd)
            else:  # no quote: the attempt did not happen
                ex = replace(ex, step=ex.step - 1, entry_attempts=ex.entry_attempts - 1)
        elif ex.positions == ex.start and not ex.open_orders():
            return replace(ex, phase="abandoned", detail="leg 0 did not fill"), commands
        else:
            # attempts used: accept what leg 0 executed; the target shrinks to it
            legs = (
                replace(ex.legs[0], target_qty=ex.positions[0]),
                replace(ex.legs[1], target_qty=hedge_need(ex, step)),
                *ex.legs[2:],
            )
            ex = replace(ex, legs=legs, detail="leg 0 partially filled; target reduced")
    # 3. done when both legs sit on target with nothing in flight
    if not ex.open_orders():
        at0 = _round_qty(ex.legs[0].target_qty - ex.positions[0], step) == 0
        at1 = _round_qty(hedge_need(ex, step) - ex.positions[1], step) == 0
        if at0 and at1:
            ex = replace(ex, phase="done")
    return ex, commands


def _start_unwind(
    ex: ArbExecution,
    quotes: Mapping[tuple[str, str], Quote],
    config: ExecutionConfig,
    now: int,
    cause: str | None,
) -> tuple[ArbExecution, list[Command]]:
    """The hedge failed: take every leg back to where this revision started."""
    commands: list[Command] = []
    ex = replace(ex, phase="unwinding", detail="hedge failed; unwinding")
    for order in ex.open_orders():
        if not order.cancel_sent:
            ex, cmd = _cancel(ex, order, now, cause, "unwind")
            commands.append(cmd)
    if ex.open_orders():
        return ex, commands
    ex, cmds = _work_parallel(ex, ex.start, quotes, config, now, cause, attempts_left=True)
    return ex, commands + cmds


def net_delta(ex: ArbExecution) -> Decimal:
    """Sum of the arb's executed leg quantities (base units): 0 when hedged."""
    return sum(ex.positions, ZERO)


INTERNAL = INTERNAL_VENUE  # re-exported for agents building intents
