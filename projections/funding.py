"""Funding math: intervals, per-hour and APR normalisation, spreads, settlement, costs.

Units (DESIGN §4): a funding rate is a fraction **per funding interval**; ``*_h`` values are
fractions per hour; APR is a fraction per year of 8760 hours (no compounding). All arithmetic
is ``Decimal``; nothing here reads a clock.

Formulas (DESIGN §5, §10; seeds/001 §3):

* ``rate_h = rate / interval_h``  and  ``apr = rate × 8760 / interval_h``
* ``spread_h = short_rate_h − long_rate_h``  (positive: the pair earns; longs pay shorts when
  rates are positive, so we short where funding is high and long where it is low)
* spot legs earn no funding; a spot leg held **short on margin** pays the borrow rate, so its
  effective rate is ``−borrow_rate_h`` as the short leg (it is a cost, not income)
* settlement of a linear perp: ``amount = −qty × mark × rate`` (``qty`` signed, > 0 long;
  amount > 0 received) — Binance USDⓈ-M "funding fee = position notional × funding rate",
  https://www.binance.com/en/support/faq/360033525031 ; Bybit's funding executions report
  ``execFee = execQty × execPrice × feeRate`` (tests/resources/bybit).
* round-trip cost as a fraction of one leg's notional: entry and exit fee on both legs plus
  expected slippage on those four trades; ``break_even_h = cost / spread_h``;
  ``net_edge = spread_h × horizon_h − cost`` and ``net_edge_apr = net_edge × 8760 / horizon_h``
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from schemas.config import FeeConfig, VenueFees

HOURS_PER_YEAR = Decimal(8760)
MS_PER_HOUR = 3_600_000
#: settlement timestamps jitter by a few ms at some venues (e.g. Binance ``...00.003``)
INTERVAL_JITTER_MS = 60_000


class UnknownFundingIntervalError(ValueError):
    """No interval reported, inferable or configured for a feed (never assume 8h)."""


class UnknownVenueFeesError(ValueError):
    """The fee table has no entry for a venue the strategy would trade."""


# ---- intervals -----------------------------------------------------------------------------
def interval_between(earlier_ms: int, later_ms: int) -> int | None:
    """Whole hours between two settlement times, or None if not a clean multiple of 1h."""
    delta = later_ms - earlier_ms
    if delta <= 0:
        return None
    hours = (delta + MS_PER_HOUR // 2) // MS_PER_HOUR
    if hours < 1 or abs(delta - hours * MS_PER_HOUR) > INTERVAL_JITTER_MS:
        return None
    return hours


def next_usual_interval_h(usual_h: int | None, previous_h: int | None, delta_h: int) -> int:
    """A series' usual funding interval (whole hours) after one more clean settlement delta.

    The first delta sets it; afterwards it changes only when two consecutive deltas agree on a
    new value (``delta_h == previous_h``). A single longer delta (missed settlements, a data gap
    of any length) or a single shorter one leaves it unchanged. Streaming: the caller keeps
    ``usual_h`` and ``previous_h`` (the delta before this one, None at the start).
    """
    if usual_h is None or delta_h == previous_h:
        return delta_h
    return usual_h


def infer_interval_h(funding_times: Sequence[int]) -> int | None:
    """Funding interval from consecutive settlement times (ascending ms UTC).

    The latest clean delta, capped at the series' usual interval (:func:`next_usual_interval_h`
    over the deltas): a change to a shorter interval takes effect at once; a longer delta is
    read as a gap (missed settlements, missing data) unless the delta before it was the same,
    so an increase of interval (4h → 8h) is recognised one settlement later. Returns None with
    fewer than two clean times.
    """
    deltas = [h for a, b in pairwise(funding_times) if (h := interval_between(a, b))]
    if not deltas:
        return None
    usual = previous = deltas[0]
    for delta in deltas[1:]:
        usual, previous = next_usual_interval_h(usual, previous, delta), delta
    return min(deltas[-1], usual)


def resolve_interval_h(
    *,
    reported_h: int,
    funding_time: int,
    next_funding_time: int,
    history: Sequence[int],
    configured_h: int | None,
    label: str,
) -> tuple[int, str]:
    """The interval of a feed and where it came from.

    Order: the venue's reported interval; ``next_funding_time − funding_time``; deltas of
    settlement history; the configured value. ``label`` names the feed in the error.

    Raises
    ------
    UnknownFundingIntervalError
        None of the four is available.
    """
    if reported_h > 0:
        return reported_h, "reported"
    if (
        next_funding_time
        and funding_time
        and (h := interval_between(funding_time, next_funding_time))
    ):
        return h, "next_funding_time"
    if (h := infer_interval_h(history)) is not None:
        return h, "history"
    if configured_h:
        return configured_h, "configured"
    raise UnknownFundingIntervalError(
        f"no funding interval for {label}: not reported, not inferable from settlement times, "
        "and not configured (feeds.intervals_h)"
    )


# ---- normalisation -------------------------------------------------------------------------
def rate_per_hour(rate: Decimal, interval_h: int) -> Decimal:
    """Funding rate per hour (fraction/h) from a rate per interval."""
    if interval_h <= 0:
        raise ValueError(f"interval must be > 0 h, got {interval_h}")
    return rate / Decimal(interval_h)


def apr(rate: Decimal, interval_h: int) -> Decimal:
    """Annualised rate (fraction/year, simple): ``rate × 8760 / interval_h``."""
    return rate_per_hour(rate, interval_h) * HOURS_PER_YEAR


def spread_per_hour(long_rate_h: Decimal, short_rate_h: Decimal) -> Decimal:
    """``short − long`` (fraction/h): what the pair earns per hour per unit of notional."""
    return short_rate_h - long_rate_h


def effective_rate_h(
    rate_h: Decimal, *, spot: bool, short: bool, borrow_rate_h: Decimal
) -> Decimal:
    """A leg's funding rate/h as the pair formula sees it.

    Spot legs have no funding; a short spot leg on margin pays borrow interest, expressed as a
    negative rate on the short side (it reduces the spread).
    """
    if not spot:
        return rate_h
    return -borrow_rate_h if short else Decimal(0)


# ---- settlement ----------------------------------------------------------------------------
def funding_payment(position_qty: Decimal, mark_price: Decimal, rate: Decimal) -> Decimal:
    """Funding received (> 0) or paid (< 0) by a linear perp position at a settlement.

    ``−position_qty × mark_price × rate`` in quote currency: with a positive rate longs
    (qty > 0) pay and shorts receive. Sources in the module docstring.
    """
    return -(position_qty * mark_price * rate)


# ---- costs and edge ------------------------------------------------------------------------
def venue_fees(fees: FeeConfig, venue: str) -> VenueFees:
    """The venue's fee entry.

    Raises
    ------
    UnknownVenueFeesError
        No entry: trading a venue with unknown fees would overstate the edge.
    """
    try:
        return fees.venues[venue]
    except KeyError:
        raise UnknownVenueFeesError(f"no fee entry for venue {venue!r} (fees.venues)") from None


def slippage_frac(bid: Decimal, ask: Decimal, fees: FeeConfig) -> Decimal:
    """Expected slippage of one aggressive trade, as a fraction of price.

    Half the quoted spread, ``(ask − bid) / 2 / mid``, unless ``fees.slippage_frac`` is set.
    """
    if fees.slippage_frac is not None:
        return fees.slippage_frac
    mid = (bid + ask) / 2
    return (ask - bid) / 2 / mid


@dataclass(frozen=True)
class LegCost:
    """What trading one leg in and out costs: venue and its quoted bid/ask."""

    venue: str
    bid: Decimal
    ask: Decimal


def round_trip_cost_frac(long: LegCost, short: LegCost, fees: FeeConfig) -> Decimal:
    """Entry + exit taker fees on both legs plus expected slippage of the four trades.

    A fraction of one leg's notional. Taker fees are assumed throughout: first legs go IOC
    across the spread and hedges cross (ExecutionConfig), so maker fills are a bonus.
    """
    total = Decimal(0)
    for leg in (long, short):
        taker = venue_fees(fees, leg.venue).taker
        total += 2 * taker + 2 * slippage_frac(leg.bid, leg.ask, fees)
    return total


@dataclass(frozen=True)
class Edge:
    """Fee-aware edge of a pair over a holding horizon (all fractions of one leg's notional).

    ``break_even_h`` is None when the spread does not pay (≤ 0).
    """

    spread_h: Decimal
    cost_frac: Decimal
    break_even_h: Decimal | None
    net_edge_frac: Decimal
    net_edge_apr: Decimal

    def clears(self, min_net_apr: Decimal, max_break_even_h: Decimal) -> bool:
        """Entry rule: net edge ≥ threshold and break-even within the limit."""
        return (
            self.break_even_h is not None
            and self.net_edge_apr >= min_net_apr
            and self.break_even_h <= max_break_even_h
        )


def edge(spread_h: Decimal, cost_frac: Decimal, horizon_h: Decimal) -> Edge:
    """Net edge of earning ``spread_h`` for ``horizon_h`` hours after paying ``cost_frac``."""
    net = spread_h * horizon_h - cost_frac
    return Edge(
        spread_h=spread_h,
        cost_frac=cost_frac,
        break_even_h=cost_frac / spread_h if spread_h > 0 else None,
        net_edge_frac=net,
        net_edge_apr=net * HOURS_PER_YEAR / horizon_h,
    )
