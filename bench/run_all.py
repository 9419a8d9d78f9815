"""Run every benchmark under ``bench/`` on one broker and collect one table (``make bench``).

Each script measures its stage and a baseline in the same process run (medians of ≥ 5 runs
with min/max) and saves ``bench/results/<date>-<name>.json``; this collector runs them in
turn against one broker (FUNDARB_BOOTSTRAP, else a local broker started here), merges their
rows into ``bench/results/<date>.json`` and writes the Markdown table to
``bench/results/<date>.md`` (also printed). No figure here is a test assertion.

    python bench/run_all.py [--only worker,replay] [--runs 5]
    python bench/run_all.py --saved     (the table from the latest saved results, no run)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, broker

BENCH = Path(__file__).resolve().parent
#: script → accepts --runs
SCRIPTS = {
    "engine": True,
    "serializer": False,
    "replay": True,
    "worker": True,
    "audit": False,
    "backtest": True,
}


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.1f}"


def _rate(f: dict[str, Any], unit: str = "/s") -> str:
    return f"{_fmt(f['median'])}{unit} ({_fmt(f['min'])}–{_fmt(f['max'])}, {f['runs']} runs)"


def table_row(r: dict[str, Any]) -> str:
    """One Markdown row: stage | figure | baseline in the same run | ratio | target | verdict."""
    fig: Any = r.get("figure")
    base: Any = r.get("baseline")
    target: Any = r.get("target")
    if isinstance(fig, dict) and "us_per_event" in fig:  # the engine fold (lower is better)
        u = fig["us_per_event"]
        cell = (
            f"{u['median']:.1f} µs/event ({u['min']:.1f}–{u['max']:.1f}, {u['runs']} runs); "
            f"first 10% {fig['first_10pct_us']:.1f}, last 10% {fig['last_10pct_us']:.1f}"
        )
        limit = float((target or {})["us_per_event_at_most"])
        return "| {} | {} | {} | {} | ≤ {:.0f} µs/event | {} |".format(
            r["stage"],
            cell,
            f"{base['ref']}: {base['us_per_event']['median']:.1f} µs/event" if base else "—",
            f"{r['ratio']:.2f} ({1 / r['ratio']:.1f}x faster)" if r.get("ratio") else "—",
            limit,
            "met" if u["median"] <= limit else "missed",
        )
    if isinstance(fig, dict) and "median" in fig:
        ratio = r.get("ratio")
        verdict = (
            "" if target is None or ratio is None else ("met" if ratio >= target else "missed")
        )
        unit = " µs" if "µs" in str(r["stage"]) else "/s"  # a CPU cost per event, not a rate
        return "| {} | {} | {} | {} | {} | {} |".format(
            r["stage"],
            _rate(fig, unit),
            _rate(base) if base else "—",
            f"{ratio:.0%}" if ratio is not None else "—",
            f"≥ {target:.0%}" if target is not None else "report",
            verdict,
        )
    if isinstance(fig, dict) and "p99" in fig:
        return "| {} | p50 {:.1f} ms, p99 {:.1f} ms, max {:.0f} ms (n={}) | — | — | p99 < {} ms | {} |".format(
            r["stage"],
            fig["p50"],
            fig["p99"],
            fig["max"],
            fig["n"],
            target["p99_below"],
            "met" if r["met"] else "missed",
        )
    if isinstance(fig, list):  # scale
        parts = ", ".join(f"{o['peak_rss_mb']:.0f} MB at {o['events']:,} events" for o in fig)
        return f"| {r['stage']} | {parts} | — | — | < {target['below_mb']} MB, flat | {'met' if r['met'] else 'missed'} |"
    if isinstance(fig, dict) and "wall_s" in fig:
        line = "| {} | {:.1f} s ({:.1f}–{:.1f}), {} events/s, {:,} events | replay + engine alone {:.1f} s | {:.0%} | report | |".format(
            r["stage"],
            fig["wall_s"]["median"],
            fig["wall_s"]["min"],
            fig["wall_s"]["max"],
            _fmt(fig["events_per_s"]["median"]),
            fig["events"],
            base["stages_alone_s"]["median"],
            r["ratio"],
        )
        phase = fig.get("replay_and_simulation_s")
        if phase:  # the replay in a second process, overlapped with the simulation
            m = phase["median"]
            line += "\n| backtest: replay + simulation phase | {:.1f} s ({:.1f}–{:.1f}) | replay + engine alone {:.1f} s | {:.0%} | < 15 s | {} |".format(
                m,
                phase["min"],
                phase["max"],
                base["stages_alone_s"]["median"],
                m / base["stages_alone_s"]["median"],
                "met" if m < 15 else "missed",
            )
        return line
    return f"| {r['stage']} | {json.dumps(fig)} | | | | |"


# ---- issue 18's table: one row per target --------------------------------------------------
Cells = tuple[str, str, str]  # this run's figure, its baseline in the same run, verdict


def _verdict(met: bool) -> str:
    return "met" if met else "missed"


def _engine(r: dict[str, Any]) -> Cells:
    fig, base = r["figure"], r.get("baseline") or {}
    us = fig["us_per_event"]["median"]
    tenths = fig["last_10pct_us"] / fig["first_10pct_us"]
    cell = f"{us:.1f} µs/event CPU; last/first tenth {tenths:.2f}×"
    work = fig.get("us_per_work_item_first_last")
    if work:  # the same tenths per reaction or account event: does the cost follow the work?
        cell += f" ({work[1] / work[0]:.2f}× per reaction or account event)"
    baseline = (
        f"`{base['ref']}`: {base['us_per_event']['median']:.1f} µs/event"
        if "us_per_event" in base
        else "—"
    )
    return cell, baseline, f"{_verdict(us <= 25)} (µs), {_verdict(tenths <= 1.2)} (tenths)"


def _ratio(target: float) -> Callable[[dict[str, Any]], Cells]:
    def cells(r: dict[str, Any]) -> Cells:
        ratio = r["ratio"]
        cell = f"{_fmt(r['figure']['median'])}/s = **{ratio:.0%}**"
        cpu = r.get("cpu_us_per_event")  # the replay's CPU per event of its busiest process
        if cpu:
            cell += f" (CPU: {cpu['ratio']:.0%} of the plain producer's pace on free cores)"
        return cell, f"{_fmt(r['baseline']['median'])}/s", _verdict(ratio >= target)

    return cells


def _latency(r: dict[str, Any]) -> Cells:
    fig, limit = r["figure"], r["target"]["p99_below"]
    cell = f"p99 {fig['p99']:.1f} ms (p50 {fig['p50']:.1f}, n={fig['n']})"
    return cell, "—", _verdict(fig["p99"] < limit)


def _backtest(r: dict[str, Any]) -> Cells:
    phase = r["figure"].get("replay_and_simulation_s")
    base = r["baseline"]
    baseline = (
        f"replay alone {base['replay_s']['median']:.1f} s + engine alone "
        f"{base['engine_s']['median']:.1f} s"
    )
    if not phase:
        return "—", baseline, ""
    cell = f"{phase['median']:.1f} s ({phase['min']:.1f}–{phase['max']:.1f}, {phase['runs']} runs)"
    fig = r["figure"]
    if "phase_cpu_s" in fig:  # what the phase would take on free cores: the busier process
        cell += (
            f"; CPU {fig['phase_cpu_s']['median']:.1f} s in the backtest's process, "
            f"{fig['replay_process_cpu_s']['median']:.1f} s in its replay process"
        )
        baseline += f" (CPU {base['replay_cpu_s']['median']:.1f} s + {base['engine_cpu_s']['median']:.1f} s)"
    return cell, baseline, _verdict(phase["median"] < 15)


def _rss(r: dict[str, Any]) -> Cells:
    parts = ", ".join(f"{o['peak_rss_mb']:.0f} MB at {o['events']:,}" for o in r["figure"])
    return parts, "—", _verdict(bool(r.get("met")))


@dataclass(frozen=True)
class Target:
    """A row of issue 18's table: which saved row it reads and how it is judged."""

    figure: str
    target: str
    at_filing: str  # the figure when issue 18 was filed (its text)
    script: str
    stage: str  # the saved row: its ``key``, else the start of its ``stage``
    cells: Callable[[dict[str, Any]], Cells]


