"""`make bench`'s issue 18 table (bench/run_all.py): every target row is read from its
script's saved rows and judged against the target, and a missing script says so."""

from __future__ import annotations

from typing import Any

from bench.run_all import TARGETS, find, targets_table


def _rate(median: float) -> dict[str, float]:
    return {"median": median, "min": median, "max": median, "runs": 5}


def _rows() -> list[dict[str, Any]]:
    return [
        {
            "script": "bench_engine.py",
            "stage": "engine fold alone (bundled window, CPU µs/event)",
            "figure": {
                "us_per_event": _rate(24.0),
                "first_10pct_us": 20.0,
                "last_10pct_us": 30.0,
            },
            "baseline": {"ref": "abc1234", "us_per_event": _rate(48.0)},
        },
        {
            "script": "bench_worker.py",
            "stage": "worker (events/s)",
            "figure": _rate(40_000),
            "baseline": _rate(80_000),
            "ratio": 0.5,
        },
        {
            "script": "bench_worker.py",
            "stage": "decision latency (ms)",
            "figure": {"p50": 5.0, "p99": 30.0, "max": 40.0, "n": 100},
            "target": {"p99_below": 25},
        },
        {
            "script": "bench_replay.py",
            "key": "replay",
            "stage": "replay publish, 2 encoders (events/s)",
            "figure": _rate(30_000),
            "baseline": _rate(40_000),
            "ratio": 0.75,
            "cpu_us_per_event": {"ratio": 0.5},
        },
        {
            "script": "bench_backtest.py",
            "key": "backtest",
            "stage": "backtest (bundled window)",
            "figure": {"replay_and_simulation_s": {**_rate(16.0), "runs": 3}},
            "baseline": {"replay_s": _rate(5.0), "engine_s": _rate(6.0)},
        },
    ]


def _line(table: str, figure: str) -> list[str]:
    [line] = [ln for ln in table.splitlines() if ln.startswith(f"| {figure} |")]
    return [c.strip() for c in line.strip("|").split("|")]


def test_every_target_has_a_row_judged_against_its_target() -> None:
    table = targets_table(_rows())
    assert len(table.splitlines()) == 2 + len(TARGETS)
    engine = _line(table, "engine fold, bundled window")
    assert engine[1] == "24.0 µs/event CPU; last/first tenth 1.50×"
    assert engine[2] == "`abc1234`: 48.0 µs/event"
    assert engine[5] == "met (µs), missed (tenths)"
    assert _line(table, "worker / plain consume + decode")[1:3] == [
        "40,000/s = **50%**",
        "80,000/s",
    ]
    assert _line(table, "worker / plain consume + decode")[5] == "met"
    assert _line(table, "decision latency p99 (quiet machine)")[5] == "missed"  # 30 ≥ 25 ms
    replay = _line(table, "replay publish / plain producer")
    assert replay[1].startswith("30,000/s = **75%** (CPU: 50%")
    assert replay[5] == "met"
    backtest = _line(table, "bundled 94-day backtest, replay + simulation")
    assert backtest[1] == "16.0 s (16.0–16.0, 3 runs)"
    assert backtest[2] == "replay alone 5.0 s + engine alone 6.0 s"
    assert backtest[5] == "missed"  # 16 s ≥ 15 s


def test_a_script_not_run_is_named_and_rows_are_found_by_key_or_stage() -> None:
    table = targets_table(_rows())
    assert _line(table, "audit sink / raw chDB Arrow insert")[1] == "not run (`bench_audit.py`)"
    rows = _rows()
    assert find(rows, "replay", "replay") is rows[3]  # by key
    assert find(rows, "worker", "decision latency") is rows[2]  # by the stage's start
    assert find(rows, "worker", "replay") is None  # another script's row is not taken
