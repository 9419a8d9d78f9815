"""A perpetual-futures grid as a plug-in, expressed as target state.

The executor and the paper venue trade with crossing (IOC) limit orders only, not resting
ones, so the grid is not a ladder of resting orders: it is a **target position that steps
with the price levels crossed** (:mod:`projections.strategies.grid.rules`). Each time the
level changes the grid emits a ``TargetPositionSet`` (one leg, ``level × qty_per_level``
base units, a new revision of the grid's one target id) and the executor reconciles the
position to it; with taker fills this is the same inventory path a resting grid would have,
filled at the touch instead of at the level's price.

Lifecycle, per decision on the grid's asset:

1. sample the first quote of each hour into the ATR window (``atr_periods`` true ranges);
2. until the window is full, or while the market's quote is older than
   ``feeds.ticker_ttl_ms``, do nothing (no ATR, no trustworthy price);
3. the first decision after warm-up sets the reference price (the anchor) to the mid; no
   position yet;
4. a breaker forcing exits flattens the grid and re-centres it; a breaker pausing entries lets
   only steps that reduce inventory through;
5. at the inventory cap, ``stop_levels`` spacings further against it stop the grid (flat,
   re-centred); otherwise it steps across the levels the mid crossed.

The grid owns its market (``[[strategies]]`` refuses a second owner; the funding arbitrage
skips it), so the book's position there is the grid's own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from decimal import Decimal

from projections.funding import MS_PER_HOUR
from projections.positions import PositionBook
from projections.strategies.base import Breakers, MarketView
from projections.strategies.grid import rules
from schemas.config import StrategyConfig
from schemas.envelope import IdNamespace, envelope
from schemas.events import Event, TargetLeg, TargetPositionSet
from schemas.strategy_specs import GridSpec
from schemas.types import INTERNAL_VENUE, MarketType, base_asset

USD_Q = Decimal("0.01")


@dataclass(frozen=True)
class GridState:
    """One grid's state. ``anchor`` is the reference price (quote per base) the next step is
    measured from (``None`` before the grid starts); ``level`` the inventory in levels;
    ``ranges`` the last hourly true ranges (ATR window); ``hour`` the hour (ms // 3.6e6) of the
    last sampled quote, ``last_mid`` its mid; ``grid_id`` the target id (``arb_id`` of its
    intents), ``revision`` its last target's revision (−1 before any); ``stops`` how many
    times the stop re-centred it."""

    asset: str = ""
    hour: int = -1
    last_mid: Decimal | None = None
    ranges: tuple[Decimal, ...] = ()
    anchor: Decimal | None = None
    level: int = 0
    grid_id: str = ""
    revision: int = -1
    stops: int = 0

    def assets(self) -> set[str]:
        return {self.asset} if self.asset else set()

    def for_asset(self, asset: str) -> GridState:
        return self if self.asset == asset else GridState()

    @classmethod
    def merged(cls, parts: list[GridState]) -> GridState:
        return next((p for p in parts if p.asset), GridState())


def _grid_id(strategy_id: str, instrument: str, venue: str, now: int) -> str:
    digest = hashlib.sha256(f"{strategy_id}|{venue}|{instrument}|{now}".encode()).hexdigest()[:8]
    return f"{strategy_id}-{base_asset(instrument)}-{now}-{digest}"


@dataclass(frozen=True)
class Grid:
    """The grid plug-in (module docstring); ``config`` supplies the feed TTL."""

    spec: GridSpec
    config: StrategyConfig
    delta_neutral: bool = False

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def asset(self) -> str:
        return base_asset(self.spec.instrument)

    def initial_state(self) -> GridState:
        return GridState()

    def stale(self, state: GridState, market: MarketView, now: int) -> str | None:
        return None  # a stale quote only stops the grid stepping (decide, step 2)

    def _sample(self, state: GridState, mid: Decimal, observed_at: int) -> GridState:
        hour = observed_at // MS_PER_HOUR
        if hour <= state.hour:
            return state
        ranges = state.ranges
        if state.last_mid is not None:
            ranges = rules.with_range(ranges, mid - state.last_mid, self.spec.atr_periods)
        return replace(state, asset=self.asset, hour=hour, last_mid=mid, ranges=ranges)

    def decide(
        self,
        state: GridState,
        market: MarketView,
        book: PositionBook,
        breakers: Breakers,
        now: int,
        cause: str | None,
    ) -> tuple[GridState, list[Event]]:
        spec = self.spec
        if market.asset != self.asset:
            return state, []
        ticker = market.board.tickers.get((spec.venue, spec.instrument))
        if ticker is None:
            return state, []
        mid = (ticker.bid + ticker.ask) / 2
        state = self._sample(state, mid, ticker.observed_at)
        if len(state.ranges) < spec.atr_periods:
            return state, []
        if now - ticker.observed_at > self.config.feeds.ticker_ttl_ms:
            return state, []
        atr = rules.average_true_range(state.ranges)
        spacing = rules.grid_spacing(
            atr, mid, spec.atr_mult, spec.min_spacing_frac, spec.max_spacing_frac
        )
        if state.anchor is None:
            grid_id = _grid_id(spec.id, spec.instrument, spec.venue, now)
            return replace(state, anchor=mid, grid_id=grid_id), []
        level, anchor, stops = state.level, state.anchor, state.stops
        if breakers.forced(self.asset):
            new_level, new_anchor, why = 0, mid, "a breaker forces exits: flat, re-centred"
        elif rules.stopped(level, anchor, mid, spacing, spec.levels, spec.stop_levels):
            new_level, new_anchor, why = 0, mid, "stop at the inventory cap: flat, re-centred"
            stops += 1
        else:
            new_level, new_anchor = rules.step_levels(
                level, anchor, mid, spacing, spec.levels, spec.skew
            )
            why = f"mid {mid} crossed to level {new_level}"
            adds = abs(new_level) > abs(level) or new_level * level < 0
            if breakers.paused(self.asset) and adds:
                return state, []  # entries paused: only steps that reduce inventory
        if new_level == level:
            return replace(state, anchor=new_anchor, stops=stops), []
        revision = state.revision + 1
        target = spec.qty_per_level * new_level
        event_id = IdNamespace.GRID.id(spec.id, state.grid_id, revision)
        intent = TargetPositionSet(
            **envelope(event_id, now, INTERNAL_VENUE, self.asset, cause, state.grid_id),
            strategy_id=spec.id,
            arb_id=state.grid_id,
            revision=revision,
            legs=[
                TargetLeg(
                    venue=spec.venue,
                    instrument=spec.instrument,
                    market_type=MarketType.perp,
                    target_qty=target,
                )
            ],
            target_notional_usd=(abs(target) * mid).quantize(USD_Q),
            expected_apr=None,
            reason=(
                f"grid {why} of ±{spec.levels}: target {target} {self.asset}, spacing "
                f"{spacing.quantize(USD_Q)} (ATR {atr.quantize(USD_Q)} over {spec.atr_periods} h)"
            ),
        )
        new = replace(state, anchor=new_anchor, level=new_level, revision=revision, stops=stops)
        return new, [intent]
