"""`fundarb audit` as a user runs it: two runs in one chDB folder, each reports its own rows."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from infra.kafka_io import EventProducer, create_topics
from infra.settings import Settings
from tests import stubs
from tests.conftest import Broker

REPO = Path(__file__).resolve().parents[2]


def _audit(broker: Broker, chdb: Path, prefix: str) -> subprocess.CompletedProcess[str]:
    # a subprocess: chDB allows one folder per process, and the test session may hold another
    env = {
        **os.environ,
        "FUNDARB_BOOTSTRAP": broker.bootstrap,
        "FUNDARB_CLICKHOUSE_PATH": str(chdb),
        "COLUMNS": "220",
    }
    env.pop("FUNDARB_CLICKHOUSE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "audit", "--prefix", prefix, "--drain"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def _publish(broker: Broker, prefix: str, n: int) -> None:
    settings = Settings(bootstrap_servers=broker.bootstrap, topic_prefix=prefix)
    await create_topics(settings)
    async with EventProducer(settings) as p:
        await p.send_many([stubs.funding_observed(event_time=stubs.T0 + i) for i in range(n)])


def test_audit_reports_the_current_runs_rows_and_labels_the_total(
    kafka_broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    first, second = f"{topic_prefix}a.", f"{topic_prefix}b."
    asyncio.run(_publish(kafka_broker, first, 3))
    asyncio.run(_publish(kafka_broker, second, 2))
    chdb = tmp_path / "chdb"

    one = _audit(kafka_broker, chdb, first)
    assert one.returncode == 0, one.stderr
    two = _audit(kafka_broker, chdb, second)
    assert two.returncode == 0, two.stderr

    def rows(out: str) -> tuple[int, int]:
        m = re.search(r"holds (\d+) rows of run \S+ \((\d+) rows across all runs\)", out)
        assert m, out
        return int(m.group(1)), int(m.group(2))

    # the second run's audit counts its own 2 rows, not the 5 of both runs
    assert "audited 2 records" in two.stdout and rows(two.stdout) == (2, 5)
    assert "audited 3 records" in one.stdout and rows(one.stdout) == (3, 3)
    assert first.rstrip(".") in one.stdout and second.rstrip(".") in two.stdout
