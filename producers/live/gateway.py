"""The order gateway: ``orders.commands`` → a venue through ccxt → ``orders.events`` + fills.

:class:`OrderGateway` serves one venue (one ccxt exchange instance):

* ``PlaceOrder`` → ``create_order`` with our deterministic client order id in ccxt's unified
  ``clientOrderId`` param (ccxt writes it into the venue's own field: Binance
  ``newClientOrderId``, Bybit ``orderLinkId``, OKX ``clOrdId``, Hyperliquid ``cloid``, Gate
  ``text``…; the executor already shapes ids to each venue's limits and the gateway refuses
  one the venue would not take). ``reduceOnly`` on exits of perp legs; a spot leg with
  ``margin`` uses the venue's borrow params to open the short and its repay params to close
  it (:class:`schemas.venues.VenueSpec`). Quantities are base units; ccxt wants contracts on
  contract markets, so ``amount = qty / contractSize``, rounded down to the venue's step.
* ``CancelOrder`` → ``cancel_order``.
* Answers: ``OrderAccepted`` / ``OrderRejected`` at once; ``OrderCanceled`` /
  ``OrderExpired`` (IOC/FOK remainders) and ``FillExecuted`` from :meth:`poll` (order status
  and ``fetch_my_trades``), each fill carrying our client order id.

Exceptions → :class:`schemas.types.RejectReason` (:data:`REJECT_REASONS`, ccxt's hierarchy:
https://docs.ccxt.com/#/README?id=exception-hierarchy). Retries (tenacity, exponential
backoff) only where a retry cannot double an order:

* ``RateLimitExceeded``/``DDoSProtection``: the venue refused the request, nothing was placed;
* ``RequestTimeout``/``NetworkError``: the order may or may not exist, so the gateway first
  looks it up **by client order id**; only when the venue says it does not exist is it sent
  again, and the venue refuses a second order with the same id (``DuplicateOrderId`` is then
  resolved by the same lookup);
* anything else (insufficient margin, invalid order, post-only would cross) is final.

Until the venue has been reconciled (``ready``; set by ``fundarb live`` after restart
reconciliation succeeds) every ``PlaceOrder`` is rejected as ``network`` without a request.

While the venue stays unreachable the lookups fail too, so nothing is sent twice; the command
is then rejected as ``network`` after ``RetryPolicy.attempts``. Should the first submit have
landed after all, its fills still carry our client order id where the venue reports it, and
restart reconciliation (:mod:`producers.live.connector`) lists the venue's open orders.

ccxt's own throttle (``enableRateLimit``, the venue's documented weights) spaces requests.

Events are stamped with the venue's time when the reply has one, else our clock (live only:
the backtest uses the paper venue). Their ids are uuid5 of (venue, client order id, kind), so
a re-sent command yields the same answers; a command already answered is dropped, and a
different command reusing a client order id is rejected.

**Metrics** (:mod:`infra.metrics`): rejections by reason (``fundarb_order_failures_total``),
submits sent again by the reason of the failed attempt (``fundarb_order_retries_total``,
counted in tenacity's ``before_sleep`` hook), fills, and for our fills the slippage against
the limit price or the mid when placed and, for hedges, the latency from the command's event
time to the venue's fill time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

import ccxt.async_support as ccxt
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from infra import metrics as m
from producers.live.account import fetch_my_trades
from producers.parse import ParseError, parse_fills
from producers.venues import VenueSpec
from schemas.envelope import IdNamespace, envelope
from schemas.events import (
    CancelOrder,
    Event,
    FillExecuted,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    PlaceOrder,
    TickerObserved,
)
from schemas.types import MarketType, OrderType, RejectReason, TimeInForce

log = logging.getLogger(__name__)

#: ccxt exception → rejection reason, most specific first (subclasses before their bases).
REJECT_REASONS: tuple[tuple[type[BaseException], RejectReason], ...] = (
    (ccxt.OrderImmediatelyFillable, RejectReason.post_only_would_cross),
    (ccxt.DuplicateOrderId, RejectReason.duplicate_client_order_id),
    (ccxt.InsufficientFunds, RejectReason.insufficient_margin),
    (ccxt.RateLimitExceeded, RejectReason.rate_limited),
    (ccxt.DDoSProtection, RejectReason.rate_limited),
    (ccxt.OrderNotFillable, RejectReason.no_liquidity),
    (ccxt.InvalidOrder, RejectReason.invalid_order),
    (ccxt.BadSymbol, RejectReason.invalid_order),
    (ccxt.BadRequest, RejectReason.invalid_order),
    (ccxt.ArgumentsRequired, RejectReason.invalid_order),
    (ccxt.NotSupported, RejectReason.invalid_order),
    (ccxt.NetworkError, RejectReason.network),  # RequestTimeout, ExchangeNotAvailable, …
)
#: Failures after which the venue certainly placed nothing: safe to send again.
REFUSED = (ccxt.RateLimitExceeded, ccxt.DDoSProtection)
#: Failures after which the order may exist: look it up by client order id before re-sending.
AMBIGUOUS = (ccxt.RequestTimeout, ccxt.NetworkError)


def reject_reason(exc: BaseException) -> RejectReason:
    """The rejection reason of a ccxt exception (``unknown`` for anything unmapped)."""
    for cls, reason in REJECT_REASONS:
        if isinstance(exc, cls):
            return reason
    return RejectReason.unknown


@dataclass
class RetryPolicy:
    """Retries of refused/ambiguous submits: ``attempts`` in all, backoff ``min_s``…``max_s``."""

    attempts: int = 4
    min_s: float = 0.5
    max_s: float = 8.0


@dataclass
class _Order:
    cmd: PlaceOrder
    order_id: str = ""
    done: bool = False
    filled: Decimal = Decimal(0)
    reference: Decimal | None = None  # limit price, else the mid when placed (slippage)


@dataclass
class OrderGateway:
    """Places and cancels one venue's orders (module docstring). Not thread-safe; one task."""

    spec: VenueSpec
    exchange: Any  # ccxt.async_support.Exchange
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    orders: dict[str, _Order] = field(default_factory=dict)  # client order id → order
    by_order_id: dict[str, str] = field(default_factory=dict)  # venue order id → client id
    mids: dict[str, Decimal] = field(default_factory=dict)  # last mid per symbol
    seen_fills: set[str] = field(default_factory=set)
    fills_since: int | None = None
    #: False until the venue's open orders and fills are known (restart reconciliation done):
    #: until then every PlaceOrder is rejected without reaching the venue
    ready: bool = True

    # ---- inputs ----------------------------------------------------------------------------
    def on_ticker(self, t: TickerObserved) -> None:
        """Remember the mid: the reference price of market orders where ccxt needs one."""
        if t.venue == self.spec.id:
            self.mids[t.instrument] = (t.bid + t.ask) / 2

    async def handle(self, cmd: Event) -> list[Event]:
        """Answer one command of this venue (others are ignored: ``[]``)."""
        if getattr(cmd, "venue", None) != self.spec.id:
            return []
        if isinstance(cmd, PlaceOrder):
            return await self._place(cmd)
        if isinstance(cmd, CancelOrder):
            return await self._cancel(cmd)
        return []

    # ---- restart ---------------------------------------------------------------------------
    def restore(self, event: Event) -> None:
        """Fold one logged event of this venue back into the gateway's order map (restart).

        ``PlaceOrder`` → known order; ``OrderAccepted`` → its venue order id; a rejection,
        cancel or expiry → final; ``FillExecuted`` → fill already reported.
        """
        if getattr(event, "venue", None) != self.spec.id:
            return
        cid = getattr(event, "client_order_id", None)
        if isinstance(event, PlaceOrder):
            self.orders.setdefault(event.client_order_id, _Order(event))
        elif isinstance(event, FillExecuted):
            self.seen_fills.add(event.fill_id)
        elif cid in self.orders:
            order = self.orders[cid]
            if isinstance(event, OrderAccepted):
                order.order_id = event.order_id
                self.by_order_id[event.order_id] = cid
            elif isinstance(event, OrderRejected | OrderCanceled | OrderExpired):
                order.done = True

    def adopt(self, open_orders: list[dict[str, Any]]) -> list[str]:
        """Link the venue's open orders to ours by client order id; returns foreign ids.

        An open order with one of our client order ids but no accepted event in the log (the
        gateway stopped between submit and reply) gets its venue id here. Others are left
        alone and reported (orders placed by hand or by another system).
        """
        foreign = []
        for o in open_orders:
            cid, oid = o.get("clientOrderId"), str(o.get("id") or "")
            order = self.orders.get(cid) if isinstance(cid, str) else None
            if order is None or not oid:
                foreign.append(oid)
                continue
            order.order_id, order.done = oid, False
            self.by_order_id[oid] = order.cmd.client_order_id  # the key it is held under
        if foreign:
            log.warning("%s: open orders not placed by us, left alone: %s", self.spec.id, foreign)
        return foreign

    # ---- place -----------------------------------------------------------------------------
    def _event_id(self, cid: str, kind: str) -> str:
        return IdNamespace.GATEWAY.id(self.spec.id, cid, kind, sep="|")

    def _env(self, cmd: Event, cid: str, kind: str, t: int | None = None) -> dict[str, Any]:
        now = self.clock()
        eid = self._event_id(cid, kind)
        env = envelope(
            eid,
            t or now,
            self.spec.id,
            cmd.instrument,
            cmd.event_id,
            cmd.correlation_id,
            ingest_time=now,
        )
        return env | {"client_order_id": cid}

    def _reject(self, cmd: PlaceOrder, reason: RejectReason, message: str) -> list[Event]:
        m.ORDER_FAILURES.labels(self.spec.id, reason.value).inc()
        log.warning("%s %s rejected: %s %s", self.spec.id, cmd.client_order_id, reason, message)
        return [
            OrderRejected(
                **self._env(cmd, cmd.client_order_id, "rejected"),
                reject_reason=reason,
                message=message[:500],
            )
        ]

    def order_params(self, cmd: PlaceOrder) -> dict[str, Any]:
        """ccxt ``createOrder`` params of a command (module docstring). Pure."""
        params: dict[str, Any] = {"clientOrderId": cmd.client_order_id}
        if cmd.time_in_force is TimeInForce.PO:
            params["postOnly"] = True
        elif cmd.order_type is OrderType.limit or cmd.time_in_force is not TimeInForce.GTC:
            params["timeInForce"] = cmd.time_in_force.value
        if cmd.reduce_only and cmd.market_type is MarketType.perp:
            params["reduceOnly"] = True
        if cmd.margin and cmd.market_type is MarketType.spot:
            extra = (
                self.spec.spot_margin_open
                if cmd.side.value == "sell"
                else self.spec.spot_margin_close
            )
            params.update(extra or {})
        return params

    def contract_size(self, symbol: str) -> Decimal:
        """Base units per ccxt amount unit on ``symbol`` (1 for spot and coin-sized perps)."""
        return Decimal(str(self.exchange.market(symbol).get("contractSize") or 1))

    def amount(self, cmd: PlaceOrder) -> Decimal:
        """ccxt amount: base ``qty`` / contract size, rounded down to the venue's step."""
        raw = (cmd.qty / self.contract_size(cmd.instrument)).quantize(Decimal("1e-12"), ROUND_DOWN)
        return Decimal(self.exchange.amount_to_precision(cmd.instrument, str(raw)))

    async def _place(self, cmd: PlaceOrder) -> list[Event]:
        cid = cmd.client_order_id
        known = self.orders.get(cid)
        if known is not None:
            if known.cmd.event_id == cmd.event_id:
                return []  # a re-sent command (worker restart): already answered
            return self._reject(
                cmd,
                RejectReason.duplicate_client_order_id,
                f"client order id {cid} is already used by another command",
            )
        if not self.ready:
            # never trade a venue whose open orders and fills are unknown; remembered as
            # answered so a re-sent command is not placed later
            self.orders[cid] = _Order(cmd, done=True)
            return self._reject(
                cmd,
                RejectReason.network,
                f"{self.spec.id} not reconciled yet (its open orders and fills are unknown)",
            )
        if not self.spec.accepts_client_id(cid):
            return self._reject(
                cmd,
                RejectReason.invalid_order,
                f"{self.spec.id} does not accept client order id {cid!r} "
                f"({self.spec.client_id.field} must match {self.spec.client_id.pattern})",
            )
        if cmd.margin and cmd.market_type is MarketType.spot and self.spec.spot_margin_open is None:
            return self._reject(
                cmd, RejectReason.invalid_order, f"{self.spec.id} has no spot margin"
            )
        try:
            market = self.exchange.market(cmd.instrument)
        except ccxt.BadSymbol as exc:
            return self._reject(cmd, RejectReason.invalid_order, str(exc))
        price = cmd.limit_price
        if price is None and self.spec.market_order_needs_price:
            price = self.mids.get(cmd.instrument)
            if price is None:
                return self._reject(
                    cmd,
                    RejectReason.invalid_order,
                    f"{self.spec.id} market orders need a reference price and no "
                    f"ticker of {cmd.instrument} has been seen",
                )
        amount = self.amount(cmd)
        if amount <= 0:
            return self._reject(
                cmd,
                RejectReason.invalid_order,
                f"qty {cmd.qty} rounds to 0 at {self.spec.id}'s step",
            )
        self.orders[cid] = _Order(cmd, reference=cmd.limit_price or self.mids.get(cmd.instrument))
        args = (
            cmd.instrument,
            cmd.order_type.value,
            cmd.side.value,
            float(amount),
            float(price) if price is not None else None,
            self.order_params(cmd),
        )
        try:
            order = await self._submit(cid, market, args)
        except Exception as exc:  # every venue failure becomes a rejection, never a crash
            self.orders[cid].done = True
            return self._reject(cmd, reject_reason(exc), f"{type(exc).__name__}: {exc}")
        return self._accepted(cmd, order)

    async def _submit(
        self, cid: str, market: dict[str, Any], args: tuple[Any, ...]
    ) -> dict[str, Any]:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=wait_exponential(min=self.retry.min_s, max=self.retry.max_s),
            retry=retry_if_exception_type(REFUSED + AMBIGUOUS),
            before_sleep=self._count_retry,
            reraise=True,
        )
        maybe_placed = False  # an earlier attempt failed without telling whether it landed
        async for attempt in retrying:
            with attempt:
                if maybe_placed:
                    found = await self._lookup(cid, market["symbol"])
                    if found is not None:
                        return found  # the earlier, ambiguous submit did land
                try:
                    placed: dict[str, Any] = await self.exchange.create_order(*args)
                    return placed
                except REFUSED:
                    raise  # refused: nothing placed, send again as is
                except AMBIGUOUS:
                    maybe_placed = True
                    raise
                except ccxt.DuplicateOrderId:
                    found = await self._lookup(cid, market["symbol"])
                    if found is None:
                        raise
                    return found
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    def _count_retry(self, state: RetryCallState) -> None:
        """tenacity's ``before_sleep`` hook: one retry of a submit, by the failure's reason."""
        exc = state.outcome.exception() if state.outcome is not None else None
        reason = reject_reason(exc).value if exc is not None else RejectReason.unknown.value
        m.ORDER_RETRIES.labels(self.spec.id, reason).inc()

    async def _lookup(self, cid: str, symbol: str) -> dict[str, Any] | None:
        """The venue's order with client order id ``cid``, or ``None`` when it has none."""
        try:
            found: dict[str, Any] = await self.exchange.fetch_order(
                None, symbol, {"clientOrderId": cid}
            )
            return found
        except ccxt.OrderNotFound:
            return None
        except ccxt.ArgumentsRequired:  # a venue that cannot look up by client id
            opens = await self.exchange.fetch_open_orders(symbol)
            return next((o for o in opens if o.get("clientOrderId") == cid), None)

    def _accepted(self, cmd: PlaceOrder, order: dict[str, Any]) -> list[Event]:
        order_id = str(order.get("id") or "")
        if not order_id:
            return self._reject(cmd, RejectReason.unknown, "venue reply has no order id")
        self.orders[cmd.client_order_id].order_id = order_id
        self.by_order_id[order_id] = cmd.client_order_id
        ts = order.get("timestamp")
        return [
            OrderAccepted(**self._env(cmd, cmd.client_order_id, "accepted", ts), order_id=order_id)
        ]

    # ---- cancel ----------------------------------------------------------------------------
    async def _cancel(self, cmd: CancelOrder) -> list[Event]:
        order = self.orders.get(cmd.client_order_id)
        if order is None or order.done:
            return []  # unknown here or already final: nothing to cancel
        try:
            await self.exchange.cancel_order(order.order_id, cmd.instrument)
        except ccxt.OrderNotFound:
            pass  # already filled or gone: poll() reports what happened
        except Exception as exc:
            log.warning("%s cancel %s failed: %s", self.spec.id, cmd.client_order_id, exc)
            return []
        return await self._status(order)

    # ---- poll ------------------------------------------------------------------------------
    async def poll(self) -> list[Event]:
        """Fills of our orders since the last poll, and final states of open orders.

        Fills come from ``fetch_my_trades`` per symbol with open or recent orders; a fill id
        already reported is skipped. Final states: ``canceled``/``expired`` → ``OrderCanceled``
        / ``OrderExpired`` with the executed quantity.
        """
        out: list[Event] = []
        symbols = sorted({o.cmd.instrument for o in self.orders.values() if o.order_id})
        for symbol in symbols:
            out += await self.fetch_fills(symbol)
        for order in list(self.orders.values()):
            if order.order_id and not order.done:
                out += await self._status(order)
        return out

    async def fetch_fills(self, symbol: str, since: int | None = None) -> list[FillExecuted]:
        """Our fills on ``symbol`` (ccxt ``fetch_my_trades``), new ones only."""
        try:
            trades, unread = await fetch_my_trades(
                self.exchange, self.spec, symbol, since or self.fills_since
            )
        except Exception as exc:
            log.warning("%s fetch_my_trades %s failed: %s", self.spec.id, symbol, exc)
            return []
        size = self.contract_size(symbol)
        fills, bad = parse_fills(
            self.spec,
            trades,
            ingest_time=self.clock(),
            client_ids=self.by_order_id,
            contract_sizes={symbol: size},
        )
        for row, err in [*unread, *bad]:
            log.warning("%s trade refused: %s (%s)", self.spec.id, err, str(row)[:200])
        new = []
        for f in fills:
            if f.fill_id in self.seen_fills:
                continue
            self.seen_fills.add(f.fill_id)
            cid = self.by_order_id.get(f.order_id)
            if cid is not None:  # ours: link it to the arb and the command that placed it
                cmd = self.orders[cid].cmd
                m.observe_fill(self.spec.id, cmd, f.price, f.event_time, self.orders[cid].reference)
                f = f.model_copy(
                    update={
                        "correlation_id": cmd.correlation_id,
                        "causation_id": cmd.event_id,
                        "is_hedge": cmd.is_hedge,
                    }
                )
            m.FILLS.labels(self.spec.id, "true" if f.is_hedge else "false").inc()
            new.append(f)
        return new

    async def _status(self, order: _Order) -> list[Event]:
        cmd = order.cmd
        try:
            o = await self.exchange.fetch_order(order.order_id, cmd.instrument)
        except Exception as exc:
            log.warning("%s fetch_order %s failed: %s", self.spec.id, order.order_id, exc)
            return []
        status = o.get("status")
        if status not in ("canceled", "expired", "closed", "rejected"):
            return []
        order.done = True
        filled = Decimal(str(o.get("filled") or 0)) * self.contract_size(cmd.instrument)
        if status == "closed" or filled >= cmd.qty:
            return []  # fully filled: the fills tell it
        kind = (
            OrderExpired
            if cmd.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)
            else OrderCanceled
        )
        env = self._env(
            cmd,
            cmd.client_order_id,
            kind.__name__,
            o.get("lastUpdateTimestamp") or o.get("timestamp"),
        )
        return [kind(**env, order_id=order.order_id, filled_qty=filled)]


__all__ = ["REJECT_REASONS", "OrderGateway", "ParseError", "RetryPolicy", "reject_reason"]
