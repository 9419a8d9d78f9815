"""Row checks at the edge: a recorded row is parsed and bounded once, here, or refused with a
reason (→ a :class:`RejectedRow` for the dead-letter topic, counted in its series' quality)."""

from __future__ import annotations

from decimal import Decimal

from producers.history.base import DAY_MS, Item, RejectedRow, Run
from producers.history.quality import SeriesQuality
from projections.funding import MS_PER_HOUR
from schemas.types import (
    MAX_MAGNITUDE,
    base_asset,
    canonical_decimal,
    check_funding_rate,
    check_ms,
    check_symbol,
    check_venue,
)

CANDLE_INTERVALS_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": MS_PER_HOUR,
    "4h": 4 * MS_PER_HOUR,
    "8h": 8 * MS_PER_HOUR,
    "1d": DAY_MS,
}


def reject(
    run: Run, q: SeriesQuality, line: int, raw: bytes, kind: str, reason: str, t: int
) -> Item:
    """Count a refused row; it is yielded at the time of the last good row of its series."""
    q.invalid += kind == "invalid"
    q.out_of_order += kind == "out_of_order"
    rejected = RejectedRow(
        f"file:{run.path.name}",
        line,
        raw,
        kind,
        f"{run.venue} {run.symbol} line {line}: {reason}",
        t,
        base_asset(run.symbol) if "/" in run.symbol else "UNKNOWN",
    )
    return (t, -1, run.venue, run.symbol), rejected


def check_funding_row(cols: list[str]) -> tuple[int, Decimal, Decimal | None]:
    """A funding row ``venue,symbol,funding_time_ms,funding_rate,mark_price`` (mark optional)
    as ``(funding_time_ms, funding_rate, mark_price)``, every field bounded.

    Raises ``ValueError`` (the reason) for a wrong column count, a time, venue, symbol or rate
    out of bounds (:mod:`schemas.types` checks), a spot symbol, or a mark that is not positive.
    """
    if len(cols) != 5:
        raise ValueError(f"expected 5 columns, got {len(cols)}")
    t = check_ms(int(cols[2]))
    check_venue(cols[0])
    if ":" not in check_symbol(cols[1]):
        raise ValueError(f"{cols[1]} is spot: spot has no funding rows")
    rate = check_funding_rate(cols[3])
    mark = canonical_decimal(cols[4]) if cols[4] else None
    if mark is not None and mark <= 0:
        raise ValueError(f"mark price {mark} is not positive")
    return t, rate, mark


def check_candle_row(cols: list[str]) -> tuple[int, int, Decimal, Decimal]:
    """A candle row ``venue,symbol,market,interval,open_time_ms,open,high,low,close,volume`` as
    ``(open_time_ms, interval_ms, close, volume)``, every field used bounded.

    Raises ``ValueError`` (the reason) for a wrong column count, an unknown interval, a time,
    venue or symbol out of bounds, a close that is not positive, a negative volume, or a quote
    volume (volume × close) not below :data:`schemas.types.MAX_MAGNITUDE`.
    """
    if len(cols) != 10:
        raise ValueError(f"expected 10 columns, got {len(cols)}")
    step = CANDLE_INTERVALS_MS.get(cols[3])
    if step is None:
        raise ValueError(f"unknown candle interval {cols[3]!r}")
    opened = check_ms(int(cols[4]))
    check_venue(cols[0])
    check_symbol(cols[1])
    close = canonical_decimal(cols[8])
    volume = canonical_decimal(cols[9])
    if close <= 0 or volume < 0:
        raise ValueError(f"close {close} / volume {volume} out of range")
    if volume * close >= MAX_MAGNITUDE:  # the ticker's quote volume must stay bounded
        raise ValueError(f"quote volume {volume * close:.6E} is not below {MAX_MAGNITUDE:E}")
    return opened, step, close, volume
