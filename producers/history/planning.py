"""What a replay reads: the selection checked against the files' index, the price path of
each funding series (its candles, a reference venue's candles, or its settlement marks), and
the streams merged in one event-time order."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from producers.history.base import (
    EmptySelectionError,
    Item,
    MissingPricesError,
    RejectedRow,
    Run,
    Window,
)
from producers.history.checks import CANDLE_INTERVALS_MS
from producers.history.dump import dump_events
from producers.history.events import funding_events, mark_ticker_events, ticker_events
from producers.history.quality import SeriesQuality, iso
from producers.history.readers import index, run_rows
from schemas.events import Event
from schemas.types import base_asset, is_inverse


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
        for _line, _raw, cols in run_rows(r):
            coarsest = max(coarsest, CANDLE_INTERVALS_MS.get(cols[3], 0) if len(cols) == 10 else 0)
            break
    return coarsest


@dataclass
class ReplayPlan:
    """What will be replayed: the streams to merge and the quality counters they fill."""

    streams: list[Iterator[Item]]
    quality: list[SeriesQuality]
    expected: int  # rows in the selected runs (an upper bound for progress bars)
    notes: list[str]
    runs: list[Run] = field(default_factory=list)  # the funding and candle runs it reads
    #: per stream (same order as ``streams``): the quality counter it fills and the rows of
    #: its run; streams sharing a counter must be read by one process (the parallel replay)
    sources: list[tuple[SeriesQuality, int]] = field(default_factory=list)
    #: every run the files' index holds (``plan(..., indexed=...)`` skips indexing again)
    indexed: list[Run] = field(default_factory=list)


def plan(
    paths: Iterable[Path],
    window: Window | None = None,
    *,
    half_spread: Decimal = Decimal("0.0001"),
    reference_prices: dict[str, str] | None = None,
    need_prices: bool = True,
    indexed: list[Run] | None = None,
) -> ReplayPlan:
    """Index the files and prepare the streams for ``window``.

    ``indexed``: the files' index from an earlier plan over the same ``paths``
    (:attr:`ReplayPlan.indexed`), so a second process builds the same plan without reading
    every file again.

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
    indexed = index(paths) if indexed is None else indexed
    admitted = admit(indexed, window)
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
    sources: list[tuple[SeriesQuality, int]] = []

    def add(stream: Iterator[Item], q: SeriesQuality, run: Run) -> None:
        streams.append(stream)
        sources.append((q, run.rows))

    def q_for(kind: str, venue: str, symbol: str) -> SeriesQuality:
        return quality.setdefault((kind, venue, symbol), SeriesQuality(kind, venue, symbol))

    for r in (x for x in all_runs if x.kind == "dump"):  # dumps are filtered per event
        q = q_for("dump", r.venue, r.symbol)
        add(dump_events(r, q, window), q, r)
    funding_runs = [r for r in runs if r.kind == "funding" and window.wants(r.venue, r.symbol)]
    candle_runs = [r for r in runs if r.kind == "candles" and window.wants(r.venue, r.symbol)]
    priced = {(r.venue, r.symbol) for r in candle_runs}
    notes = list(admitted.notes)
    for r in funding_runs:
        q = q_for("funding", r.venue, r.symbol)
        add(funding_events(r, q, window), q, r)
    for r in candle_runs:
        q = q_for("candles", r.venue, r.symbol)
        add(ticker_events(r, q, window, half_spread), q, r)
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
                add(ticker_events(r, q, window, half_spread, venue, symbol), q, r)
            notes.append(f"{venue} {symbol}: prices taken from {ref} {ref_runs[0].symbol}")
            continue
        mark_runs = [r for r in funding_runs if (r.venue, r.symbol) == (venue, symbol)]
        marks = sum(_marks_in(r, window) for r in mark_runs)
        if marks:
            q = q_for("marks", venue, symbol)
            for r in mark_runs:
                add(mark_ticker_events(r, q, window, half_spread), q, r)
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
    return ReplayPlan(
        streams, list(quality.values()), expected, notes, runs, sources, list(indexed)
    )


def _marks_in(run: Run, window: Window) -> int:
    """Rows of a funding run with a mark price and a funding time in ``window`` (a pre-pass:
    rows the replay will reject are counted too, so this is an upper bound)."""
    return sum(
        1
        for _, _, cols in run_rows(run)
        if len(cols) == 5
        and cols[4]
        and cols[2].isdigit()
        and window.start <= int(cols[2]) < window.end
    )


def merged(p: ReplayPlan) -> Iterator[Event | RejectedRow]:
    """All streams in one event-time order (a streaming k-way merge)."""
    for _, item in heapq.merge(*p.streams, key=lambda it: it[0]):
        yield item
