"""The paper venue: a deterministic simulated exchange that answers commands with the events a
real venue would send (DESIGN §7).

``PaperVenue.on_event(event) -> [events]`` takes market data (``TickerObserved``,
``FundingRateObserved``) and commands (``PlaceOrder``, ``CancelOrder``) and returns
``OrderAccepted/Rejected/Canceled/Expired``, ``FillExecuted``, ``FundingPaid`` and
``BalanceObserved``. Same inputs in the same order → same outputs, byte for byte (ids are
uuid5 of the client order id; times are event times, never the wall clock).

Model (units in names):

* a command placed at ``t`` reaches the venue at ``t + latency_ms``; responses carry that time;
* market/IOC/FOK orders fill against the current quote: buys at ``ask × (1 + slip)``, sells at
  ``bid × (1 − slip)``, capped at a limit price; ``slip = slippage_bps + impact_bps_per_musd ×
  notional_usd / 1e6`` (in bps); IOC leaves the rest to expire, FOK fills all or nothing;
* a taker order never fills against a stale quote: when the venue's own last quote is older
  than ``max_quote_age_ms`` (the strategy's ``feeds.ticker_ttl_ms``, 2 h by default) it fills
  against the stand-in of :mod:`projections.stand_in` (the other venues' fresh median mid), the
  same quote the executor priced the order on;
* a GTC limit that does not cross rests and fills (maker, at its limit) when a later quote
  trades through it; post-only (PO) orders that would cross are rejected (the maker fill
  model and its queue-position caveats: :mod:`producers.paper_maker`);
* fees from the same fee table as the strategy (``FeeConfig``): taker for crossing fills, maker
  for resting ones, charged in the settle/quote currency;
* funding: at each settled ``FundingRateObserved`` every open position on that market receives
  ``−qty × mark × rate`` (:func:`projections.funding.funding_payment`), with the row's mark
  price or else the last quote's mark;
* borrow: a short spot position pays ``|qty| × mark × borrow_rate_h`` per hour, accrued on
  quotes and booked as a ``FundingPaid`` on the spot market (the position book reads it as
  borrow);
* balances: equity = starting cash + realised PnL + funding − fees + unrealised PnL;
  margin ratio = Σ |qty| × mark × maintenance_margin_frac / equity; an isolated-margin
  liquidation price per position: long ``entry × (1 − 1/leverage + mmr)``, short
  ``entry × (1 + 1/leverage − mmr)``;
* faults for tests: ``faults[client_order_id]`` rejects an order or fills only a fraction.
"""

from __future__ import annotations

import decimal
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from producers.paper_maker import trades_through, would_take
from projections.funding import MS_PER_HOUR, funding_payment, venue_fees
from projections.stand_in import stand_in_quote
from schemas.config import FeeConfig
from schemas.events import (
    BalanceObserved,
    CancelOrder,
    Event,
    FillExecuted,
    FundingPaid,
    FundingRateObserved,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    PlaceOrder,
    TickerObserved,
)
from schemas.types import (
    Liquidity,
    MarketType,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
    is_inverse,
    is_spot,
)

PAPER_NS = uuid.UUID("2b7e9c4d-5a1f-4e3b-8d6c-1f0e9a8b7c6d")
BPS = Decimal("0.0001")
QTY_STEP = Decimal("0.00000001")
ZERO = Decimal(0)


@dataclass(frozen=True)
class Fault:
    """Scripted behaviour for one client order id (tests): reject it, or fill a fraction."""

    kind: Literal["reject", "partial"]
    fill_frac: Decimal = Decimal("0.5")
    reason: RejectReason = RejectReason.insufficient_margin


