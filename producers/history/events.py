"""Recorded market data → events, in one event-time order, streaming (no Kafka here).

Inputs are the normalized formats of ``data/`` (``data/PROVENANCE.md``), as CSV (plain or
``.gz``) or Parquet with the same columns:

* funding rows ``venue,symbol,funding_time_ms,funding_rate,mark_price`` →
  :class:`FundingRateObserved` at the settlement time (``settled=True``); the next row's time
  becomes ``next_funding_time`` (a venue's schedule is known ahead; the rate is not), so the
  interval is known from the first row — capped at the series' usual interval
  (:func:`projections.funding.next_usual_interval_h`: set by the first delta, changed when two
  consecutive deltas agree), so a data gap is not read as a long interval
  (``next_funding_time = t + usual interval`` when the next row is further away);
* candle rows ``venue,symbol,market,interval,open_time_ms,open,high,low,close,volume`` →
  :class:`TickerObserved` at the candle **close** time: ``last = mark = close``,
  ``bid/ask = close × (1 ∓ half_spread)``, ``quote_volume_24h`` = Σ volume × close over the
  candles closed in the last 24h, volume in base units (a file's contract counts converted,
  :mod:`producers.history.units`);
* a funding series without candles whose rows carry mark prices (venues' funding-history
  endpoints return one per settlement) → one :class:`TickerObserved` per settlement from that
  mark (:func:`mark_ticker_events`), a coarse price path flagged in the notes.

A file is indexed once (byte offsets of each contiguous run of one series), then every run is
read lazily and the runs are k-way merged (``heapq.merge``) on
``(event_time, kind, venue, instrument)`` — tickers before funding at the same instant, so a
settlement sees the price of its own hour. Memory is one row per run plus 24 candles per series.

Data quality, per series, counted in :class:`SeriesQuality` and never silent: duplicate rows
(same time) are dropped; rows older than their predecessor are rejected (→ dead letter);
unparsable rows are rejected; gaps (funding: a delta longer than the usual interval that the
next delta does not confirm as the new interval; candles: longer than 2 candles, kept with the
longest one) and interval changes are counted, and :func:`coverage_notes` names each series with
gaps and its longest gap.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from producers.history.base import DAY_MS, FUNDING_RANK, TICKER_RANK, Item, Run, Window
from producers.history.checks import CANDLE_INTERVALS_MS, candle_row, funding_row, reject
from producers.history.csv_reader import REST
from producers.history.quality import SeriesQuality
from producers.history.readers import run_rows
from producers.history.units import volume_contract_size
from projections.funding import MS_PER_HOUR, interval_between, next_usual_interval_h
from schemas.envelope import IdNamespace, envelope, uuid5_str
from schemas.events import Event, FundingRateObserved, TickerObserved
from schemas.trusted import assemble
from schemas.types import MAX_MS, MIN_MS


def _event_id(*parts: object) -> str:
    return IdNamespace.REPLAY.id(*parts)


_REPLAY_NS = IdNamespace.REPLAY.value


#: every field's name per event type: the fields set of each event built here, one set per
#: type shared by its events (as the trusted decoders share theirs: pydantic copies a fields
#: set before any update, and events are frozen)
_FIELDS_SET: dict[type[Event], set[str]] = {}


def _constructed(model: type[Event], fields: dict[str, Any]) -> Any:
    """``model.model_construct(**fields)`` for ``fields`` naming every field of ``model`` in
    its declaration order (:func:`schemas.trusted.assemble`; ``tests/unit/test_history.py``
    compares the two on every event of a slice)."""
    names = _FIELDS_SET.get(model)
    if names is None:
        names = _FIELDS_SET[model] = set(model.model_fields)
    return assemble(model, fields, names)


def funding_events(run: Run, q: SeriesQuality, window: Window) -> Iterator[Item]:
    """Events of one funding run (see module docstring for the rules)."""
    pending: tuple[int, int, bytes, Decimal | None, Decimal | None] | None = None
    last_time = -1
    usual: int | None = None  # the series' usual interval (h) and the delta before this one
    previous: int | None = None
    longer: tuple[int, int] | None = None  # (start, hours) of a delta above the usual interval
    id_prefix = f"funding/{run.venue}/{run.symbol}/"

    def emit(p: tuple[int, int, bytes, Decimal | None, Decimal | None], nft: int) -> Iterator[Item]:
        t, _line, _raw, rate, mark = p
        if not (window.start <= t < window.end) or rate is None:  # None: outside the window
            return
        q.emitted += 1
        # every field was validated at the parse step (CONVENTIONS §4: convert once)
        # IdNamespace.REPLAY.id("funding", venue, symbol, t), its "/"-joined name
        event_id = uuid5_str(_REPLAY_NS, f"{id_prefix}{t}")
        yield (
            (t, FUNDING_RANK, run.venue, run.symbol),
            _constructed(
                FundingRateObserved,
                {
                    "event_id": event_id,
                    "event_time": t,
                    "ingest_time": t,
                    "venue": run.venue,
                    "instrument": run.symbol,
                    "schema_version": 1,
                    "correlation_id": None,
                    "causation_id": None,
                    "funding_rate": rate,
                    "funding_interval_h": 0,
                    "funding_time": t,
                    "next_funding_time": nft,
                    "predicted_rate": None,
                    "mark_price": mark,
                    "index_price": None,
                    "settled": True,
                },
            ),
        )

    for line, raw, cols in run_rows(run):
        q.rows += 1
        try:
            # events below are built with model_construct (speed): the bounds are checked here
            # outside the window: never emitted, validated the same, its decimals not built
            t, rate, mark = funding_row(cols, window.start, window.end)
        except ValueError as exc:
            if window.start <= max(last_time, 0) < window.end:
                yield reject(run, q, line, raw, "invalid", str(exc), max(last_time, 0))
            continue
        if t == last_time:
            q.duplicates += 1
            continue
        if t < last_time:
            if window.start <= last_time < window.end:
                yield reject(
                    run,
                    q,
                    line,
                    raw,
                    "out_of_order",
                    f"funding time {t} is before the previous row's {last_time}",
                    last_time,
                )
            continue
        nft = 0  # of the pending row; 0 = unknown (not a whole number of hours away)
        if last_time >= 0:
            hours = interval_between(last_time, t)  # whole hours: venues jitter by a few ms
            if hours is not None:
                before, usual = usual, next_usual_interval_h(usual, previous, hours)
                q.interval_changes += before is not None and usual != before
                if longer is not None and hours != longer[1]:  # not confirmed as the new interval
                    q.gap(longer[0], longer[1] * MS_PER_HOUR)
                longer = (last_time, hours) if hours > usual else None
                # a gap is missing data, not a long interval: the venue's schedule still runs
                nft = last_time + usual * MS_PER_HOUR if hours > usual else t
                previous = hours
        q.first_time = q.first_time or t
        q.last_time = t
        if pending is not None:
            yield from emit(pending, nft)
        pending = (t, line, raw, rate, mark)
        last_time = t
    if longer is not None:
        q.gap(longer[0], longer[1] * MS_PER_HOUR)
    if pending is not None:
        yield from emit(pending, 0)


def ticker_events(
    run: Run,
    q: SeriesQuality,
    window: Window,
    half_spread: Decimal,
    as_venue: str | None = None,
    as_symbol: str | None = None,
) -> Iterator[Item]:
    """Tickers at candle close times; ``as_venue/as_symbol`` re-label a reference series."""
    venue, symbol = as_venue or run.venue, as_symbol or run.symbol
    # OKX swap candles count contracts (producers.history.units): base units before Σ vol × close
    contract_size = volume_contract_size(run.path, run.venue, run.symbol)
    recent: deque[tuple[int, Decimal]] = deque()  # (close time, quote volume) in the last 24h
    rolling = Decimal(0)  # their sum, kept running
    below, above = 1 - half_spread, 1 + half_spread  # the factors of bid and ask
    id_prefix = f"ticker/{venue}/{symbol}/"
    last_open = -1
    rows = run_rows(run)
    for line, raw, cols in rows:
        q.rows += 1
        try:
            # opens at or after the window's end: never emitted, its decimals not built
            opened, step, close, volume = candle_row(cols, window.end)
        except ValueError as exc:
            if window.start <= max(last_open, 0) < window.end:
                yield reject(run, q, line, raw, "invalid", str(exc), max(last_open, 0))
            continue
        if opened == last_open:
            q.duplicates += 1
            continue
        if opened < last_open:
            if window.start <= last_open < window.end:
                yield reject(
                    run,
                    q,
                    line,
                    raw,
                    "out_of_order",
                    f"candle {opened} is before the previous row's {last_open}",
                    last_open,
                )
            continue
        if last_open >= 0 and opened - last_open > 2 * step:
            q.gap(last_open, opened - last_open)
        last_open = opened
        t = opened + step
        if close is None or volume is None:
            # opened at or after the window's end, so every later row too: nothing from here
            # is emitted and the rolling volume is not read again; only the counts go on
            q.first_time = q.first_time or t
            q.last_time = t
            if run.offset >= 0:  # a CSV run: the rest counted from its lines' bytes
                _count_candles_after(rows.send(REST), q, cols, last_open, window.end)  # type: ignore[attr-defined]
                return
            continue
        quote_volume = volume * contract_size * close
        recent.append((t, quote_volume))
        rolling += quote_volume
        while recent and recent[0][0] <= t - DAY_MS:
            rolling -= recent.popleft()[1]
        q.first_time = q.first_time or t
        q.last_time = t
        if not (window.start <= t < window.end):
            continue
        q.emitted += 1
        yield (
            (t, TICKER_RANK, venue, symbol),
            _constructed(
                TickerObserved,
                {
                    # IdNamespace.REPLAY.id("ticker", venue, symbol, t), its "/"-joined name
                    "event_id": uuid5_str(_REPLAY_NS, f"{id_prefix}{t}"),
                    "event_time": t,
                    "ingest_time": t,
                    "venue": venue,
                    "instrument": symbol,
                    "schema_version": 1,
                    "correlation_id": None,
                    "causation_id": None,
                    # products/sums of plain decimals stay plain (exponents ≤ 0): no
                    # re-canonicalising
                    "bid": close * below,
                    "ask": close * above,
                    "last": close,
                    "mark_price": close,
                    "index_price": None,
                    "quote_volume_24h": rolling if rolling else Decimal(0),
                },
            ),
        )


#: a candle row's interval field (bytes) -> the interval in ms
_STEP_OF_BYTES = {k.encode(): v for k, v in CANDLE_INTERVALS_MS.items()}
_AFTER_PATTERNS: dict[tuple[str, str], Any] = {}


def _after_pattern(venue: str, symbol: str) -> Any:
    """The bytes of a candle line of ``venue`` and ``symbol`` (both accepted by the full
    check before) that :func:`candle_row` accepts without a look at its decimals: a known
    interval, an ASCII whole number of ms (its range is tested on the match), a positive
    plain close and a plain volume (their integer digits, groups 3 and 4, ≤ 14 together
    are tested on the match), ten fields, the line's end."""
    pattern = _AFTER_PATTERNS.get((venue, symbol))
    if pattern is None:
        pattern = re.compile(
            re.escape(venue.encode())
            + b","
            + re.escape(symbol.encode())
            + b",[^,]*,("
            + b"|".join(map(re.escape, _STEP_OF_BYTES))
            + rb"),([0-9]+),[^,]*,[^,]*,[^,]*,"
            + rb"(?=[0.]*[1-9])([0-9]{1,15})(?:\.[0-9]{1,30})?,([0-9]{1,15})(?:\.[0-9]{1,30})?"
            + rb"[\r\n]*"
        ).fullmatch
        if len(_AFTER_PATTERNS) < 4096:  # one per series: bounded all the same
            _AFTER_PATTERNS[(venue, symbol)] = pattern
    return pattern


