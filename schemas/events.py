"""Typed events: pydantic models that mirror the Avro schemas in ``schemas/avro/``.

Every event carries one envelope (DESIGN §4, CONVENTIONS §3):

``event_id``       UUID (lowercase canonical string)
``event_time``     ms UTC when it happened at the venue (or, for our own decisions, the event
                   time of the input that caused it — never the wall clock)
``ingest_time``    ms UTC when we saw it (our clock; informational, never used to decide)
``venue``          ccxt exchange id, or ``fundarb`` for events of our own not tied to one venue
``instrument``     ccxt unified symbol (``BTC/USDT:USDT`` perp, ``BTC/USDT`` spot), or a bare
                   asset/currency code for asset- or account-level events
``schema_version`` version of this event type's schema the object conforms to
``correlation_id`` the arb or workflow it belongs to (``None`` for market data)
``causation_id``   ``event_id`` of the event that caused it (``None`` for market data)

Names: facts are past tense (``FundingRateObserved``), commands imperative (``PlaceOrder``).
Invariants are enforced at construction; a violation raises ``pydantic.ValidationError`` whose
message names the field and the rule.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.types import (
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    Breaker,
    BreakerAction,
    Code,
    Dec,
    EventId,
    ExitReason,
    FundingRate,
    Id,
    Instrument,
    Liquidity,
    MarketType,
    Millis,
    MillisOrZero,
    NonNegativeDec,
    OptId,
    OrderType,
    PositiveDec,
    RejectReason,
    Severity,
    Side,
    Symbol,
    Text,
    TimeInForce,
    Venue,
    base_asset,
    is_spot,
)


class Event(BaseModel):
    """The envelope every event carries (see module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    #: Current schema version of the type; bump with a new ``.avsc`` and an upcaster.
    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: EventId
    event_time: Millis
    ingest_time: Millis
    venue: Venue
    instrument: Instrument
    schema_version: int = Field(default=1, ge=1)
    correlation_id: OptId | None = None
    causation_id: OptId | None = None

    @model_validator(mode="before")
    @classmethod
    def _current_version(cls, data: Any) -> Any:
        # an event built in code is of the current version; decoded old versions are
        # upcast (schemas.evolution) before they reach the model
        if isinstance(data, dict) and "schema_version" not in data:
            return {**data, "schema_version": cls.SCHEMA_VERSION}
        return data

    @model_validator(mode="after")
    def _version_is_current(self) -> Self:
        if self.schema_version != self.SCHEMA_VERSION:
            raise ValueError(
                f"{type(self).__name__} schema_version {self.schema_version} is not the current "
                f"{self.SCHEMA_VERSION}: old versions must be upcast first"
            )
        return self

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__

    @property
    def key(self) -> str:
        """Kafka key: the base asset (``BTC``) for everything about an asset (DESIGN §4)."""
        return base_asset(self.instrument)


# ---- market data (md.*) --------------------------------------------------------------------
class FundingRateObserved(Event):
    """A venue's funding rate for a perpetual (or the zero sentinel for spot).

    ``funding_rate`` is a fraction **per funding interval** (0.0001 = 1 bp per interval);
    positive means longs pay shorts. ``funding_interval_h`` is the venue's interval in hours
    (``0`` = not reported: infer it from ``next_funding_time`` deltas, DESIGN §10).
    ``funding_time`` is the settlement time the rate applies to (ms UTC), ``next_funding_time``
    the settlement after the current one as the venue reports it (``0`` = unknown / n.a.).
    ``settled`` is true for a rate that was settled (history) and false for a live estimate.
    Spot instruments carry the sentinel ``funding_rate=0, next_funding_time=0,
    funding_interval_h=0``.
    """

    instrument: Symbol  # a market: BASE/QUOTE[:SETTLE], never a bare asset

    funding_rate: FundingRate
    funding_interval_h: int = Field(ge=0, le=24 * 7)
    funding_time: MillisOrZero
    next_funding_time: MillisOrZero = 0
    predicted_rate: FundingRate | None = None
    mark_price: PositiveDec | None = None
    index_price: PositiveDec | None = None
    settled: bool = False

    @model_validator(mode="after")
    def _spot_sentinel(self) -> Self:
        if is_spot(self.instrument):
            if self.funding_rate != 0 or self.next_funding_time != 0 or self.funding_interval_h:
                raise ValueError(
                    "spot instruments have no funding: funding_rate=0, next_funding_time=0 and "
                    "funding_interval_h=0 (the spot sentinel)"
                )
        elif self.funding_time == 0:
            raise ValueError("a perpetual's funding_time must be a ms UTC timestamp, not 0")
        if (
            self.next_funding_time
            and self.funding_time
            and self.next_funding_time < self.funding_time
        ):
            raise ValueError("next_funding_time is before funding_time")
        return self


class TickerObserved(Event):
    """Top of book and reference prices (quote currency per base unit).

    ``quote_volume_24h`` is the rolling 24h traded volume in quote currency.
    """

    instrument: Symbol  # a market: BASE/QUOTE[:SETTLE], never a bare asset

    bid: PositiveDec
    ask: PositiveDec
    last: PositiveDec | None = None
    mark_price: PositiveDec | None = None
    index_price: PositiveDec | None = None
    quote_volume_24h: NonNegativeDec | None = None

    @model_validator(mode="after")
    def _not_crossed(self) -> Self:
        if self.bid > self.ask:
            raise ValueError(f"crossed book: bid {self.bid} > ask {self.ask}")
        return self


# ---- account (acct.*) ----------------------------------------------------------------------
class FillExecuted(Event):
    """An execution of one of our orders at a venue.

    ``qty`` base units (> 0), ``price`` quote per base (> 0). ``fee`` is what we paid in
    ``fee_currency`` (negative = rebate received). ``fill_id`` is the venue's trade id: the
    position projection ignores a fill id it has already applied.
    """

    instrument: Symbol  # a market: BASE/QUOTE[:SETTLE], never a bare asset

    fill_id: Id
    order_id: Id
    client_order_id: Id
    side: Side
    qty: PositiveDec
    price: PositiveDec
    fee: Dec
    fee_currency: Code
    liquidity: Liquidity
    market_type: MarketType = MarketType.perp
    is_hedge: bool = False

    @model_validator(mode="after")
    def _market_type_matches_symbol(self) -> Self:
        spot = is_spot(self.instrument)
        if spot != (self.market_type is MarketType.spot):
            raise ValueError(f"market_type {self.market_type} does not match {self.instrument}")
        return self


class FundingPaid(Event):
    """A funding settlement on a position.

    Sign convention: ``amount`` > 0 means **received**, < 0 paid, in ``amount_currency``
    (quote/settle currency). ``position_qty`` is signed base units (> 0 long).
    For a linear perp: ``amount = -position_qty × mark_price × funding_rate``
    (longs pay when the rate is positive; DESIGN §1).
    """

    instrument: Symbol  # a market: BASE/QUOTE[:SETTLE], never a bare asset

    funding_time: Millis
    position_qty: Dec
    funding_rate: FundingRate
    mark_price: PositiveDec
    amount: Dec
    amount_currency: Code
    funding_id: Id


class BalanceObserved(Event):
    """Account balance and margin state at a venue (``instrument`` = currency code or symbol).

    ``total = free + used`` in ``currency``. ``margin_ratio`` = maintenance margin / equity
    (a fraction; 1 means liquidation) where the venue reports it. ``position_qty`` (signed
    base units), ``entry_price`` and ``liquidation_price`` describe the position in
    ``instrument`` when the event is about one.
    """

    currency: Code
    total: Dec
    free: Dec
    used: Dec
    equity_usd: Dec | None = None
    margin_ratio: NonNegativeDec | None = None
    position_qty: Dec | None = None
    entry_price: PositiveDec | None = None
    liquidation_price: NonNegativeDec | None = None
    leverage: PositiveDec | None = None

    @property
    def key(self) -> str:
        """Balances are keyed by venue (DESIGN §4)."""
        return self.venue


# ---- strategy (strategy.intents) -----------------------------------------------------------
class TargetLeg(BaseModel):
    """One leg of a target state: signed target quantity in base units (> 0 long)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    venue: Venue
    instrument: Symbol
    market_type: MarketType
    target_qty: Dec
    margin: bool = False  # spot short on margin (borrowed base asset)

    @model_validator(mode="after")
    def _spot_shorts_need_margin(self) -> Self:
        if self.market_type is MarketType.spot and self.target_qty < 0 and not self.margin:
            raise ValueError("a short spot leg needs margin=True (borrowed base asset)")
        if (self.market_type is MarketType.spot) != is_spot(self.instrument):
            raise ValueError(f"market_type {self.market_type} does not match {self.instrument}")
        return self


class TargetPositionSet(Event):
    """Declarative target state of one strategy's target (``correlation_id`` = ``arb_id``).

    ``strategy_id`` names the strategy that set it (``[[strategies]]`` id); ``arb_id`` is the
    target's id within it (an arb for the funding arbitrage, a grid for a grid). The executor
    reconciles actual positions towards ``legs``, one target in flight per (strategy, asset);
    ``revision`` increases with each new target for the same id. ``target_notional_usd`` is
    per leg, in USD. ``expected_apr`` is the fee-adjusted edge that justified an arb's entry
    (fraction per year; ``None`` for strategies without one, such as a grid). Legs are
    ordered: ``legs[0]`` is executed first, ``legs[1]`` hedges it.

    Schema v2 added ``strategy_id`` and made ``expected_apr`` optional; v1 records (all of
    them the funding arbitrage's) are upcast with ``strategy_id = "funding_arb"``
    (:mod:`schemas.evolution`).
    """

    SCHEMA_VERSION: ClassVar[int] = 2

    strategy_id: Id
    arb_id: Id
    revision: int = Field(ge=0)
    legs: list[TargetLeg] = Field(min_length=1, max_length=4)
    target_notional_usd: NonNegativeDec
    expected_apr: Dec | None = None
    entry_spread_apr: Dec | None = None
    reason: Text = ""


class ExitRequested(Event):
    """Close a strategy's target (``arb_id``): every leg to zero, with the reason.

    Schema v2 added ``strategy_id`` (v1 records are the funding arbitrage's, upcast with
    ``strategy_id = "funding_arb"``).
    """

    SCHEMA_VERSION: ClassVar[int] = 2

    strategy_id: Id
    arb_id: Id
    revision: int = Field(ge=0)
    exit_reason: ExitReason
    detail: Text = ""


# ---- orders (orders.commands / orders.events) ----------------------------------------------
class PlaceOrder(Event):
    """Command: place an order. ``client_order_id`` is deterministic per (arb, step, leg).

    ``qty`` base units; ``limit_price`` quote per base, required for limit orders.
    ``margin`` borrows for a spot short; ``reduce_only`` on exits of perp legs.
    """

    instrument: Symbol  # a market: BASE/QUOTE[:SETTLE], never a bare asset

    client_order_id: str = Field(min_length=1, max_length=64)
    arb_id: Id
    step: int = Field(ge=0)
    leg: int = Field(ge=0)
    side: Side
    qty: PositiveDec
    order_type: OrderType
    time_in_force: TimeInForce
    limit_price: PositiveDec | None = None
    market_type: MarketType = MarketType.perp
    reduce_only: bool = False
    margin: bool = False
    is_hedge: bool = False

    @model_validator(mode="after")
    def _limit_needs_price(self) -> Self:
        if self.order_type is OrderType.limit and self.limit_price is None:
            raise ValueError("a limit order needs limit_price")
        if self.order_type is OrderType.market and self.time_in_force is TimeInForce.PO:
            raise ValueError("a market order cannot be post-only")
        return self


class CancelOrder(Event):
    """Command: cancel an order by client order id."""

    instrument: Symbol  # a market: BASE/QUOTE[:SETTLE], never a bare asset

    client_order_id: str = Field(min_length=1, max_length=64)
    arb_id: Id
    detail: Text = ""


class OrderAccepted(Event):
    """The venue accepted an order (it rests or is about to fill)."""

    instrument: Symbol  # a market: BASE/QUOTE[:SETTLE], never a bare asset

    client_order_id: Id
    order_id: Id


class OrderRejected(Event):
    """The venue (or the gateway) refused an order; nothing was placed."""

    instrument: Symbol  # a market: BASE/QUOTE[:SETTLE], never a bare asset

    client_order_id: Id
    reject_reason: RejectReason
    message: Text = ""


class OrderCanceled(Event):
    """An order was canceled; ``filled_qty`` (base units) executed before the cancel."""

    instrument: Symbol  # a market: BASE/QUOTE[:SETTLE], never a bare asset

    client_order_id: Id
    order_id: OptId = ""
    filled_qty: NonNegativeDec = Decimal(0)
    detail: Text = ""


class OrderExpired(Event):
    """An IOC/FOK order's unfilled remainder expired; ``filled_qty`` executed before."""

    instrument: Symbol  # a market: BASE/QUOTE[:SETTLE], never a bare asset

    client_order_id: Id
    order_id: OptId = ""
    filled_qty: NonNegativeDec = Decimal(0)


# ---- risk (risk.events) --------------------------------------------------------------------
class BreakerTripped(Event):
    """A circuit breaker opened: ``action`` pauses entries or forces exits.

    ``value`` and ``threshold`` are in the breaker's unit (ms for stale_feed, a fraction for
    margin_ratio, USD for one_legged_exposure and drawdown, a count for order_failures).
    """

    breaker: Breaker
    action: BreakerAction
    value: Dec | None = None
    threshold: Dec | None = None
    detail: Text = ""


class BreakerReset(Event):
    """A circuit breaker closed again."""

    breaker: Breaker
    detail: Text = ""


# ---- derived (derived.*) -------------------------------------------------------------------
class SpreadUpdated(Event):
    """Best pair for an asset (``instrument`` = base asset) from the funding board.

    Rates are normalised per hour (fraction/h); ``spread_h = short_rate_h - long_rate_h``;
    ``spread_apr = spread_h × 8760``. ``net_edge_apr`` is after round-trip costs over the
    holding horizon, ``break_even_h`` hours of spread that pay those costs.
    ``blocked_reason`` is set when the pair cannot be traded (e.g. a stale leg).
    """

    long_venue: Venue
    long_instrument: Symbol
    short_venue: Venue
    short_instrument: Symbol
    long_rate_h: Dec
    short_rate_h: Dec
    spread_h: Dec
    spread_apr: Dec
    net_edge_apr: Dec | None = None
    break_even_h: Dec | None = None
    blocked_reason: Text | None = None


class PositionChanged(Event):
    """Position in one (venue, instrument) after a fill or a funding payment.

    ``qty`` signed base units; ``avg_entry_price`` quote per base; ``realised_pnl_usd``,
    ``fees_usd`` and ``funding_usd`` are cumulative USD amounts (funding > 0 received).
    ``net_delta_usd`` is the arb's net delta across its legs (``correlation_id`` = arb id).
    """

    qty: Dec
    avg_entry_price: NonNegativeDec
    realised_pnl_usd: Dec
    fees_usd: Dec
    funding_usd: Dec
    net_delta_base: Dec | None = None
    net_delta_usd: Dec | None = None


# ---- alerts and dead letters ---------------------------------------------------------------
class AlertRaised(Event):
    """An alert rule fired. ``dedup_key`` groups repeats of the same condition."""

    rule: Id
    severity: Severity
    message: Text
    dedup_key: Text = ""

    @property
    def key(self) -> str:
        """Alerts are keyed by rule (DESIGN §4)."""
        return self.rule


#: Raw bytes a dead letter keeps (value and key each): a dead letter must always fit the
#: broker's message size (1 MiB by default), whatever the size of the record it reports.
RAW_KEEP_BYTES = 8 * 1024
#: Longest ``source_topic`` kept (Kafka topic names are ≤ 249 characters; the replay names files).
MAX_SOURCE_CHARS = 256


class EventRejected(Event):
    """A record that could not be decoded or validated, with the reason.

    ``raw_value`` / ``raw_key`` are the bytes read from ``source_topic`` at
    ``source_partition`` / ``source_offset``, cut to their first :data:`RAW_KEEP_BYTES`;
    ``raw_size`` and ``raw_sha256`` (hex) describe the *whole* raw value, so a cut record can
    still be identified. ``error_type`` names the failed check, ``reason`` says why.

    Building one never fails on size: longer raw bytes are cut (and the size and digest taken
    from the full value), and ``reason`` (:data:`~schemas.types.MAX_TEXT_CHARS`),
    ``error_type`` (:data:`~schemas.types.MAX_ID_CHARS`) and ``source_topic``
    (:data:`MAX_SOURCE_CHARS`) are truncated: a dead letter is the one event that must always
    be publishable. Schema v2 added ``raw_size`` and ``raw_sha256`` (``None`` in v1 records).
    """

    SCHEMA_VERSION: ClassVar[int] = 2

    source_topic: str
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)
    raw_key: bytes | None = None
    raw_value: bytes
    error_type: str
    reason: str
    raw_size: int | None = Field(default=None, ge=0)
    raw_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="before")
    @classmethod
    def _cut_to_fit(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        raw = data.get("raw_value")
        if isinstance(raw, bytes) and data.get("raw_sha256") is None:
            # built here (not decoded): describe the full value before cutting it
            data["raw_size"] = len(raw)
            data["raw_sha256"] = hashlib.sha256(raw).hexdigest()
        if isinstance(raw, bytes) and len(raw) > RAW_KEEP_BYTES:
            data["raw_value"] = raw[:RAW_KEEP_BYTES]
        key = data.get("raw_key")
        if isinstance(key, bytes) and len(key) > RAW_KEEP_BYTES:
            data["raw_key"] = key[:RAW_KEEP_BYTES]
        for name, limit in (
            ("reason", MAX_TEXT_CHARS),
            ("error_type", MAX_ID_CHARS),
            ("source_topic", MAX_SOURCE_CHARS),
        ):
            text = data.get(name)
            if isinstance(text, str) and len(text) > limit:
                data[name] = text[:limit]
        return data

    @property
    def key(self) -> str:
        """Dead letters are keyed by their source topic (DESIGN §4)."""
        return self.source_topic


#: Every event type, in a fixed order (the file registry's ids follow it).
EVENT_TYPES: tuple[type[Event], ...] = (
    FundingRateObserved,
    TickerObserved,
    FillExecuted,
    FundingPaid,
    BalanceObserved,
    TargetPositionSet,
    ExitRequested,
    PlaceOrder,
    CancelOrder,
    OrderAccepted,
    OrderRejected,
    OrderCanceled,
    OrderExpired,
    BreakerTripped,
    BreakerReset,
    SpreadUpdated,
    PositionChanged,
    AlertRaised,
    EventRejected,
)

EVENTS_BY_NAME: dict[str, type[Event]] = {t.__name__: t for t in EVENT_TYPES}
