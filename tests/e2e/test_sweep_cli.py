"""``fundarb sweep`` as a user runs it: a short slice of the bundled data, two candidates,
one walk-forward split; the base is config/strategy.toml. No broker (the sweep replays the files in-process)."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

from tests.e2e.cli import REPO, fundarb

ARGS = [
    "sweep",
    "--config",
    str(REPO / "config" / "strategy.toml"),
    "--from",
    "2025-12-10",
    "--to",
    "2025-12-20",
    "--assets",
    "BTC,ETH,SOL,HYPE,DOGE",
    "--venues",
    "binance,bybit,kraken,lighter",
    "--param",
    "entry.min_net_apr=0.01,0.5",
    "--folds",
    "1",
]


def _sweep(tmp: Path, name: str) -> tuple[str, dict]:
    env = {**os.environ, "COLUMNS": "200"}
    proc = fundarb([*ARGS, "--out", str(tmp / name)], env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads((tmp / name / "sweep.json").read_text())


def test_sweep_prints_walk_forward_and_is_deterministic(tmp_path: Path) -> None:
    stdout, first = _sweep(tmp_path, "a")
    assert "fold 1: chosen #" in stdout and "out-of-sample" in stdout
    split = first["splits"][0]
    rows = split["rows"]
    assert [r["params"] for r in rows] == [
        {"entry.min_net_apr": "0.01"},
        {"entry.min_net_apr": "0.5"},
    ]
    # the chosen candidate is the best on the train window (ties: the earlier one)
    totals = [Decimal(r["train"]["total_usd"]) for r in rows]
    assert split["chosen"] == max(range(len(rows)), key=lambda i: (totals[i], -i))
    for r in rows:  # parts sum to the total in both windows, exactly
        for w in ("train", "test"):
            f = r[w]
            assert Decimal(f["total_usd"]) == (
                Decimal(f["funding_usd"]) + Decimal(f["price_usd"]) - Decimal(f["fees_usd"])
            )
    # the train window ends where the test starts, half way through the slice
    assert split["train"][1] == split["test"][0]
    # the lower threshold trades in ten days of five assets
    assert rows[0]["train"]["arbs"] + rows[0]["test"]["arbs"] > 0
    page = (tmp_path / "a" / "sweep.html").read_text()
    assert "plotly" in page.lower() and "<script src=" not in page  # embedded, offline
    _, second = _sweep(tmp_path, "b")
    assert second == first  # same data and flags, same figures
