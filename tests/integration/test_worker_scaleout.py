"""Scale-out (issue 20): ``fundarb backtest --engine worker`` with 2 workers in one consumer
group over the 4 asset partitions, one of them killed with SIGKILL mid-run and restarted,
takes the decisions of 1 worker: same ``output_digest``, no client order id used for two
different orders, net delta 0 at the end."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from infra.settings import Settings
from schemas import events as ev
from schemas.types import base_asset
from streams.backtest import prepare
from streams.worker_backtest import WorkerBacktestSummary, run_backtest_on_workers, start_worker
from tests.integration.test_worker_backtest import _opts
from tests.worker_proc import events

#: three days of the bundled data (two arbs opened and hedged with config/strategy.toml)
START, END = "2026-01-05", "2026-01-08"


def _run(settings: Settings, out: Path, workers: int, chaos: Any = None) -> WorkerBacktestSummary:
    opts = _opts(out, START, END)
    return run_backtest_on_workers(settings, opts, prepare(opts), workers=workers, chaos=chaos)


def test_two_workers_one_killed_and_restarted_decide_as_one(
    kafka_settings: Settings, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("FUNDARB_WORKER_SESSION_TIMEOUT_S", "6")  # the dead member leaves sooner
    prefix = kafka_settings.topic_prefix
    one = _run(
        kafka_settings.model_copy(update={"topic_prefix": prefix + "one."}), tmp_path / "1", 1
    )
    assert one.digest_records["orders.commands"] > 0  # the slice trades

    home = tmp_path / "2" / "workers"
    killed: list[int] = []

    def chaos(procs: list[subprocess.Popen[bytes]], counts: dict[str, int]) -> None:
        # once the first orders went out: SIGKILL worker 0 (no flush, no commit) and start it
        # again; its partitions move to worker 1, then back in the next rebalance
        if not killed and counts.get("commands", 0) >= 1:
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait(30)
            killed.append(procs[0].returncode)
            procs[0] = start_worker(two_settings, home, 0)

    two_settings = kafka_settings.model_copy(update={"topic_prefix": prefix + "two."})
    two = _run(two_settings, tmp_path / "2", 2, chaos)
    assert killed == [-signal.SIGKILL]
    assert two.digest_records == one.digest_records
    assert two.output_digest == one.output_digest

    places = [e for e in asyncio.run(events(two_settings, "orders.commands"))]
    by_cid: dict[str, set[str]] = defaultdict(set)
    for p in places:
        if isinstance(p, ev.PlaceOrder):
            by_cid[p.client_order_id].add(p.model_dump_json())
    assert by_cid and all(len(v) == 1 for v in by_cid.values()), by_cid  # re-sends are copies
    fills = {
        f.fill_id: f
        for f in asyncio.run(events(two_settings, "acct.fills"))
        if isinstance(f, ev.FillExecuted)
    }
    delta: dict[str, Decimal] = defaultdict(Decimal)
    for f in fills.values():
        delta[base_asset(f.instrument)] += f.qty if f.side == "buy" else -f.qty
    assert delta and all(q == 0 for q in delta.values()), dict(delta)
