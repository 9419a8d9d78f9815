"""``fundarb live`` on the real broker with the venues' ccxt classes driven offline: one venue
answers from recorded payloads, the other is unreachable. Both feeds show in the status line;
the failing one trips stale_feed on risk.events; published events are on their topics."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.async_support as ccxt
import pytest
from typer.testing import CliRunner

from infra.kafka_io import read_topics
from infra.settings import Settings
from producers.connector import VenueCredentials
from producers.recorded import RecordedHttp, offline_exchange
from producers.venue import VenueSpec
from schemas.serde import Serializer
from streams.cli import app
from streams.live import LiveOptions, run_live
from tests import venues as rv

pytestmark = pytest.mark.integration


def offline_factory(spec: VenueSpec, creds: VenueCredentials, private: bool) -> Any:
    tickers = rv.case("bybit", "fetchFundingRates")["httpResponse"]

    def answer(method: str, url: str, headers: Any, body: Any) -> Any:
        if spec.id == "bybit" and "/v5/market/tickers" in url:
            return tickers
        raise ccxt.ExchangeNotAvailable(f"{spec.id} {method} {url}")

    return offline_exchange(
        spec.id,
        rv.markets(spec.id),
        RecordedHttp(fallback=answer),
        options=spec.options,
        rate_limit=False,
    )


def test_live_paper_run_publishes_feeds_and_trips_the_failing_one(kafka_settings: Settings) -> None:
    opts = LiveOptions(
        venues=["bybit", "binance"],
        assets=["BTC"],
        paper=True,
        poll_s=0.5,
        stale_after_s=2,
        status_s=1,
        duration_s=6,
        worker=False,
        audit=False,
    )
    lines: list[str] = []
    report = asyncio.run(
        run_live(kafka_settings, opts, exchange_factory=offline_factory, on_status=lines.append)
    )
    assert lines and "bybit ok" in lines[-1] and "binance STALE" in lines[-1]
    assert "ExchangeNotAvailable" in lines[-1]
    assert report.events >= 2

    async def read() -> dict[str, list[Any]]:
        names = ["md.funding", "md.tickers", "risk.events"]
        out: dict[str, list[Any]] = {n: [] for n in names}
        ser = Serializer()
        async for topic, _p, rec in read_topics(
            kafka_settings.bootstrap, [kafka_settings.topic(n) for n in names]
        ):
            out[topic.removeprefix(kafka_settings.topic_prefix)].append(ser.decode(rec.value))
        return out

    got = asyncio.run(read())
    (rate,) = got["md.funding"]  # one funding snapshot, not one per poll
    assert (rate.venue, rate.instrument, str(rate.funding_rate)) == (
        "bybit",
        "BTC/USDT:USDT",
        "0.0001",
    )
    assert len(got["md.tickers"]) >= 2 and {t.venue for t in got["md.tickers"]} == {"bybit"}
    trips = [e for e in got["risk.events"] if type(e).__name__ == "BreakerTripped"]
    assert [(t.venue, t.instrument, t.breaker.value) for t in trips] == [
        ("binance", "BTC", "stale_feed")
    ]


def test_live_without_paper_refuses_missing_credentials(kafka_settings: Settings) -> None:
    result = CliRunner().invoke(
        app,
        ["live", "--venues", "okx", "--assets", "BTC"],
        env={"FUNDARB_BOOTSTRAP": kafka_settings.bootstrap},
    )
    assert result.exit_code == 1
    assert "FUNDARB_OKX_API_KEY" in result.output and "FUNDARB_OKX_PASSWORD" in result.output
