"""The paper venue alone: the inputs it saw in one simulation of the bundled window (market
data, orders, cancels) replayed into a fresh venue, this tree's ``producers/paper/venue.py``
against a baseline commit's, interleaved in one process, CPU time.

The baseline is the other commit's ``venue.py`` only, executed against this tree's
``schemas`` and ``projections`` (its imports): it measures the venue's own code, on the
machine's load of the same minute (``bench_engine.py`` measures the whole fold, whose share
the venue is ~10 %, and its ratio swings more than the venue's change under load). Both
venues' outputs are digested (``model_dump_json`` of each, in order) and must be equal.

    python bench/bench_venue.py [--runs 5] [--baseline-ref 8eb7d35]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
REFS = {"hyperliquid": "binance"}
#: the commit before the venue's work on issue 18
BASE_REF = "8eb7d35"


def _baseline_module(ref: str) -> Any:
    src = subprocess.run(
        ["git", "show", f"{ref}:producers/paper/venue.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("baseline_paper_venue")
    module.__file__ = f"{ref}:producers/paper/venue.py"
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(src, module.__file__, "exec"), module.__dict__)  # our own file
    return module


def _inputs() -> tuple[list[Any], Any]:
    """(every input the venue saw in a simulation of the bundled window, the venue config)."""
    from producers import history as h
    from schemas.config import StrategyConfig
    from streams.cli import DEFAULT_DATA
    from streams.simulation import Simulation

    market = h.merged(h.plan(list(DEFAULT_DATA), h.Window(0, 2**62), reference_prices=REFS))
    seen: list[Any] = []
    sim = Simulation(StrategyConfig())
    answer = sim.venue.on_event

    def record(event: Any) -> Any:
        seen.append(event)
        return answer(event)

    sim.venue.on_event = record  # type: ignore[method-assign]  # a recorder around the venue
    for e in market:
        sim.feed(e)  # type: ignore[arg-type]  # the bundled data has no rejected rows
    sim.finish()
    return seen, sim.venue.config


def _run(module: Any, config: Any, inputs: list[Any]) -> tuple[float, str, int]:
    venue = module.PaperVenue(config)
    start = time.process_time()
    answers = [venue.on_event(e) for e in inputs]
    cpu = time.process_time() - start
    digest = hashlib.sha256()
    n = 0
    for batch in answers:
        for event in batch:
            digest.update(event.model_dump_json().encode())
            digest.update(b"\n")
            n += 1
    return cpu, digest.hexdigest(), n


def main(runs: int, ref: str) -> None:
    sys.path.insert(0, str(REPO))
    from producers.paper import venue as current

    baseline = _baseline_module(ref)
    inputs, config = _inputs()
    results: dict[str, list[tuple[float, str, int]]] = {"work tree": [], ref: []}
    for i in range(runs):
        order = [("work tree", current), (ref, baseline)]
        for name, module in order if i % 2 == 0 else order[::-1]:
            results[name].append(_run(module, config, inputs))
    medians = {k: statistics.median(r[0] for r in v) for k, v in results.items()}
    for name, rs in results.items():
        per = [f"{r[0]:.3f}" for r in rs]
        print(f"{name}: {medians[name]:.3f} s CPU median ({', '.join(per)}), {rs[0][2]:,} outputs")
    same = {r[1] for rs in results.values() for r in rs}
    print(
        f"{len(inputs):,} inputs; ratio work tree / {ref}: {medians['work tree'] / medians[ref]:.3f}"
        f"; outputs identical: {len(same) == 1}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-ref", default=BASE_REF)
    args = parser.parse_args()
    main(args.runs, args.baseline_ref)
