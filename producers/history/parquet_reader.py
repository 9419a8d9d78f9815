"""Parquet reader (same columns as the CSV formats): a file's series, then one series' rows
read with a filter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from producers.history.base import Run, kind_of


def index_parquet(path: Path) -> list[Run]:
    """Series of a Parquet file (read one series at a time, filtered)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["venue", "symbol"])
    names = pq.read_schema(path).names
    kind = kind_of(list(names), path)
    pairs = sorted(
        set(zip(table.column("venue").to_pylist(), table.column("symbol").to_pylist(), strict=True))
    )
    counts: dict[tuple[str, str], int] = {}
    for pair in zip(
        table.column("venue").to_pylist(), table.column("symbol").to_pylist(), strict=True
    ):
        counts[pair] = counts.get(pair, 0) + 1
    return [Run(path, kind, v, s, -1, 0, counts[(v, s)]) for v, s in pairs]


def parquet_rows(run: Run) -> Iterator[tuple[int, bytes, list[str]]]:
    import pyarrow.parquet as pq

    table = pq.read_table(
        run.path, filters=[("venue", "=", run.venue), ("symbol", "=", run.symbol)]
    )
    cols = [table.column(n).to_pylist() for n in table.schema.names]
    for i, row in enumerate(zip(*cols, strict=True)):
        values = ["" if v is None else str(v) for v in row]
        yield i + 1, ",".join(values).encode(), values
