"""The memory:// restart stall's mechanism on the real broker and the pinned aiokafka
(docs/reliability.md, "Restart stall"): a fetch given Faust's live set of active partitions,
emptied while the fetch waits, returns (and moves past) the records of partitions Faust has
paused; the copy streams/faust_compat.py hands over does not."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from infra.kafka_io import create_topics
from infra.settings import Settings
from tests.market import two_venue_history
from tests.worker_proc import publish


async def _fetch_while_pausing(
    settings: Settings, via_compat: bool, empty: int
) -> tuple[set[str], int]:
    """An input partition with records (paused, as during table recovery) and a stand-in
    changelog partition being read; the changelog is paused while the fetch waits, then a
    record arrives. Returns the topics the fetch returned and the input partition's position."""
    from faust.transport.consumer import ThreadDelegateConsumer

    from streams import faust_compat

    inputs = TopicPartition(settings.topic("md.tickers"), 2)  # BTC's partition
    changelog = TopicPartition(settings.topic("md.funding"), empty)  # no record yet
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([inputs, changelog])
        await consumer.seek_to_beginning(inputs, changelog)
        fetcher = consumer._fetcher  # what Faust's aiokafka driver calls (_fetch_records)
        for _ in range(100):  # the background fetch buffers the input's records
            if inputs in fetcher._records:
                break
            await asyncio.sleep(0.05)
        assert inputs in fetcher._records
        live = {changelog}  # Faust's _active_partitions: the inputs are paused

        class _Thread:
            async def getmany(self, active: Any, timeout: float) -> Any:
                return await fetcher.fetched_records(active, timeout=timeout)

        class _Consumer:
            _thread = _Thread()

        if via_compat:
            faust_compat.fetch_only_active_partitions()
            call = ThreadDelegateConsumer._getmany(_Consumer(), live, 5.0)  # type: ignore[arg-type]
        else:
            call = fetcher.fetched_records(live, timeout=5.0)
        fetch = asyncio.ensure_future(call)
        await asyncio.sleep(0.3)  # the fetch is waiting for new data
        live.clear()  # recovery done: Faust pauses the changelog too
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap)
        await producer.start()
        try:  # new data wakes the waiting fetch
            await producer.send_and_wait(changelog.topic, b"x", partition=changelog.partition)
        finally:
            await producer.stop()
        got = await fetch
        return {tp.topic for tp, recs in got.items() if recs}, await consumer.position(inputs)
    finally:
        await consumer.stop()


def test_a_fetch_waiting_while_faust_pauses_its_partitions_takes_no_paused_records(
    kafka_settings: Settings,
) -> None:
    async def run() -> None:
        await create_topics(kafka_settings)
        await publish(kafka_settings, two_venue_history(n=2))
        tickers, funding = kafka_settings.topic("md.tickers"), kafka_settings.topic("md.funding")
        # the pinned aiokafka with the live set: the paused input's records come back and its
        # position moves past them (Faust then drops them: the stall)
        topics, position = await _fetch_while_pausing(kafka_settings, via_compat=False, empty=0)
        assert tickers in topics and position > 0, (topics, position)
        # through streams/faust_compat: only what was active when the fetch began
        topics, position = await _fetch_while_pausing(kafka_settings, via_compat=True, empty=1)
        assert topics <= {funding} and position == 0, (topics, position)

    asyncio.run(run())