def _count_candles_after(
    lines: list[bytes], q: SeriesQuality, cols: list[str], last_open: int, end: int
) -> None:
    """Count the rest of a candle run whose last row (``cols``, opened at ``last_open`` ≥
    ``end``) is after the window, as :func:`ticker_events`' loop counts such rows: every line
    a row; a duplicate counted; an invalid or out-of-order row only a row (its dead letter
    would be after the window: none); a gap; the first and last close times. A line the
    pattern of :func:`_after_pattern` takes is valid as it is (its open time and interval
    read from it); any other goes through :func:`candle_row` as in the loop.
    """
    fast = _after_pattern(cols[0], cols[1])
    steps = _STEP_OF_BYTES
    duplicates = 0
    first, last = q.first_time, q.last_time
    for raw in lines:
        m = fast(raw)
        if m is not None and len(m[3]) + len(m[4]) <= 14 and MIN_MS <= int(m[2]) <= MAX_MS:
            opened, step = int(m[2]), steps[m[1]]
        else:
            try:
                row = raw.decode(errors="replace").rstrip("\r\n").split(",")  # as csv_rows
                opened, step, _, _ = candle_row(row, end)
            except ValueError:
                continue
        if opened == last_open:
            duplicates += 1
            continue
        if opened < last_open:
            continue
        if opened - last_open > 2 * step:
            q.gap(last_open, opened - last_open)
        last_open = opened
        last = opened + step
        first = first or last
    q.rows += len(lines)
    q.duplicates += duplicates
    q.first_time, q.last_time = first, last


