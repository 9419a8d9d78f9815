"""Helpers for benchmark scripts: repeat, summarise (median/min/max), print a row, save JSON."""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from producers.history import ReplayPlan
    from schemas.events import Event

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
#: The bundled finm33150 window (funding + hourly perp candles) the benchmarks slice.
FILES = [
    REPO / "data/funding/finm33150_2025-12-03_2026-03-07.csv.gz",
    REPO / "data/prices/finm33150_perp_ohlcv_1h_2025-12-02_2026-03-07.csv.gz",
]
START = 1764720000000  # 2025-12-03T00:00Z
#: Venues with candles over the whole slice (hyperliquid has none; lighter ends 2026-01-24).
VENUES = frozenset({"binance", "bybit", "okx", "kraken", "dydx", "lighter"})


def export_ref(ref: str, dest: Path, script: Path) -> None:
    """Write commit ``ref``'s tree into ``dest`` (``git archive``), with ``script`` copied over
    its own copy: the exported tree then measures itself with this script's current options.

    Raises ``subprocess.CalledProcessError`` if ``ref`` is unknown to the repository.
    """
    archive = subprocess.run(
        ["git", "archive", ref], cwd=REPO, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    (dest / "bench" / script.name).write_text(script.read_text())


def market_events(plan: ReplayPlan) -> Iterator[Event]:
    """The plan's merged events; raises ValueError on a refused row (the benchmarks' data,
    the bundled window, has none: a row refused there is a change to look at, not to time)."""
    from producers.history import RejectedRow, merged

    for item in merged(plan):
        if isinstance(item, RejectedRow):
            raise ValueError(f"the benchmark data has a refused row: {item}")
        yield item


def rate(fn: Callable[[], int], repeats: int = 7) -> dict[str, float]:
    """Run ``fn`` (which returns items processed) ``repeats`` times; items/s median/min/max."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - start))
    return {
        "median": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "runs": repeats,
    }


def summarise(rates: list[float]) -> dict[str, float]:
    """Median, min and max of per-run rates."""
    return {
        "median": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "runs": len(rates),
    }


def row(
    stage: str, figure: dict[str, float], baseline: dict[str, float] | None, target: float | None
) -> dict[str, Any]:
    ratio = figure["median"] / baseline["median"] if baseline else None
    verdict = "" if target is None or ratio is None else ("met" if ratio >= target else "MISSED")
    line = f"{stage:<34} {figure['median']:>12,.0f}/s  (min {figure['min']:,.0f}, max {figure['max']:,.0f})"
    if baseline:
        line += f"  baseline {baseline['median']:>12,.0f}/s  ratio {ratio:.0%}"
        if target is not None:
            line += f"  target >= {target:.0%} {verdict}"
    print(line)
    return {
        "stage": stage,
        "figure": figure,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
    }


def save(name: str, rows: list[dict[str, Any]]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    path = RESULTS / f"{stamp}-{name}.json"
    path.write_text(
        json.dumps(
            {"machine": platform.platform(), "python": platform.python_version(), "rows": rows},
            indent=2,
        )
    )
    return path


def broker() -> Any:
    """A context manager yielding bootstrap servers: FUNDARB_BOOTSTRAP, else a local broker
    on a free port (stopped afterwards)."""
    import contextlib
    import os
    import tempfile

    @contextlib.contextmanager
    def run() -> Any:
        external = os.environ.get("FUNDARB_BOOTSTRAP")
        if external:
            yield external
            return
        from infra import kafka_local
        from infra.settings import Settings

        repo = Path(__file__).resolve().parents[1]
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                kafka_port=kafka_local.free_port(),
                controller_port=kafka_local.free_port(),
                state_dir=Path(tmp),
                kafka_jars_dir=repo / ".fundarb" / "kafka" / "jars",
            )
            status = kafka_local.up(settings)
            try:
                yield status.bootstrap
            finally:
                kafka_local.down(settings)

    return run()