TARGETS = [
    Target("engine fold, bundled window", "≤ 25 µs/event; last 10% ≤ 1.2× first 10%",
           "~275 µs/event, ≈200 → 500 over the run", "engine", "engine fold", _engine),
    Target("worker / plain consume + decode", "≥ 50%", "3–4%", "worker", "worker", _ratio(0.5)),
    Target("decision latency p99 (quiet machine)", "< 25 ms", "65 ms", "worker",
           "decision latency", _latency),
    Target("hedge latency p99 (quiet machine)", "< 15 ms", "72 ms", "worker",
           "hedge latency", _latency),
    Target("internal decode / raw fastavro", "≥ 70%", "44–47% (validated)", "serializer",
           "decode_trusted", _ratio(0.7)),
    Target("replay publish / plain producer", "≥ 60%", "25–33%", "replay", "replay",
           _ratio(0.6)),
    Target("audit sink / raw chDB Arrow insert", "≥ 30%", "5–6%", "audit", "audit sink",
           _ratio(0.3)),
    Target("bundled 94-day backtest, replay + simulation", "< 15 s", "~41 s", "backtest",
           "backtest", _backtest),
    Target("worker RSS, 200 assets × 8 venues", "< 400 MB, flat in event count",
           "87 MB at 6,400, 98 MB at 19,200 events", "worker", "scale", _rss),
]  # fmt: skip


