"""Run ``fundarb worker`` as a real subprocess (so kill -9 is a real kill) and a venue double."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from infra import kafka_local
from infra.kafka_io import EventProducer, read_topics
from infra.settings import Settings
from schemas import events as ev
from schemas.serde import Serializer
from schemas.types import Liquidity
from streams.worker import status_path

REPO = Path(__file__).resolve().parents[1]
WORKER_CONFIG = """\
[entry]
max_break_even_h = "96"
min_net_apr = "0.10"
"""


@dataclass
class WorkerProc:
    """One ``fundarb worker`` process for a run (prefix); state and logs under ``home``."""

    settings: Settings
    home: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    config: str = WORKER_CONFIG  # strategy TOML the worker runs with
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    #: the source tree the worker runs from (a benchmark's baseline: an exported older commit)
    repo: Path = REPO

    def start(self, **env: str) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        cfg = self.home / "strategy.toml"
        cfg.write_text(self.config)
        full = {
            **os.environ,
            "FUNDARB_BOOTSTRAP": self.settings.bootstrap,
            "FUNDARB_STATE_DIR": str(self.home / "state"),
            "FUNDARB_WORKER_SESSION_TIMEOUT_S": "6",
            "PYTHONPATH": str(self.repo),
            **self.extra_env,
            **env,
        }
        self.starts += 1
        log = (self.home / f"worker-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streams.cli",
                "worker",
                "--prefix",
                self.settings.topic_prefix,
                "--config",
                str(cfg),
                "--loglevel",
                # the log is printed when a wait times out; FUNDARB_TEST_WORKER_LOGLEVEL=debug
                # to see a stall's partition sets (docs/reliability.md, "Restart stall")
                os.environ.get("FUNDARB_TEST_WORKER_LOGLEVEL", "info"),
            ],
            cwd=self.repo,
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    @property
    def status_file(self) -> Path:
        return status_path(self.settings.model_copy(update={"state_dir": self.home / "state"}))

    def status(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.status_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if self.proc is None or data.get("pid") != self.proc.pid:
            return None  # a previous process's file
        return data  # type: ignore[no-any-return]

    def wait(
        self, until: Any, timeout: float = 90.0, what: str = "worker condition"
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            st = self.status()
            if st is not None and until(st):
                return st
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; status {self.status()}\n{self.log()}")

    def wait_idle(self, min_folded: int = 0, timeout: float = 90.0) -> dict[str, Any]:
        return self.wait(lambda s: s["idle"] and s["folded"] >= min_folded, timeout, "idle")

    def log(self) -> str:
        logs = sorted(self.home.glob("worker-*.log"))
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flush, no commit."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def records(settings: Settings, *topics: str) -> list[tuple[str, int, Any]]:
    """Every record of the run's ``topics`` (catalog names) in (topic, partition, offset)."""
    names = {settings.topic(t): t for t in topics}
    return [(names[t], p, r) async for t, p, r in read_topics(settings.bootstrap, list(names))]


async def events(settings: Settings, *topics: str) -> list[ev.Event]:
    s = Serializer()
    return [s.decode(r.value) for _, _, r in await records(settings, *topics)]


async def publish(settings: Settings, items: list[ev.Event]) -> None:
    async with EventProducer(settings) as producer:
        await producer.send_many(items)


def answer(cmd: ev.PlaceOrder, price: Decimal) -> list[ev.Event]:
    """What a venue answers to a PlaceOrder it fills completely, 20 ms later (ids derive from
    the client order id: a duplicate answer is recognisably the same)."""
    t = cmd.event_time + 20
    ns = uuid.UUID("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0")
    env = {
        "event_time": t,
        "ingest_time": t,
        "venue": cmd.venue,
        "instrument": cmd.instrument,
        "correlation_id": cmd.arb_id,
        "causation_id": cmd.event_id,
    }
    return [
        ev.OrderAccepted(
            event_id=str(uuid.uuid5(ns, f"acc/{cmd.client_order_id}")),
            client_order_id=cmd.client_order_id,
            order_id=f"o-{cmd.client_order_id}",
            **env,
        ),  # type: ignore[arg-type]
        ev.FillExecuted(
            event_id=str(uuid.uuid5(ns, f"fill/{cmd.client_order_id}")),
            fill_id=f"f-{cmd.client_order_id}",
            order_id=f"o-{cmd.client_order_id}",
            client_order_id=cmd.client_order_id,
            side=cmd.side,
            qty=cmd.qty,
            price=price,
            fee=Decimal(0),
            fee_currency="USDT",
            liquidity=Liquidity.taker,
            is_hedge=cmd.is_hedge,
            **env,
        ),  # type: ignore[arg-type]
    ]


async def wait_for(
    check: Any, timeout: float = 60.0, what: str = "condition", log: Any = None
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{log()}" if log else ""))


def own_broker_settings(home: Path) -> Settings:
    """Settings of a throwaway local broker under ``home`` that a test may stop and start
    (outage tests), on free ports, whatever ``FUNDARB_BOOTSTRAP`` says (CI sets it)."""
    return Settings(
        bootstrap_servers=None,
        kafka_port=kafka_local.free_port(),
        controller_port=kafka_local.free_port(),
        state_dir=home,
        kafka_jars_dir=REPO / ".fundarb" / "kafka" / "jars",
        kafka_heap="512m",
    )
