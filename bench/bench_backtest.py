"""The main job: the bundled window backtest, wall time and events/s, beside its stages alone.

Stages measured alone in the same run, on the same events: the replay into Kafka
(``producers.replay``) and the engine + paper venue in-process (``Simulation``, no Kafka).
The backtest additionally reads the topics back in event-time order, publishes every output
and computes the digest; the audit is left out here (``bench_audit.py`` measures it).
Since issue 18 the backtest's replay runs in a second process and the simulation follows it
segment by segment, so its "replay + simulation" phase (from the replay's start to the end
of the simulation, timed through the backtest's progress callbacks) can be shorter than the
two stages alone added up; that phase is the figure the < 15 s target is about.

    python bench/bench_backtest.py [--runs 5]   (FUNDARB_BOOTSTRAP or a local broker)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncio

from bench.common import broker, market_events, save, summarise
from infra.kafka_io import create_topics
from infra.settings import Settings
from producers import history as h
from producers.replay import replay
from schemas.config import StrategyConfig
from streams.backtest import BacktestOptions, Progress, run_backtest
from streams.cli import DEFAULT_DATA
from streams.simulation import Simulation

REFS = {"hyperliquid": "binance"}


def main(bootstrap: str, runs: int) -> None:
    window = h.Window(0, 2**62)
    config = StrategyConfig()
    walls, replays, sims, phases = [], [], [], []
    events = 0
    for i in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                bootstrap_servers=bootstrap, topic_prefix=f"bb-{uuid.uuid4().hex[:6]}."
            )
            opts = BacktestOptions(
                paths=list(DEFAULT_DATA),
                window=window,
                out_dir=Path(tmp),
                run_id=f"bench-{i}",
                config=config,
                reference_prices=REFS,
                audit=False,
            )
            marks: dict[str, float] = {}

            def phase(name: str, marks: dict[str, float] = marks) -> None:
                marks.setdefault(name, time.perf_counter())

            start = time.perf_counter()
            summary = run_backtest(settings, opts, Progress(on_phase=phase))
            walls.append(time.perf_counter() - start)
            phases.append(marks["digest"] - marks["replay + simulate"])
            events = summary.events_in
        # stage alone: replay into fresh topics
        settings = Settings(bootstrap_servers=bootstrap, topic_prefix=f"bb-{uuid.uuid4().hex[:6]}.")
        plan = h.plan(list(DEFAULT_DATA), window, reference_prices=REFS)
        asyncio.run(create_topics(settings))
        start = time.perf_counter()
        asyncio.run(replay(settings, plan, window))
        replays.append(time.perf_counter() - start)
        # stage alone: the engine and paper venue over the same merged events, in memory
        market = list(market_events(h.plan(list(DEFAULT_DATA), window, reference_prices=REFS)))
        sim = Simulation(config)
        start = time.perf_counter()
        for e in market:
            sim.feed(e)
        sim.finish()
        sims.append(time.perf_counter() - start)
        print(
            f"  run {i + 1}: backtest {walls[-1]:.1f} s (replay + simulation {phases[-1]:.1f} s), "
            f"replay alone {replays[-1]:.1f} s, "
            f"engine alone {sims[-1]:.1f} s"
        )
    wall = summarise(walls)
    stages = summarise([r + s for r, s in zip(replays, sims, strict=True)])
    rate = summarise([events / w for w in walls])
    print(
        f"backtest: {events:,} events, {wall['median']:.1f} s median "
        f"({rate['median']:,.0f} events/s); replay + engine alone: {stages['median']:.1f} s "
        f"(overhead {wall['median'] / stages['median']:.2f}x); the backtest's replay + "
        f"simulation phase {summarise(phases)['median']:.1f} s (target < 15 s)"
    )
    rows = [
        {
            "stage": "backtest (bundled window)",
            "figure": {
                "wall_s": wall,
                "events_per_s": rate,
                "events": events,
                "replay_and_simulation_s": summarise(phases),
            },
            "baseline": {
                "stages_alone_s": stages,
                "replay_s": summarise(replays),
                "engine_s": summarise(sims),
            },
            "ratio": stages["median"] / wall["median"],
            "target": None,
        }
    ]
    print(f"saved {save('backtest', rows)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with broker() as bootstrap:
        main(bootstrap, args.runs)
