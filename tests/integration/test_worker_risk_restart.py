"""The risk agent's open breakers live in a changelog-backed table: a worker killed (SIGKILL)
after a margin breaker tripped still honours it when restarted, and the venue that tripped it
still resets it (an in-memory dict forgot it: the engine stayed paused for ever)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from infra.kafka_io import create_topics
from infra.settings import Settings
from schemas import events as ev
from schemas.types import Breaker
from tests import stubs
from tests.market import T0, H, two_venue_history
from tests.worker_proc import WorkerProc, events, publish, wait_for


def _balance(label: str, margin_ratio: str, t: int) -> ev.BalanceObserved:
    return stubs.balance_observed(
        event_id=stubs.eid(label),
        event_time=t,
        ingest_time=t,
        margin_ratio=Decimal(margin_ratio),
    )


async def _breakers(settings: Settings, kind: type[ev.Event]) -> list[ev.Event]:
    return [
        e
        for e in await events(settings, "risk.events")
        if isinstance(e, kind) and e.breaker is Breaker.margin_ratio  # type: ignore[attr-defined]
    ]


@pytest.mark.parametrize("store", ["rocksdb://", "memory://"])
def test_a_margin_breaker_tripped_before_a_kill_is_honoured_and_reset_after_the_restart(
    kafka_settings: Settings, tmp_path: Path, store: str
) -> None:
    async def run() -> None:
        await create_topics(kafka_settings)
        # memory:// reads the changelogs with Faust's fetcher running: the restart stall's
        # path (docs/reliability.md, "Restart stall"); rocksdb:// reads nothing on recovery
        store_env = {"FUNDARB_TABLE_STORE": store}
        worker = WorkerProc(kafka_settings, tmp_path / "w", store_env)
        worker.start()
        try:
            # binance's margin ratio 0.9 ≥ max_margin_ratio 0.8: force exits everywhere
            await publish(kafka_settings, [_balance("hot", "0.9", T0 - H)])
            (trip,) = await wait_for(
                lambda: _breakers(kafka_settings, ev.BreakerTripped),
                90,
                "the margin trip",
                log=worker.log,
            )
            assert trip.instrument == "ALL"
            # the engine folded the trip: the worker's fold of risk.events is idle
            await asyncio.to_thread(worker.wait_idle, 1)
            await asyncio.sleep(2.0)  # Faust flushes the risk table's changelog write
            worker.kill()
            worker.start()
            # a spread that opens an arb when nothing blocks it (the entry test's history)
            history = two_venue_history(n=2)
            await publish(kafka_settings, history)
            await asyncio.to_thread(worker.wait_idle, len(history))
            intents = await events(kafka_settings, "strategy.intents")
            assert not [e for e in intents if isinstance(e, ev.TargetPositionSet)], intents

            # the same venue's healthy balance resets it: the restarted agent knew it was open
            await publish(kafka_settings, [_balance("cool", "0.1", T0 + 9 * H)])
            (reset,) = await wait_for(
                lambda: _breakers(kafka_settings, ev.BreakerReset), 90, "the reset", worker.log
            )
            assert reset.instrument == "ALL"
            assert len(await _breakers(kafka_settings, ev.BreakerTripped)) == 1  # not re-tripped
        finally:
            worker.stop()

    asyncio.run(run())
