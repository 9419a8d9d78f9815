"""The audit sink of another commit against the work tree's, interleaved in one process.

Wall-time ratios of runs made minutes apart swing 2-3x on the shared machine; running both
sinks alternately on the same records, broker and chDB (plus the raw Arrow insert baseline
of ``bench_audit.py``) makes their figures comparable. The other commit's
``consumers/audit.py`` is loaded from git (``git show REF:consumers/audit.py``) beside the
work tree's; everything else (serializer, store, broker client) is the work tree's.

    python bench/bench_audit_ab.py main --rounds 4   (FUNDARB_BOOTSTRAP or a local broker)
"""

from __future__ import annotations

import asyncio
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_audit import N, _Record, first_events, published
from bench.common import broker
from consumers import audit as work_tree
from infra.clickhouse import open_chdb
from schemas.serde import Serializer

REPO = Path(__file__).resolve().parents[1]


def load_audit(ref: str, folder: Path) -> ModuleType:
    """``consumers/audit.py`` as of ``ref``, imported as module ``audit_at_ref``."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{ref}:consumers/audit.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = folder / "audit_at_ref.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("audit_at_ref", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_at_ref"] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


async def run(bootstrap: str, ref: str, rounds: int) -> None:
    events = first_events()
    ser = Serializer()
    wall: dict[str, list[float]] = {ref: [], "work tree": [], "raw insert": []}
    cpu: dict[str, list[float]] = {ref: [], "work tree": []}
    with tempfile.TemporaryDirectory() as tmp:
        sinks = {ref: load_audit(ref, Path(tmp)), "work tree": work_tree}
        store = open_chdb(Path(tmp) / "ch", database="bench")
        for i in range(rounds):
            order = list(sinks.items()) if i % 2 == 0 else list(reversed(sinks.items()))
            for name, sink in order:
                settings = await published(bootstrap, events, ser)
                db = store.database_view(f"r{i}_{'ref' if sink is not work_tree else 'wt'}")
                sink.apply_ddl(db)
                c0, t0 = time.process_time(), time.perf_counter()
                result = await sink.audit_topics(settings, store=db, drain=True)
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
                if result.records != N:
                    raise RuntimeError(f"{name}: {result.records} records, expected {N}")
            batch = work_tree.AuditBatch(ser, settings.topic_prefix)
            for n, e in enumerate(events):
                batch.add(
                    _Record(settings.topic("md.tickers"), 0, n, e.key.encode(), ser.encode(e))
                )
            table = batch.arrow("events_raw")
            base_db = store.database_view(f"base_{i}")
            work_tree.apply_ddl(base_db)
            t0 = time.perf_counter()
            base_db.insert_arrow("events_raw", table)
            wall["raw insert"].append(time.perf_counter() - t0)
        store.close()
    base = statistics.median(wall["raw insert"])
    print(f"{N:,} events, {rounds} interleaved rounds")
    for name, times in wall.items():
        line = f"{name:<12} wall median {statistics.median(times) * 1000:7.0f} ms"
        if name in cpu:
            line += (
                f"  CPU median {statistics.median(cpu[name]) * 1000:5.0f} ms"
                f"  ratio to the raw insert {base / statistics.median(times):.1%}"
            )
        print(line)


def main(
    ref: str = typer.Argument("main", help="git ref whose consumers/audit.py to compare"),
    rounds: int = typer.Option(4, min=1),
) -> None:
    """Interleave the sink at REF and the work tree's on the same 20,000 events."""
    with broker() as bootstrap:
        asyncio.run(run(bootstrap, ref, rounds))


if __name__ == "__main__":
    typer.run(main)
