"""The worker's record handling applies the simulation's rule: every market event stamped ``t``
is folded before any decision at ``t`` (driven without Faust: records in, sends out)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

from infra.settings import load_settings
from schemas.events import Event, PlaceOrder, TickerObserved
from schemas.serde import Serializer
from streams.worker import ENGINE_INPUTS, EngineWorker
from tests.market import T0, H
from tests.unit.test_simulation import CFG, stale_quote_history


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp: int


def _outputs(events: list[tuple[str, Event]]) -> list[Event]:
    settings = load_settings(topic_prefix="t-")
    serializer = Serializer()
    sent: list[Event] = []

    async def send(topic: str, key: bytes, value: bytes, ts: int) -> Any:
        sent.append(serializer.decode(value))
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    async def persist(asset: str, blob: bytes, origin: Any) -> None:
        return None

    async def ack() -> None:
        return None

    async def run() -> None:
        worker = EngineWorker(settings, CFG, send=send, persist=persist)
        worker.restore([])
        counts = {name: sum(1 for n, _ in events if n == name) for name in ENGINE_INPUTS}
        for name in ENGINE_INPUTS:
            worker.start[(settings.topic(name), 0)] = 0
            worker.ends[(settings.topic(name), 0)] = counts[name]
        offsets = dict.fromkeys(ENGINE_INPUTS, 0)
        for name, event in events:
            record = Record(
                settings.topic(name),
                0,
                offsets[name],
                event.key.encode(),
                serializer.encode(event),
                event.event_time,
            )
            offsets[name] += 1
            await worker.on_record(record, ack)
        await worker.flush()

    asyncio.run(run())
    return sent


def test_a_decision_at_t_sees_every_quote_stamped_t_in_the_worker_too() -> None:
    t1 = T0 + 8 * H
    history = stale_quote_history()
    sent = _outputs(
        [("md.tickers" if isinstance(e, TickerObserved) else "md.funding", e) for e in history]
    )
    orders = [e for e in sent if isinstance(e, PlaceOrder)]
    assert orders, "the spread at t1 opens an arb"
    first = orders[0]
    assert first.venue == "bybit" and first.event_time == t1
    # priced off bybit's t1 ask (110.01), not its 100.01 of an hour before
    assert first.limit_price is not None and first.limit_price > D("109")
