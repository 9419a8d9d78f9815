"""Run every benchmark under ``bench/`` on one broker and collect one table (``make bench``).

Each script measures its stage and a baseline in the same process run (medians of ≥ 5 runs
with min/max) and saves ``bench/results/<date>-<name>.json``; this collector runs them in
turn against one broker (FUNDARB_BOOTSTRAP, else a local broker started here), merges their
rows into ``bench/results/<date>.json`` and writes the Markdown table to
``bench/results/<date>.md`` (also printed). No figure here is a test assertion.

    python bench/run_all.py [--only worker,replay] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
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
    "replay": False,
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
    fig, base, target = r.get("figure"), r.get("baseline"), r.get("target")
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
        return "| {} | {} | {} | {} | {} | {} |".format(
            r["stage"],
            _rate(fig),
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


def markdown(rows: list[dict[str, Any]], machine: str) -> str:
    head = [
        f"Machine: {machine}",
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(SCRIPTS))
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (≥ 5)")
    args = parser.parse_args()
    chosen = [s for s in SCRIPTS if not args.only or s in args.only.split(",")]
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