def mark_ticker_events(
    run: Run, q: SeriesQuality, window: Window, half_spread: Decimal
) -> Iterator[Item]:
    """Tickers from the mark prices on a funding series (when a venue has no candles).

    One ticker per settlement row with a mark, at the settlement time (it sorts before that
    settlement's funding event): ``last = mark_price = mark``, ``bid/ask = mark × (1 ∓
    half_spread)``. ``quote_volume_24h`` stays None (unknown, not zero): with
    ``entry.min_quote_volume_24h_usd > 0`` the strategy treats such a leg as below the floor
    (projections/strategy.py ``_eligible``), with the default 0 it trades it. Coarse: between
    settlements the price does not move and the ticker ages (``feeds.ticker_ttl_ms``).
    """
    for key, item in funding_events(run, SeriesQuality("funding", run.venue, run.symbol), window):
        if isinstance(item, FundingRateObserved) and item.mark_price is not None:
            q.emitted += 1
            mark = item.mark_price
            event_id = _event_id("mark-ticker", run.venue, run.symbol, key[0])
            yield (
                (key[0], TICKER_RANK, key[2], key[3]),
                TickerObserved(
                    **envelope(event_id, key[0], run.venue, run.symbol),
                    bid=mark * (1 - half_spread),
                    ask=mark * (1 + half_spread),
                    last=mark,
                    mark_price=mark,
                ),
            )
