"""The funding-arbitrage policy: ``decide(...) -> (state, intents)``, pure (DESIGN §6 item 2).

Entry (seeds/004 §2.1, §2.3; DESIGN §5): the best pair of the asset's board whose fee-aware
edge clears ``entry.min_net_apr`` with break-even within ``entry.max_break_even_h``, both legs
with at least ``entry.min_quote_volume_24h_usd``, within the capacity limits (open arbs, new
per round, notional per arb, asset and venue), no breaker pausing entries, and no other arb of
the asset open or in flight (one per asset, DESIGN §10).

Exits, each with its reason, checked in this order:

1. ``risk_breaker``   a breaker forcing exits is open for the asset (or globally), or a
                      leg's prices (or funding) are older than ``risk.stale_feed_ms``
2. ``funding_flip``   spread against us at every settlement for ``exits.flip_h`` hours
3. ``basis_stop``     spot–perp basis moved against us by ``exits.basis_stop_frac`` for
                      ``exits.basis_stop_h`` hours
4. ``take_profit``    cumulative funding / notional ≥ ``exits.take_profit_frac``
5. ``profit_erosion`` current / entry spread < ``exits.erosion_ratio`` for
                      ``exits.erosion_h`` hours
6. ``time_limit``     the pair held ≥ ``exits.max_hold_h`` (since the entry or the latest switch)
7. ``better_opportunity`` while the current spread is still positive, another pair's net
                      edge beats it by ``exits.better_improvement_apr`` plus the current
                      pair's exit cost

A better pair that shares a leg (same venue, instrument and side) is not an exit: the arb is
re-targeted (a new revision of the same arb, :func:`_retarget`) so only the changed leg
trades and the shared leg's position is untouched; the forecast rule then counts only the
changed leg's two trades as the switch cost (:func:`projections.policy.switch_cost_frac`).

Conditions are checked when a new funding settlement appears on either leg and held since the
first settlement that showed them; their durations are in hours, so a pair of hourly venues
and a pair of 8-hourly ones exit after the same time (counting intervals would not). Intents are
declarative targets (TargetPositionSet / ExitRequested) with deterministic ids; event time is
``now`` (the decision's input event time), never the wall clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from projections.board import AssetBoard, FeedKey, PairQuote, candidate_pairs, quote_pair
from projections.budget import budget_for_asset, same_partition
from projections.funding import HOURS_PER_YEAR, MS_PER_HOUR, venue_fees
from projections.positions import PositionBook
from projections.strategies.base import Breakers
from projections.strategies.funding_arb.policy import (
    ForecastQuote,
    forecast_eligible,
    forecast_pairs,
    forecast_quote,
    shared_leg,
    switch_cost_frac,
)
from schemas.config import StrategyConfig
from schemas.envelope import IdNamespace, envelope
from schemas.events import (
    Event,
    ExitRequested,
    TargetLeg,
    TargetPositionSet,
)
from schemas.strategy_specs import FUNDING_ARB_ID
from schemas.trusted import make
from schemas.types import INTERNAL_VENUE, ExitReason, MarketType, is_spot

ZERO = Decimal(0)
#: an entry with no fills this long after its intent is treated as abandoned
ENTRY_GRACE_MS = 30 * 60_000
Status = Literal["entering", "open", "exiting", "closed"]


@dataclass(frozen=True)
class ArbPlan:
    """One arb as the strategy tracks it."""

    arb_id: str
    asset: str
    long: FeedKey
    short: FeedKey
    first: FeedKey  # leg executed first; the other hedges it
    qty: Decimal  # base units per leg
    notional_usd: Decimal
    opened_at: int
    entry_spread_h: Decimal
    entry_spread_apr: Decimal
    entry_basis: Decimal | None
    revision: int = 0
    status: Status = "entering"
    exit_reason: ExitReason | None = None
    interval_time: int = 0  # latest settlement (either leg) the exit conditions were checked at
    # settlement times (ms) from which a condition has held at every check since; None = not now
    adverse_since: int | None = None
    eroded_since: int | None = None
    basis_against_since: int | None = None
    closed_at: int = 0
    # round-trip execution cost at entry as the venue charges it (fraction of notional):
    # funding ≥ this × notional is the arb's break-even (forecast rule, funding_arb/policy.py)
    entry_cost_frac: Decimal = ZERO
    # switches that kept a shared leg (re-targeted the other one) and when the latest was sent;
    # the pair before it until the book shows the new leg in place (or its failure)
    switches: int = 0
    switched_from: tuple[FeedKey, FeedKey] | None = None
    switched_at: int = 0


@dataclass(frozen=True)
class StrategyState:
    """Every arb the strategy has decided on (closed ones kept for the record)."""

    arbs: Mapping[str, ArbPlan] = field(default_factory=dict)

    def _index(self) -> tuple[list[ArbPlan], dict[str, ArbPlan]]:
        """(live arbs in ``arbs`` order, first live arb per asset), computed once per state
        (the state is immutable; the cache is not a field: not compared, not pickled)."""
        cached = self.__dict__.get("_live")
        if cached is None:
            live = [a for a in self.arbs.values() if a.status != "closed"]
            first: dict[str, ArbPlan] = {}
            for a in live:
                first.setdefault(a.asset, a)
            cached = (live, first)
            object.__setattr__(self, "_live", cached)
        return cached

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "_live"}

    def live(self) -> list[ArbPlan]:
        return list(self._index()[0])

    def live_for(self, asset: str) -> ArbPlan | None:
        return self._index()[1].get(asset)

    # -- per-asset slices (projections.strategies.base.StrategyStateLike) --
    def assets(self) -> set[str]:
        return {a.asset for a in self.arbs.values()}

    def for_asset(self, asset: str) -> StrategyState:
        return StrategyState({k: a for k, a in self.arbs.items() if a.asset == asset})

    @classmethod
    def merged(cls, parts: list[StrategyState]) -> StrategyState:
        arbs: dict[str, ArbPlan] = {}
        for part in parts:
            arbs.update(part.arbs)
        return StrategyState(dict(sorted(arbs.items())))


def _put(state: StrategyState, plan: ArbPlan) -> StrategyState:
    if state.arbs.get(plan.arb_id) is plan:
        return state
    arbs = dict(state.arbs)
    if plan.arb_id in arbs:  # replacing a plan keeps the (sorted) order: no re-sort
        arbs[plan.arb_id] = plan
        return StrategyState(arbs)
    arbs[plan.arb_id] = plan
    return StrategyState(dict(sorted(arbs.items())))


def _basis(
    board: AssetBoard, long: FeedKey, short: FeedKey, config: StrategyConfig, now: int
) -> Decimal | None:
    """(perp mark − spot mark) / spot mark for spot–perp pairs, else None."""
    spot, perp = (long, short) if is_spot(long[1]) else (short, long)
    if not is_spot(spot[1]) or is_spot(perp[1]):
        return None
    q = quote_pair(board, long, short, config, now)
    if q.blocked or q.long_leg is None or q.short_leg is None:
        return None
    s = q.long_leg if q.long_leg.spot else q.short_leg
    p = q.short_leg if q.long_leg.spot else q.long_leg
    return (p.mark - s.mark) / s.mark


def _intent_id(arb_id: str, revision: int, kind: str) -> str:
    return IdNamespace.INTENT.id(arb_id, revision, kind)


def _last_funding_time(board: AssetBoard, pair: PairQuote) -> int:
    """The latest funding time (ms) either leg of ``pair`` has settled or announced, 0 if none:
    funding intervals of an arb are counted from it."""
    legs = (pair.long, pair.short)
    return max((f.funding_time for k, f in board.funding.items() if k in legs), default=0)


def _arb_id(asset: str, long: FeedKey, short: FeedKey, now: int) -> str:
    digest = hashlib.sha256(f"{asset}|{long}|{short}|{now}".encode()).hexdigest()[:8]
    return f"{asset}-{now}-{digest}"


def _leg(key: FeedKey, qty: Decimal, margin: bool) -> TargetLeg:
    spot = is_spot(key[1])
    return make(
        TargetLeg,
        venue=key[0],
        instrument=key[1],
        market_type=MarketType.spot if spot else MarketType.perp,
        target_qty=qty,
        margin=margin and spot,
    )


# ---- lifecycle from the position book ------------------------------------------------------
def entry_grace_ms(config: StrategyConfig) -> int:
    """How long an entry (or a switch's new leg) may stay unfilled before the strategy treats
    it as abandoned: ``ENTRY_GRACE_MS``, or twice every attempt's ``leg_timeout_ms`` when the
    first leg may rest that long (a GTC or post-only first leg, ``execution.maker_first``):
    the executor re-places an attempt only on the next event after its cancel, so a feed as
    sparse as the timeout needs the margin. Shorter, the strategy would forget an order still
    resting — and its fill later, with no exit ever sent."""
    e = config.execution
    return max(ENTRY_GRACE_MS, 2 * e.max_entry_attempts * e.leg_timeout_ms)


def _observe(plan: ArbPlan, book: PositionBook, now: int, grace_ms: int) -> ArbPlan:
    """Move entering → open/closed and exiting → closed from what the book shows; settle a
    switch (the new leg in place, or back to the old pair when it never filled)."""
    keys = [plan.long, plan.short]
    if plan.switched_from is not None:  # a switched arb may still hold its old leg
        keys += [k for k in plan.switched_from if k not in keys]
    flat = all(book.leg(*k).qty == 0 for k in keys)
    if plan.switched_from is not None and plan.status == "open":
        plan = _settle_switch(plan, book, now, grace_ms)
    if plan.status == "entering":
        ledger = book.arbs.get(plan.arb_id)
        if ledger is not None and ledger.fills and not flat:
            return replace(plan, status="open")
        if now - plan.opened_at > grace_ms and flat:
            return replace(plan, status="closed", closed_at=now)
    if plan.status == "exiting" and flat:
        return replace(plan, status="closed", closed_at=now)
    return plan


def _settle_switch(plan: ArbPlan, book: PositionBook, now: int, grace_ms: int) -> ArbPlan:
    """A switch is settled once the old changed leg is flat (the new one is in place); when
    the new leg is still flat ``grace_ms`` (:func:`entry_grace_ms`) after the switch while the
    old one is held, the executor unwound it: the arb is the old pair again."""
    assert plan.switched_from is not None
    old = [k for k in plan.switched_from if k not in (plan.long, plan.short)]
    new = [k for k in (plan.long, plan.short) if k not in plan.switched_from]
    if all(book.leg(*k).qty == 0 for k in old):
        return replace(plan, switched_from=None)
    if now - plan.switched_at > grace_ms and all(book.leg(*k).qty == 0 for k in new):
        long, short = plan.switched_from
        return replace(plan, long=long, short=short, first=long, switched_from=None)
    return plan


# ---- exits ---------------------------------------------------------------------------------
def _count_interval(
    plan: ArbPlan, board: AssetBoard, config: StrategyConfig, now: int, current: PairQuote
) -> ArbPlan:
    # the latest funding time of the pair's legs (a spot leg has no funding feed)
    latest = 0
    for key in (plan.long, plan.short):
        feed = board.funding.get(key)
        if feed is not None and feed.funding_time > latest:
            latest = feed.funding_time
    if latest <= plan.interval_time or current.blocked:
        return plan

    def since(previous: int | None, holds: bool) -> int | None:
        return (latest if previous is None else previous) if holds else None

    adverse_since = since(plan.adverse_since, current.spread_h < 0)
    eroded_since = since(
        plan.eroded_since,
        plan.entry_spread_h > 0
        and current.spread_h < config.exits.erosion_ratio * plan.entry_spread_h,
    )
    basis_against_since = plan.basis_against_since
    if plan.entry_basis is not None:
        basis = _basis(board, plan.long, plan.short, config, now)
        if basis is not None:
            # long spot / short perp loses when the perp rises against spot (basis widens)
            long_spot = is_spot(plan.long[1])
            moved = basis - plan.entry_basis if long_spot else plan.entry_basis - basis
            basis_against_since = since(
                plan.basis_against_since, moved > config.exits.basis_stop_frac
            )
    return replace(
        plan,
        interval_time=latest,
        adverse_since=adverse_since,
        eroded_since=eroded_since,
        basis_against_since=basis_against_since,
    )


def _held_h(since: int | None, now: int, limit_h: Decimal) -> Decimal | None:
    """Hours a condition has held (since a settlement at ``since``) when ≥ ``limit_h``."""
    if since is None:
        return None
    held = Decimal(now - since) / MS_PER_HOUR
    return held if held >= limit_h else None


def _pair_since(plan: ArbPlan) -> int:
    """When the arb's current pair was entered: its opening, or its latest switch. The time
    limit re-judges a pair; a switch is such a judgement (an exit and a new entry would have
    restarted the clock too)."""
    return max(plan.opened_at, plan.switched_at)


def stale_leg(plan: ArbPlan, board: AssetBoard, config: StrategyConfig, now: int) -> str | None:
    """The stale-feed breaker for an open arb: a leg without prices (or, for perps, funding)
    for longer than ``risk.stale_feed_ms`` cannot be marked or monitored — close the arb."""
    limit = config.risk.stale_feed_ms
    for key in (plan.long, plan.short):
        ticker = board.tickers.get(key)
        if ticker is None or now - ticker.observed_at > limit:
            return f"stale feed: no prices for {key[0]} {key[1]} in {limit // 60000} min"
        funding = board.funding.get(key)
        if not is_spot(key[1]) and funding is not None:
            # an unknown next settlement (0) must not read as a negative interval
            interval_ms = funding.next_funding_time - funding.funding_time
            if interval_ms <= 0:
                interval_ms = limit
            if now - funding.observed_at > max(limit, 2 * interval_ms):
                return f"stale feed: no funding for {key[0]} {key[1]}"
    return None


def _risk_exit(
    plan: ArbPlan, board: AssetBoard, config: StrategyConfig, now: int, breakers: Breakers
) -> tuple[ExitReason, str] | None:
    """The first checks of both exit rules: a breaker forcing exits, then a stale leg."""
    if breakers.forced(plan.asset):
        return ExitReason.risk_breaker, "a breaker forces exits"
    stale = stale_leg(plan, board, config, now)
    if stale is not None:
        return ExitReason.risk_breaker, stale
    return None


def exit_reason(
    plan: ArbPlan,
    board: AssetBoard,
    book: PositionBook,
    config: StrategyConfig,
    now: int,
    breakers: Breakers,
    best: PairQuote | None,
    current: PairQuote,
) -> tuple[ExitReason, str] | None:
    """Why ``plan`` should close now, or None (order of checks: module docstring)."""
    ex = config.exits
    risk = _risk_exit(plan, board, config, now, breakers)
    if risk is not None:
        return risk
    held = _held_h(plan.adverse_since, now, ex.flip_h)
    if held is not None:
        return ExitReason.funding_flip, f"spread < 0 at every settlement for {held:.1f} h"
    held = _held_h(plan.basis_against_since, now, ex.basis_stop_h)
    if plan.entry_basis is not None and held is not None:
        return ExitReason.basis_stop, f"basis against us for {held:.1f} h"
    funding = book.arbs[plan.arb_id].funding if plan.arb_id in book.arbs else ZERO
    if (
        ex.take_profit_frac is not None
        and plan.notional_usd > 0
        and funding / plan.notional_usd >= ex.take_profit_frac
    ):
        return ExitReason.take_profit, f"funding {funding:.2f} USD on {plan.notional_usd:.0f} USD"
    held = _held_h(plan.eroded_since, now, ex.erosion_h)
    if held is not None:
        return (
            ExitReason.profit_erosion,
            f"spread below {ex.erosion_ratio} of entry for {held:.1f} h",
        )
    if Decimal(now - _pair_since(plan)) >= ex.max_hold_h * MS_PER_HOUR:
        return ExitReason.time_limit, f"held {(now - _pair_since(plan)) // MS_PER_HOUR} h"
    # switching applies to an arb that still earns; a negative spread is the flip rule's call
    if (
        ex.better_opportunity
        and best is not None
        and not current.blocked
        and current.spread_h > 0
        and (best.long, best.short) != (plan.long, plan.short)
    ):
        exit_cost_apr = current.cost_frac / 2 * HOURS_PER_YEAR / config.entry.holding_horizon_h
        if best.net_edge_apr - current.spread_apr >= ex.better_improvement_apr + exit_cost_apr:
            return ExitReason.better_opportunity, f"{best.label} nets {best.net_edge_apr:.4f} APR"
    return None


def forecast_exit_reason(
    plan: ArbPlan,
    board: AssetBoard,
    book: PositionBook,
    config: StrategyConfig,
    now: int,
    breakers: Breakers,
    best: ForecastQuote | None,
    current: PairQuote,
) -> tuple[ExitReason, str] | None:
    """Why ``plan`` should close now under the forecast rule (``entry.decide_on =
    "forecast"``), or None. In order:

    1. ``risk_breaker`` (forced exits, stale feed) and ``basis_stop``, as :func:`exit_reason`;
    2. ``funding_flip``: the forecast spread is below ``−exits.flip_apr`` (a hard threshold:
       it binds before break-even too);
    3. ``time_limit``: the pair held ≥ ``exits.max_hold_h`` since entry or switch (a risk
       limit, binds before break-even);
    4. nothing else before break-even (``exits.min_hold_break_even``): the arb's funding has
       not yet paid its round trip (``entry_cost_frac × notional``);
    5. ``take_profit`` as :func:`exit_reason`;
    6. ``profit_erosion``: the forecast spread APR is below ``exits.exit_apr`` (hysteresis:
       below the entry threshold, so an arb does not exit on the noise it entered on);
    7. ``better_opportunity``: another pair's forecast gain over the expected hold,
       ``(f_best − f_current) × expected_hold_h``, is at least ``exits.switch_cost_multiple``
       × the switch cost (:func:`projections.strategies.funding_arb.policy.switch_cost_frac`).
    """
    ex = config.exits
    risk = _risk_exit(plan, board, config, now, breakers)
    if risk is not None:
        return risk
    held = _held_h(plan.basis_against_since, now, ex.basis_stop_h)
    if plan.entry_basis is not None and held is not None:
        return ExitReason.basis_stop, f"basis against us for {held:.1f} h"
    fcur = forecast_quote(board, current, config)
    if fcur is not None and fcur.spread_apr < -ex.flip_apr:
        return (
            ExitReason.funding_flip,
            f"forecast spread {fcur.spread_apr:.4f} APR < -{ex.flip_apr}",
        )
    if Decimal(now - _pair_since(plan)) >= ex.max_hold_h * MS_PER_HOUR:
        return ExitReason.time_limit, f"held {(now - _pair_since(plan)) // MS_PER_HOUR} h"
    ledger = book.arbs.get(plan.arb_id)
    funding = ledger.funding if ledger is not None else ZERO
    if ex.min_hold_break_even and funding < plan.entry_cost_frac * plan.notional_usd:
        return None
    if (
        ex.take_profit_frac is not None
        and plan.notional_usd > 0
        and funding / plan.notional_usd >= ex.take_profit_frac
    ):
        return ExitReason.take_profit, f"funding {funding:.2f} USD on {plan.notional_usd:.0f} USD"
    if fcur is None:
        return None  # no forecast for a leg (cannot happen once a leg has settled): hold
    if fcur.spread_apr < ex.exit_apr:
        return (
            ExitReason.profit_erosion,
            f"forecast spread {fcur.spread_apr:.4f} APR < exit threshold {ex.exit_apr}",
        )
    if (
        ex.better_opportunity
        and best is not None
        and (best.long, best.short) != (plan.long, plan.short)
    ):
        gain = (best.spread_h - fcur.spread_h) * config.entry.expected_hold_h
        cost = switch_cost_frac(current, best.quote, config)
        if gain >= ex.switch_cost_multiple * cost:
            return (
                ExitReason.better_opportunity,
                f"{best.quote.label}: forecast gain {gain:.6f} ≥ {ex.switch_cost_multiple} × "
                f"switch cost {cost:.6f}",
            )
    return None


# ---- entries -------------------------------------------------------------------------------
def _eligible(q: PairQuote, config: StrategyConfig) -> bool:
    if q.blocked or q.long_leg is None or q.short_leg is None:
        return False
    e = config.entry
    if not (
        q.break_even_h is not None
        and q.net_edge_apr >= e.min_net_apr
        and q.break_even_h <= e.max_break_even_h
    ):
        return False
    if e.min_quote_volume_24h_usd > 0:
        for leg in (q.long_leg, q.short_leg):
            if leg.quote_volume_24h is None or leg.quote_volume_24h < e.min_quote_volume_24h_usd:
                return False
    return True


def _best(pairs: list[PairQuote], config: StrategyConfig) -> PairQuote | None:
    """The first eligible pair of a :func:`candidate_pairs` ranking (blocked pairs last, then
    net edge descending): the scan stops at the first blocked pair or the first edge below
    ``entry.min_net_apr``, since no pair after it can be eligible (issue 18: the scan ran
    through every pair on every decision)."""
    floor = config.entry.min_net_apr
    for q in pairs:
        if q.blocked is not None or q.net_edge_apr < floor:
            return None
        if _eligible(q, config):
            return q
    return None


def _size(
    q: PairQuote, state: StrategyState, config: StrategyConfig, asset: str
) -> tuple[Decimal, Decimal]:
    """(qty in base units, notional USD) within the capacity limits; qty 0 means no room."""
    cap = config.capacity
    live = state.live()
    used_asset = sum((a.notional_usd for a in live if a.asset == asset), ZERO)
    room = min(cap.notional_per_arb_usd, cap.max_notional_per_asset_usd - used_asset)
    # the venue limit is split per asset partition (projections/budget.py): only this
    # partition's arbs count, against its share
    share = budget_for_asset(cap, asset).max_notional_per_venue_usd
    mine = [a for a in live if same_partition(a.asset, asset)]
    for venue in {q.long[0], q.short[0]}:
        used = sum((a.notional_usd for a in mine if venue in (a.long[0], a.short[0])), ZERO)
        room = min(room, share - used)
    assert q.long_leg is not None and q.short_leg is not None
    price = max(q.long_leg.ask, q.short_leg.ask)  # size on the dearer leg: never over notional
    if room <= 0:
        return ZERO, ZERO
    step = config.execution.qty_step
    qty = (room / price / step).to_integral_value(rounding=ROUND_DOWN) * step
    return qty, qty * price


def _first_leg(q: PairQuote, config: StrategyConfig) -> FeedKey:
    """With ``execution.maker_first``: the leg on the venue with the cheaper maker fee (it
    rests post-only, the other hedges as taker; seeds/002 "maker/taker assignment"). Else, or
    on equal maker fees: spot first (the perp hedges it); otherwise the thinner venue first,
    the deeper hedges."""
    assert q.long_leg is not None and q.short_leg is not None
    if config.execution.maker_first:
        long_fee = venue_fees(config.fees, q.long[0]).maker
        short_fee = venue_fees(config.fees, q.short[0]).maker
        if long_fee != short_fee:
            return q.long if long_fee < short_fee else q.short
    if q.long_leg.spot != q.short_leg.spot:
        return q.long if q.long_leg.spot else q.short
    lv, sv = q.long_leg.quote_volume_24h, q.short_leg.quote_volume_24h
    if lv is not None and sv is not None and lv < sv:
        return q.long
    return q.short


# ---- switching with a shared leg -----------------------------------------------------------
def _retarget(
    plan: ArbPlan,
    best: PairQuote,
    board: AssetBoard,
    book: PositionBook,
    state: StrategyState,
    config: StrategyConfig,
    now: int,
    cause: str | None,
    detail: str,
    expected_apr: Decimal,
    strategy_id: str = FUNDING_ARB_ID,
) -> tuple[ArbPlan, TargetPositionSet] | None:
    """The switch of ``plan`` to ``best`` as a new revision of the same arb that keeps the
    leg both pairs share (issue 19): the target names the new leg at the arb's quantity, the
    replaced leg at 0 and the shared leg at its current quantity, so the executor trades only
    the changed leg (the new leg first, the old one bought back as it fills) and sends no
    order on the shared one. The arb keeps its id, ledger and age; its break-even cost grows
    by the switch cost (forecast rule).

    None (the caller exits, the better pair enters later) when the pairs share no leg, when
    the book does not show the arb's legs exactly in place (a partial entry: a full re-entry
    is cleaner), or when the new leg's venue has no room for the notional."""
    shared = shared_leg((plan.long, plan.short), (best.long, best.short))
    if shared is None:
        return None
    keep, old, new = shared
    qty = plan.qty

    def signed(key: FeedKey, long: FeedKey) -> Decimal:
        return qty if key == long else -qty

    if (
        book.leg(*keep).qty != signed(keep, plan.long)
        or book.leg(*old).qty != signed(old, plan.long)
        or book.leg(*new).qty != 0
    ):
        return None
    if new[0] not in (keep[0], old[0]):
        others = [a for a in state.live() if a.arb_id != plan.arb_id]
        used = sum((a.notional_usd for a in others if new[0] in (a.long[0], a.short[0])), ZERO)
        if used + plan.notional_usd > config.capacity.max_notional_per_venue_usd:
            return None
    revision = plan.revision + 1
    spot_short = config.entry.allow_spot_short
    legs = [
        _leg(new, signed(new, best.long), spot_short),
        _leg(old, ZERO, spot_short),
        _leg(keep, signed(keep, best.long), spot_short),
    ]
    forecast = config.entry.decide_on == "forecast"
    current = quote_pair(board, plan.long, plan.short, config, now)
    cost = switch_cost_frac(current, best, config) if forecast and not current.blocked else ZERO
    event_id = _intent_id(plan.arb_id, revision, "target")
    target = make(
        TargetPositionSet,
        **envelope(event_id, now, INTERNAL_VENUE, plan.asset, cause, plan.arb_id),
        strategy_id=strategy_id,
        arb_id=plan.arb_id,
        revision=revision,
        legs=legs,
        target_notional_usd=plan.notional_usd,
        expected_apr=expected_apr.quantize(Decimal("1e-10")),
        entry_spread_apr=best.spread_apr.quantize(Decimal("1e-10")),
        reason=f"switch keeping {keep[0]} {keep[1]}: {detail}",
    )
    plan = replace(
        plan,
        long=best.long,
        short=best.short,
        first=new,
        revision=revision,
        entry_spread_h=best.spread_h,
        entry_spread_apr=best.spread_apr,
        entry_basis=_basis(board, best.long, best.short, config, now),
        interval_time=_last_funding_time(board, best),
        adverse_since=None,
        eroded_since=None,
        basis_against_since=None,
        entry_cost_frac=plan.entry_cost_frac + cost,
        switches=plan.switches + 1,
        switched_from=(plan.long, plan.short),
        switched_at=now,
    )
    return plan, target


