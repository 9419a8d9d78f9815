"""`fundarb topics create | describe` as a user runs them."""

import os
import subprocess
from pathlib import Path

from tests.conftest import Broker
from tests.e2e.cli import fundarb

REPO = Path(__file__).resolve().parents[2]


def _cli(broker: Broker, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FUNDARB_BOOTSTRAP": broker.bootstrap, "COLUMNS": "220"}
    return fundarb(list(args), env)


def test_topics_create_twice_then_describe(kafka_broker: Broker, topic_prefix: str) -> None:
    first = _cli(kafka_broker, "topics", "create", "--prefix", topic_prefix)
    assert first.returncode == 0, first.stderr
    assert "created 13 topic(s), 0 already existed" in first.stdout
    second = _cli(kafka_broker, "topics", "create", "--prefix", topic_prefix)
    assert "created 0 topic(s), 13 already existed" in second.stdout
    described = _cli(kafka_broker, "topics", "describe", "--prefix", topic_prefix)
    assert described.returncode == 0, described.stderr
    line = next(
        ln for ln in described.stdout.splitlines() if f"{topic_prefix}derived.spreads" in ln
    )
    assert "compact" in line and "yes" in line and "SpreadUpdated" in line


def test_unreachable_broker_is_a_clear_error() -> None:
    res = _cli(Broker("127.0.0.1:1", "external"), "topics", "describe")
    assert res.returncode == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in res.stderr
    assert "Traceback" not in res.stderr
