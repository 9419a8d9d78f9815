"""``index_csv``'s fast path (issue 18: a line starting with its run's first two fields is not
split) gives the runs of the line-by-line index it replaced, on hostile files: times that are
not digits, zero, Arabic-Indic digits, lines of one or two fields, invalid UTF-8 that decodes
to the same replaced key, CRLF, a last line without its newline."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from producers.history.base import Run, kind_of, open_file
from producers.history.csv_reader import index_csv

HEADERS = {
    "funding": b"venue,symbol,funding_time_ms,funding_rate,mark_price",
    "candles": b"venue,symbol,market,interval,open_time_ms,open,high,low,close,volume",
}


def line_by_line(path: Path) -> list[Run]:
    """The index before issue 18's fast path (commit 2b72048), one split per line."""
    runs: list[Run] = []
    with open_file(path) as f:
        header_line = f.readline()
        kind = kind_of(header_line.decode().strip().split(","), path)
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
                    runs.append(Run(path, kind, *current, start, start_line, count, first, last))
                current, start, start_line, count, first = key, offset, line_no, 0, 0
            count += 1
            offset += len(raw)
            stamp = parts[time_col] if len(parts) > time_col else b""
            if stamp.isdigit():
                last = int(stamp)
                first = first or last
        if current is not None:
            runs.append(Run(path, kind, *current, start, start_line, count, first, last))
    return runs


venues = st.sampled_from([b"binance", b"okx", b"b\xffx", b"b\xfex", b""])
symbols = st.sampled_from([b"BTC/USDT:USDT", b"ETH/USDT:USDT", b"X\xc3", b"X\xc4"])
stamps = st.one_of(
    st.integers(0, 10**14).map(lambda t: str(t).encode()),
    st.sampled_from([b"", b"0", b"00", b"abc", b"12a", b"\xd9\xa1\xd9\xa2", b" 5", b"1_0"]),
)


@st.composite
def files(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(HEADERS)))
    time_col = 2 if kind == "funding" else 4
    width = len(HEADERS[kind].split(b","))
    lines = [HEADERS[kind]]
    # mostly one series in long runs (the fast path), sometimes another or a broken line
    for _ in range(draw(st.integers(0, 40))):
        venue = draw(venues) if draw(st.integers(0, 4)) == 0 else b"binance"
        symbol = draw(symbols) if draw(st.integers(0, 4)) == 0 else b"BTC/USDT:USDT"
        fields = [venue, symbol] + [b"1"] * (width - 2)
        fields[time_col] = draw(stamps)
        cut = draw(st.sampled_from([width, width, width, 1, 2, time_col, time_col + 1]))
        lines.append(b",".join(fields[:cut]))
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    return kind, newline.join(lines) + (newline if draw(st.booleans()) else b"")


@settings(max_examples=600, deadline=None)
@given(file=files())
def test_the_index_equals_the_line_by_line_index(file: tuple[str, bytes]) -> None:
    _, data = file
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.csv"
        path.write_bytes(data)
        assert index_csv(path) == line_by_line(path)


def test_a_run_whose_last_line_has_no_time_keeps_the_one_before() -> None:
    data = (
        HEADERS["funding"]
        + b"\nbinance,BTC/USDT:USDT,1700000000000,0.1,\n"
        + (
            b"binance,BTC/USDT:USDT,1700000003600,0.1,\nbinance,BTC/USDT:USDT,x,0.1,\n"
            b"okx,BTC/USDT:USDT,1700000000000,0.1,\n"
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.csv"
        path.write_bytes(data)
        runs = index_csv(path)
        assert [(r.venue, r.rows, r.first_time, r.last_time) for r in runs] == [
            ("binance", 3, 1700000000000, 1700000003600),
            ("okx", 1, 1700000000000, 1700000000000),
        ]
        assert runs == line_by_line(path)
