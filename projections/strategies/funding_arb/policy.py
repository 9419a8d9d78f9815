"""Forecast-based pair quotes and execution cost (``entry.decide_on = "forecast"``), pure.

Execution cost is measured the way the paper venue charges it (:mod:`producers.paper`): every
trade crosses the spread as a taker, so one trade on a leg costs, as a fraction of notional,

``taker fee + half-spread + slippage_frac + impact_frac_per_musd × notional_usd / 10^6``

(the venue fills a buy at ``ask × (1 + slip)``, ``slip = slippage_bps + impact_bps_per_musd ×
notional / 1e6``, against a mid that sits half a spread below the ask). A round trip is two
trades on each of the two legs. The ``current`` rule (:mod:`projections.board`) counts taker
fees and half-spreads only, ~2 bp less per round trip than the venue takes.

A pair's forecast edge over the expected hold ``H`` (``entry.expected_hold_h``):
``net = f × H − cost`` with ``f`` the forecast spread per hour (short leg's forecast rate −
long leg's, :mod:`projections.strategies.funding_arb.forecast`), ``net_edge_apr = net × 8760 / H``,
``break_even_h = cost / f``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from projections.board import AssetBoard, FeedKey, LegView, PairQuote, quote_pair
from projections.funding import HOURS_PER_YEAR, effective_rate_h, slippage_frac, venue_fees
from projections.strategies.funding_arb.forecast import forecast_rate_h
from schemas.config import StrategyConfig

ZERO = Decimal(0)
MUSD = Decimal(1_000_000)


def trade_cost_frac(leg: LegView, config: StrategyConfig, notional_usd: Decimal) -> Decimal:
    """What one taker trade on ``leg`` costs as a fraction of its notional (module docstring).

    Raises ``UnknownVenueFeesError`` for a venue without fees."""
    e = config.entry
    return (
        venue_fees(config.fees, leg.venue).taker
        + slippage_frac(leg.bid, leg.ask, config.fees)
        + e.slippage_frac
        + e.impact_frac_per_musd * notional_usd / MUSD
    )


def round_trip_cost_frac(q: PairQuote, config: StrategyConfig) -> Decimal:
    """Entry and exit on both legs of ``q`` at ``capacity.notional_per_arb_usd``."""
    assert q.long_leg is not None and q.short_leg is not None
    notional = config.capacity.notional_per_arb_usd
    return 2 * (
        trade_cost_frac(q.long_leg, config, notional)
        + trade_cost_frac(q.short_leg, config, notional)
    )


# leg → (feed, forecast params, hold, rate): a forecast changes only with a new settlement
_LEG_FORECASTS: dict[tuple[FeedKey, bool], tuple[object, object, Decimal, Decimal | None]] = {}


def leg_forecast_h(
    board: AssetBoard, leg: LegView, short: bool, config: StrategyConfig
) -> Decimal | None:
    """The forecast effective rate per hour of ``leg`` for the side it takes (spot legs: 0,
    or −borrow when short); None for a perp without settlements."""
    key = (leg.venue, leg.instrument)
    if leg.spot:
        return effective_rate_h(
            ZERO, spot=True, short=short, borrow_rate_h=config.entry.borrow_rate_h
        )
    feed = board.funding.get(key)
    if feed is None:
        return None
    params, hold = config.forecast, config.entry.expected_hold_h
    c = _LEG_FORECASTS.get((key, short))
    if c is not None and c[0] is feed and (c[1] is params or c[1] == params) and c[2] == hold:
        return c[3]
    rate = forecast_rate_h(feed.rates, leg.interval_h, params, hold, feed.predicted_rate)
    _LEG_FORECASTS[(key, short)] = (feed, params, hold, rate)
    return rate


@dataclass(frozen=True, slots=True)
class ForecastQuote:
    """A pair judged on its forecast: the current quote (legs, prices), the forecast spread
    per hour, the round-trip cost (fraction of one leg's notional) and the edge over the hold."""

    quote: PairQuote
    spread_h: Decimal
    cost_frac: Decimal
    net_edge_apr: Decimal
    break_even_h: Decimal | None

    @property
    def long(self) -> FeedKey:
        return self.quote.long

    @property
    def short(self) -> FeedKey:
        return self.quote.short

    @property
    def spread_apr(self) -> Decimal:
        return self.spread_h * HOURS_PER_YEAR


# (long, short) → (quote, config, forecast quote): a PairQuote is the same object while its
# legs' feeds are (projections.board caches it), and the forecast depends on nothing else
_FORECAST_QUOTES: dict[tuple[FeedKey, FeedKey], tuple[object, object, ForecastQuote | None]] = {}


def forecast_quote(board: AssetBoard, q: PairQuote, config: StrategyConfig) -> ForecastQuote | None:
    """``q`` judged on the forecast, or None when blocked or a leg has no forecast."""
    if q.blocked or q.long_leg is None or q.short_leg is None:
        return None
    c = _FORECAST_QUOTES.get((q.long, q.short))
    if c is not None and c[0] is q and c[1] is config:
        return c[2]
    f = _forecast_quote(board, q, config)
    _FORECAST_QUOTES[(q.long, q.short)] = (q, config, f)
    return f


def _forecast_quote(
    board: AssetBoard, q: PairQuote, config: StrategyConfig
) -> ForecastQuote | None:
    assert q.long_leg is not None and q.short_leg is not None
    fl = leg_forecast_h(board, q.long_leg, False, config)
    fs = leg_forecast_h(board, q.short_leg, True, config)
    if fl is None or fs is None:
        return None
    spread_h = fs - fl
    cost = round_trip_cost_frac(q, config)
    hold = config.entry.expected_hold_h
    net_apr = (spread_h * hold - cost) * HOURS_PER_YEAR / hold
    return ForecastQuote(q, spread_h, cost, net_apr, cost / spread_h if spread_h > 0 else None)


def forecast_pairs(
    board: AssetBoard, pairs: list[PairQuote], config: StrategyConfig, now: int
) -> list[ForecastQuote]:
    """Every unblocked pair of ``pairs`` judged on the forecast, best net edge first (ties by
    leg names). A perp–perp pair whose forecast spread is negative in the orientation of the
    current rates is judged the other way round (short the leg forecast to pay more)."""
    out: list[ForecastQuote] = []
    for q in pairs:
        f = forecast_quote(board, q, config)
        if f is None:
            continue
        both_perp = q.long_leg is not None and q.short_leg is not None
        both_perp = both_perp and not q.long_leg.spot and not q.short_leg.spot  # type: ignore[union-attr]  # checked not None above
        if f.spread_h < 0 and both_perp:
            flipped = forecast_quote(board, quote_pair(board, q.short, q.long, config, now), config)
            if flipped is not None:
                f = flipped
        out.append(f)
    out.sort(key=lambda f: (-f.net_edge_apr, f.long, f.short))
    return out


def forecast_eligible(f: ForecastQuote, config: StrategyConfig) -> bool:
    """Entry rule: the forecast net edge over the hold clears ``entry.min_net_apr`` and the
    forecast break-even is within ``entry.max_break_even_h``; both legs have the 24 h volume."""
    e = config.entry
    if f.break_even_h is None or f.net_edge_apr < e.min_net_apr:
        return False
    if f.break_even_h > e.max_break_even_h:
        return False
    if e.min_quote_volume_24h_usd > 0:
        for leg in (f.quote.long_leg, f.quote.short_leg):
            if leg is None or leg.quote_volume_24h is None:
                return False
            if leg.quote_volume_24h < e.min_quote_volume_24h_usd:
                return False
    return True


def shared_leg(
    old: tuple[FeedKey, FeedKey], new: tuple[FeedKey, FeedKey]
) -> tuple[FeedKey, FeedKey, FeedKey] | None:
    """The leg two (long, short) pairs share on the same side, as ``(shared, old_changed,
    new_changed)``, or None when they share none or both (same pair). A leg held long in one
    and short in the other is not shared: keeping it would mean reversing it."""
    (ol, os_), (nl, ns) = old, new
    if ol == nl and os_ != ns:
        return ol, os_, ns
    if os_ == ns and ol != nl:
        return os_, ol, nl
    return None


def switch_cost_frac(current: PairQuote, best: PairQuote, config: StrategyConfig) -> Decimal:
    """Cost of moving from ``current`` to ``best`` (fraction of one leg's notional), one taker
    trade per leg traded (:func:`trade_cost_frac`).

    When the pairs share a leg on the same side (:func:`shared_leg`) the switch keeps it (the
    executor re-targets only the changed leg): two trades, the old changed leg closed and the
    new one opened. Otherwise a full exit of ``current`` and a full entry of ``best``: four."""
    assert current.long_leg and current.short_leg and best.long_leg and best.short_leg
    n = config.capacity.notional_per_arb_usd
    shared = shared_leg((current.long, current.short), (best.long, best.short))
    legs: tuple[LegView, ...]
    if shared is None:
        legs = (current.long_leg, current.short_leg, best.long_leg, best.short_leg)
    else:
        _, old_key, new_key = shared
        old_leg = current.long_leg if current.long == old_key else current.short_leg
        new_leg = best.long_leg if best.long == new_key else best.short_leg
        legs = (old_leg, new_leg)
    return sum((trade_cost_frac(leg, config, n) for leg in legs), ZERO)
