"""Circuit breakers (DESIGN §6.3): pure folds that trip and reset breakers on event time.

Two scopes, because their inputs are keyed differently (DESIGN §4):

* **asset-local** breakers (:func:`assess`) run inside the engine fold, on the asset's own
  events, so the strategy honours them in the same step and a replay trips them identically:

  ====================  =====================================================  ==============
  breaker               trips when                                             action
  ====================  =====================================================  ==============
  ``order_failures``    ≥ ``risk.max_order_failures`` OrderRejected for the     pause_entries
                        asset within ``risk.order_failure_window_ms``
  ``one_legged_``       an arb's ``|net_delta_usd|`` (net base qty × one        force_exit
  ``exposure``          reference price) > ``risk.one_legged_max_usd``
                        continuously for ≥ ``risk.one_legged_max_ms``
  ``stale_feed``        a leg of the live arb has no prices (or funding) for    pause_entries
                        longer than ``risk.stale_feed_ms`` (the strategy
                        closes the arb itself; the breaker makes it visible
                        and stops re-entry until the feed is back)
  ====================  =====================================================  ==============

* **account** breakers (:func:`assess_balance`) read ``acct.balances`` (keyed by venue):
  ``margin_ratio`` ≥ ``risk.max_margin_ratio`` forces exits everywhere (instrument ``ALL``);
  a position whose liquidation price is within ``risk.min_liquidation_distance_frac`` of the
  mark (``|mark − liq| / mark``) forces exits on its asset.

Each breaker emits ``BreakerTripped`` once when it opens and ``BreakerReset`` once when it
closes (transitions only). Event ids derive from (breaker, scope, cause), so a replay yields
the same events. No clock, no randomness: ``now`` is always an input's event time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from schemas.config import RiskConfig
from schemas.envelope import IdNamespace, envelope
from schemas.events import BalanceObserved, BreakerReset, BreakerTripped, Event, PositionChanged
from schemas.types import INTERNAL_VENUE, Breaker, BreakerAction, base_asset

#: Breakers the engine trips itself; it ignores their echo on ``risk.events``.
LOCAL_BREAKERS = frozenset(
    {Breaker.order_failures, Breaker.one_legged_exposure, Breaker.stale_feed}
)
ALL = "ALL"


@dataclass(frozen=True)
class RiskState:
    """Asset-local breaker state: recent rejection times, one-legged timers, open breakers."""

    rejections: tuple[int, ...] = ()
    one_legged_since: Mapping[str, int] = field(default_factory=dict)
    open: Mapping[Breaker, BreakerAction] = field(default_factory=dict)

    def action(self, action: BreakerAction) -> bool:
        """True when an open breaker of this state takes ``action``."""
        return action in self.open.values()


def _trip(
    scope: str, breaker: Breaker, action: BreakerAction, now: int, cause: str, **kw: object
) -> BreakerTripped:
    event_id = IdNamespace.RISK.id("trip", breaker, scope, cause)
    return BreakerTripped(
        **envelope(event_id, now, INTERNAL_VENUE, scope, cause),
        breaker=breaker,
        action=action,
        **kw,
    )


def _reset(scope: str, breaker: Breaker, now: int, cause: str, detail: str) -> BreakerReset:
    event_id = IdNamespace.RISK.id("reset", breaker, scope, cause)
    return BreakerReset(
        **envelope(event_id, now, INTERNAL_VENUE, scope, cause),
        breaker=breaker,
        detail=detail,
    )


def assess(
    state: RiskState,
    asset: str,
    *,
    now: int,
    cause: str,
    config: RiskConfig,
    rejected: bool = False,
    positions: tuple[PositionChanged, ...] = (),
    stale: str | None = None,
) -> tuple[RiskState, list[Event]]:
    """Fold one engine step for ``asset`` at event time ``now`` (ms).

    ``rejected``: the input was an OrderRejected for this asset; ``positions``: the
    PositionChanged events this step produced (their ``net_delta_usd``, USD); ``stale``: the
    strategy's stale-leg finding for the live arb (``None`` when every leg is fresh).
    Returns the new state and the BreakerTripped/BreakerReset transitions, in a fixed order.
    """
    if (
        not rejected
        and not positions
        and stale is None
        and not state.rejections
        and not state.one_legged_since
        and not state.open
        and config.max_order_failures > 0
    ):
        return state, []  # nothing to count, nothing open, nothing wanted: the common step
    out: list[Event] = []
    window_start = now - config.order_failure_window_ms
    rejections = tuple(t for t in state.rejections if t > window_start)
    if rejected:
        rejections += (now,)
    since = dict(state.one_legged_since)
    for p in positions:
        arb = p.correlation_id
        if arb is None or p.net_delta_usd is None:
            continue
        if abs(p.net_delta_usd) > config.one_legged_max_usd:
            since.setdefault(arb, p.event_time)
        else:
            since.pop(arb, None)
    oldest = min(since.values()) if since else None
    wanted: dict[Breaker, tuple[BreakerAction, str, Decimal | None, Decimal | None]] = {}
    if len(rejections) >= config.max_order_failures:
        wanted[Breaker.order_failures] = (
            BreakerAction.pause_entries,
            f"{len(rejections)} rejected orders in {config.order_failure_window_ms // 60000} min",
            Decimal(len(rejections)),
            Decimal(config.max_order_failures),
        )
    if oldest is not None and now - oldest >= config.one_legged_max_ms:
        held = now - oldest
        wanted[Breaker.one_legged_exposure] = (
            BreakerAction.force_exit,
            f"one-legged above {config.one_legged_max_usd} USD for {held} ms",
            Decimal(held),
            Decimal(config.one_legged_max_ms),
        )
    if stale is not None:
        wanted[Breaker.stale_feed] = (BreakerAction.pause_entries, stale, None, None)
    open_ = dict(state.open)
    for breaker in sorted(set(open_) | set(wanted)):
        if breaker in wanted and breaker not in open_:
            action, detail, value, threshold = wanted[breaker]
            open_[breaker] = action
            out.append(
                _trip(
                    asset,
                    breaker,
                    action,
                    now,
                    cause,
                    detail=detail,
                    value=value,
                    threshold=threshold,
                )
            )
        elif breaker in open_ and breaker not in wanted:
            del open_[breaker]
            out.append(_reset(asset, breaker, now, cause, "condition cleared"))
    new = RiskState(rejections=rejections, one_legged_since=since, open=open_)
    return (state if new == state else new), out


@dataclass(frozen=True)
class AccountRiskState:
    """Account breakers open per scope (``ALL`` or an asset) and the last mark per market."""

    marks: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)
    open: Mapping[tuple[Breaker, str], str] = field(default_factory=dict)  # → venue that tripped


def observe_mark(
    state: AccountRiskState, venue: str, instrument: str, mark: Decimal
) -> AccountRiskState:
    """Remember the latest mark price (quote currency) of a market."""
    marks = dict(state.marks)
    marks[(venue, instrument)] = mark
    return replace(state, marks=marks)


def assess_balance(
    state: AccountRiskState, event: BalanceObserved, config: RiskConfig
) -> tuple[AccountRiskState, list[Event]]:
    """Fold one BalanceObserved: margin ratio (fraction, 1 = liquidation) per venue and the
    liquidation distance ``|mark − liq| / mark`` of the position it describes, if any.

    A breaker opened by a venue is reset only by a later balance from the same venue.
    """
    now, cause, venue = event.event_time, event.event_id, event.venue
    out: list[Event] = []
    open_ = dict(state.open)
    checks: list[tuple[Breaker, str, bool, str, Decimal | None, Decimal]] = []
    if event.margin_ratio is not None:
        checks.append(
            (
                Breaker.margin_ratio,
                ALL,
                event.margin_ratio >= config.max_margin_ratio,
                f"{venue} margin ratio {event.margin_ratio}",
                event.margin_ratio,
                config.max_margin_ratio,
            )
        )
    if event.liquidation_price is not None and event.position_qty:
        mark = state.marks.get((venue, event.instrument), event.entry_price)
        if mark:
            distance = abs(mark - event.liquidation_price) / mark
            checks.append(
                (
                    Breaker.liquidation_distance,
                    base_asset(event.instrument),
                    distance < config.min_liquidation_distance_frac,
                    f"{venue} {event.instrument} liq {event.liquidation_price}, mark {mark}",
                    distance,
                    config.min_liquidation_distance_frac,
                )
            )
    for breaker, scope, bad, detail, value, threshold in checks:
        key = (breaker, scope)
        if bad and key not in open_:
            open_[key] = venue
            out.append(
                _trip(
                    scope,
                    breaker,
                    BreakerAction.force_exit,
                    now,
                    cause,
                    detail=detail,
                    value=value,
                    threshold=threshold,
                )
            )
        elif not bad and open_.get(key) == venue:
            del open_[key]
            out.append(_reset(scope, breaker, now, cause, detail))
    return replace(state, open=open_), out