@dataclass
class PaperConfig:
    """Paper venue parameters (units in names)."""

    fees: FeeConfig | None = None  # None: the default table; a backtest passes its config's
    latency_ms: int = 50
    slippage_bps: Decimal = Decimal("1")
    impact_bps_per_musd: Decimal = Decimal("5")
    leverage: Decimal = Decimal("3")
    maintenance_margin_frac: Decimal = Decimal("0.005")
    borrow_rate_h: Decimal = Decimal("0.000005")
    starting_cash_usd: Decimal = Decimal("100000")
    max_quote_age_ms: int = 7_200_000  # older own quotes: fill against a stand-in (docstring)
    faults: dict[str, Fault] = field(default_factory=dict)


@dataclass
class _Quote:
    bid: Decimal
    ask: Decimal
    mark: Decimal
    time: int


@dataclass
class _Position:
    qty: Decimal = ZERO
    avg: Decimal = ZERO
    arb_id: str | None = None
    borrow_accrued_to: int = 0


@dataclass
class _Resting:
    cmd: PlaceOrder
    order_id: str
    filled: Decimal = ZERO


@dataclass
class _Account:
    cash: Decimal  # USD: starting cash + realised − fees + funding − borrow


def settle_currency(instrument: str) -> str:
    """Currency fees and funding are paid in: the settle currency, or the quote for spot."""
    quote = instrument.split("/", 1)[1]
    return quote.split(":", 1)[1] if ":" in quote else quote


