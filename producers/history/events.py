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
  candles closed in the last 24h;
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

import base64
import gzip
import heapq
import io
import json
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from projections.funding import MS_PER_HOUR, interval_between, next_usual_interval_h
from schemas.envelope import IdNamespace, envelope
from schemas.events import Event, FundingRateObserved, TickerObserved
from schemas.types import (
    MAX_MAGNITUDE,
    base_asset,
    canonical_decimal,
    check_funding_rate,
    check_ms,
    check_symbol,
    check_venue,
    is_inverse,
)

DAY_MS = 24 * MS_PER_HOUR
FUNDING_COLUMNS = ("venue", "symbol", "funding_time_ms", "funding_rate", "mark_price")
CANDLE_COLUMNS = (
    "venue",
    "symbol",
    "market",
    "interval",
    "open_time_ms",
    "open",
    "high",
    "low",
    "close",
    "volume",
)
_INTERVALS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": MS_PER_HOUR,
    "4h": 4 * MS_PER_HOUR,
    "8h": 8 * MS_PER_HOUR,
    "1d": DAY_MS,
}
TICKER_RANK, FUNDING_RANK = 0, 1


class HistoryError(ValueError):
    """Recorded data cannot be replayed as asked (message says which file/series and why)."""


class MissingPricesError(HistoryError):
    """A funding series has no price path (no candles, no mark prices on its rows, no reference
    venue) and the caller needs prices (a backtest)."""


class EmptySelectionError(HistoryError):
    """The filters or the window select nothing the files hold (the message lists what they
    do hold), or only series that cannot be replayed (inverse contracts)."""


@dataclass(frozen=True)
class RejectedRow:
    """A row the replay refuses, with where it came from and why (→ dead-letter topic)."""

    source: str
    line: int
    raw: bytes
    error_type: str
    reason: str
    event_time: int
    key: str


@dataclass
class SeriesQuality:
    """Counts for one (kind, venue, symbol) series; times in ms UTC.

    ``longest_gap_ms`` is the longest gap's length (time between the rows around it, 0 when
    there is none) and ``longest_gap_from`` the time of the row before it.
    """

    kind: str
    venue: str
    symbol: str
    rows: int = 0
    emitted: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    invalid: int = 0
    gaps: int = 0
    interval_changes: int = 0
    longest_gap_ms: int = 0
    longest_gap_from: int = 0
    first_time: int = 0
    last_time: int = 0
    notes: list[str] = field(default_factory=list)
    # findings that are not counts (an excluded series, prices covering part of the window):
    # they flag the series in the quality report like a non-zero count does
    findings: list[str] = field(default_factory=list)

    def gap(self, start: int, length_ms: int) -> None:
        """Count a gap of ``length_ms`` after the row at ``start``; keep the longest."""
        self.gaps += 1
        if length_ms > self.longest_gap_ms:
            self.longest_gap_ms, self.longest_gap_from = length_ms, start


@dataclass(frozen=True)
class Run:
    """A contiguous run of one series in a file: where it starts and what it holds."""

    path: Path
    kind: str  # "funding" | "candles"
    venue: str
    symbol: str
    offset: int
    first_line: int
    rows: int
    first_time: int = 0
    last_time: int = 0

    def overlap(self, start: int, end: int) -> int:
        """ms of [start, end) this run's times cover."""
        return max(0, min(self.last_time, end) - max(self.first_time, start))


