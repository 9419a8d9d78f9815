"""Compare the audit tables of two backtest runs, row by row, ordered (a check, not a test).

Each chDB folder holds the run(s) one ``fundarb backtest`` (with the audit) wrote; the run
names differ (a fresh topic prefix per run), so the ``run`` column is left out and every
table's rows are read ``FINAL`` in (topic, partition, offset) order. chDB opens one folder
per process: each folder is dumped by a child process (one text line per row), and the
parent compares the dumps.

    python bench/audit_tables_diff.py runs/main/clickhouse runs/mine/clickhouse
        [--run-a NAME] [--run-b NAME]  (default: the folder's only run)

Prints, per table, the row counts and the first differing row; exits 1 on any difference.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: every table the audit sink writes (events_raw and the typed tables)
TABLES = (
    "events_raw",
    "funding_observations",
    "tickers",
    "fills",
    "funding_payments",
    "orders",
    "intents",
    "breakers",
    "alerts",
    "positions",
    "balances",
    "spreads",
    "dead_letters",
)

app = typer.Typer(add_completion=False)


def dump(folder: Path, run: str | None, out: Path) -> None:
    """Write ``<out>/<table>.txt``: one JSON line per row of ``run``, without ``run``."""
    from consumers.audit import AUDIT_TABLES
    from infra.clickhouse import open_chdb

    names = set(AUDIT_TABLES) | {"events_raw"}
    missing = set(TABLES) ^ names
    if missing:
        raise SystemExit(f"TABLES is out of date with consumers.audit: {sorted(missing)}")
    store = open_chdb(folder)
    try:
        runs = [r[0] for r in store.query("SELECT DISTINCT run FROM events_raw").rows]
        if run is None:
            if len(runs) != 1:
                raise SystemExit(f"{folder}: {len(runs)} runs ({runs}); pass the run name")
            run = runs[0]
        for table in TABLES:
            result = store.query(
                f"SELECT * EXCEPT run FROM {table} FINAL WHERE run = {{run:String}} "
                "ORDER BY topic, partition, offset",
                {"run": run},
            )
            with (out / f"{table}.txt").open("w", encoding="utf-8") as f:
                for row in result.rows:
                    f.write(json.dumps([str(v) for v in row]) + "\n")
    finally:
        store.close()


@app.command()
def main(
    folder_a: Path,
    folder_b: Path,
    run_a: str | None = None,
    run_b: str | None = None,
    dump_only: bool = typer.Option(False, hidden=True),
) -> None:
    """Compare the audit tables of the runs in two chDB folders (see the module docstring)."""
    if dump_only:  # the child: folder_a is the store, folder_b the dump directory
        dump(folder_a, run_a, folder_b)
        return
    with tempfile.TemporaryDirectory() as tmp:
        dirs = []
        for name, folder, run in (("a", folder_a, run_a), ("b", folder_b, run_b)):
            out = Path(tmp) / name
            out.mkdir()
            args = [sys.executable, __file__, str(folder), str(out), "--dump-only"]
            if run:
                args += ["--run-a", run]
            subprocess.run(args, check=True)
            dirs.append(out)
        differ = False
        for table in TABLES:
            a = (dirs[0] / f"{table}.txt").read_text(encoding="utf-8").splitlines()
            b = (dirs[1] / f"{table}.txt").read_text(encoding="utf-8").splitlines()
            first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
            same = first is None and len(a) == len(b)
            print(
                f"{table:<22} {len(a):>7} rows | {len(b):>7} rows  {'same' if same else 'DIFFER'}"
            )
            if first is not None:
                print(f"  first difference at row {first}:\n  a: {a[first]}\n  b: {b[first]}")
            differ |= not same
        raise typer.Exit(1 if differ else 0)


if __name__ == "__main__":
    app()