# ---- decide --------------------------------------------------------------------------------
def decide(
    asset: str,
    board: AssetBoard,
    book: PositionBook,
    state: StrategyState,
    config: StrategyConfig,
    now: int,
    cause: str | None,
    breakers: Breakers | None = None,
    pairs: list[PairQuote] | None = None,
    strategy_id: str = FUNDING_ARB_ID,
) -> tuple[StrategyState, list[Event]]:
    """Decide on ``asset`` at event time ``now``: exits first, then at most one entry.

    ``state`` covers every asset this decider owns (capacity limits count across them);
    ``cause`` is the ``event_id`` of the input that triggered the decision; ``pairs`` may be
    the board's :func:`candidate_pairs` at ``now`` when the caller has them;
    ``strategy_id`` is stamped on every intent.
    """
    breakers = breakers or Breakers()
    intents: list[Event] = []
    for plan in [a for a in state.live() if a.asset == asset]:
        state = _put(state, _observe(plan, book, now, entry_grace_ms(config)))

    if pairs is None:  # callers that already ranked the board at ``now`` pass the pairs
        pairs = candidate_pairs(board, config, now)
    forecast = config.entry.decide_on == "forecast"
    fbest: ForecastQuote | None = None
    if forecast:
        fbest = next(
            (f for f in forecast_pairs(board, pairs, config, now) if forecast_eligible(f, config)),
            None,
        )
        best = fbest.quote if fbest is not None else None
    else:
        best = _best(pairs, config)
    live = state.live_for(asset)
    if live is not None:
        plan = live
        if plan.status == "open":
            current = quote_pair(board, plan.long, plan.short, config, now)
            plan = _count_interval(plan, board, config, now, current)
            state = _put(state, plan)
            if forecast:
                why = forecast_exit_reason(plan, board, book, config, now, breakers, fbest, current)
            else:
                why = exit_reason(plan, board, book, config, now, breakers, best, current)
            switch = None
            if why is not None and why[0] is ExitReason.better_opportunity:
                if plan.switched_from is not None:
                    why = None  # a switch is in flight: let it settle before judging another
                elif best is not None:
                    expected = fbest.net_edge_apr if fbest is not None else best.net_edge_apr
                    switch = _retarget(
                        plan,
                        best,
                        board,
                        book,
                        state,
                        config,
                        now,
                        cause,
                        why[1],
                        expected,
                        strategy_id=strategy_id,
                    )
            if switch is not None:
                plan, target = switch
                intents.append(target)
                state = _put(state, plan)
            elif why is not None:
                reason, detail = why
                revision = plan.revision + 1
                event_id = _intent_id(plan.arb_id, revision, "exit")
                intents.append(
                    make(
                        ExitRequested,
                        **envelope(event_id, now, INTERNAL_VENUE, asset, cause, plan.arb_id),
                        strategy_id=strategy_id,
                        arb_id=plan.arb_id,
                        revision=revision,
                        exit_reason=reason,
                        detail=detail,
                    )
                )
                state = _put(
                    state, replace(plan, status="exiting", revision=revision, exit_reason=reason)
                )
        return state, intents  # one arb per asset: nothing new while one lives

    if breakers.paused(asset) or best is None:
        return state, intents
    # the open-arb limit is split per asset partition (projections/budget.py)
    open_here = sum(1 for a in state.live() if same_partition(a.asset, asset))
    if (
        open_here >= budget_for_asset(config.capacity, asset).max_open_arbs
        or config.capacity.max_new_per_round < 1
    ):
        return state, intents
    qty, notional = _size(best, state, config, asset)
    if qty <= 0:
        return state, intents
    first = _first_leg(best, config)
    second = best.short if first == best.long else best.long
    arb_id = _arb_id(asset, best.long, best.short, now)
    spot_short = config.entry.allow_spot_short
    legs = [_leg(k, qty if k == best.long else -qty, spot_short) for k in (first, second)]
    if fbest is None:
        expected_apr = best.net_edge_apr
        why_entry = (
            f"{best.label}: spread {best.spread_apr:.4f} APR, "
            f"net {best.net_edge_apr:.4f} APR, break-even {best.break_even_h:.1f} h"
        )
    else:  # the current spread may be ≤ 0 (no break-even of its own) while the forecast pays
        expected_apr = fbest.net_edge_apr
        why_entry = (
            f"{best.label}: forecast spread {fbest.spread_apr:.4f} APR (now "
            f"{best.spread_apr:.4f}), net {fbest.net_edge_apr:.4f} APR over "
            f"{config.entry.expected_hold_h} h, cost {fbest.cost_frac:.6f}, "
            f"break-even {fbest.break_even_h:.1f} h"
        )
    event_id = _intent_id(arb_id, 0, "target")
    intents.append(
        make(
            TargetPositionSet,
            **envelope(event_id, now, INTERNAL_VENUE, asset, cause, arb_id),
            strategy_id=strategy_id,
            arb_id=arb_id,
            revision=0,
            legs=legs,
            target_notional_usd=notional,
            expected_apr=expected_apr.quantize(Decimal("1e-10")),
            entry_spread_apr=best.spread_apr.quantize(Decimal("1e-10")),
            reason=why_entry,
        )
    )
    state = _put(
        state,
        ArbPlan(
            arb_id=arb_id,
            asset=asset,
            long=best.long,
            short=best.short,
            first=first,
            qty=qty,
            notional_usd=notional,
            opened_at=now,
            entry_spread_h=best.spread_h,
            entry_spread_apr=best.spread_apr,
            entry_basis=_basis(board, best.long, best.short, config, now),
            interval_time=_last_funding_time(board, best),
            entry_cost_frac=fbest.cost_frac if fbest is not None else ZERO,
        ),
    )
    return state, intents
