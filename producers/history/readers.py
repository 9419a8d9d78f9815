"""One entry point over the readers: which reader a file needs, and a run's rows whatever its
format."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from producers.history.base import HistoryError, Run
from producers.history.csv_reader import csv_rows, index_csv
from producers.history.dump import DUMP_SUFFIXES, index_dump
from producers.history.parquet_reader import index_parquet, parquet_rows


def index_file(path: Path) -> list[Run]:
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
        runs += index_file(f)
    return runs


def run_rows(run: Run) -> Iterator[tuple[int, bytes, list[str]]]:
    return parquet_rows(run) if run.offset < 0 else csv_rows(run)
