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
from producers.live.credentials import VenueCredentials
from producers.recorded import RecordedHttp, offline_exchange
from producers.venues import VenueSpec
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


#: Bybit's answer to a private list query with nothing in it (open orders, trades, positions).
BYBIT_EMPTY = {
    "retCode": 0,
    "retMsg": "OK",
    "result": {"category": "linear", "list": [], "nextPageCursor": ""},
    "retExtInfo": {},
    "time": 1_700_000_000_000,
}
BINANCE_RECONCILE = ("/fapi/v1/openOrders", "/api/v3/openOrders", "/fapi/v1/userTrades")


def keyed_factory(calls: list[str]) -> Any:
    """Bybit answers market data and its reconciliation (one recorded spot fill); Binance is
    unreachable for everything. Credentials come from the environment like in production."""
    tickers = rv.case("bybit", "fetchFundingRates")["httpResponse"]
    spot_trades = rv.case("bybit", "fetchMyTrades", 0)["httpResponse"]  # BTC/USDT spot fill

    def factory(spec: VenueSpec, creds: VenueCredentials, private: bool) -> Any:
        assert private and creds.ccxt_config()  # live: the keys reached the exchange

        def answer(method: str, url: str, headers: Any, body: Any) -> Any:
            calls.append(url)
            if spec.id == "bybit":
                if "/v5/market/tickers" in url:
                    return tickers
                if "/v5/execution/list" in url and "category=spot" in url:
                    return spot_trades
                if any(p in url for p in ("/v5/order/realtime", "/v5/execution/list")):
                    return BYBIT_EMPTY
                if "/v5/position/list" in url:
                    return BYBIT_EMPTY
            raise ccxt.ExchangeNotAvailable(f"{spec.id} {method} {url}")

        return offline_exchange(
            spec.id,
            rv.markets(spec.id),
            RecordedHttp(fallback=answer),
            credentials=creds.ccxt_config(),
            options=spec.options,
            rate_limit=False,
        )

    return factory


def test_live_starts_with_a_venue_down_holding_it_stale_and_retrying_its_reconciliation(
    kafka_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for venue in ("BYBIT", "BINANCE"):
        monkeypatch.setenv(f"FUNDARB_{venue}_API_KEY", "test-key")
        monkeypatch.setenv(f"FUNDARB_{venue}_SECRET", "test-secret")
    opts = LiveOptions(
        venues=["bybit", "binance"],
        assets=["BTC"],
        paper=False,
        poll_s=0.5,
        stale_after_s=30,  # longer than the run: only the failed reconciliation makes it stale
        status_s=1,
        duration_s=6,
        worker=False,
        audit=False,
        reconcile_retry_min_s=0.2,
        reconcile_retry_max_s=0.5,
    )
    calls: list[str] = []
    lines: list[str] = []
    report = asyncio.run(
        run_live(
            kafka_settings, opts, exchange_factory=keyed_factory(calls), on_status=lines.append
        )
    )
    assert lines and "bybit ok" in lines[-1] and "binance STALE" in lines[-1]
    assert report.events >= 2
    # binance's reconciliation was tried again while the run went on (not only at start-up)
    assert sum(any(p in u for p in BINANCE_RECONCILE) for u in calls if "binance" in u) >= 2

    async def read() -> dict[str, list[Any]]:
        names = ["risk.events", "acct.fills", "md.tickers"]
        out: dict[str, list[Any]] = {n: [] for n in names}
        ser = Serializer()
        async for topic, _p, rec in read_topics(
            kafka_settings.bootstrap, [kafka_settings.topic(n) for n in names]
        ):
            out[topic.removeprefix(kafka_settings.topic_prefix)].append(ser.decode(rec.value))
        return out

    got = asyncio.run(read())
    trips = [e for e in got["risk.events"] if type(e).__name__ == "BreakerTripped"]
    assert [(t.venue, t.instrument, t.breaker.value) for t in trips] == [
        ("binance", "BTC", "stale_feed")
    ]
    assert not [e for e in got["risk.events"] if type(e).__name__ == "BreakerReset"]
    # bybit went on: its reconciliation published the fill the log was missing, and its feed
    assert [(f.venue, f.instrument) for f in got["acct.fills"]] == [("bybit", "BTC/USDT")]
    assert {t.venue for t in got["md.tickers"]} == {"bybit"}
