"""``fundarb bench``: the benchmarks under bench/ (a source checkout only)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from streams.cli.common import fail


def bench_cmd(
    only: Annotated[
        str | None,
        typer.Option(metavar="A,B", help="Subset: serializer,replay,worker,audit,backtest."),
    ] = None,
    runs: Annotated[
        int, typer.Option(metavar="N", min=5, help="Runs per figure (median, min, max).")
    ] = 5,
) -> None:
    """Run the benchmarks under bench/ against one broker; write bench/results/<date>.json
    and a Markdown table (each stage beside its baseline measured in the same run)."""
    import subprocess

    script = Path(__file__).resolve().parents[2] / "bench" / "run_all.py"
    if not script.exists():
        raise fail(f"{script} not found: fundarb bench runs from a source checkout")
    cmd = [sys.executable, str(script), "--runs", str(runs)]
    if only:
        cmd += ["--only", only]
    raise typer.Exit(subprocess.call(cmd))
