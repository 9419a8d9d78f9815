"""Profile the slowest stage (the engine fold) with pyinstrument on the bundled 15-day slice.

python bench/profile_engine.py        (prints the call tree; no broker needed)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyinstrument import Profiler

from bench.bench_worker import WINDOW
from bench.common import FILES, market_events
from producers import history as h
from schemas.config import StrategyConfig
from streams.simulation import Simulation


def main() -> None:
    market = list(market_events(h.plan(FILES, WINDOW)))
    sim = Simulation(StrategyConfig())
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for event in market:
        sim.feed(event)
    sim.finish()
    profiler.stop()
    print(f"{len(market):,} market events folded")
    print(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main()
