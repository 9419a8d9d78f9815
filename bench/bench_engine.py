"""The engine fold alone (Simulation: engine + paper venue, no Kafka) over the bundled window.

Prints µs of CPU time (``time.process_time``: the machine is shared, wall time swings with
other people's load) per market event over the whole window, and the wall time, the first and last 10 % of the window
(growth over the run), and a digest of every output the run produced (model_dump_json of each,
in order) so a change to the core can be checked for byte-identical outputs in seconds.

The baseline is the same measurement on another commit (``--baseline-ref``, default
``HEAD``): its tree is exported with ``git archive`` into a temporary directory and measured in
a subprocess, alternating with the work tree, in the same run; the ratio compares the two.
The default baseline is :data:`BASE_REF`, the last commit before issue 18's work on the fold.
Saves ``bench/results/<date>-engine.json`` (``make bench`` collects it).

    python bench/bench_engine.py [--runs 5] [--baseline-ref REF] [--no-baseline]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

REPO = Path(__file__).resolve().parents[1]
REFS = {"hyperliquid": "binance"}
#: the commit before issue 18's work on the fold (the baseline of its figures)
BASE_REF = "1c71387"
TARGET_US = 25.0  # issue 18: ≤ 25 µs/event over the bundled window
#: the digest of every output of today's behaviour (set when issue 19's switch and the defaults
#: it re-chose, commit 5505526, changed the outputs on purpose): a baseline older than that
#: (``BASE_REF`` is) emits other outputs, so byte identity is judged against this digest
OUTPUTS_DIGEST = "68681e4a9bbceefd6212982863344f328258596675cf12761f6756e032e86999"
#: the venue's answers the engine folds with ``handle`` (counted per tenth as work)
ACCOUNT_EVENTS = frozenset(
    {
        "FillExecuted",
        "FundingPaid",
        "BalanceObserved",
        "OrderAccepted",
        "OrderRejected",
        "OrderExpired",
        "OrderCanceled",
    }
)


def measure(gc_freeze: bool = False) -> dict[str, object]:
    """One run in this interpreter, on whatever ``projections`` is importable.

    ``gc_freeze``: move the loaded input (103k pydantic events, each with its own
    fields-set ``set``) out of the garbage collector's generations before the timed loop, so
    full collections do not traverse it: the worker and the backtest hold no such list."""
    from producers import history as h
    from schemas.config import StrategyConfig
    from schemas.types import base_asset
    from streams.cli import DEFAULT_DATA
    from streams.simulation import Simulation

    market = list(h.merged(h.plan(list(DEFAULT_DATA), h.Window(0, 2**62), reference_prices=REFS)))
    digest = hashlib.sha256()
    outputs = 0
    part = -1  # the tenth being folded
    account = [0] * 11  # the venue's answers the engine folds (fills, payments, ...) per tenth

    def on_output(event: object) -> None:
        nonlocal outputs
        outputs += 1
        if event.__class__.__name__ in ACCOUNT_EVENTS:
            account[part] += 1
        digest.update(event.model_dump_json().encode())  # type: ignore[attr-defined]
        digest.update(b"\n")

    sim = Simulation(StrategyConfig(), on_output=on_output)
    if gc_freeze:
        gc.freeze()
    n = len(market)
    tenth = n // 10
    marks = []
    wall = time.perf_counter()
    start = time.process_time()
    for i, e in enumerate(market):
        if i % tenth == 0:
            marks.append(time.process_time())
            part += 1
        sim.feed(e)  # type: ignore[arg-type]  # the bundled data has no rejected rows
    sim.finish()
    end = time.process_time()
    wall = time.perf_counter() - wall
    marks.append(end)
    per = [(b - a) / tenth * 1e6 for a, b in itertools.pairwise(marks)]
    # reactions per tenth, counted after the timed loop: one per (event time, asset) batch
    reactions = []
    for j in (0, 9):
        batches = set()
        for e in market[j * tenth : (j + 1) * tenth]:
            batches.add((e.event_time, base_asset(e.instrument)))  # type: ignore[union-attr]  # no rejected rows
        reactions.append(len(batches))
    cpu = [per[j] * tenth for j in (0, 9)]  # µs of CPU in the first and the last tenth
    return {
        "events": n,
        "outputs": outputs,
        "us_per_event": (end - start) / n * 1e6,
        "wall_us_per_event": wall / n * 1e6,
        "first_10pct_us": per[0],
        "last_10pct_us": per[9] if len(per) > 9 else per[-1],
        "digest": digest.hexdigest(),
        # cost per unit of work in the first and the last tenth (issue 18's tenths ratio)
        "reactions_first_last": reactions,
        "account_events_first_last": [account[0], account[9]],
        "us_per_reaction_first_last": [cpu[k] / reactions[k] for k in (0, 1)],
        "us_per_work_item_first_last": [
            cpu[k] / (reactions[k] + (account[0], account[9])[k]) for k in (0, 1)
        ],
    }


def _run_in(tree: Path, gc_freeze: bool = False) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, str(tree / "bench" / "bench_engine.py"), "--child"]
        + (["--gc-freeze"] if gc_freeze else []),
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(runs: int, ref: str | None, gc_freeze: bool = False) -> None:
    sys.path.insert(0, str(REPO))
    from bench.common import export_ref, save, summarise

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        if ref is not None:
            export_ref(ref, base, Path(__file__))
        now_runs, base_runs = [], []
        for i in range(runs):
            now_runs.append(_run_in(REPO, gc_freeze))
            r = now_runs[-1]
            line = (
                f"  run {i + 1}: work tree {r['us_per_event']:.1f} µs/event CPU "
                f"({r['wall_us_per_event']:.1f} wall)"
            )
            if ref is not None:
                base_runs.append(_run_in(base, gc_freeze))
                b = base_runs[-1]
                line += (
                    f", {ref} {b['us_per_event']:.1f} µs/event CPU "
                    f"({b['wall_us_per_event']:.1f} wall)"
                )
            print(line, flush=True)

    def med(rs: list[dict[str, object]], k: str) -> float:
        return statistics.median(float(r[k]) for r in rs)  # type: ignore[arg-type]

    r = now_runs[0]
    print(f"events {r['events']:,}, outputs {r['outputs']:,}, digest {r['digest']}")
    pinned = {x["digest"] for x in now_runs} == {OUTPUTS_DIGEST}
    print(
        "outputs: "
        + ("identical to" if pinned else "DIFFERENT from")
        + f" the pinned digest of today's behaviour ({OUTPUTS_DIGEST[:12]}…)"
    )
    for name, rs in (("work tree", now_runs), (ref, base_runs)):
        if not rs:
            continue
        fastest = min(float(x["us_per_event"]) for x in rs)  # type: ignore[arg-type]
        print(
            f"{name}: {med(rs, 'us_per_event'):.1f} µs/event CPU median "
            f"(min {fastest:.1f}); first 10% "
            f"{med(rs, 'first_10pct_us'):.1f}, last 10% {med(rs, 'last_10pct_us'):.1f} µs/event"
        )
    if "us_per_reaction_first_last" in r:  # a baseline tree's older script may not count

        def firstlast(key: str) -> list[float]:  # medians over the runs, (first, last) tenth
            return [
                statistics.median(float(cast(list[float], x[key])[k]) for x in now_runs)
                for k in (0, 1)
            ]

        rx, ac = firstlast("reactions_first_last"), firstlast("account_events_first_last")
        upr, upw = firstlast("us_per_reaction_first_last"), firstlast("us_per_work_item_first_last")
        print(
            f"work tree, work per tenth (first / last): reactions {rx[0]:,.0f} / {rx[1]:,.0f}, "
            f"account events {ac[0]:,.0f} / {ac[1]:,.0f}; CPU µs per reaction {upr[0]:.0f} / "
            f"{upr[1]:.0f} ({upr[1] / upr[0]:.2f}x), per reaction or account event "
            f"{upw[0]:.0f} / {upw[1]:.0f} ({upw[1] / upw[0]:.2f}x)"
        )
    row: dict[str, object] = {
        "stage": "engine fold alone (bundled window, CPU µs/event)",
        "figure": {
            "us_per_event": summarise([float(x["us_per_event"]) for x in now_runs]),  # type: ignore[arg-type]
            "first_10pct_us": med(now_runs, "first_10pct_us"),
            "last_10pct_us": med(now_runs, "last_10pct_us"),
            "events": r["events"],
            "digest": r["digest"],
            "outputs_equal_pinned": pinned,
        },
        "baseline": None,
        "ratio": None,
        "target": {"us_per_event_at_most": TARGET_US},
    }
    if "us_per_reaction_first_last" in r:
        # the tenths' cost per unit of work: flat when the cost follows the work, not the state
        cast(dict[str, object], row["figure"])["us_per_work_item_first_last"] = firstlast(
            "us_per_work_item_first_last"
        )
    if base_runs:
        same = {x["digest"] for x in now_runs} == {x["digest"] for x in base_runs}
        row["baseline"] = {
            "ref": ref,
            "us_per_event": summarise([float(x["us_per_event"]) for x in base_runs]),  # type: ignore[arg-type]
            "first_10pct_us": med(base_runs, "first_10pct_us"),
            "last_10pct_us": med(base_runs, "last_10pct_us"),
            "outputs_identical": same,
        }
        row["ratio"] = med(now_runs, "us_per_event") / med(base_runs, "us_per_event")
        print(
            f"ratio work tree / {ref}: {med(now_runs, 'us_per_event') / med(base_runs, 'us_per_event'):.3f}"
            f" ({med(base_runs, 'us_per_event') / med(now_runs, 'us_per_event'):.2f}x faster); "
            f"outputs identical to {ref}'s: {same}"
            + ("" if same else " (expected for a baseline before 5505526: see OUTPUTS_DIGEST)")
        )
    if gc_freeze:  # a diagnostic, not the table's row
        print("--gc-freeze: input frozen out of the collector; not saved")
        return
    print(f"saved {save('engine', [row])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-ref", default=BASE_REF)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() the loaded input before the timed loop (a diagnostic, not the "
        "target row: how much of the figure is the collector traversing the bench's own input)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(REPO))
        print(json.dumps(measure(args.gc_freeze)))
    else:
        main(args.runs, None if args.no_baseline else args.baseline_ref, args.gc_freeze)
