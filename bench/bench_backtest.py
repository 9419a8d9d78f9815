"""The main job: the bundled window backtest, wall time and events/s, beside its stages alone.

Stages measured alone in the same run, on the same events: the replay into Kafka
(``producers.replay``) and the engine + paper venue in-process (``Simulation``, no Kafka).
The backtest additionally reads the topics back in event-time order, publishes every output
and computes the digest; the audit is left out here (``bench_audit.py`` measures it).
Since issue 18 the backtest's replay runs in a second process and the simulation follows it
segment by segment, so its "replay + simulation" phase (from the replay's start to the end
of the simulation, timed through the backtest's progress callbacks) can be shorter than the
two stages alone added up; that phase is the figure the < 15 s target is about. The digest
phase (reading the decision topics back) and writing the report are timed apart. CPU seconds
(the backtest's process during the phase, its replay process, each stage alone) say what the
phase would take on free cores, whatever the machine's load: about the larger of the first two.

    python bench/bench_backtest.py [--runs 5]   (FUNDARB_BOOTSTRAP or a local broker)
"""

from __future__ import annotations

import argparse
import resource
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


def _children_cpu() -> float:
    """CPU seconds of this process's finished (joined) children: the backtest's replay."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(bootstrap: str, runs: int) -> None:
    window = h.Window(0, 2**62)
    config = StrategyConfig()
    walls, replays, sims, phases, digests, reports = [], [], [], [], [], []
    # CPU seconds: the backtest's own process during the phase, its replay process, and the
    # stages alone (on free cores the phase takes about the larger of the first two)
    cpu: dict[str, list[float]] = {"phase": [], "replay_child": [], "replay": [], "engine": []}
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
            cpu_marks: dict[str, float] = {}

            def phase(
                name: str, marks: dict[str, float] = marks, cpu_marks: dict[str, float] = cpu_marks
            ) -> None:
                marks.setdefault(name, time.perf_counter())
                cpu_marks.setdefault(name, time.process_time())

            children = _children_cpu()
            start = time.perf_counter()
            summary = run_backtest(settings, opts, Progress(on_phase=phase))
            end = time.perf_counter()
            cpu["replay_child"].append(_children_cpu() - children)
            cpu["phase"].append(cpu_marks["digest"] - cpu_marks["replay + simulate"])
            walls.append(end - start)
            phases.append(marks["digest"] - marks["replay + simulate"])
            digests.append(marks["writing the report"] - marks["digest"])
            reports.append(end - marks["writing the report"])
            events = summary.events_in
        # stage alone: replay into fresh topics
        settings = Settings(bootstrap_servers=bootstrap, topic_prefix=f"bb-{uuid.uuid4().hex[:6]}.")
        plan = h.plan(list(DEFAULT_DATA), window, reference_prices=REFS)
        asyncio.run(create_topics(settings))
        start, cpu0 = time.perf_counter(), time.process_time()
        asyncio.run(replay(settings, plan, window))
        replays.append(time.perf_counter() - start)
        cpu["replay"].append(time.process_time() - cpu0)
        # stage alone: the engine and paper venue over the same merged events, in memory
        market = list(market_events(h.plan(list(DEFAULT_DATA), window, reference_prices=REFS)))
        sim = Simulation(config)
        start, cpu0 = time.perf_counter(), time.process_time()
        for e in market:
            sim.feed(e)
        sim.finish()
        sims.append(time.perf_counter() - start)
        cpu["engine"].append(time.process_time() - cpu0)
        print(
            f"  run {i + 1}: backtest {walls[-1]:.1f} s (replay + simulation {phases[-1]:.1f} s, "
            f"digest {digests[-1]:.1f} s, report {reports[-1]:.1f} s), "
            f"replay alone {replays[-1]:.1f} s, "
            f"engine alone {sims[-1]:.1f} s; CPU: phase {cpu['phase'][-1]:.1f} s in the backtest "
            f"+ {cpu['replay_child'][-1]:.1f} s in its replay process, replay alone "
            f"{cpu['replay'][-1]:.1f} s, engine alone {cpu['engine'][-1]:.1f} s"
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
                "digest_s": summarise(digests),
                "report_s": summarise(reports),
                "phase_cpu_s": summarise(cpu["phase"]),
                "replay_process_cpu_s": summarise(cpu["replay_child"]),
            },
            "baseline": {
                "stages_alone_s": stages,
                "replay_s": summarise(replays),
                "engine_s": summarise(sims),
                "replay_cpu_s": summarise(cpu["replay"]),
                "engine_cpu_s": summarise(cpu["engine"]),
            },
            "ratio": stages["median"] / wall["median"],
            "target": None,
            "key": "backtest",
        }
    ]
    print(f"saved {save('backtest', rows)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with broker() as bootstrap:
        main(bootstrap, args.runs)