# ---- files ---------------------------------------------------------------------------------
def _open(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _kind_of(header: list[str], path: Path) -> str:
    cols = tuple(header)
    if cols == FUNDING_COLUMNS:
        return "funding"
    if cols == CANDLE_COLUMNS:
        return "candles"
    raise HistoryError(
        f"{path}: header {','.join(header)} is neither the funding format "
        f"({','.join(FUNDING_COLUMNS)}) nor the candle format ({','.join(CANDLE_COLUMNS)})"
    )


def index_csv(path: Path) -> list[Run]:
    """One pass over a CSV: the contiguous runs of each (venue, symbol), with byte offsets."""
    runs: list[Run] = []
    with _open(path) as f:
        header_line = f.readline()
        if not header_line:
            raise HistoryError(f"{path}: the file is empty")
        kind = _kind_of(header_line.decode().strip().split(","), path)
        offset, line_no = len(header_line), 1
        time_col = 2 if kind == "funding" else 4
        current: tuple[str, str] | None = None
        start = start_line = count = first = last = 0
        for raw in f:
            line_no += 1
            parts = raw.split(b",")
            key = (
                (parts[0].decode(errors="replace"), parts[1].decode(errors="replace"))
                if len(parts) >= 2
                else ("", "")
            )
            if key != current:
                if current is not None:
                    runs.append(
                        Run(
                            path,
                            kind,
                            current[0],
                            current[1],
                            start,
                            start_line,
                            count,
                            first,
                            last,
                        )
                    )
                current, start, start_line, count, first = key, offset, line_no, 0, 0
            count += 1
            offset += len(raw)
            stamp = parts[time_col] if len(parts) > time_col else b""
            if stamp.isdigit():
                last = int(stamp)
                first = first or last
        if current is not None:
            runs.append(
                Run(path, kind, current[0], current[1], start, start_line, count, first, last)
            )
    return runs


def _csv_rows(run: Run) -> Iterator[tuple[int, bytes, list[str]]]:
    with _open(run.path) as f:
        f.seek(run.offset)
        for i in range(run.rows):
            raw = f.readline()
            if not raw:
                return  # truncated file: the run ends early (reported by the counts)
            yield (
                run.first_line + i,
                raw.rstrip(b"\r\n"),
                raw.decode(errors="replace").rstrip("\r\n").split(","),
            )


def index_parquet(path: Path) -> list[Run]:
    """Series of a Parquet file (read one series at a time, filtered)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["venue", "symbol"])
    names = pq.read_schema(path).names
    kind = _kind_of(list(names), path)
    pairs = sorted(
        set(zip(table.column("venue").to_pylist(), table.column("symbol").to_pylist(), strict=True))
    )
    counts: dict[tuple[str, str], int] = {}
    for pair in zip(
        table.column("venue").to_pylist(), table.column("symbol").to_pylist(), strict=True
    ):
        counts[pair] = counts.get(pair, 0) + 1
    return [Run(path, kind, v, s, -1, 0, counts[(v, s)]) for v, s in pairs]


def _parquet_rows(run: Run) -> Iterator[tuple[int, bytes, list[str]]]:
    import pyarrow.parquet as pq

    table = pq.read_table(
        run.path, filters=[("venue", "=", run.venue), ("symbol", "=", run.symbol)]
    )
    cols = [table.column(n).to_pylist() for n in table.schema.names]
    for i, row in enumerate(zip(*cols, strict=True)):
        values = ["" if v is None else str(v) for v in row]
        yield i + 1, ",".join(values).encode(), values


DUMP_SUFFIXES = (".jsonl", ".jsonl.gz")


def index_dump(path: Path) -> list[Run]:
    """Runs of a topic dump (``fundarb topics dump``): one per contiguous (topic, partition)."""
    runs: list[Run] = []
    with _open(path) as f:
        offset = 0
        current: tuple[str, str] | None = None
        start = start_line = count = 0
        for line_no, raw in enumerate(f, start=1):
            try:
                head = json.loads(raw)
                key = (str(head["topic"]), str(head["partition"]))
            except (ValueError, KeyError, TypeError):
                key = ("", "")
            if key != current:
                if current is not None:
                    runs.append(Run(path, "dump", current[0], current[1], start, start_line, count))
                current, start, start_line, count = key, offset, line_no, 0
            count += 1
            offset += len(raw)
        if current is not None:
            runs.append(Run(path, "dump", current[0], current[1], start, start_line, count))
    return runs


def _index_file(path: Path) -> list[Run]:
    try:
        if path.name.endswith(DUMP_SUFFIXES):
            return index_dump(path)
        return index_parquet(path) if path.suffix == ".parquet" else index_csv(path)
    except (EOFError, OSError, zlib.error, UnicodeDecodeError) as exc:
        raise HistoryError(
            f"{path}: cannot read the file ({type(exc).__name__}: {exc}); "
            "is it truncated or corrupt?"
        ) from None


def index(paths: Iterable[Path]) -> list[Run]:
    """Runs of every file (``.csv``, ``.csv.gz``, ``.parquet``); folders are searched."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += sorted(
                x for x in p.rglob("*") if x.name.endswith((".csv", ".csv.gz", ".parquet"))
            )
        elif p.exists():
            files.append(p)
        else:
            raise HistoryError(f"{p}: no such file or folder")
    runs: list[Run] = []
    for f in files:
        runs += _index_file(f)
    return runs


