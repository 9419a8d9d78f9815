"""Shared fixtures: one real Kafka broker per test session, per-test topic prefixes, one chDB
store per session with a database per test.

Broker choice (first that applies):
1. ``FUNDARB_BOOTSTRAP`` (or ``FUNDARB_BOOTSTRAP_SERVERS``) is set: use that cluster;
2. a Docker engine answers a ping: a testcontainers Kafka (KRaft);
3. otherwise the project's own local broker (:mod:`infra.kafka_local`) on a free port, with
   its data in a temp folder and the jar cache shared with ``fundarb infra up``.
"""

from __future__ import annotations

import decimal
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra import kafka_local
from infra.clickhouse import ClickHouseStore, open_chdb
from infra.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def docker_available() -> tuple[bool, str]:
    """Probe the Docker daemon itself, not the client binary."""
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:
        return False, f"no Docker engine answered a ping ({type(exc).__name__})"
    return True, "docker engine answered"


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    kind: str  # "external" | "testcontainers" | "local"


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A real Kafka broker for the whole session."""
    external = os.environ.get("FUNDARB_BOOTSTRAP") or os.environ.get("FUNDARB_BOOTSTRAP_SERVERS")
    if external:
        yield Broker(external, "external")
        return
    has_docker, _ = docker_available()
    if has_docker:
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield Broker(container.get_bootstrap_server(), "testcontainers")
        return
    port = kafka_local.free_port()
    settings = Settings(
        kafka_port=port,
        controller_port=kafka_local.free_port(),
        state_dir=tmp_path_factory.mktemp("kafka-state"),
        kafka_jars_dir=REPO / ".fundarb" / "kafka" / "jars",
        kafka_heap="768m",
    )
    status = kafka_local.up(settings)
    try:
        yield Broker(status.bootstrap, "local")
    finally:
        kafka_local.down(settings)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40]


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """A prefix no other test uses, so tests never see each other's data."""
    return f"t-{_slug(request.node.name)}-{uuid.uuid4().hex[:8]}."


@pytest.fixture
def kafka_settings(kafka_broker: Broker, topic_prefix: str) -> Settings:
    """Settings pointing at the session broker under this test's topic prefix."""
    return Settings(bootstrap_servers=kafka_broker.bootstrap, topic_prefix=topic_prefix)


@pytest.fixture(scope="session")
def chdb_session_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    """The session's one chDB folder (chDB allows one folder per process)."""
    store = open_chdb(tmp_path_factory.mktemp("chdb"), database="default")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def chdb_store(chdb_session_store: ClickHouseStore) -> Iterator[ClickHouseStore]:
    """A fresh database in the session's chDB folder, dropped afterwards."""
    store = chdb_session_store.database_view(f"t_{uuid.uuid4().hex[:12]}")
    try:
        yield store
    finally:
        chdb_session_store.execute(f"DROP DATABASE IF EXISTS {store.database}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by tier from their folder: tests/unit -> unit, and so on."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in ("unit", "property", "integration", "e2e"):
            if tier in parts:
                item.add_marker("unit" if tier == "property" else tier)


@pytest.fixture(autouse=True)
def _default_decimal_context() -> Iterator[None]:
    """Each test starts from the default decimal context: ccxt's number formatting sets the
    current context's rounding to ROUND_HALF_UP (and traps Underflow), which would otherwise
    leak from a venue-parser test into every later test's money math."""
    decimal.setcontext(decimal.Context())
    yield
