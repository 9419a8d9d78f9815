"""Universe selection: rank assets by liquidity on both legs, funding-history quality and
forecast edge (pure; ``fundarb universe`` collects the inputs, :mod:`streams.universe`).

Per (venue, asset) perp leg the caller measures (:class:`LegStats`): 24 h quote volume (USD),
book depth where the venue reports it, the funding settlements observed over a lookback and
the number expected from the leg's funding interval, and the trailing mean funding rate per
hour. A leg is *eligible* when its volume and depth reach the thresholds (an unknown figure
passes only a zero threshold) and its history quality (observed / expected settlements,
capped at 1) reaches ``min_history_quality``.

The forecast edge of an asset is the best spread between two eligible legs on different
venues: short the leg with the higher trailing mean rate, long the lower, edge per hour =
``mean_short − mean_long``, APR = edge × 8,760 h (hours in a 365-day year, the convention of
:mod:`projections.board`). A trailing mean is the simplest forecast of the coming funding
rates (a persistence assumption, stated as such and not tuned); the strategy's own
forecast is not used here.

Assets with an eligible pair and an edge of at least ``min_edge_apr`` are ranked by edge
(then by the thinner leg's volume, then by name) and the first ``top_n`` are selected. Every
other asset carries the reason it was left out. Deterministic: same inputs, same ranking.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

HOURS_PER_YEAR = Decimal(8760)
ZERO = Decimal(0)


@dataclass(frozen=True)
class LegStats:
    """What was measured of one perp leg (units in names; rates are fractions)."""

    venue: str
    asset: str
    quote_volume_24h_usd: Decimal | None = None  # None: not reported
    depth_usd: Decimal | None = None  # top-of-book depth (both sides), None: not reported
    settlements: int = 0  # funding observations in the lookback
    expected_settlements: int = 0  # lookback / the leg's funding interval
    mean_rate_h: Decimal | None = None  # trailing mean funding rate per hour

    @property
    def history_quality(self) -> Decimal:
        """Observed / expected settlements in the lookback, within [0, 1] (0 if none expected)."""
        if self.expected_settlements <= 0:
            return ZERO
        return min(Decimal(self.settlements) / Decimal(self.expected_settlements), Decimal(1))


@dataclass(frozen=True)
class UniverseRules:
    """Thresholds (USD; quality a fraction; edge an APR fraction)."""

    min_quote_volume_24h_usd: Decimal = ZERO
    min_depth_usd: Decimal = ZERO
    min_history_quality: Decimal = Decimal("0.8")
    min_edge_apr: Decimal = ZERO
    top_n: int = 10

    def __post_init__(self) -> None:
        if self.top_n < 1:
            raise ValueError(f"top_n must be at least 1, got {self.top_n}")
        if not ZERO <= self.min_history_quality <= 1:
            raise ValueError(
                f"min_history_quality must be within [0, 1], got {self.min_history_quality}"
            )
        if self.min_quote_volume_24h_usd < 0 or self.min_depth_usd < 0:
            raise ValueError("volume and depth thresholds must not be negative")


@dataclass(frozen=True)
class AssetRank:
    """One asset's place in the universe."""

    asset: str
    selected: bool
    rank: int | None  # 1-based among the selected
    edge_apr: Decimal | None  # best eligible pair's trailing-mean spread, per year
    long_venue: str | None
    short_venue: str | None
    thinner_volume_24h_usd: Decimal | None  # the pair's smaller 24 h volume (None: unknown)
    worse_quality: Decimal | None  # the pair's lower history quality
    eligible_venues: tuple[str, ...]
    reason: str  # why it was left out ("" when selected)


