"""The backtest's replay in a second process, followed segment by segment (issue 18, item 5):
the simulation reads exactly the order one merge over the finished replay gives, and a failed
replay process is an error, not a hang."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench.common import FILES, START
from infra.kafka_io import create_topics
from infra.settings import Settings
from producers import history as h
from producers.replay import Segment, replay
from schemas.serde import Serializer
from streams.backtest import BacktestOptions, ReplayFailed, ReplayProcess, ordered_market_events

WINDOW = h.Window(START, START + 3 * 86_400_000, venues=frozenset({"binance", "bybit", "okx"}))


async def _listed(segments: list[Segment]) -> AsyncIterator[Segment]:
    for s in segments:
        yield s


async def _read(settings: Settings, segments: AsyncIterator[Segment] | None) -> list[str]:
    return [e.event_id async for e in ordered_market_events(settings, Serializer(), segments)]


def test_segments_concatenate_to_the_order_of_one_merge(kafka_settings: Settings) -> None:
    published: list[str] = []
    segments: list[Segment] = []

    async def go() -> tuple[list[str], list[str]]:
        await create_topics(kafka_settings)
        await replay(
            kafka_settings,
            h.plan(FILES, WINDOW),
            WINDOW,
            on_event=lambda e: published.append(e.event_id),
            on_segment=segments.append,
            segment_events=37,
            max_segment_events=37,
        )
        return await _read(kafka_settings, None), await _read(kafka_settings, _listed(segments))

    whole, segmented = asyncio.run(go())
    assert len(segments) > 15  # many cuts, each between two event times
    assert all(
        all(b.get(k, 0) >= v for k, v in a.items()) for a, b in itertools.pairwise(segments)
    )  # cumulative
    assert sum(segments[-1].values()) == len(published)
    assert segmented == whole == published  # the replay's own order, event for event


def test_the_replay_process_is_followed_segment_by_segment(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    opts = BacktestOptions(paths=list(FILES), window=WINDOW, out_dir=tmp_path, run_id="t")
    expected = [
        e.event_id for e in h.merged(h.plan(FILES, WINDOW)) if not isinstance(e, h.RejectedRow)
    ]

    async def go() -> list[str]:
        await create_topics(kafka_settings)
        proc = ReplayProcess(kafka_settings, opts)
        try:
            return await _read(kafka_settings, proc.segments())
        finally:
            proc.close()
            assert proc.report is not None and proc.report.events == len(expected)

    assert asyncio.run(go()) == expected


def test_a_failing_replay_process_raises_with_its_message(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-file.csv.gz"
    opts = BacktestOptions(paths=[missing], window=WINDOW, out_dir=tmp_path, run_id="t")

    async def go() -> None:
        await create_topics(kafka_settings)
        proc = ReplayProcess(kafka_settings, opts)
        try:
            await _read(kafka_settings, proc.segments())
        finally:
            proc.close()

    with pytest.raises(ReplayFailed, match="no-such-file"):
        asyncio.run(go())
