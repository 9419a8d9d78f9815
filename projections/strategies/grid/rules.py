"""The grid's pure rules: ATR, level spacing, inventory skew, stepping across levels.

A grid holds ``level × qty_per_level`` base units (``level`` in ``[-levels, levels]``, > 0
long). It buys one level each time the price falls one step below the price of the level it
stepped to last (the *anchor*) and sells one level each time the price rises one step above
it: mean reversion, one level per step crossed.

* **ATR** (Wilder, *New Concepts in Technical Trading Systems*, 1978): the mean true range of
  the last N periods. Ticker events carry no high/low, so an hour's true range is
  ``|mid_t − mid_{t−1}|`` between the first quotes of consecutive hours (the true range of a
  candle with high = low = close): a lower bound of the candle's range, which ``atr_mult``
  scales.
* **Spacing** ``= atr_mult × ATR``, clamped to ``[min_spacing_frac, max_spacing_frac] ×
  price``: wide in volatile hours, never so tight that fees eat every step, never so wide the
  grid never trades.
* **Inventory skew** (as in Avellaneda–Stoikov market making, where quotes lean against
  inventory): with ``tilt = skew × |level| / levels``, the step that *adds* inventory is
  ``spacing × (1 + tilt)`` away and the one that *reduces* it ``spacing × (1 − tilt)``; with
  ``skew ≤ 0.9`` every step stays within ``[0.1, 1.9] × spacing``.
* **Stop**: at the inventory cap, a further adverse move of ``stop_levels × spacing`` past the
  anchor closes the grid (level 0) and re-centres it on the price.

Everything is Decimal and deterministic: same inputs, same levels.
"""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal(0)


def average_true_range(ranges: tuple[Decimal, ...]) -> Decimal:
    """Mean of the true ranges (quote per base); 0 for none."""
    return sum(ranges, ZERO) / len(ranges) if ranges else ZERO


def with_range(
    ranges: tuple[Decimal, ...], true_range: Decimal, periods: int
) -> tuple[Decimal, ...]:
    """The last ``periods`` true ranges once ``true_range`` is added (oldest first)."""
    return (*ranges, abs(true_range))[-periods:]


def grid_spacing(
    atr: Decimal, price: Decimal, atr_mult: Decimal, min_frac: Decimal, max_frac: Decimal
) -> Decimal:
    """One grid step in price (quote per base): ``atr_mult × atr`` within
    ``[min_frac × price, max_frac × price]``."""
    return min(max(atr_mult * atr, min_frac * price), max_frac * price)


def step_distance(
    level: int, levels: int, skew: Decimal, spacing: Decimal, adding: bool
) -> Decimal:
    """Distance to the next level from inventory ``level``: wider when the step adds
    inventory, narrower when it reduces it (module docstring, "Inventory skew")."""
    tilt = skew * Decimal(abs(level)) / Decimal(levels)
    return spacing * (1 + tilt) if adding else spacing * (1 - tilt)


def buy_trigger(
    anchor: Decimal, level: int, levels: int, skew: Decimal, spacing: Decimal
) -> Decimal:
    """The price at or below which the grid buys one level (adds when ``level ≥ 0``)."""
    return anchor - step_distance(level, levels, skew, spacing, adding=level >= 0)


def sell_trigger(
    anchor: Decimal, level: int, levels: int, skew: Decimal, spacing: Decimal
) -> Decimal:
    """The price at or above which the grid sells one level (adds when ``level ≤ 0``)."""
    return anchor + step_distance(level, levels, skew, spacing, adding=level <= 0)


def step_levels(
    level: int, anchor: Decimal, price: Decimal, spacing: Decimal, levels: int, skew: Decimal
) -> tuple[int, Decimal]:
    """``(level, anchor)`` after the price moved to ``price``: one level per trigger crossed
    (a gap crosses several), never beyond ``±levels``; the anchor is the last trigger crossed.
    """
    while level < levels:
        at = buy_trigger(anchor, level, levels, skew, spacing)
        if price > at:
            break
        anchor, level = at, level + 1
    while level > -levels:
        at = sell_trigger(anchor, level, levels, skew, spacing)
        if price < at:
            break
        anchor, level = at, level - 1
    return level, anchor


def stopped(
    level: int, anchor: Decimal, price: Decimal, spacing: Decimal, levels: int, stop_levels: int
) -> bool:
    """At the cap (``|level| = levels``) and ``stop_levels`` spacings further against it."""
    if level >= levels:
        return price <= anchor - stop_levels * spacing
    if level <= -levels:
        return price >= anchor + stop_levels * spacing
    return False