class PaperVenue:
    """A simulated venue for every ``venue`` id it sees (each with its own account)."""

    def __init__(self, config: PaperConfig | None = None) -> None:
        self.config = config or PaperConfig()
        self.fees = self.config.fees or FeeConfig()
        self.quotes: dict[tuple[str, str], _Quote] = {}
        self.positions: dict[tuple[str, str], _Position] = {}
        self.accounts: dict[str, _Account] = {}
        self.resting: dict[str, _Resting] = {}
        self.commands: dict[str, str] = {}  # client order id → command event id
        self.fills = 0

    # -- dispatch --
    def on_event(self, event: Event) -> list[Event]:
        """The venue's answer to one input (possibly nothing)."""
        if isinstance(event, TickerObserved):
            return self._on_quote(event)
        if isinstance(event, FundingRateObserved):
            return self._on_funding(event)
        if isinstance(event, PlaceOrder):
            return self._on_place(event)
        if isinstance(event, CancelOrder):
            return self._on_cancel(event)
        return []

    # -- helpers --
    def _id(self, *parts: object) -> str:
        return str(uuid.uuid5(PAPER_NS, "/".join(str(p) for p in parts)))

    def _account(self, venue: str) -> _Account:
        return self.accounts.setdefault(venue, _Account(self.config.starting_cash_usd))

    def _position(self, key: tuple[str, str]) -> _Position:
        return self.positions.setdefault(key, _Position())

    def _env(self, cmd: Event, t: int, kind: str, n: int = 0) -> dict[str, object]:
        return {
            "event_id": self._id(getattr(cmd, "client_order_id", cmd.event_id), kind, n),
            "event_time": t,
            "ingest_time": t,
            "venue": cmd.venue,
            "instrument": cmd.instrument,
            "correlation_id": cmd.correlation_id,
            "causation_id": cmd.event_id,
        }

    # -- market data --
    def _on_quote(self, e: TickerObserved) -> list[Event]:
        key = (e.venue, e.instrument)
        self.quotes[key] = _Quote(e.bid, e.ask, e.mark_price or (e.bid + e.ask) / 2, e.event_time)
        out: list[Event] = self._accrue_borrow(key, e.event_time)
        for cid in sorted(self.resting):
            rest = self.resting[cid]
            cmd = rest.cmd
            if (cmd.venue, cmd.instrument) != key or cmd.limit_price is None:
                continue
            if trades_through(cmd.side, cmd.limit_price, e.bid, e.ask):
                qty = cmd.qty - rest.filled
                out += self._fill(
                    cmd, rest.order_id, qty, cmd.limit_price, Liquidity.maker, e.event_time
                )
                del self.resting[cid]
                out.append(self._balance(cmd.venue, cmd.instrument, e.event_time, cmd))
        return out

    def _accrue_borrow(self, key: tuple[str, str], t: int) -> list[Event]:
        pos = self.positions.get(key)
        if pos is None or not is_spot(key[1]) or pos.qty >= 0:
            if pos is not None:
                pos.borrow_accrued_to = t
            return []
        hours = (t - pos.borrow_accrued_to) // MS_PER_HOUR
        if hours <= 0:
            return []
        mark = self.quotes[key].mark
        amount = -(abs(pos.qty) * mark * self.config.borrow_rate_h * hours)
        pos.borrow_accrued_to += hours * MS_PER_HOUR
        self._account(key[0]).cash += amount
        return [
            FundingPaid(
                event_id=self._id("borrow", key, pos.borrow_accrued_to),
                event_time=t,
                ingest_time=t,
                venue=key[0],
                instrument=key[1],
                correlation_id=pos.arb_id,
                funding_time=t,
                position_qty=pos.qty,
                funding_rate=self.config.borrow_rate_h * hours,
                mark_price=mark,
                amount=amount,
                amount_currency=settle_currency(key[1]),
                funding_id=f"borrow:{key[1]}:{pos.borrow_accrued_to}",
            )
        ]

    def _on_funding(self, e: FundingRateObserved) -> list[Event]:
        key = (e.venue, e.instrument)
        pos = self.positions.get(key)
        if not e.settled or pos is None or pos.qty == 0:
            return []
        quote = self.quotes.get(key)
        mark = e.mark_price or (quote.mark if quote else None)
        if mark is None:
            return []  # no price to settle at: nothing a venue could pay
        amount = funding_payment(pos.qty, mark, e.funding_rate)
        self._account(e.venue).cash += amount
        t = e.funding_time
        return [
            FundingPaid(
                event_id=self._id("funding", key, t),
                event_time=t,
                ingest_time=t,
                venue=e.venue,
                instrument=e.instrument,
                correlation_id=pos.arb_id,
                causation_id=e.event_id,
                funding_time=t,
                position_qty=pos.qty,
                funding_rate=e.funding_rate,
                mark_price=mark,
                amount=amount,
                amount_currency=settle_currency(e.instrument),
                funding_id=f"{e.instrument}:{t}",
            ),
            self._balance(e.venue, e.instrument, t, None),
        ]

    # -- orders --
    def _on_place(self, cmd: PlaceOrder) -> list[Event]:
        t = cmd.event_time + self.config.latency_ms
        seen = self.commands.get(cmd.client_order_id)
        if seen is not None:
            if seen == cmd.event_id:
                return []  # the same command again (replay/restart): already answered
            return [
                OrderRejected(
                    **self._env(cmd, t, "dup"),  # type: ignore[arg-type]
                    client_order_id=cmd.client_order_id,
                    reject_reason=RejectReason.duplicate_client_order_id,
                    message="client order id already used",
                )
            ]
        self.commands[cmd.client_order_id] = cmd.event_id
        key = (cmd.venue, cmd.instrument)
        quote = self.quotes.get(key)
        fault = self.config.faults.get(cmd.client_order_id)

        def reject(reason: RejectReason, message: str) -> list[Event]:
            return [
                OrderRejected(
                    **self._env(cmd, t, "rejected"),  # type: ignore[arg-type]
                    client_order_id=cmd.client_order_id,
                    reject_reason=reason,
                    message=message,
                )
            ]

        if quote is not None:
            quote = self.fill_quote(key, t)
        if is_inverse(cmd.instrument):
            return reject(
                RejectReason.invalid_order,
                f"{cmd.instrument} is an inverse (coin-margined) contract: not supported",
            )
        if quote is None:
            return reject(RejectReason.no_liquidity, f"no quote for {cmd.venue} {cmd.instrument}")
        if fault is not None and fault.kind == "reject":
            return reject(fault.reason, "scripted rejection")
        try:
            venue_fees(self.fees, cmd.venue)
        except ValueError as exc:
            return reject(RejectReason.invalid_order, str(exc))
        crosses = cmd.order_type is OrderType.market or (
            cmd.limit_price is not None
            and would_take(cmd.side, cmd.limit_price, quote.bid, quote.ask)
        )
        if cmd.time_in_force is TimeInForce.PO and crosses:
            return reject(
                RejectReason.post_only_would_cross, "post-only order would take liquidity"
            )
        order_id = "paper-" + self._id("order", cmd.client_order_id)[:18]
        out: list[Event] = [
            OrderAccepted(
                **self._env(cmd, t, "accepted"),  # type: ignore[arg-type]
                client_order_id=cmd.client_order_id,
                order_id=order_id,
            )
        ]
        if not crosses:
            if cmd.time_in_force in (TimeInForce.GTC, TimeInForce.PO):
                self.resting[cmd.client_order_id] = _Resting(cmd, order_id)
                return out
            out.append(
                OrderExpired(
                    **self._env(cmd, t, "expired"),  # type: ignore[arg-type]
                    client_order_id=cmd.client_order_id,
                    order_id=order_id,
                    filled_qty=ZERO,
                )
            )
            return out
        qty = cmd.qty
        if fault is not None and fault.kind == "partial":
            qty = (cmd.qty * fault.fill_frac).quantize(QTY_STEP, rounding=ROUND_DOWN)
        if cmd.time_in_force is TimeInForce.FOK and qty < cmd.qty:
            qty = ZERO
        if qty > 0:
            out += self._fill(cmd, order_id, qty, self._taker_price(cmd, quote), Liquidity.taker, t)
        if qty < cmd.qty:
            if cmd.time_in_force is TimeInForce.GTC:
                self.resting[cmd.client_order_id] = _Resting(cmd, order_id, filled=qty)
            else:
                out.append(
                    OrderExpired(
                        **self._env(cmd, t, "expired"),  # type: ignore[arg-type]
                        client_order_id=cmd.client_order_id,
                        order_id=order_id,
                        filled_qty=qty,
                    )
                )
        out.append(self._balance(cmd.venue, cmd.instrument, t, cmd))
        return out

    def fill_quote(self, key: tuple[str, str], t: int) -> _Quote:
        """The quote a taker order on ``key`` = (venue, instrument) reaching the venue at ``t``
        (ms UTC) fills against: the own last quote, or its stand-in once older than
        ``max_quote_age_ms`` (:func:`projections.stand_in.stand_in_quote`). Raises ``KeyError``
        when ``key`` has no quote at all."""
        own = self.quotes[key]
        rows = [(v, i, q.bid, q.ask, q.time) for (v, i), q in self.quotes.items()]
        bid, ask = stand_in_quote(
            (key[0], key[1], own.bid, own.ask, own.time), rows, t, self.config.max_quote_age_ms
        )
        if bid == own.bid and ask == own.ask:
            return own
        return _Quote(bid, ask, (bid + ask) / 2, own.time)

    def _taker_price(self, cmd: PlaceOrder, quote: _Quote) -> Decimal:
        touch = quote.ask if cmd.side is Side.buy else quote.bid
        notional = cmd.qty * touch
        slip = (
            self.config.slippage_bps + self.config.impact_bps_per_musd * notional / 1_000_000
        ) * BPS
        price = touch * (1 + slip) if cmd.side is Side.buy else touch * (1 - slip)
        if cmd.limit_price is not None:
            price = (
                min(price, cmd.limit_price) if cmd.side is Side.buy else max(price, cmd.limit_price)
            )
        return price.quantize(Decimal("1e-8"), ROUND_HALF_EVEN)

    def _fill(
        self,
        cmd: PlaceOrder,
        order_id: str,
        qty: Decimal,
        price: Decimal,
        liquidity: Liquidity,
        t: int,
    ) -> list[Event]:
        fees = venue_fees(self.fees, cmd.venue)
        rate = fees.maker if liquidity is Liquidity.maker else fees.taker
        fee = (qty * price * rate).quantize(Decimal("1e-8"), ROUND_HALF_EVEN)
        key = (cmd.venue, cmd.instrument)
        pos = self._position(key)
        signed = qty if cmd.side is Side.buy else -qty
        account = self._account(cmd.venue)
        # realised PnL on the closed part (average cost), the rest re-averages
        if pos.qty != 0 and (pos.qty > 0) != (signed > 0):
            closed = min(abs(signed), abs(pos.qty))
            direction = 1 if pos.qty > 0 else -1
            account.cash += closed * (price - pos.avg) * direction
            new = pos.qty + signed
            pos.avg = ZERO if new == 0 else (pos.avg if (new > 0) == (pos.qty > 0) else price)
            pos.qty = new
        else:
            new = pos.qty + signed
            pos.avg = (abs(pos.qty) * pos.avg + qty * price) / abs(new)
            pos.qty = new
        if pos.qty != 0:
            pos.arb_id = cmd.correlation_id or pos.arb_id
            pos.borrow_accrued_to = pos.borrow_accrued_to or t
        account.cash -= fee
        self.fills += 1
        return [
            FillExecuted(
                **self._env(cmd, t, "fill", self.fills),  # type: ignore[arg-type]
                fill_id=f"pf-{self._id('fill', cmd.client_order_id, self.fills)[:20]}",
                order_id=order_id,
                client_order_id=cmd.client_order_id,
                side=cmd.side,
                qty=qty,
                price=price,
                fee=fee,
                fee_currency=settle_currency(cmd.instrument),
                liquidity=liquidity,
                market_type=MarketType.spot if is_spot(cmd.instrument) else MarketType.perp,
                is_hedge=cmd.is_hedge,
            )
        ]

    def _on_cancel(self, cmd: CancelOrder) -> list[Event]:
        rest = self.resting.pop(cmd.client_order_id, None)
        if rest is None:
            return []  # unknown or already done: nothing to cancel (a venue errors, we stay quiet)
        t = cmd.event_time + self.config.latency_ms
        return [
            OrderCanceled(
                **self._env(rest.cmd, t, "canceled"),  # type: ignore[arg-type]
                client_order_id=cmd.client_order_id,
                order_id=rest.order_id,
                filled_qty=rest.filled,
                detail=cmd.detail,
            )
        ]

    # -- balances --
    def equity(self, venue: str) -> Decimal:
        """Cash plus unrealised PnL of the venue's positions (USD)."""
        total = self._account(venue).cash
        for (v, inst), pos in self.positions.items():
            if v == venue and pos.qty != 0 and (v, inst) in self.quotes:
                total += pos.qty * (self.quotes[(v, inst)].mark - pos.avg)
        return total

    def _balance(self, venue: str, instrument: str, t: int, cause: Event | None) -> BalanceObserved:
        mmr, lev = self.config.maintenance_margin_frac, self.config.leverage
        gross = sum(
            (
                abs(p.qty) * self.quotes[k].mark
                for k, p in self.positions.items()
                if k[0] == venue and p.qty != 0 and k in self.quotes
            ),
            ZERO,
        )
        equity = self.equity(venue)
        pos = self.positions.get((venue, instrument)) or _Position()
        liq = None
        if pos.qty > 0:
            liq = pos.avg * (1 - 1 / lev + mmr)
        elif pos.qty < 0:
            liq = pos.avg * (1 + 1 / lev - mmr)
        used = gross / lev
        return BalanceObserved(
            event_id=self._id("balance", venue, instrument, t, self.fills),
            event_time=t,
            ingest_time=t,
            venue=venue,
            instrument=instrument,
            correlation_id=cause.correlation_id if cause else pos.arb_id,
            causation_id=cause.event_id if cause else None,
            currency=settle_currency(instrument),
            total=equity,
            free=equity - used,
            used=used,
            equity_usd=equity,
            margin_ratio=(gross * mmr / equity).quantize(Decimal("1e-10"), ROUND_HALF_EVEN)
            if equity > 0
            else None,
            position_qty=pos.qty,
            entry_price=pos.avg if pos.qty else None,
            liquidation_price=liq.quantize(Decimal("1e-8"), ROUND_HALF_EVEN)
            if liq is not None and liq > 0
            else None,
            leverage=lev,
        )


