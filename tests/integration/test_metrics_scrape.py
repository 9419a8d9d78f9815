"""Prometheus ``/metrics`` scraped over real HTTP on 127.0.0.1 from running processes:

* a real ``fundarb worker`` subprocess (``FUNDARB_WORKER_METRICS_PORT``) that folds a two-venue
  market, enters an arb and hedges it against the paper venue: its status, spread and exposure
  series;
* ``fundarb live --paper`` (``run_live`` with ``metrics_port``) with Bybit answering from
  recorded replies and Binance unreachable: the feed series of both venues, scraped while it
  runs.

Every HTTP call is bounded (httpx timeout); waits are bounded and name what they wait for."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra import metrics
from infra.kafka_io import create_topics
from infra.settings import Settings
from producers.paper import PaperConfig, run_paper_venue
from streams.live import LiveOptions, run_live
from tests.integration.test_live import offline_factory
from tests.integration.test_worker import _hedged
from tests.market import two_venue_history
from tests.worker_proc import WorkerProc, publish, wait_for

pytestmark = pytest.mark.integration
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> Samples:
    """``GET http://127.0.0.1:<port>/metrics`` parsed by prometheus-client's own parser."""
    reply = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5.0)
    reply.raise_for_status()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_worker_metrics_endpoint_shows_status_spread_and_exposure(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    history = two_venue_history(n=2)

    async def run() -> Samples:
        await create_topics(kafka_settings)
        await publish(kafka_settings, history)
        worker = WorkerProc(
            kafka_settings, tmp_path / "w", {"FUNDARB_WORKER_METRICS_PORT": str(port)}
        )
        worker.start()
        paper = asyncio.create_task(
            run_paper_venue(kafka_settings, PaperConfig(latency_ms=50), drain_ms=8000)
        )
        try:
            await wait_for(lambda: _hedged(kafka_settings), 90, "a hedged position", worker.log)
            st = await asyncio.to_thread(worker.wait_idle, len(history))

            async def scraped() -> Samples | None:
                # the status file is written just before the gauges are set: wait for them
                try:
                    got = await asyncio.to_thread(scrape, port)
                except httpx.HTTPError:
                    return None
                folded = sample(got, "fundarb_worker_folded") or 0
                return got if folded >= st["folded"] else None

            return await wait_for(scraped, 30, "worker /metrics", worker.log)  # type: ignore[no-any-return]
        finally:
            worker.stop()
            await paper

    got = asyncio.run(run())
    assert sample(got, "fundarb_worker_caught_up") == 1
    assert sample(got, "fundarb_open_arbs") == 1
    # Binance pays more than Bybit in the scripted history: a positive best spread
    apr = sample(got, "fundarb_spread_apr", asset="BTC")
    assert apr is not None and apr > 0
    assert sample(got, "fundarb_spread_rate_hourly", asset="BTC") == pytest.approx(apr / 8760)
    # perp vs perp: the perp exposure is the two legs' sum, no spot leg, net = spot + perp
    perp = sample(got, "fundarb_exposure_usd", asset="BTC", kind="perp")
    net = sample(got, "fundarb_exposure_usd", asset="BTC", kind="net")
    spot = sample(got, "fundarb_exposure_usd", asset="BTC", kind="spot")
    assert perp is not None and spot == 0 and net == perp
    assert sample(got, "fundarb_pnl_usd", part="total") is not None
    # the clock is at the last market event or later (the fills come after it)
    clock = sample(got, "fundarb_worker_event_time_seconds")
    assert clock is not None and clock >= history[-1].event_time / 1000


def test_live_paper_metrics_endpoint_while_running(kafka_settings: Settings) -> None:
    opts = LiveOptions(
        venues=["bybit", "binance"],
        assets=["BTC"],
        paper=True,
        poll_s=0.5,
        stale_after_s=2,
        status_s=1,
        duration_s=5,
        worker=False,
        audit=False,
        metrics_port=0,
    )
    scrapes: list[Samples] = []
    ports: list[int] = []

    def on_status(line: str) -> None:
        # called by the running pipeline between polls: scrape the live endpoint then
        (port,) = metrics.serving()
        ports.append(port)
        scrapes.append(scrape(port))

    report = asyncio.run(
        run_live(kafka_settings, opts, exchange_factory=offline_factory, on_status=on_status)
    )
    assert scrapes and ports[0] == report.metrics_port
    last = scrapes[-1]
    # recorded bybit tickers: fundingRate 0.0001 per 8 h
    assert sample(last, "fundarb_funding_rate", venue="bybit", asset="BTC") == pytest.approx(0.0001)
    assert sample(last, "fundarb_funding_rate_apr", venue="bybit", asset="BTC") == pytest.approx(
        0.1095
    )
    assert sample(last, "fundarb_feed_stale", venue="bybit") == 0
    assert sample(last, "fundarb_feed_stale", venue="binance") == 1  # unreachable: tripped
    binance_fail = sample(last, "fundarb_feed_failures_total", venue="binance", stream="funding")
    assert binance_fail is not None and binance_fail >= 1
    stale = sample(last, "fundarb_feed_staleness_seconds", venue="binance", stream="funding")
    assert stale is not None and stale > 2
    assert sample(last, "fundarb_feed_staleness_seconds", venue="bybit", stream="tickers") == 0
    # the server is stopped with the run
    with pytest.raises(httpx.HTTPError):
        scrape(ports[0])