def find(rows: list[dict[str, Any]], script: str, stage: str) -> dict[str, Any] | None:
    """The first saved row of ``bench_<script>.py`` whose ``key`` is ``stage`` or whose
    ``stage`` starts with it."""
    for r in rows:
        if r.get("script") == f"bench_{script}.py" and (
            r.get("key") == stage or str(r.get("stage", "")).startswith(stage)
        ):
            return r
    return None


def targets_table(rows: list[dict[str, Any]]) -> str:
    """Issue 18's table: every target with this run's figure beside its baseline."""
    lines = [
        "| figure | this run | baseline in the same run | target | when issue 18 was filed "
        "| verdict |",
        "|---|---|---|---|---|---|",
    ]
    for t in TARGETS:
        r = find(rows, t.script, t.stage)
        if r is None:
            cells: Cells = (f"not run (`bench_{t.script}.py`)", "—", "")
        else:
            try:
                cells = t.cells(r)
            except (KeyError, TypeError, ZeroDivisionError) as exc:  # a row of another shape
                cells = (f"unreadable row ({type(exc).__name__}: {exc})", "—", "")
            if "saved" in r:  # --saved: each figure from its own script's latest run
                cells = (f"{cells[0]} [{r['saved'][:10]}]", cells[1], cells[2])
        lines.append(f"| {t.figure} | {cells[0]} | {cells[1]} | {t.target} | {t.at_filing} | "
                     f"{cells[2]} |")  # fmt: skip
    return "\n".join(lines)


def markdown(rows: list[dict[str, Any]], machine: str) -> str:
    head = [
        f"Machine: {machine}",
        "",
        "## Issue 18 targets",
        "",
        targets_table(rows),
        "",
        "## Every stage",
        "",
        "| stage | figure (median, min–max) | baseline in the same run | ratio | target | verdict |",
        "|---|---|---|---|---|---|",
    ]
    return "\n".join(head + [table_row(r) for r in rows]) + "\n"


def machine() -> str:
    cpus = os.cpu_count()
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.platform()}, {cpus} CPUs{mem}, Python {platform.python_version()}"


def latest_saved(scripts: list[str]) -> list[dict[str, Any]]:
    """Each script's rows from its latest ``bench/results/<date>-<name>.json`` (with the
    file's name in ``saved``)."""
    rows: list[dict[str, Any]] = []
    for name in scripts:
        saved = sorted(RESULTS.glob(f"????-??-??-{name}.json"))
        if not saved:
            continue
        for r in json.loads(saved[-1].read_text())["rows"]:
            rows.append({**r, "script": f"bench_{name}.py", "saved": saved[-1].name})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(SCRIPTS))
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (≥ 5)")
    parser.add_argument(
        "--saved",
        action="store_true",
        help="run nothing: the table from each script's latest saved bench/results JSON",
    )
    args = parser.parse_args()
    chosen = [s for s in SCRIPTS if not args.only or s in args.only.split(",")]
    if args.saved:
        print(markdown(latest_saved(chosen), machine()))
        return 0
    rows: list[dict[str, Any]] = []
    with broker() as bootstrap:
        env = {**os.environ, "FUNDARB_BOOTSTRAP": bootstrap}
        for name in chosen:
            cmd = [sys.executable, str(BENCH / f"bench_{name}.py")]
            if SCRIPTS[name]:
                cmd += ["--runs", str(args.runs)]
            print(f"== {name}", flush=True)
            start = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            sys.stdout.write(proc.stdout)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-4000:])
                print(f"bench_{name} failed (rc={proc.returncode})")
                return proc.returncode
            saved = [ln for ln in proc.stdout.splitlines() if ln.startswith("saved ")]
            data = json.loads(Path(saved[-1].split(" ", 1)[1]).read_text())
            for r in data["rows"]:
                r["script"] = f"bench_{name}.py"
            rows += data["rows"]
            print(f"   ({time.perf_counter() - start:.0f} s)")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    desc = machine()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stamp}.json").write_text(json.dumps({"machine": desc, "rows": rows}, indent=2))
    md = markdown(rows, desc)
    (RESULTS / f"{stamp}.md").write_text(md)
    print()
    print(md)
    print(f"wrote {RESULTS / f'{stamp}.json'} and {RESULTS / f'{stamp}.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