async def run_paper_venue(
    settings: object, config: PaperConfig | None = None, *, drain_ms: int | None = None
) -> dict[str, int]:
    """The paper venue as a Kafka service (``fundarb paper``, ``fundarb live --paper``).

    Consumes ``md.tickers``, ``md.funding`` and ``orders.commands`` of the run (prefix) and
    publishes its answers to ``orders.events``, ``acct.fills``, ``acct.funding`` and
    ``acct.balances``. Live, records are answered in arrival order against the latest quote
    (what a real venue does); backtests use the deterministic in-process loop instead
    (``streams/simulation.py``). Bad records go to the dead-letter topic.
    """
    # ccxt's number formatting sets the *current* decimal context to ROUND_HALF_UP and traps
    # Underflow (ccxt/base/decimal_to_precision.py); in `fundarb live --paper` it shares the
    # process, so this task keeps a fresh default context of its own (rounding half-even,
    # as in a backtest: the same fills and fees, to the last digit)
    decimal.setcontext(decimal.Context())
    from aiokafka import AIOKafkaConsumer

    from infra import metrics as m
    from infra.kafka_io import DeadLetters, EventProducer, consume_events, start_consumer
    from schemas.serde import Serializer

    venue = PaperVenue(config)
    placed: dict[str, tuple[PlaceOrder, Decimal | None]] = {}  # client id → (cmd, reference)
    serializer = Serializer()
    topics = [settings.topic(n) for n in ("md.tickers", "md.funding", "orders.commands")]  # type: ignore[attr-defined]
    counts = {"inputs": 0, "outputs": 0}
    async with EventProducer(settings, serializer=serializer) as producer:  # type: ignore[arg-type]
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=settings.bootstrap_servers or settings.bootstrap,  # type: ignore[attr-defined]
            auto_offset_reset="earliest",
            group_id=f"fundarb-paper-{settings.topic_prefix or 'default'}",  # type: ignore[attr-defined]
        )
        await start_consumer(consumer)
        try:
            async for _record, event in consume_events(
                consumer, serializer, DeadLetters(producer), idle_timeout_ms=drain_ms
            ):
                counts["inputs"] += 1
                if isinstance(event, PlaceOrder):
                    quote = venue.quotes.get((event.venue, event.instrument))
                    mid = (quote.bid + quote.ask) / 2 if quote is not None else None
                    placed[event.client_order_id] = (event, event.limit_price or mid)
                    while len(placed) > 100_000:  # bounded: the oldest commands go first
                        placed.pop(next(iter(placed)))
                for answer in venue.on_event(event):
                    observe_paper(m, answer, placed)
                    await producer.send(answer)
                    counts["outputs"] += 1
        finally:
            await consumer.stop()
            await producer.flush()
    return counts


def observe_paper(
    m: Any, answer: Event, placed: dict[str, tuple[PlaceOrder, Decimal | None]]
) -> None:
    """The paper venue's order metrics (the gateway's, :mod:`infra.metrics` ``m``): rejections
    by reason, fills, and each fill's slippage and hedge latency against its command."""
    if isinstance(answer, OrderRejected):
        m.ORDER_FAILURES.labels(answer.venue, answer.reject_reason.value).inc()
    elif isinstance(answer, FillExecuted):
        m.FILLS.labels(answer.venue, "true" if answer.is_hedge else "false").inc()
        cmd, reference = placed.get(answer.client_order_id or "", (None, None))
        if cmd is not None:
            m.observe_fill(answer.venue, cmd, answer.price, answer.event_time, reference)