def leg_problem(leg: LegStats, rules: UniverseRules) -> str | None:
    """Why ``leg`` is not eligible, or None."""
    vol = leg.quote_volume_24h_usd
    if rules.min_quote_volume_24h_usd > 0 and (vol is None or vol < rules.min_quote_volume_24h_usd):
        return f"{leg.venue} 24h volume {_usd(vol)} < {_usd(rules.min_quote_volume_24h_usd)}"
    depth = leg.depth_usd
    if rules.min_depth_usd > 0 and (depth is None or depth < rules.min_depth_usd):
        return f"{leg.venue} depth {_usd(depth)} < {_usd(rules.min_depth_usd)}"
    if leg.mean_rate_h is None:
        return f"{leg.venue} has no funding history"
    if leg.history_quality < rules.min_history_quality:
        return (
            f"{leg.venue} history {leg.settlements}/{leg.expected_settlements} settlements "
            f"< {rules.min_history_quality:.0%}"
        )
    return None


def _usd(x: Decimal | None) -> str:
    return "unknown" if x is None else f"{x:,.0f} USD"


def _best_pair(legs: list[LegStats]) -> tuple[Decimal, LegStats, LegStats] | None:
    best: tuple[Decimal, LegStats, LegStats] | None = None
    for a in legs:
        for b in legs:
            if a.venue >= b.venue:
                continue
            assert a.mean_rate_h is not None and b.mean_rate_h is not None  # eligible
            long, short = (a, b) if a.mean_rate_h <= b.mean_rate_h else (b, a)
            edge = (short.mean_rate_h - long.mean_rate_h) * HOURS_PER_YEAR  # type: ignore[operator]  # both asserted not None above
            if best is None or edge > best[0]:
                best = (edge, long, short)
    return best


def rank_universe(legs: Iterable[LegStats], rules: UniverseRules) -> list[AssetRank]:
    """Every asset of ``legs``, selected ones first in rank order, then the others (best
    edge first) with their reason. See the module docstring for the rules."""
    by_asset: dict[str, list[LegStats]] = {}
    for leg in legs:
        by_asset.setdefault(leg.asset.upper(), []).append(leg)
    candidates: list[AssetRank] = []
    for asset, asset_legs in sorted(by_asset.items()):
        asset_legs.sort(key=lambda x: x.venue)
        problems = [(leg, leg_problem(leg, rules)) for leg in asset_legs]
        ok = [leg for leg, p in problems if p is None]
        eligible = tuple(leg.venue for leg in ok)
        pair = _best_pair(ok)
        if pair is None:
            why = "; ".join(p for _, p in problems if p) or "one venue only"
            candidates.append(
                AssetRank(
                    asset,
                    False,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    eligible,
                    f"fewer than two eligible venues ({why})",
                )
            )
            continue
        edge, long, short = pair
        vols = [long.quote_volume_24h_usd, short.quote_volume_24h_usd]
        thinner = None if None in vols else min(v for v in vols if v is not None)
        quality = min(long.history_quality, short.history_quality)
        reason = "" if edge >= rules.min_edge_apr else f"edge {edge:.2%} < {rules.min_edge_apr:.2%}"
        candidates.append(
            AssetRank(
                asset,
                False,
                None,
                edge,
                long.venue,
                short.venue,
                thinner,
                quality,
                eligible,
                reason,
            )
        )

    def key(r: AssetRank) -> tuple[Decimal, Decimal, str]:
        return (
            -(r.edge_apr if r.edge_apr is not None else Decimal("-Infinity")),
            -(r.thinner_volume_24h_usd or ZERO),
            r.asset,
        )

    passing = sorted((r for r in candidates if r.edge_apr is not None and not r.reason), key=key)
    out: list[AssetRank] = []
    for i, r in enumerate(passing):
        if i < rules.top_n:
            out.append(replace(r, selected=True, rank=i + 1))
        else:
            out.append(replace(r, reason=f"below the top {rules.top_n}"))
    rest = sorted((r for r in candidates if r.edge_apr is None or r.reason), key=key)
    return sorted(out, key=lambda r: (not r.selected, r.rank or 0)) + rest
