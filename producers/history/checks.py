"""Row checks at the edge: a recorded row is parsed and bounded once, here, or refused with a
reason (→ a :class:`RejectedRow` for the dead-letter topic, counted in its series' quality)."""

from __future__ import annotations

import re
from decimal import Decimal

from producers.history.base import DAY_MS, Item, RejectedRow, Run
from producers.history.quality import SeriesQuality
from projections.funding import MS_PER_HOUR
from schemas.types import (
    MAX_MAGNITUDE,
    MAX_MS,
    MIN_MS,
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


# ---- the same checks, cheaper, for rows whose values are not used --------------------------
# A row outside the replay's window still counts in its series' quality (it is a row, maybe a
# duplicate, out of order, or the end of a gap), so whether it is valid must be known, but its
# decimals are never used. The text patterns below only accept strings that the full check
# accepts too (each bound proved on the text: see each pattern); anything else goes through
# the full check, so a row is valid here exactly when it is there, with the same reason.

#: a plain decimal of at most 15 integer digits and 30 places: ``Decimal`` parses it
#: (ASCII digits only), it is finite, has no exponent, under 64 characters and ``< 10^15``
_PLAIN = re.compile(r"([0-9]{1,15})(?:\.[0-9]{1,30})?")
#: a funding rate with ``|rate| < 1``: ``0.ddd``, or one digit (with up to 20 places) times
#: ``10^-k`` for 1 ≤ k ≤ 25, so exponent and length are within canonical_decimal's bounds
_RATE = re.compile(
    r"[+-]?(?:0(?:\.[0-9]{1,30})?|[0-9](?:\.[0-9]{1,20})?[eE]-0?(?:[1-9]|1[0-9]|2[0-5]))"
)
#: venues and symbols the full checks accepted (pure functions of the string); bounded
_VALID_VENUES: set[str] = set()
_VALID_SYMBOLS: set[str] = set()
_MEMO_LIMIT = 4096


def _known(venue: str, symbol: str) -> bool:
    return venue in _VALID_VENUES and symbol in _VALID_SYMBOLS


def _remember(venue: str, symbol: str) -> None:
    if len(_VALID_VENUES) < _MEMO_LIMIT and len(_VALID_SYMBOLS) < _MEMO_LIMIT:
        _VALID_VENUES.add(venue)
        _VALID_SYMBOLS.add(symbol)


def funding_row_time(cols: list[str]) -> int:
    """``check_funding_row(cols)[0]`` (the funding time), validating the row exactly as
    :func:`check_funding_row` does (same rows refused, same ``ValueError``), without building
    its decimals when the text alone shows them in bounds."""
    if (
        len(cols) == 5
        and _known(cols[0], cols[1])
        and ":" in cols[1]
        and _RATE.fullmatch(cols[3])
        and (not cols[4] or ((m := _PLAIN.fullmatch(cols[4])) and m[0].lstrip("0.")))
    ):
        return check_ms(int(cols[2]))  # the first check that could fail: the same error
    t = check_funding_row(cols)[0]
    _remember(cols[0], cols[1])
    return t


def candle_row_times(cols: list[str]) -> tuple[int, int]:
    """``check_candle_row(cols)[:2]`` (open time and interval, ms), validating the row exactly
    as :func:`check_candle_row` does (same rows refused, same ``ValueError``), without
    building its decimals when the text alone shows them in bounds: a positive close and a
    non-negative volume whose integer parts have at most 14 digits together, so the product
    is below 10^14 even rounded to 28 digits (the full check refuses ``≥ 10^15``)."""
    if len(cols) == 10 and _known(cols[0], cols[1]):
        step = CANDLE_INTERVALS_MS.get(cols[3])
        close = _PLAIN.fullmatch(cols[8])
        volume = _PLAIN.fullmatch(cols[9])
        if (
            step is not None
            and close
            and volume
            and len(close[1]) + len(volume[1]) <= 14
            and close[0].lstrip("0.")
        ):
            return check_ms(int(cols[4])), step  # the first check that could fail
    opened, step, _, _ = check_candle_row(cols)
    _remember(cols[0], cols[1])
    return opened, step


# ---- every row's check, with the values used, cheaper when the text proves the bounds ------
#: ``_PLAIN`` with a non-zero digit (a positive value: a close or a mark)
_POSITIVE = re.compile(r"(?=[0.]*[1-9])([0-9]{1,15})(?:\.[0-9]{1,30})?")


def _plain(text: str) -> Decimal:
    """``canonical_decimal(text)`` for a ``_PLAIN`` text: ``Decimal`` parses it exactly,
    finite, below 10^15, at most 30 places (nothing to round), and one zero for zero."""
    dec = Decimal(text)
    return dec if dec else _ZERO


_ZERO = Decimal(0)


def candle_row(cols: list[str], end: int) -> tuple[int, int, Decimal | None, Decimal | None]:
    """A candle row checked as :func:`check_candle_row` checks it (same rows refused, same
    ``ValueError``), as ``(open time, interval, close, volume)``; close and volume are None
    for a row opening at or after ``end`` (never emitted: :func:`candle_row_times`).

    The common row is proved valid on its text (a venue and symbol the full check accepted
    before, a known interval, an ASCII whole number of ms in range, a positive close and a
    non-negative volume whose integer parts have ≤ 14 digits together, so the quote volume
    is below 10^14) and its decimals parsed directly; any other row takes the full check."""
    if len(cols) == 10 and cols[0] in _VALID_VENUES and cols[1] in _VALID_SYMBOLS:
        step = CANDLE_INTERVALS_MS.get(cols[3])
        text = cols[4]
        close = _POSITIVE.fullmatch(cols[8])
        volume = _PLAIN.fullmatch(cols[9])
        if (
            step is not None
            and text.isascii()
            and text.isdigit()
            and close
            and volume
            and len(close[1]) + len(volume[1]) <= 14
            and MIN_MS <= (opened := int(text)) <= MAX_MS
        ):
            if opened >= end:
                return opened, step, None, None
            return opened, step, _plain(cols[8]), _plain(cols[9])
    if len(cols) > 4 and cols[4].isdigit() and int(cols[4]) >= end:  # as events._outside
        opened, step = candle_row_times(cols)
        return opened, step, None, None
    opened, step, close_d, volume_d = check_candle_row(cols)
    _remember(cols[0], cols[1])
    return opened, step, close_d, volume_d


def funding_row(
    cols: list[str], start: int, end: int
) -> tuple[int, Decimal | None, Decimal | None]:
    """A funding row checked as :func:`check_funding_row` checks it (same rows refused, same
    ``ValueError``), as ``(funding time, rate, mark)``; rate and mark are None for a row
    outside ``[start, end)`` (never emitted: :func:`funding_row_time`).

    The common row is proved valid on its text (a venue and perpetual symbol the full check
    accepted before, an ASCII whole number of ms in range, a rate ``_RATE`` bounds, no mark
    or a positive plain one) and its mark parsed directly; any other row takes the full
    check."""
    if len(cols) == 5 and cols[0] in _VALID_VENUES and cols[1] in _VALID_SYMBOLS:
        text, mark = cols[2], cols[4]
        if (
            ":" in cols[1]
            and text.isascii()
            and text.isdigit()
            and _RATE.fullmatch(cols[3])
            and (not mark or _POSITIVE.fullmatch(mark))
            and MIN_MS <= (t := int(text)) <= MAX_MS
        ):
            if not start <= t < end:
                return t, None, None
            return t, canonical_decimal(cols[3]), _plain(mark) if mark else None
    if len(cols) > 2 and cols[2].isdigit() and not start <= int(cols[2]) < end:
        return funding_row_time(cols), None, None  # as events._outside
    t, rate, mark_d = check_funding_row(cols)
    _remember(cols[0], cols[1])
    return t, rate, mark_d
