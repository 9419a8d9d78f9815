"""CSV reader (plain or ``.gz``): index a file's contiguous runs by byte offset in one pass,
then read one run's rows lazily."""

from __future__ import annotations

import itertools
from collections.abc import Generator
from pathlib import Path
from typing import Any

from producers.history.base import HistoryError, Run, kind_of, open_file


def index_csv(path: Path) -> list[Run]:
    """One pass over a CSV: the contiguous runs of each (venue, symbol), with byte offsets.

    A run's rows are its lines whose first two fields (decoded, invalid bytes replaced) are
    its venue and symbol; its first and last times are the first non-zero and the last of
    the time column's values that are ASCII digits (0 when none). A line starting with the
    same bytes as the run's first line up to its second comma is of that run without being
    split (the fast path: a third of the index's time, which the replay spends before its
    encoders can start); its time is read only when the run ends, for the last such line,
    and every line of the run again in the rare case where that one has no digits there.
    """
    runs: list[Run] = []
    with open_file(path) as f:
        header_line = f.readline()
        if not header_line:
            raise HistoryError(f"{path}: the file is empty")
        kind = kind_of(header_line.decode().strip().split(","), path)
        offset, line_no = len(header_line), 1
        time_col = 2 if kind == "funding" else 4

        def stamp_of(raw: bytes) -> int | None:
            parts = raw.split(b",", time_col + 1)
            stamp = parts[time_col] if len(parts) > time_col else b""
            return int(stamp) if stamp.isdigit() else None

        def last_in(start: int, end: int, last: int) -> int:
            """The last digit time among the lines in [start, end) (``last`` when none)."""
            here = f.tell()
            f.seek(start)
            while f.tell() < end:
                t = stamp_of(f.readline())
                last = last if t is None else t
            f.seek(here)
            return last

        current: tuple[str, str] | None = None
        prefix: bytes | None = None  # the run's first two fields and their commas
        start = start_line = count = first = last = 0
        tail = 0  # offset of the last line taken by the fast path, its time not read yet
        folded = 0  # offset up to which ``last`` holds the lines' times

        def fold() -> None:
            nonlocal last, tail, folded
            if tail:  # the run's last line came by the fast path: read its time now
                here = f.tell()
                f.seek(tail)
                t = stamp_of(f.readline())
                f.seek(here)
                last = last_in(folded, tail, last) if t is None else t
                tail, folded = 0, offset

        for raw in f:
            line_no += 1
            if prefix is not None and raw.startswith(prefix):
                count += 1
                tail = offset
                offset += len(raw)
                continue
            parts = raw.split(b",")
            key = (
                (parts[0].decode(errors="replace"), parts[1].decode(errors="replace"))
                if len(parts) >= 2
                else ("", "")
            )
            if key != current:
                if current is not None:
                    fold()
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
                prefix = parts[0] + b"," + parts[1] + b"," if len(parts) > 2 else None
            fold()
            count += 1
            offset += len(raw)
            folded = offset
            stamp = parts[time_col] if len(parts) > time_col else b""
            if stamp.isdigit():
                last = int(stamp)
                first = first or last
            if not first:  # the run's first time is still to find: line by line
                prefix = None
        if current is not None:
            fold()
            runs.append(
                Run(path, kind, current[0], current[1], start, start_line, count, first, last)
            )
    return runs


#: sent to a :func:`csv_rows` generator: it answers with the run's remaining lines
REST = object()


def csv_rows(run: Run) -> Generator[Any, object, None]:
    """The run's rows as ``(line number, line without its end, fields)``, read lazily.

    ``rows.send(REST)`` instead of the next row answers with the run's remaining lines as
    they are in the file (with their ends, undecoded, one C-level read) and ends the rows: a
    reader that only counts the rest checks the common line on its bytes without decoding
    and splitting each (:func:`producers.history.events.ticker_events` after the window).
    """
    with open_file(run.path) as f:
        f.seek(run.offset)
        for i in range(run.rows):
            raw = f.readline()
            if not raw:
                return  # truncated file: the run ends early (reported by the counts)
            got = yield (
                run.first_line + i,
                raw.rstrip(b"\r\n"),
                raw.decode(errors="replace").rstrip("\r\n").split(","),
            )
            if got is REST:
                yield list(itertools.islice(f, run.rows - i - 1))
                return
