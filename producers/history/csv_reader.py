"""CSV reader (plain or ``.gz``): index a file's contiguous runs by byte offset in one pass,
then read one run's rows lazily."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from producers.history.base import HistoryError, Run, kind_of, open_file


def index_csv(path: Path) -> list[Run]:
    """One pass over a CSV: the contiguous runs of each (venue, symbol), with byte offsets."""
    runs: list[Run] = []
    with open_file(path) as f:
        header_line = f.readline()
        if not header_line:
            raise HistoryError(f"{path}: the file is empty")
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


def csv_rows(run: Run) -> Iterator[tuple[int, bytes, list[str]]]:
    with open_file(run.path) as f:
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
