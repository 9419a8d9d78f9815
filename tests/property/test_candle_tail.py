"""A candle run's rows after the window are counted from their bytes (issue 18, fifth round:
``events._count_candles_after``) exactly as the per-row loop counts them: the same quality
counts, the same events and dead letters, on runs with hostile rows before, inside and after
the window (NaN, inf, 1E+400000, negative, exponents, > 40 places, non-ASCII digits,
underscores, unknown intervals, far-future, zero and negative times, duplicates, rows out
of order, gaps, CRLF, a last line without its newline).

The reference is the same series written as Parquet: its rows are read one by one (the
loop's own path, no tail)."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.history import RejectedRow, SeriesQuality, Window, index, ticker_events
from producers.history.base import CANDLE_COLUMNS, _gz_memory
from producers.history.quality import as_dict

T0 = 1_764_720_000_000  # 2025-12-03 00:00 UTC
H = 3_600_000

numbers = st.one_of(
    st.sampled_from(["95000.5", "1", "0.5", "12.25", "0", "0.000", "99999999.9", "12345678"]),
    st.sampled_from(["NaN", "inf", "1E+400000", "-1", "1e-31", "1." + "1" * 41, "٣", "1_0"]),
    st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False).map(str),
)
times = st.one_of(
    st.integers(-3, 60).map(lambda k: str(T0 + k * H)),
    st.sampled_from(["0", "-5", "99999999999999999", "1_764_720_000_000", "٣", "", "x"]),
)
rows = st.lists(
    st.tuples(times, st.sampled_from(["1h", "1h", "1h", "2h", "4h"]), numbers, numbers),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    rows=rows,
    end_h=st.integers(-2, 40),
    crlf=st.booleans(),
    final_newline=st.booleans(),
)
def test_counting_after_the_window_equals_the_loop(
    rows: list[tuple[str, str, str, str]], end_h: int, crlf: bool, final_newline: bool
) -> None:
    _same_as_the_loop(rows, end_h, crlf, final_newline)


def _same_as_the_loop(
    rows: list[tuple[str, str, str, str]], end_h: int, crlf: bool, final_newline: bool
) -> None:
    fields = [
        ["binance", "BTC/USDT:USDT", "perp", interval, t, "1", "1", "1", close, volume]
        for t, interval, close, volume in rows
    ]
    window = Window(T0, T0 + end_h * H)
    newline = "\r\n" if crlf else "\n"
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "candles.csv"
        lines = [",".join(CANDLE_COLUMNS), *(",".join(f) for f in fields)]
        csv.write_text(newline.join(lines) + (newline if final_newline else ""), "utf-8")
        parquet = Path(tmp) / "candles.parquet"
        table = pa.table({name: [f[i] for f in fields] for i, name in enumerate(CANDLE_COLUMNS)})
        pq.write_table(table, parquet)
        _gz_memory.clear()
        got = _run(csv, window)
        want = _run(parquet, window)
    assert got == want


def _run(path: Path, window: Window) -> tuple[object, ...]:
    runs = index([path])
    if not runs:
        return ()
    (run,) = runs
    q = SeriesQuality("candles", run.venue, run.symbol)
    items = []
    for key, item in ticker_events(run, q, window, Decimal("0.0001")):
        if isinstance(item, RejectedRow):  # line numbers and raw text differ by format
            items.append((key, item.error_type, item.event_time, item.reason.split(": ", 1)[1]))
        else:
            items.append((key, item))
    return (as_dict(q), items)


def test_edge_rows_after_the_window_are_counted_as_the_loop_counts_them() -> None:
    """Rows the text alone cannot prove: a quote volume ≥ 10^15 (16 integer digits), a zero
    close, more than 30 places, an exponent, a time beyond 2100; then a valid row."""
    edge = [
        ("99999999.9", "12345678"),  # ~1.2e15: refused
        ("9999999.9", "1234567.5"),  # 14 digits: valid on its text
        ("0.000", "1"),
        ("1." + "1" * 31, "1"),
        ("1e3", "1"),
    ]
    for close, volume in edge:
        rows = [
            (str(T0), "1h", "1", "1"),
            (str(T0 + 5 * H), "1h", "1", "1"),
            (str(T0 + 9 * H), "1h", close, volume),
            (str(T0 + 20 * H), "1h", "1", "1")
            if close != "1e3"
            else ("4102444800001", "1h", "1", "1"),
        ]
        _same_as_the_loop(rows, end_h=2, crlf=False, final_newline=True)
