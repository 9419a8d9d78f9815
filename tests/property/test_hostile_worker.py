"""Property: whatever poison records land among valid ones, wherever they land, the worker's
record handling dead-letters each exactly once, never raises, and folds the valid records to
the same outputs as a clean run (the same generators the hostile suite puts on the real
broker: tests/hostile.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.catalog import topic_for
from schemas.events import Event, EventRejected
from tests.hostile import Poison, all_poisons
from tests.market import T0, H, two_venue_history
from tests.unit.test_worker_faults import Harness, Record

POISONS = all_poisons(T0 + 4 * H)
VALID = two_venue_history(n=4)


def _run(stream: list[Event | Poison]) -> tuple[list[Event], list[EventRejected], Harness]:
    h = Harness()

    async def go() -> None:
        for item in stream:
            if isinstance(item, Poison):
                name = item.topic
                value, key = item.value, item.key
                ts = item.timestamp_ms if item.timestamp_ms is not None else T0 + 4 * H
            else:
                name = topic_for(type(item)).name
                value, key, ts = h.serializer.encode(item), item.key.encode(), item.event_time
            offset = h.offsets[name]
            h.offsets[name] += 1
            h.worker.ends[(h.settings.topic(name), 0)] = offset + 1
            rec: Any = Record(h.settings.topic(name), 0, offset, key, value, ts)
            await h.worker.on_record(rec, h._ack)
        await h.worker.release()
        await h.worker.flush()

    asyncio.run(go())
    outputs = [e for _, e in h.sent if not isinstance(e, EventRejected)]
    return outputs, h.dead(), h


CLEAN, _, _ = _run(list(VALID))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_poison_anywhere_is_dead_lettered_once_and_valid_outputs_are_unchanged(
    rng: Any,
) -> None:
    # valid records keep their order per topic; poisons land at random places among them
    stream: list[Event | Poison] = list(VALID)
    for poison in POISONS:
        stream.insert(rng.randint(0, len(stream)), poison)
    outputs, dead, h = _run(stream)
    assert [e.event_id for e in outputs] == [e.event_id for e in CLEAN]
    assert len(dead) == len(POISONS)
    sources = {(d.source_topic.removeprefix("engine:"), d.source_offset) for d in dead}
    assert len(sources) == len(POISONS)  # each poison exactly once
    assert h.acked == len(stream)  # every record acked (bad ones as dead-lettered)
    assert all(d.reason and d.error_type for d in dead)