def _rows(run: Run) -> Iterator[tuple[int, bytes, list[str]]]:
    return _parquet_rows(run) if run.offset < 0 else _csv_rows(run)


# ---- rows → events -------------------------------------------------------------------------
def _event_id(*parts: object) -> str:
    return IdNamespace.REPLAY.id(*parts)


@dataclass(frozen=True)
class Window:
    """Half-open event-time window [start, end) in ms UTC, and filters."""

    start: int = 0
    end: int = 2**62
    assets: frozenset[str] | None = None
    venues: frozenset[str] | None = None

    def __post_init__(self) -> None:
        # filters match case-insensitively: the data's assets are upper-case tickers and its
        # venues lower-case ccxt ids, so `--venues Binance` means binance
        if self.assets is not None:
            object.__setattr__(self, "assets", frozenset(a.upper() for a in self.assets))
        if self.venues is not None:
            object.__setattr__(self, "venues", frozenset(v.lower() for v in self.venues))

    def wants(self, venue: str, symbol: str) -> bool:
        return (self.venues is None or venue in self.venues) and (
            self.assets is None or base_asset(symbol) in self.assets
        )


Item = tuple[tuple[int, int, str, str], Event | RejectedRow]


def _reject(
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


def funding_events(run: Run, q: SeriesQuality, window: Window) -> Iterator[Item]:
    """Events of one funding run (see module docstring for the rules)."""
    pending: tuple[int, int, bytes, Decimal, Decimal | None] | None = None
    last_time = -1
    usual: int | None = None  # the series' usual interval (h) and the delta before this one
    previous: int | None = None
    longer: tuple[int, int] | None = None  # (start, hours) of a delta above the usual interval

    def emit(p: tuple[int, int, bytes, Decimal, Decimal | None], nft: int) -> Iterator[Item]:
        t, _line, _raw, rate, mark = p
        if not (window.start <= t < window.end):
            return
        q.emitted += 1
        # every field was validated at the parse step (CONVENTIONS §4: convert once)
        event_id = _event_id("funding", run.venue, run.symbol, t)
        yield (
            (t, FUNDING_RANK, run.venue, run.symbol),
            FundingRateObserved.model_construct(
                **envelope(event_id, t, run.venue, run.symbol),
                schema_version=1,
                funding_rate=rate,
                funding_interval_h=0,
                funding_time=t,
                next_funding_time=nft,
                predicted_rate=None,
                mark_price=mark,
                index_price=None,
                settled=True,
            ),
        )

    for line, raw, cols in _rows(run):
        q.rows += 1
        try:
            if len(cols) != 5:
                raise ValueError(f"expected 5 columns, got {len(cols)}")
            t = check_ms(int(cols[2]))
            check_venue(cols[0])
            if ":" not in check_symbol(cols[1]):
                raise ValueError(f"{cols[1]} is spot: spot has no funding rows")
            # events below are built with model_construct (speed): the bounds are checked here
            rate = check_funding_rate(cols[3])
            mark = canonical_decimal(cols[4]) if cols[4] else None
            if mark is not None and mark <= 0:
                raise ValueError(f"mark price {mark} is not positive")
        except ValueError as exc:
            if window.start <= max(last_time, 0) < window.end:
                yield _reject(run, q, line, raw, "invalid", str(exc), max(last_time, 0))
            continue
        if t == last_time:
            q.duplicates += 1
            continue
        if t < last_time:
            if window.start <= last_time < window.end:
                yield _reject(
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
    recent: deque[tuple[int, Decimal]] = deque()  # (close time, quote volume) in the last 24h
    rolling = Decimal(0)  # their sum, kept running
    last_open = -1
    for line, raw, cols in _rows(run):
        q.rows += 1
        try:
            if len(cols) != 10:
                raise ValueError(f"expected 10 columns, got {len(cols)}")
            step = _INTERVALS.get(cols[3])
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
                raise ValueError(
                    f"quote volume {volume * close:.6E} is not below {MAX_MAGNITUDE:E}"
                )
        except ValueError as exc:
            if window.start <= max(last_open, 0) < window.end:
                yield _reject(run, q, line, raw, "invalid", str(exc), max(last_open, 0))
            continue
        if opened == last_open:
            q.duplicates += 1
            continue
        if opened < last_open:
            if window.start <= last_open < window.end:
                yield _reject(
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
        quote_volume = volume * close
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
            TickerObserved.model_construct(
                **envelope(_event_id("ticker", venue, symbol, t), t, venue, symbol),
                schema_version=1,
                # products/sums of plain decimals stay plain (exponents ≤ 0): no re-canonicalising
                bid=close * (1 - half_spread),
                ask=close * (1 + half_spread),
                last=close,
                mark_price=close,
                index_price=None,
                quote_volume_24h=rolling if rolling else Decimal(0),
            ),
        )


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


def dump_events(run: Run, q: SeriesQuality, window: Window) -> Iterator[Item]:
    """Market events of one (topic, partition) of a dump, decoded and validated.

    Other event types in the dump are skipped (counted in ``q.notes``); records that do not
    decode, or go back in time within the partition, are rejected like CSV rows.
    """
    from schemas.serde import DecodeError, Serializer

    serializer = Serializer()
    last_time = -1
    skipped = 0
    with _open(run.path) as f:
        f.seek(run.offset)
        for i in range(run.rows):
            raw = f.readline()
            if not raw:
                break
            line = run.first_line + i
            q.rows += 1
            try:
                value = base64.b64decode(json.loads(raw)["value"])
                event = serializer.decode(value)
            except (ValueError, KeyError, TypeError, DecodeError) as exc:
                yield _reject(
                    run, q, line, raw.rstrip(b"\n"), "invalid", str(exc), max(last_time, 0)
                )
                continue
            if not isinstance(event, FundingRateObserved | TickerObserved):
                skipped += 1
                continue
            t = event.event_time
            if t < last_time:
                yield _reject(
                    run,
                    q,
                    line,
                    raw.rstrip(b"\n"),
                    "out_of_order",
                    f"event time {t} is before the previous record's {last_time}",
                    last_time,
                )
                continue
            last_time = t
            q.first_time = q.first_time or t
            q.last_time = t
            if not (window.start <= t < window.end) or not window.wants(
                event.venue, event.instrument
            ):
                continue
            q.emitted += 1
            rank = TICKER_RANK if isinstance(event, TickerObserved) else FUNDING_RANK
            yield (t, rank, event.venue, event.instrument), event
    if skipped:
        q.notes.append(f"{skipped} records of other event types skipped")


# ---- what the files hold vs what was asked (checked before any broker starts) ----------------
@dataclass
class Admission:
    """The runs a replay may read, and what was left out and why."""

    runs: list[Run]
    notes: list[str]
    quality: list[SeriesQuality]  # one per excluded series, its finding in ``findings``


def _span(runs: Iterable[Run]) -> str:
    times = [(r.first_time, r.last_time) for r in runs]
    return f"{iso(min(t[0] for t in times))} → {iso(max(t[1] for t in times))}"


def admit(runs: list[Run], window: Window) -> Admission:
    """Check the window and filters against the files' index and drop inverse contracts.

    Pure over the index (no rows read, no broker), so the CLI can refuse a bad selection at
    once. Assets and venues are compared as :class:`Window` normalises them (upper / lower case).
    Topic dumps are filtered per event, so a selection holding one is not checked here.

    Inverse (coin-margined) contracts (:func:`schemas.types.is_inverse`) are not supported:
    the money math is USD-linear (fees, funding and PnL of ``BTC/USD:BTC`` would be in BTC),
    so their runs are excluded with one note naming them and a finding per series.

    Raises
    ------
    EmptySelectionError
        One line: an empty window; an asset or venue the data does not have (with the ones it
        has); a combination of them without series; a window outside the data (with the data's
        span); or a selection holding only inverse contracts.
    """
    if window.start >= window.end:
        raise EmptySelectionError(
            f"the window {_when(window.start)} → {_when(window.end)} is empty"
        )
    series = [r for r in runs if r.kind in ("funding", "candles") and r.venue]
    if any(r.kind == "dump" for r in runs) or not series:
        return Admission(runs, [], [])
    for label, wanted, have in (
        ("assets", window.assets, {base_asset(r.symbol) for r in series}),
        ("venues", window.venues, {r.venue for r in series}),
    ):
        unknown = sorted((wanted or set()) - have)
        if unknown:
            raise EmptySelectionError(
                f"no data for {label} {', '.join(unknown)}; the data has {', '.join(sorted(have))}"
            )
    chosen = [r for r in series if window.wants(r.venue, r.symbol)]
    if not chosen:
        pairs = sorted({f"{r.venue} {base_asset(r.symbol)}" for r in series})
        raise EmptySelectionError(
            f"no series for assets {', '.join(sorted(window.assets or ()))} on venues "
            f"{', '.join(sorted(window.venues or ()))}; the data has {', '.join(pairs)}"
        )
    inverse = [r for r in chosen if is_inverse(r.symbol)]
    linear = [r for r in chosen if not is_inverse(r.symbol)]
    names = ", ".join(sorted({f"{r.venue} {r.symbol}" for r in inverse}))
    if inverse and not any(r.kind == "funding" for r in linear):
        raise EmptySelectionError(
            f"inverse (coin-margined) contracts are not supported and the selection has only "
            f"those: {names}"
        )
    # Parquet runs carry no times in the index: the window can then only be checked by reading
    if all(r.first_time for r in linear) and not any(
        r.first_time < window.end and r.last_time >= window.start for r in linear
    ):
        raise EmptySelectionError(
            f"window {_when(window.start)} → {_when(window.end)} is outside the data "
            f"({_span(linear)})"
        )
    if not inverse:
        return Admission(runs, [], [])
    excluded = set(map(id, inverse))
    quality = [
        SeriesQuality(
            r.kind,
            r.venue,
            r.symbol,
            rows=r.rows,
            first_time=r.first_time,
            last_time=r.last_time,
            findings=["inverse (coin-margined) contract: not supported, excluded"],
        )
        for r in inverse
    ]
    return Admission(
        [r for r in runs if id(r) not in excluded],
        [f"inverse (coin-margined) contracts are not supported: excluded {names}"],
        quality,
    )


def _when(ms: int) -> str:
    return "…" if ms <= 0 or ms >= 2**62 else iso(ms)


def candle_interval_ms(p: ReplayPlan) -> int:
    """The coarsest candle interval (ms) among the plan's price series; 0 when it has none.

    Read from each run's first row (one line per run). Prices arrive once per candle, so a
    ticker is up to this old between candles: staleness limits below it would trip on cadence.
    """
    coarsest = 0
    for r in p.runs:
        if r.kind != "candles":
            continue
        for _line, _raw, cols in _rows(r):
            coarsest = max(coarsest, _INTERVALS.get(cols[3], 0) if len(cols) == 10 else 0)
            break
    return coarsest


# ---- the plan --------------------------------------------------------------------------------
@dataclass
class ReplayPlan:
    """What will be replayed: the streams to merge and the quality counters they fill."""

    streams: list[Iterator[Item]]
    quality: list[SeriesQuality]
    expected: int  # rows in the selected runs (an upper bound for progress bars)
    notes: list[str]
    runs: list[Run] = field(default_factory=list)  # the funding and candle runs it reads


def plan(
    paths: Iterable[Path],
    window: Window | None = None,
    *,
    half_spread: Decimal = Decimal("0.0001"),
    reference_prices: dict[str, str] | None = None,
    need_prices: bool = True,
) -> ReplayPlan:
    """Index the files and prepare the streams for ``window``.

    The price path of a funding series without candles, first that applies: the candles of
    ``reference_prices[venue]`` (a venue whose candles stand in for it, matched by base asset,
    e.g. ``{"hyperliquid": "binance"}``; an explicit choice, so it wins over marks); the mark
    prices on its own funding rows (:func:`mark_ticker_events`, noted as coarse); none. With
    none, ``need_prices=False`` (a replay for analysis or alerts) publishes the funding alone
    with a note; ``need_prices=True`` (a backtest) refuses.

    Raises
    ------
    MissingPricesError
        ``need_prices`` and a selected funding series has neither candles, nor mark prices on
        its rows, nor a reference venue (one line naming each such series).
    EmptySelectionError
        The filters or window select nothing, or only inverse contracts (:func:`admit`).
    HistoryError
        A file is missing or not in a known format.
    """
    window = window or Window()
    reference_prices = reference_prices or {}
    admitted = admit(index(paths), window)
    all_runs = admitted.runs
    runs = [
        r
        for r in all_runs
        if r.kind != "dump"
        and (
            (r.venue and window.wants(r.venue, r.symbol))
            or (r.kind == "candles" and r.venue in reference_prices.values())
        )
    ]
    quality = {(q.kind, q.venue, q.symbol): q for q in admitted.quality}
    streams: list[Iterator[Item]] = []

    def q_for(kind: str, venue: str, symbol: str) -> SeriesQuality:
        return quality.setdefault((kind, venue, symbol), SeriesQuality(kind, venue, symbol))

    for r in (x for x in all_runs if x.kind == "dump"):  # dumps are filtered per event
        streams.append(dump_events(r, q_for("dump", r.venue, r.symbol), window))
    funding_runs = [r for r in runs if r.kind == "funding" and window.wants(r.venue, r.symbol)]
    candle_runs = [r for r in runs if r.kind == "candles" and window.wants(r.venue, r.symbol)]
    priced = {(r.venue, r.symbol) for r in candle_runs}
    notes = list(admitted.notes)
    for r in funding_runs:
        streams.append(funding_events(r, q_for("funding", r.venue, r.symbol), window))
    for r in candle_runs:
        streams.append(ticker_events(r, q_for("candles", r.venue, r.symbol), window, half_spread))
    missing = sorted({(r.venue, r.symbol) for r in funding_runs} - priced)
    refused = []
    for venue, symbol in missing:
        ref = reference_prices.get(venue)
        if ref is not None:
            asset = base_asset(symbol)
            # linear perps of the same base asset, the one covering most of the window first
            ref_runs = sorted(
                (
                    r
                    for r in runs
                    if r.kind == "candles"
                    and r.venue == ref
                    and base_asset(r.symbol) == asset
                    and ":" in r.symbol
                    and r.symbol.rsplit(":", 1)[1] != asset
                    and r.overlap(window.start, window.end) > 0
                ),
                key=lambda r: (-r.overlap(window.start, window.end), r.symbol),
            )
            if not ref_runs:
                refused.append(
                    f"{venue} {symbol} (reference venue {ref} has no {asset} perp candles)"
                )
                continue
            for r in ref_runs[:1]:
                q = q_for("candles", venue, symbol)
                q.notes.append(f"prices from reference {ref} {r.symbol}")
                streams.append(ticker_events(r, q, window, half_spread, venue, symbol))
            notes.append(f"{venue} {symbol}: prices taken from {ref} {ref_runs[0].symbol}")
            continue
        mark_runs = [r for r in funding_runs if (r.venue, r.symbol) == (venue, symbol)]
        marks = sum(_marks_in(r, window) for r in mark_runs)
        if marks:
            q = q_for("marks", venue, symbol)
            for r in mark_runs:
                streams.append(mark_ticker_events(r, q, window, half_spread))
            note = (
                f"{venue} {symbol}: no candles, price path from {marks} settlement mark "
                "prices (coarse)"
            )
            q.notes.append(note)
            notes.append(note)
            continue
        if need_prices:
            refused.append(f"{venue} {symbol}")
        else:
            notes.append(f"{venue} {symbol}: no price series (funding only; a backtest needs one)")
    if refused:
        raise MissingPricesError(
            "no price series for: "
            + ", ".join(refused)
            + " (no candles, no mark prices on the funding rows). Add candles, drop the venue "
            "(--venues), or pick a reference venue's prices (--reference-prices VENUE=REF)."
        )
    expected = sum(r.rows for r in funding_runs + candle_runs)
    return ReplayPlan(streams, list(quality.values()), expected, notes, runs)


def _marks_in(run: Run, window: Window) -> int:
    """Rows of a funding run with a mark price and a funding time in ``window`` (a pre-pass:
    rows the replay will reject are counted too, so this is an upper bound)."""
    return sum(
        1
        for _, _, cols in _rows(run)
        if len(cols) == 5
        and cols[4]
        and cols[2].isdigit()
        and window.start <= int(cols[2]) < window.end
    )


def merged(p: ReplayPlan) -> Iterator[Event | RejectedRow]:
    """All streams in one event-time order (a streaming k-way merge)."""
    for _, item in heapq.merge(*p.streams, key=lambda it: it[0]):
        yield item


def coverage_notes(p: ReplayPlan, window: Window) -> list[str]:
    """Price series that cover only part of their funding's time (their pairs go stale there).

    Call after the plan's streams were read (it uses the counted first/last times). Each
    price series is compared with its own funding series clipped to the window, or, when it has
    none (spot, a reference venue's prices), with the span of all funding in the window, so an
    open window (no ``--to``) is bounded by the data: lighter's prices stopping on 2026-01-24
    while its funding runs to March is a finding either way. One day of slack. Each finding is
    added to the series' ``findings`` (the quality report flags it); the notes group a venue's
    series that end (or start) on the same day, so the bundled window gives a few lines, not 30.
    """
    lo, hi = max(window.start, 0), window.end
    funding = {
        (q.venue, q.symbol): (max(lo, q.first_time), min(hi - 1, q.last_time))
        for q in p.quality
        if q.kind == "funding" and q.emitted
    }
    if funding:
        overall = (min(a for a, _ in funding.values()), max(b for _, b in funding.values()))
    else:
        overall = (lo, hi - 1)
    groups: dict[tuple[str, str, str], list[tuple[SeriesQuality, int]]] = {}
    gaps: list[str] = []
    for q in p.quality:
        if q.gaps:
            gaps.append(
                f"{q.venue} {q.symbol}: {q.gaps} gap{'s' * (q.gaps > 1)} in {q.kind}, longest "
                f"{q.longest_gap_ms / MS_PER_HOUR:g} h after {iso(q.longest_gap_from)}"
            )
        if q.kind != "candles" or not q.emitted:
            continue
        first, last = funding.get((q.venue, q.symbol), overall)
        if 0 < first < 2**62 and q.first_time > first + DAY_MS:
            q.findings.append(f"prices start {iso(q.first_time)}, funding {iso(first)}")
            groups.setdefault((q.venue, "start", iso(q.first_time)[:10]), []).append((q, first))
        if 0 < last < 2**62 - 1 and q.last_time < last - DAY_MS:
            q.findings.append(f"prices end {iso(q.last_time)}, funding {iso(last)}")
            groups.setdefault((q.venue, "end", iso(q.last_time)[:10]), []).append((q, last))
    out = []
    for (venue, which, _day), found in groups.items():
        symbols = ", ".join(sorted(q.symbol for q, _ in found))
        if which == "start":
            at, bound = max(q.first_time for q, _ in found), min(b for _, b in found)
            out.append(
                f"{venue} {symbols}: prices start {iso(at)} while funding starts {iso(bound)}: "
                "no pairs with them before"
            )
        else:
            at, bound = min(q.last_time for q, _ in found), max(b for _, b in found)
            out.append(
                f"{venue} {symbols}: prices end {iso(at)} while funding runs to {iso(bound)}: "
                "their pairs go stale after"
            )
    return out + gaps


def iso(ms: int) -> str:
    """ms UTC as ``YYYY-MM-DD HH:MM`` (for messages)."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def as_dict(q: SeriesQuality) -> dict[str, Any]:
    return {k: v for k, v in q.__dict__.items()}


FINDING_COUNTS = ("duplicates", "out_of_order", "invalid", "gaps", "interval_changes")


def has_findings(q: dict[str, Any]) -> bool:
    """A series (as :func:`as_dict` gives it) the quality report should flag."""
    return any(q.get(k) for k in FINDING_COUNTS) or bool(q.get("findings"))
