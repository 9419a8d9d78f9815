"""Alert sinks against a local HTTP server on loopback; a secret never leaks."""

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from consumers.alerts import DeliveryPolicy, Dispatcher, SinkError, deliver, run_alerts
from consumers.audit import audit_topics
from infra.clickhouse import ClickHouseStore
from infra.kafka_io import EventProducer, create_topics
from infra.settings import Settings
from schemas.config import AlertRules, AlertsConfig, SinkConfig
from tests import stubs

SECRET = "s3cr3t-t0ken-do-not-leak"
#: retries without the production backoff: the tests count attempts, not seconds
FAST = DeliveryPolicy(backoff_min_s=0.01, backoff_max_s=0.05, shutdown_grace_s=10)


class Recorder(BaseHTTPRequestHandler):
    received: list[tuple[str, dict]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.received.append((self.path, json.loads(body)))
        self.send_response(Recorder.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[str]:
    Recorder.received = []
    Recorder.status = 200
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_webhook_slack_and_telegram_payloads(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_URL", f"{server}/slack/{SECRET}")
    alert = stubs.alert_raised(severity="critical")

    async def send() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            await deliver(SinkConfig(kind="webhook", url=f"{server}/hook"), alert, client)
            await deliver(SinkConfig(kind="slack", url_env="SLACK_URL"), alert, client)
            await deliver(
                SinkConfig(kind="telegram", token=SECRET, chat_id="42", api_base=server),
                alert,
                client,
            )

    asyncio.run(send())
    paths = [p for p, _ in Recorder.received]
    assert paths == ["/hook", f"/slack/{SECRET}", f"/bot{SECRET}/sendMessage"]
    hook, slack, telegram = (b for _, b in Recorder.received)
    assert hook["rule"] == "funding_flip" and hook["severity"] == "critical"
    assert slack == {"text": "[critical] funding_flip: BTC arb-1 spread flipped"}
    assert telegram["chat_id"] == "42" and "funding_flip" in telegram["text"]


def test_failures_name_the_sink_not_the_secret(server: str) -> None:
    Recorder.status = 500

    async def send(sink: SinkConfig) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            await deliver(sink, stubs.alert_raised(), client, FAST)

    with pytest.raises(SinkError) as info:
        asyncio.run(send(SinkConfig(kind="slack", name="ops", url=f"{server}/slack/{SECRET}")))
    assert "ops" in str(info.value) and SECRET not in str(info.value)
    with pytest.raises(SinkError) as info:
        asyncio.run(send(SinkConfig(kind="webhook", url=f"http://127.0.0.1:1/{SECRET}")))
    assert SECRET not in str(info.value)
    assert SECRET not in repr(SinkConfig(kind="slack", url=f"{server}/{SECRET}"))


async def _scripted(settings: Settings) -> None:
    await create_topics(settings)
    async with EventProducer(settings) as p:
        await p.send_many(
            [
                stubs.breaker_tripped(),
                stubs.order_rejected(event_id=stubs.eid("x1")),
                stubs.order_rejected(event_id=stubs.eid("x2"), event_time=stubs.T0 + 1),
                stubs.order_rejected(event_id=stubs.eid("x3"), event_time=stubs.T0 + 2),
            ]
        )


def test_alerts_through_the_broker_leave_no_secret_in_logs_topics_or_clickhouse(
    server: str,
    kafka_settings: Settings,
    chdb_store: ClickHouseStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = AlertsConfig(
        rules=AlertRules(rejections=3),
        sinks=[
            SinkConfig(kind="console"),
            SinkConfig(kind="slack", name="ops", url=f"{server}/slack/{SECRET}"),
            SinkConfig(kind="webhook", name="down", url=f"http://127.0.0.1:1/{SECRET}"),
        ],
    )
    asyncio.run(_scripted(kafka_settings))
    with caplog.at_level(logging.DEBUG):
        result = asyncio.run(run_alerts(kafka_settings, config, drain_ms=3000, delivery=FAST))
    assert result.alerts == 2 and result.sink_failures == 2  # the "down" sink fails
    # topics are consumed in arrival order: compare the delivered alerts as a set
    assert sorted(b["text"].split(":")[0] for _, b in Recorder.received) == [
        "[critical] breaker_tripped",
        "[warning] rejections",
    ]
    logs = caplog.text
    assert "ALERT [critical] breaker_tripped" in logs and "sink down" in logs
    assert SECRET not in logs
    asyncio.run(audit_topics(kafka_settings, store=chdb_store, drain=True))
    run = kafka_settings.topic_prefix.rstrip(".")
    stored = chdb_store.query(
        "SELECT payload FROM events_raw FINAL WHERE run = {r:String}", {"r": run}
    ).rows
    assert any("breaker_tripped" in p for (p,) in stored)
    assert not any(SECRET in p for (p,) in stored)
    alerts = chdb_store.query(
        "SELECT rule, message FROM alerts FINAL WHERE run = {r:String}", {"r": run}
    ).rows
    assert len(alerts) == 2 and not any(SECRET in m for _, m in alerts)


def test_dispatcher_skips_sinks_below_their_severity(server: str) -> None:
    config = AlertsConfig(
        sinks=[SinkConfig(kind="webhook", url=f"{server}/h", min_severity="critical")]
    )

    async def send() -> None:
        async with Dispatcher(config, FAST) as d:
            d.send(stubs.alert_raised(severity="warning"))
            d.send(stubs.alert_raised(severity="critical"))

    asyncio.run(send())
    assert len(Recorder.received) == 1


class Flaky(BaseHTTPRequestHandler):
    """Answers each POST with the next scripted status (then 200); keeps the headers."""

    script: list[int] = []
    keys: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        Flaky.keys.append(self.headers.get("Idempotency-Key", ""))
        self.send_response(Flaky.script.pop(0) if Flaky.script else 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def flaky() -> Iterator[str]:
    Flaky.script, Flaky.keys = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("script", "posts", "delivered"),
    [
        ([503, 429], 3, True),  # retriable answers: retried with the same key until 2xx
        ([503, 503, 503, 503], 3, False),  # ... but never beyond the attempts
        ([400], 1, False),  # a refusal is final: not retried
    ],
)
def test_retries_only_retriable_failures_with_one_idempotency_key(
    flaky: str, script: list[int], posts: int, delivered: bool
) -> None:
    Flaky.script = list(script)
    alert = stubs.alert_raised()

    async def send() -> bool:
        async with httpx.AsyncClient() as client:
            try:
                await deliver(SinkConfig(kind="webhook", url=flaky), alert, client, FAST)
            except SinkError:
                return False
            return True

    assert asyncio.run(send()) is delivered
    assert Flaky.keys == [alert.event_id] * posts


def test_an_alert_is_delivered_once_and_a_full_queue_drops_the_oldest(flaky: str) -> None:
    config = AlertsConfig(sinks=[SinkConfig(kind="webhook", name="pager", url=flaky)])
    alerts = [stubs.alert_raised(event_id=stubs.eid(f"q{i}")) for i in range(4)]

    async def send() -> Dispatcher:
        d = Dispatcher(config, DeliveryPolicy(queue_size=2))
        # the senders are not started yet: the queue fills and overflows deterministically
        for a in alerts:
            d.send(a)
        d.send(alerts[3])  # already queued: not queued twice
        async with d:
            await d.join()
            d.send(alerts[3])  # already delivered: not queued again
        return d

    d = asyncio.run(send())
    assert d.dropped == 2 and d.delivered == 2 and d.undelivered == 0
    assert Flaky.keys == [alerts[2].event_id, alerts[3].event_id]  # the newest two, once each
