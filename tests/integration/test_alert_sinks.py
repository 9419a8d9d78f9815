"""Alert sinks against a local HTTP server on loopback; a secret never leaks."""

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from consumers.alerts import Dispatcher, SinkError, deliver, run_alerts
from consumers.audit import audit_topics
from infra.clickhouse import ClickHouseStore
from infra.kafka_io import EventProducer, create_topics
from infra.settings import Settings
from schemas.config import AlertRules, AlertsConfig, SinkConfig
from tests import stubs

SECRET = "s3cr3t-t0ken-do-not-leak"


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
    with httpx.Client(timeout=5) as client:
        deliver(SinkConfig(kind="webhook", url=f"{server}/hook"), alert, client)
        deliver(SinkConfig(kind="slack", url_env="SLACK_URL"), alert, client)
        deliver(
            SinkConfig(kind="telegram", token=SECRET, chat_id="42", api_base=server), alert, client
        )
    paths = [p for p, _ in Recorder.received]
    assert paths == ["/hook", f"/slack/{SECRET}", f"/bot{SECRET}/sendMessage"]
    hook, slack, telegram = (b for _, b in Recorder.received)
    assert hook["rule"] == "funding_flip" and hook["severity"] == "critical"
    assert slack == {"text": "[critical] funding_flip: BTC arb-1 spread flipped"}
    assert telegram["chat_id"] == "42" and "funding_flip" in telegram["text"]


def test_failures_name_the_sink_not_the_secret(server: str) -> None:
    Recorder.status = 500
    with httpx.Client(timeout=5) as client:
        with pytest.raises(SinkError) as info:
            deliver(
                SinkConfig(kind="slack", name="ops", url=f"{server}/slack/{SECRET}"),
                stubs.alert_raised(),
                client,
            )
        assert "ops" in str(info.value) and SECRET not in str(info.value)
        with pytest.raises(SinkError) as info:
            deliver(
                SinkConfig(kind="webhook", url=f"http://127.0.0.1:1/{SECRET}"),
                stubs.alert_raised(),
                client,
            )
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
        result = asyncio.run(run_alerts(kafka_settings, config, drain_ms=3000))
    assert result["alerts"] == 2 and result["sink_failures"] == 2  # the "down" sink fails
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
    d = Dispatcher(
        AlertsConfig(sinks=[SinkConfig(kind="webhook", url=f"{server}/h", min_severity="critical")])
    )
    d.send(stubs.alert_raised(severity="warning"))
    d.send(stubs.alert_raised(severity="critical"))
    assert len(Recorder.received) == 1
