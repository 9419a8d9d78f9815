"""The funding forecast: the expected funding rate per hour of one leg over a holding horizon,
from the leg's recent settlements (pure, deterministic, ``Decimal`` throughout).

Why not the latest rate: on the bundled window (finm33150, 2025-12 → 2026-03) the latest
settled spread of a pair forecasts the next 24 h with a slope of ~0.3 (realised on forecast)
and the next 168 h with ~0.2: funding spreads mean-revert, so entering on the latest print
overpays (issue 19). A trailing mean of the settlements does better; the run measures how much
better in every report (``forecast_accuracy`` in ``summary.json``).

Formula, for a leg with settled points ``(t_i, r_i)`` (rate per interval, ``interval_h``
hours each) and its latest settlement ``T``:

* ``age_i = ⌊(T − t_i) / 1 h⌋``; points with ``age_i ≥ window_h`` are dropped;
* weights ``w_i = 2^(−age_i / half_life_h)`` (an EWMA on settlement time), or ``w_i = 1``
  when ``half_life_h = 0`` (a plain trailing mean over ``window_h``);
* ``m = Σ w_i r_i / Σ w_i / interval_h`` (fraction per hour);
* shrinkage: ``f = (1 − shrink) × m + shrink × prior``, the prior ``0`` or the leg's
  ``long_mean`` (the plain mean per hour of every point the feed keeps,
  :data:`projections.board.RATE_HISTORY`);
* the venue's predicted rate ``p`` (when the feed has one and ``use_predicted``) covers the
  next interval of the horizon ``H``: ``f_H = s × p / interval_h + (1 − s) × f`` with
  ``s = min(interval_h, H) / H``.

The forecast anchors on the leg's latest settlement, not on ``now``: it changes only when a
settlement arrives, so it is cached per (feed, parameters) and costs nothing per ticker.
A leg without settlements has no forecast (``None``): the pair is not judged on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from projections.funding import MS_PER_HOUR
from schemas.config import ForecastConfig

ZERO = Decimal(0)
ONE = Decimal(1)
HALF = Decimal("0.5")

_WEIGHTS: dict[tuple[Decimal, int], tuple[Decimal, ...]] = {}


def weights(half_life_h: Decimal, window_h: int) -> tuple[Decimal, ...]:
    """``w[k] = 2^(−k / half_life_h)`` for ages ``k = 0 … window_h − 1`` hours (all 1 when
    ``half_life_h`` is 0). Built by repeated multiplication of one per-hour factor, so it is
    the same digits on every platform; cached per (half-life, window)."""
    key = (half_life_h, window_h)
    table = _WEIGHTS.get(key)
    if table is None:
        if half_life_h == 0:
            table = tuple(ONE for _ in range(window_h))
        else:
            factor = HALF ** (ONE / half_life_h)
            out = [ONE]
            for _ in range(window_h - 1):
                out.append(out[-1] * factor)
            table = tuple(out)
        _WEIGHTS[key] = table
    return table


def trailing_rate_h(
    points: Sequence[tuple[int, Decimal]], interval_h: int, params: ForecastConfig
) -> Decimal | None:
    """The weighted mean rate per hour of ``points`` (``(funding_time ms, rate per interval)``,
    oldest first) as the module docstring defines it, before shrinkage; None without points.

    Raises ``ValueError`` for ``interval_h ≤ 0``.
    """
    if interval_h <= 0:
        raise ValueError(f"interval must be > 0 h, got {interval_h}")
    if not points:
        return None
    window = int(params.window_h)
    table = weights(params.half_life_h, max(window, 1))
    latest = points[-1][0]
    num = ZERO
    den = ZERO
    for t, rate in reversed(points):
        age = (latest - t) // MS_PER_HOUR
        if age >= window:
            break
        w = table[age]
        num += w * rate
        den += w
    return num / den / interval_h


def forecast_rate_h(
    points: Sequence[tuple[int, Decimal]],
    interval_h: int,
    params: ForecastConfig,
    horizon_h: Decimal,
    predicted_rate: Decimal | None = None,
) -> Decimal | None:
    """Expected funding rate per hour (fraction/h, positive: longs pay) of one leg over the
    next ``horizon_h`` hours (module docstring). None when the leg has no settlements.

    Raises ``ValueError`` for ``interval_h ≤ 0`` or ``horizon_h ≤ 0``.
    """
    if horizon_h <= 0:
        raise ValueError(f"horizon must be > 0 h, got {horizon_h}")
    mean = trailing_rate_h(points, interval_h, params)
    if mean is None:
        return None
    f = mean
    if params.shrink > 0:
        if params.prior == "long_mean":
            prior = sum((r for _, r in points), ZERO) / len(points) / interval_h
        else:
            prior = ZERO
        f = (ONE - params.shrink) * mean + params.shrink * prior
    if params.use_predicted and predicted_rate is not None:
        share = min(Decimal(interval_h), horizon_h) / horizon_h
        f = share * predicted_rate / interval_h + (ONE - share) * f
    return f


def realised_rate_h(
    points: Sequence[tuple[int, Decimal]], after_ms: int, horizon_h: int
) -> Decimal | None:
    """What holding one unit of notional long earned per hour over ``(after_ms, after_ms +
    horizon_h h]``: the sum of the rates settled in that span / ``horizon_h`` (positive: longs
    paid). None when the points do not reach the end of the span (it cannot be known yet)."""
    end = after_ms + horizon_h * MS_PER_HOUR
    if not points or points[-1][0] < end:
        return None
    total = sum((r for t, r in points if after_ms < t <= end), ZERO)
    return total / horizon_h
