"""Work per tenth of the bundled window: why the fold's last tenth costs more than its first.

Counts, per tenth of the market events, the reactions (``engine.react``), the account events
folded (``engine.handle``: fills, funding payments, order events), the leg views and pair
quotes computed (``leg_view`` calls: since issue 18's fourth round ``candidate_pairs`` takes
a still-valid cached view inline, so these are views built or checked outside that path),
the outputs, and the feeds on the boards; prints CPU µs/event beside them
(inflated by the counting wrappers: compare tenths, not runs). No broker needed.

    python bench/profile_engine_tenths.py
"""

from __future__ import annotations

import collections
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from producers import history as h
from projections import board as bd
from projections import engine as eng
from schemas.config import StrategyConfig
from streams.cli import DEFAULT_DATA
from streams.simulation import Simulation

REFS = {"hyperliquid": "binance"}


def _count(counts: collections.Counter[str], module: Any, name: str) -> None:
    f: Callable[..., Any] = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        counts[name] += 1
        return f(*args, **kwargs)

    setattr(module, name, counted)  # module globals: the callers look the name up each call


def main() -> None:
    market = list(h.merged(h.plan(list(DEFAULT_DATA), h.Window(0, 2**62), reference_prices=REFS)))
    counts: collections.Counter[str] = collections.Counter()
    for module, name in [(bd, "_quote"), (bd, "leg_view"), (eng, "react"), (eng, "handle")]:
        _count(counts, module, name)

    def on_output(_: object) -> None:
        counts["outputs"] += 1

    sim = Simulation(StrategyConfig(), on_output=on_output)
    tenth = len(market) // 10
    start, before = time.process_time(), counts.copy()
    for i, event in enumerate(market, 1):
        sim.feed(event)  # type: ignore[arg-type]
        if i % tenth == 0 and i // tenth <= 10:
            now, d = time.process_time(), counts - before
            feeds = sum(len(b.funding) + len(b.tickers) for b in sim.state.boards.values())
            print(
                f"tenth {i // tenth:2}: {(now - start) / tenth * 1e6:6.1f} µs/event CPU, "
                f"reactions {d['react']:5}, account events {d['handle']:5}, "
                f"leg views {d['leg_view']:6}, pair quotes {d['_quote']:6}, "
                f"outputs {d['outputs']:5}, feeds {feeds}, "
                f"arbs {len(sim.state.strategy.arbs)} (live {len(sim.state.strategy.live())})"
            )
            start, before = now, counts.copy()


if __name__ == "__main__":
    main()
