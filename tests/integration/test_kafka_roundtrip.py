"""Produce and consume through the real session broker."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from infra.settings import Settings


async def _roundtrip(settings: Settings, n: int) -> list[tuple[bytes, bytes]]:
    topic = settings.topic("roundtrip")
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(n):
            await producer.send(topic, key=f"BTC-{i % 3}".encode(), value=f"v{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        group_id=f"{settings.topic_prefix}g",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: list[tuple[bytes, bytes]] = []
    try:
        while len(got) < n:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 20)
            for records in batch.values():
                got.extend((r.key, r.value) for r in records)
    finally:
        await consumer.stop()
    return got


def test_records_produced_are_consumed_in_order(kafka_settings: Settings) -> None:
    got = asyncio.run(_roundtrip(kafka_settings, 50))
    assert [v for _, v in got] == [f"v{i}".encode() for i in range(50)]
    assert got[4][0] == b"BTC-1"


def test_topic_prefixes_isolate_tests(kafka_settings: Settings, topic_prefix: str) -> None:
    assert kafka_settings.topic("md.funding") == f"{topic_prefix}md.funding"
    assert topic_prefix.startswith("t-test-topic-prefixes-isolate-tests-")
