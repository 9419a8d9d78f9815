"""Alert delivery against a webhook that hangs (a real HTTP server on 127.0.0.1).

The consumer must keep consuming and committing while a sink hangs: alerts reach the ``alerts``
topic whatever the webhook does, each alert is POSTed at most the configured number of times
with its idempotency key, and the run stops cleanly with the webhook still hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.alerts import run_alerts
from infra.kafka_io import EventProducer, create_topics, read_topics, topic_partitions
from infra.settings import Settings
from schemas.config import AlertsConfig, SinkConfig
from schemas.serde import Serializer
from tests import stubs

pytestmark = pytest.mark.integration

HANG_BOUND_S = 30.0  # a request never hangs longer than this, whatever happens to the test
WAIT_BOUND_S = 90.0  # generous bound on every wait of the test (liveness, not speed)
ASSETS = ["BTC", "ETH", "SOL", "DOGE"]


class Hanging(BaseHTTPRequestHandler):
    """Reads the POST, records it, then does not answer until released (or the bound)."""

    posts: list[tuple[str, str]] = []  # (Idempotency-Key header, event_id in the body)
    lock = threading.Lock()
    release = threading.Event()

    def do_POST(self) -> None:
        import json

        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with Hanging.lock:
            Hanging.posts.append((self.headers.get("Idempotency-Key", ""), body.get("event_id")))
        Hanging.release.wait(HANG_BOUND_S)
        with contextlib.suppress(OSError):  # the client may have given up meanwhile
            self.send_response(200)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def hanging_url() -> Iterator[str]:
    Hanging.posts = []
    Hanging.release = threading.Event()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hanging)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    finally:
        Hanging.release.set()
        httpd.shutdown()
        httpd.server_close()


async def _produce(settings: Settings) -> None:
    await create_topics(settings)
    async with EventProducer(settings) as p:
        await p.send_many(
            [stubs.breaker_tripped(instrument=a, event_id=stubs.eid(f"hang-{a}")) for a in ASSETS]
        )


async def _alerts_on_topic(settings: Settings) -> list[Any]:
    ser = Serializer()
    return [
        ser.decode(rec.value)
        async for _t, _p, rec in read_topics(settings.bootstrap, [settings.topic("alerts")])
    ]


async def _committed_vs_end(settings: Settings) -> tuple[int, int]:
    topic = settings.topic("risk.events")
    parts = await topic_partitions(settings.bootstrap, [topic])
    tps = [TopicPartition(topic, p) for p in parts[topic]]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        group_id=f"fundarb-alerts-{settings.topic_prefix}",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        committed = [await consumer.committed(tp) or 0 for tp in tps]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return sum(committed), sum(ends.values())


def test_a_hanging_webhook_neither_blocks_consuming_nor_duplicates_alerts(
    hanging_url: str, kafka_settings: Settings
) -> None:
    asyncio.run(_produce(kafka_settings))
    config = AlertsConfig(sinks=[SinkConfig(kind="webhook", name="pager", url=hanging_url)])
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result.update(
                asyncio.run(run_alerts(kafka_settings, config, drain_ms=3000)).model_dump()
            )
        except BaseException as exc:  # surfaced by the assertions below
            result["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()

    # all four alerts reach the topic while the webhook still holds its first request open
    deadline = time.monotonic() + WAIT_BOUND_S
    alerts: list[Any] = []
    while time.monotonic() < deadline and len(alerts) < len(ASSETS):
        alerts = asyncio.run(_alerts_on_topic(kafka_settings))
    with Hanging.lock:
        posts_meanwhile = len(Hanging.posts)
    assert sorted(a.instrument for a in alerts) == sorted(ASSETS)
    assert posts_meanwhile <= 1, "the consumer waited for the webhook before producing alerts"

    # the run stops by itself (drain) with the webhook still hanging, and has committed
    worker.join(WAIT_BOUND_S)
    assert not worker.is_alive() and "error" not in result, result
    assert result["alerts"] == len(ASSETS)
    committed, end = asyncio.run(_committed_vs_end(kafka_settings))
    assert committed == end == len(ASSETS)

    # every POST carries the alert's id as its idempotency key; none beyond the attempts
    ids = {a.event_id for a in alerts}
    with Hanging.lock:
        posts = list(Hanging.posts)
    assert posts and all(key == body_id and key in ids for key, body_id in posts)
    assert max(Counter(key for key, _ in posts).values()) <= 3


async def _produce_with_poison(settings: Settings) -> None:
    from aiokafka import AIOKafkaProducer

    await create_topics(settings)
    raw = AIOKafkaProducer(bootstrap_servers=settings.bootstrap)
    await raw.start()
    try:
        topic = settings.topic("risk.events")
        await raw.send_and_wait(topic, b"\x00garbage", key=b"BTC")  # bad Avro behind a header
        await raw.send_and_wait(topic, None, key=b"BTC")  # a tombstone
    finally:
        await raw.stop()
    async with EventProducer(settings) as p:
        await p.send_many([stubs.breaker_tripped(instrument="BTC", event_id=stubs.eid("poison"))])


async def _dead_letters(settings: Settings) -> list[Any]:
    ser = Serializer()
    return [
        ser.decode(rec.value)
        async for _t, _p, rec in read_topics(settings.bootstrap, [settings.topic("deadletter")])
    ]


def test_a_poison_record_is_dead_lettered_and_the_alerts_go_on(kafka_settings: Settings) -> None:
    asyncio.run(_produce_with_poison(kafka_settings))
    result = asyncio.run(run_alerts(kafka_settings, AlertsConfig(), drain_ms=3000))
    assert result.alerts == 1  # the valid breaker behind the two bad records
    dead = asyncio.run(_dead_letters(kafka_settings))
    # b"\x00garb..." reads as schema id 0x67617262: unknown; the tombstone has no value
    assert sorted(d.error_type for d in dead) == ["empty", "unknown_schema_id"], dead
    assert {d.source_topic for d in dead} == {kafka_settings.topic("risk.events")}
