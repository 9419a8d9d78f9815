"""The paper venue: a deterministic simulated exchange that answers commands with the events a
real venue would send (DESIGN §7).

``PaperVenue.on_event(event) -> [events]`` takes market data (``TickerObserved``,
``FundingRateObserved``) and commands (``PlaceOrder``, ``CancelOrder``) and returns
``OrderAccepted/Rejected/Canceled/Expired``, ``FillExecuted``, ``FundingPaid`` and
``BalanceObserved``. Same inputs in the same order → same outputs, byte for byte (ids are
uuid5 of the client order id; times are event times, never the wall clock).

Model (units in names; the default models of :mod:`producers.paper.models`, each swappable —
``PaperVenue(config, fill=…, fee=…, latency=…, borrow=…, margin=…)``; the Kafka service is
:mod:`producers.paper.service`):

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
  model and its queue-position caveats: :mod:`producers.paper.maker`);
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

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal, TypeVar

from producers.paper.maker import would_take
from producers.paper.models import (
    BorrowModel,
    FeeModel,
    FeeTable,
    FillModel,
    FixedLatency,
    FlatBorrow,
    IsolatedMargin,
    LatencyModel,
    MarginModel,
    SlippageFill,
)
from projections.funding import MS_PER_HOUR, funding_payment
from projections.stand_in import stand_in_quote
from schemas.config import FeeConfig
from schemas.envelope import IdNamespace, envelope, uuid5_str
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
from schemas.trusted import trusted
from schemas.types import (
    Liquidity,
    MarketType,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
    is_inverse,
    is_spot,
    settle_currency,
)

QTY_STEP = Decimal("0.00000001")
_PAPER = IdNamespace.PAPER.value
ZERO = Decimal(0)

E = TypeVar("E", bound=Event)


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


class PaperVenue:
    """A simulated venue for every ``venue`` id it sees (each with its own account).

    The models (:mod:`producers.paper.models`) default to the ones ``config`` describes:
    :class:`SlippageFill`, :class:`FeeTable`, :class:`FixedLatency`, :class:`FlatBorrow` and
    :class:`IsolatedMargin`; pass one to swap that part alone.
    """

    def __init__(
        self,
        config: PaperConfig | None = None,
        *,
        fill: FillModel | None = None,
        fee: FeeModel | None = None,
        latency: LatencyModel | None = None,
        borrow: BorrowModel | None = None,
        margin: MarginModel | None = None,
    ) -> None:
        self.config = cfg = config or PaperConfig()
        self.fill_model = fill or SlippageFill(cfg.slippage_bps, cfg.impact_bps_per_musd)
        self.fee_model = fee or FeeTable(cfg.fees or FeeConfig())
        self.latency_model = latency or FixedLatency(cfg.latency_ms)
        self.borrow_model = borrow or FlatBorrow(cfg.borrow_rate_h)
        self.margin_model = margin or IsolatedMargin(cfg.leverage, cfg.maintenance_margin_frac)
        self.quotes: dict[tuple[str, str], _Quote] = {}
        self.positions: dict[tuple[str, str], _Position] = {}
        #: venue → its positions, in the order ``positions`` has them (balances sum per venue)
        self._venue_positions: dict[str, dict[tuple[str, str], _Position]] = {}
        self.accounts: dict[str, _Account] = {}
        self.resting: dict[str, _Resting] = {}
        self.commands: dict[str, str] = {}  # client order id → command event id
        self.fills = 0
        self._id_prefixes: dict[tuple[str, tuple[str, str]], str] = {}  # see _key_id
        #: input type → its handler (event types are final: the exact type is the key)
        self._handlers: dict[type[Event], Callable[[Any], list[Event]]] = {
            TickerObserved: self._on_quote,
            FundingRateObserved: self._on_funding,
            PlaceOrder: self._on_place,
            CancelOrder: self._on_cancel,
        }

    # -- dispatch --
    def on_event(self, event: Event) -> list[Event]:
        """The venue's answer to one input (possibly nothing)."""
        handler = self._handlers.get(type(event))
        return [] if handler is None else handler(event)

    # -- helpers --
    def _id(self, *parts: object) -> str:
        return IdNamespace.PAPER.id(*parts)

    def _key_id(self, kind: str, key: tuple[str, str], t: int) -> str:
        """``self._id(kind, key, t)`` (the name ``kind/('venue', 'instrument')/t``) with its
        prefix cached per key: a tuple's repr on every settlement cost more than its hash."""
        prefix = self._id_prefixes.get((kind, key))
        if prefix is None:
            prefix = self._id_prefixes[(kind, key)] = f"{kind}/{key}/"
        return uuid5_str(_PAPER, f"{prefix}{t}")

    def _account(self, venue: str) -> _Account:
        return self.accounts.setdefault(venue, _Account(self.config.starting_cash_usd))

    def _position(self, key: tuple[str, str]) -> _Position:
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = _Position()
            self._venue_positions.setdefault(key[0], {})[key] = pos
        return pos

    def _answer(self, model: type[E], cmd: PlaceOrder, t: int, kind: str, **fields: Any) -> E:
        """The order event ``model`` answering ``cmd`` at ``t``: its envelope (``kind`` names
        the answer in the event id) and client order id, then ``fields``; built trusted."""
        return trusted(
            model, dict(self._env(cmd, t, kind), client_order_id=cmd.client_order_id, **fields)
        )

    def _env(self, cmd: Event, t: int, kind: str, n: int = 0) -> dict[str, object]:
        event_id = self._id(getattr(cmd, "client_order_id", cmd.event_id), kind, n)
        return envelope(event_id, t, cmd.venue, cmd.instrument, cmd.event_id, cmd.correlation_id)

    # -- market data --
    def _on_quote(self, e: TickerObserved) -> list[Event]:
        key = (e.venue, e.instrument)
        self.quotes[key] = _Quote(e.bid, e.ask, e.mark_price or (e.bid + e.ask) / 2, e.event_time)
        out: list[Event] = self._accrue_borrow(key, e.event_time)
        if not self.resting:
            return out
        for cid in sorted(self.resting):
            rest = self.resting[cid]
            cmd = rest.cmd
            if (cmd.venue, cmd.instrument) != key or cmd.limit_price is None:
                continue
            if self.fill_model.trades_through(cmd, e.bid, e.ask):
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
        amount, rate = self.borrow_model.charge(key[1], pos.qty, mark, hours)
        pos.borrow_accrued_to += hours * MS_PER_HOUR
        self._account(key[0]).cash += amount
        event_id = self._id("borrow", key, pos.borrow_accrued_to)
        return [
            trusted(
                FundingPaid,
                dict(
                    envelope(event_id, t, key[0], key[1], None, pos.arb_id),
                    funding_time=t,
                    position_qty=pos.qty,
                    funding_rate=rate,
                    mark_price=mark,
                    amount=amount,
                    amount_currency=settle_currency(key[1]),
                    funding_id=f"borrow:{key[1]}:{pos.borrow_accrued_to}",
                ),
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
        event_id = self._key_id("funding", key, t)
        return [
            trusted(
                FundingPaid,
                dict(
                    envelope(event_id, t, e.venue, e.instrument, e.event_id, pos.arb_id),
                    funding_time=t,
                    position_qty=pos.qty,
                    funding_rate=e.funding_rate,
                    mark_price=mark,
                    amount=amount,
                    amount_currency=settle_currency(e.instrument),
                    funding_id=f"{e.instrument}:{t}",
                ),
            ),
            self._balance(e.venue, e.instrument, t, None),
        ]

    # -- orders --
    def _on_place(self, cmd: PlaceOrder) -> list[Event]:
        t = self.latency_model.arrival_ms(cmd)
        seen = self.commands.get(cmd.client_order_id)
        if seen is not None:
            if seen == cmd.event_id:
                return []  # the same command again (replay/restart): already answered
            return [
                self._answer(
                    OrderRejected,
                    cmd,
                    t,
                    "dup",
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
                self._answer(
                    OrderRejected,
                    cmd,
                    t,
                    "rejected",
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
            self.fee_model.check(cmd.venue)
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
            self._answer(
                OrderAccepted,
                cmd,
                t,
                "accepted",
                order_id=order_id,
            )
        ]
        if not crosses:
            if cmd.time_in_force in (TimeInForce.GTC, TimeInForce.PO):
                self.resting[cmd.client_order_id] = _Resting(cmd, order_id)
                return out
            out.append(
                self._answer(
                    OrderExpired,
                    cmd,
                    t,
                    "expired",
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
            price = self.fill_model.taker_price(cmd, quote.bid, quote.ask)
            out += self._fill(cmd, order_id, qty, price, Liquidity.taker, t)
        if qty < cmd.qty:
            if cmd.time_in_force is TimeInForce.GTC:
                self.resting[cmd.client_order_id] = _Resting(cmd, order_id, filled=qty)
            else:
                out.append(
                    self._answer(
                        OrderExpired,
                        cmd,
                        t,
                        "expired",
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

    def _fill(
        self,
        cmd: PlaceOrder,
        order_id: str,
        qty: Decimal,
        price: Decimal,
        liquidity: Liquidity,
        t: int,
    ) -> list[Event]:
        fee = self.fee_model.fee(cmd.venue, liquidity, qty, price)
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
            trusted(
                FillExecuted,
                dict(
                    self._env(cmd, t, "fill", self.fills),
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
                ),
            )
        ]

    def _on_cancel(self, cmd: CancelOrder) -> list[Event]:
        rest = self.resting.pop(cmd.client_order_id, None)
        if rest is None:
            return []  # unknown or already done: nothing to cancel (a venue errors, we stay quiet)
        t = self.latency_model.arrival_ms(cmd)
        return [
            self._answer(
                OrderCanceled,
                rest.cmd,
                t,
                "canceled",
                order_id=rest.order_id,
                filled_qty=rest.filled,
                detail=cmd.detail,
            )
        ]

    # -- balances --
    def equity(self, venue: str) -> Decimal:
        """Cash plus unrealised PnL of the venue's positions (USD)."""
        return self._marked(venue)[0]

    def _marked(self, venue: str) -> tuple[Decimal, Decimal]:
        """(equity, gross notional) of ``venue`` in USD: cash + Σ qty × (mark − entry), and
        Σ |qty| × mark, over its open positions with a quote, in the order they opened (the
        sums' order of operations, so their digits, are those of a scan of every position)."""
        equity = self._account(venue).cash
        gross = ZERO
        quotes = self.quotes
        for key, pos in self._venue_positions.get(venue, {}).items():
            if pos.qty != 0 and key in quotes:
                mark = quotes[key].mark
                equity += pos.qty * (mark - pos.avg)
                gross += abs(pos.qty) * mark
        return equity, gross

    def _balance(self, venue: str, instrument: str, t: int, cause: Event | None) -> BalanceObserved:
        margin = self.margin_model
        equity, gross = self._marked(venue)
        pos = self.positions.get((venue, instrument)) or _Position()
        used = margin.used(gross)
        event_id = uuid5_str(_PAPER, f"balance/{venue}/{instrument}/{t}/{self.fills}")  # = _id
        cause_id, arb_id = (cause.event_id, cause.correlation_id) if cause else (None, pos.arb_id)
        return trusted(
            BalanceObserved,
            dict(
                envelope(event_id, t, venue, instrument, cause_id, arb_id),
                currency=settle_currency(instrument),
                total=equity,
                free=equity - used,
                used=used,
                equity_usd=equity,
                margin_ratio=margin.margin_ratio(gross, equity),
                position_qty=pos.qty,
                entry_price=pos.avg if pos.qty else None,
                liquidation_price=margin.liquidation_price(pos.qty, pos.avg),
                leverage=margin.leverage,
            ),
        )
