"""The paper venue's swappable models: fill, fee, latency, borrow and margin.

:class:`producers.paper.venue.PaperVenue` takes one of each (keyword arguments); the defaults,
built from :class:`producers.paper.venue.PaperConfig`, are the behaviour the backtest's digest
was recorded with. Each protocol is small so a study can swap one part (a queue-aware fill, a
tiered fee table, a random latency drawn from a seeded generator) and keep the rest. Models
are pure: no clock, no I/O; a model that needs state keeps it on itself, deterministically.

Units in names; prices and quantities are ``Decimal``; times are ms UTC (event time).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Protocol

from producers.paper.maker import trades_through
from projections.funding import venue_fees
from schemas.config import FeeConfig
from schemas.events import CancelOrder, PlaceOrder
from schemas.types import Liquidity, Side

BPS = Decimal("0.0001")
PRICE_STEP = Decimal("1e-8")
RATIO_STEP = Decimal("1e-10")


class FillModel(Protocol):
    """Prices a taker fill and decides when a resting limit fills (maker)."""

    def taker_price(self, cmd: PlaceOrder, bid: Decimal, ask: Decimal) -> Decimal:
        """Price of a crossing order against the quote ``bid``/``ask`` (capped at its limit)."""
        ...

    def trades_through(self, cmd: PlaceOrder, bid: Decimal, ask: Decimal) -> bool:
        """Whether a new quote fills the resting limit ``cmd`` (all of its rest, at its limit)."""
        ...


class FeeModel(Protocol):
    """Fees charged on a fill, in the settle/quote currency."""

    def check(self, venue: str) -> None:
        """Raise ``ValueError`` (message for the rejection) when ``venue`` cannot be charged."""
        ...

    def fee(self, venue: str, liquidity: Liquidity, qty: Decimal, price: Decimal) -> Decimal:
        """Fee of a fill of ``qty`` at ``price`` taking (taker) or making (maker) liquidity."""
        ...


class LatencyModel(Protocol):
    """When a command reaches the venue (its answers carry that time)."""

    def arrival_ms(self, cmd: PlaceOrder | CancelOrder) -> int:
        """Event time (ms UTC) at which ``cmd`` reaches the venue."""
        ...


class BorrowModel(Protocol):
    """What a short spot position pays to borrow the asset."""

    def charge(
        self, instrument: str, qty: Decimal, mark: Decimal, hours: int
    ) -> tuple[Decimal, Decimal]:
        """``(amount, rate)`` for holding ``qty`` (< 0) at ``mark`` for ``hours`` whole hours:
        the (negative) amount booked and the rate over the period."""
        ...


class MarginModel(Protocol):
    """Margin use, margin ratio and liquidation price of the venue's positions."""

    leverage: Decimal

    def used(self, gross_usd: Decimal) -> Decimal:
        """Margin held (USD) for a gross notional of ``gross_usd``."""
        ...

    def margin_ratio(self, gross_usd: Decimal, equity_usd: Decimal) -> Decimal | None:
        """Maintenance margin over equity; None when equity is not positive."""
        ...

    def liquidation_price(self, qty: Decimal, entry: Decimal) -> Decimal | None:
        """Price at which a position of ``qty`` entered at ``entry`` is liquidated; None when
        flat or when the formula gives no positive price."""
        ...


@dataclass(frozen=True)
class SlippageFill:
    """Taker fills at the touch moved by ``slippage_bps + impact_bps_per_musd × notional_usd /
    1e6`` (bps; buys pay above the ask, sells get below the bid), capped at the limit price and
    rounded half-even to 1e-8; a resting limit fills once the opposite touch reaches it."""

    slippage_bps: Decimal = Decimal("1")
    impact_bps_per_musd: Decimal = Decimal("5")

    def taker_price(self, cmd: PlaceOrder, bid: Decimal, ask: Decimal) -> Decimal:
        touch = ask if cmd.side is Side.buy else bid
        notional = cmd.qty * touch
        slip = (self.slippage_bps + self.impact_bps_per_musd * notional / 1_000_000) * BPS
        price = touch * (1 + slip) if cmd.side is Side.buy else touch * (1 - slip)
        if cmd.limit_price is not None:
            price = (
                min(price, cmd.limit_price) if cmd.side is Side.buy else max(price, cmd.limit_price)
            )
        return price.quantize(PRICE_STEP, ROUND_HALF_EVEN)

    def trades_through(self, cmd: PlaceOrder, bid: Decimal, ask: Decimal) -> bool:
        """The maker fill model of :mod:`producers.paper.maker` (its queue caveats)."""
        if cmd.limit_price is None:
            return False
        return trades_through(cmd.side, cmd.limit_price, bid, ask)


@dataclass(frozen=True)
class FeeTable:
    """The strategy's fee table (:class:`schemas.config.FeeConfig`, each venue's published
    maker/taker rates): ``qty × price × rate``, rounded half-even to 1e-8."""

    fees: FeeConfig

    def check(self, venue: str) -> None:
        venue_fees(self.fees, venue)

    def fee(self, venue: str, liquidity: Liquidity, qty: Decimal, price: Decimal) -> Decimal:
        fees = venue_fees(self.fees, venue)
        rate = fees.maker if liquidity is Liquidity.maker else fees.taker
        return (qty * price * rate).quantize(PRICE_STEP, ROUND_HALF_EVEN)


@dataclass(frozen=True)
class FixedLatency:
    """Every command arrives ``latency_ms`` after its event time."""

    latency_ms: int = 50

    def arrival_ms(self, cmd: PlaceOrder | CancelOrder) -> int:
        return cmd.event_time + self.latency_ms


@dataclass(frozen=True)
class FlatBorrow:
    """A flat hourly borrow rate on the short's notional: ``|qty| × mark × rate_h × hours``."""

    rate_h: Decimal = Decimal("0.000005")

    def charge(
        self, instrument: str, qty: Decimal, mark: Decimal, hours: int
    ) -> tuple[Decimal, Decimal]:
        return -(abs(qty) * mark * self.rate_h * hours), self.rate_h * hours


@dataclass(frozen=True)
class IsolatedMargin:
    """One leverage and maintenance margin fraction for every position.

    used = gross / leverage; margin ratio = gross × mmr / equity (rounded half-even to 1e-10);
    isolated-margin liquidation price: long ``entry × (1 − 1/leverage + mmr)``, short
    ``entry × (1 + 1/leverage − mmr)`` (rounded half-even to 1e-8).
    """

    leverage: Decimal = Decimal("3")
    maintenance_margin_frac: Decimal = Decimal("0.005")

    def used(self, gross_usd: Decimal) -> Decimal:
        return gross_usd / self.leverage

    def margin_ratio(self, gross_usd: Decimal, equity_usd: Decimal) -> Decimal | None:
        if equity_usd <= 0:
            return None
        ratio = gross_usd * self.maintenance_margin_frac / equity_usd
        return ratio.quantize(RATIO_STEP, ROUND_HALF_EVEN)

    def liquidation_price(self, qty: Decimal, entry: Decimal) -> Decimal | None:
        mmr, lev = self.maintenance_margin_frac, self.leverage
        liq = None
        if qty > 0:
            liq = entry * (1 - 1 / lev + mmr)
        elif qty < 0:
            liq = entry * (1 + 1 / lev - mmr)
        if liq is None or liq <= 0:
            return None
        return liq.quantize(PRICE_STEP, ROUND_HALF_EVEN)
