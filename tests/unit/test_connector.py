"""Venue connectors on ccxt driven offline: recorded payloads in, events out; failures trip the
stale-feed breaker; hostile rows go to dead letters; credentials stay secret."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal as D
from typing import Any

import ccxt.async_support as ccxt
import pytest

from producers.live.connector import VenueConnector, missing_fills
from producers.live.credentials import VenueCredentials
from producers.recorded import RecordedHttp, offline_exchange
from producers.venues import venue_spec
from schemas import events as ev
from schemas.types import Breaker, BreakerAction
from tests import venues as rv

T0 = 1_763_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def routed(routes: dict[str, Any]) -> RecordedHttp:
    """Replies by URL path fragment; a value that is an exception is raised."""

    def answer(method: str, url: str, headers: Any, body: Any) -> Any:
        for frag, reply in routes.items():
            if frag in url:
                return reply() if callable(reply) else reply
        raise ccxt.NetworkError(f"offline: {url}")

    return RecordedHttp(fallback=answer)


def bybit_connector(routes: dict[str, Any], clock: Clock) -> VenueConnector:
    spec = dataclasses.replace(venue_spec("bybit"), spot_symbol=None)  # perps only here
    ex = offline_exchange(
        "bybit", rv.markets("bybit"), routed(routes), options=spec.options, rate_limit=False
    )
    return VenueConnector(spec, ex, ["BTC"], stale_after_s=30, clock=clock)


def test_poll_publishes_funding_and_ticker_once() -> None:
    # raw (fetchFundingRates case): fundingRate "0.0001", nextFundingTime 1730736000000,
    # bid1Price "68641.20", ask1Price "68641.30"
    tickers = rv.case("bybit", "fetchFundingRates")["httpResponse"]
    clock = Clock()
    conn = bybit_connector({"/v5/market/tickers": tickers}, clock)
    out = rv.run_async(conn.poll())
    kinds = sorted(type(e).__name__ for e in out)
    assert kinds == ["FundingRateObserved", "TickerObserved"]
    fr = next(e for e in out if isinstance(e, ev.FundingRateObserved))
    tk = next(e for e in out if isinstance(e, ev.TickerObserved))
    assert (fr.funding_rate, fr.funding_time, fr.funding_interval_h) == (
        D("0.0001"),
        1_730_736_000_000,
        8,
    )
    assert (tk.bid, tk.ask) == (D("68641.2"), D("68641.3"))
    clock.now += 5_000
    (again,) = rv.run_async(conn.poll())  # the unchanged funding snapshot is not re-published;
    assert isinstance(again, ev.TickerObserved)  # the time-less ticker is, stamped on arrival
    assert again.event_time == T0 + 5_000
    assert "bybit ok" in conn.summary()


def test_failing_feed_trips_and_resets_the_stale_feed_breaker() -> None:
    tickers = rv.case("bybit", "fetchFundingRates")["httpResponse"]
    up = {"ok": True}

    def reply() -> Any:
        if up["ok"]:
            return tickers
        raise ccxt.ExchangeNotAvailable("bybit GET https://api.bybit.com down")

    clock = Clock()
    conn = bybit_connector({"/v5/market/tickers": reply}, clock)
    rv.run_async(conn.poll())
    up["ok"] = False
    clock.now += 10_000
    assert rv.run_async(conn.poll()) == []  # failing, not stale yet
    assert conn.status.failures == 1
    clock.now += 25_000  # 35 s since the last good poll > 30 s
    (trip,) = rv.run_async(conn.poll())
    assert isinstance(trip, ev.BreakerTripped)
    assert (trip.breaker, trip.action, trip.venue, trip.instrument) == (
        Breaker.stale_feed,
        BreakerAction.pause_entries,
        "bybit",
        "BTC",
    )
    assert trip.value == D(35_000) and trip.threshold == D(30_000)
    assert "ExchangeNotAvailable" in trip.detail and "STALE" in conn.summary()
    up["ok"] = True
    clock.now += 5_000
    out = rv.run_async(conn.poll())
    assert [type(e).__name__ for e in out if isinstance(e, ev.BreakerReset)] == ["BreakerReset"]


def test_hostile_row_is_dead_lettered_and_the_rest_published() -> None:
    tickers = json.loads(json.dumps(rv.case("bybit", "fetchFundingRates")["httpResponse"]))
    row = tickers["result"]["list"][0]
    row["fundingRate"] = "not-a-number"
    conn = bybit_connector({"/v5/market/tickers": tickers}, Clock())
    out = rv.run_async(conn.poll())
    (dead,) = [e for e in out if isinstance(e, ev.EventRejected)]
    assert dead.source_topic == "venue.bybit.fetchFundingRates"
    assert dead.error_type.startswith("parse.") and "fundingRate" in dead.reason
    assert b"BTC/USDT:USDT" in dead.raw_value
    assert [type(e).__name__ for e in out if not isinstance(e, ev.EventRejected)] == [
        "TickerObserved"
    ]  # the ticker of the same row is fine
    assert conn.status.rejected == 1


def test_reconciliation_publishes_only_fills_the_log_is_missing() -> None:
    trades = rv.case("binance", "fetchMyTrades", 1)["httpResponse"]  # fill "272536245"
    positions = rv.case("binance", "fetchPositions", 0)["httpResponse"]
    spec = dataclasses.replace(venue_spec("binance"), spot_symbol=None)
    http = routed(
        {"/fapi/v1/openOrders": [], "/fapi/v1/userTrades": trades, "/positionRisk": positions}
    )
    ex = offline_exchange(
        "binance",
        rv.markets("binance"),
        http,
        credentials=rv.CREDENTIALS,
        options={"leverageBrackets": {}},
        rate_limit=False,
    )
    conn = VenueConnector(spec, ex, ["BTC"], private=True, clock=Clock())
    out, opens = rv.run_async(conn.reconcile(set(), since=None, client_ids={}))
    assert opens == []
    fills = [e for e in out if isinstance(e, ev.FillExecuted)]
    assert [f.fill_id for f in fills] == ["272536245"]
    assert any(isinstance(e, ev.BalanceObserved) and e.position_qty == D("0.009") for e in out)
    again, _ = rv.run_async(conn.reconcile({"272536245"}, since=None, client_ids={}))
    assert not [e for e in again if isinstance(e, ev.FillExecuted)]


def test_missing_fills_is_pure_and_ordered() -> None:
    from tests import stubs

    a = stubs.fill_executed(fill_id="a", event_time=T0 + 2)
    b = stubs.fill_executed(fill_id="b", event_time=T0 + 1)
    assert [f.fill_id for f in missing_fills({"c"}, [a, b])] == ["b", "a"]
    assert missing_fills({"a", "b"}, [a, b]) == []


def test_credentials_come_from_the_environment_and_stay_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FUNDARB_OKX_API_KEY", "key-123")
    monkeypatch.setenv("FUNDARB_OKX_SECRET", "very-secret-456")
    monkeypatch.setenv("FUNDARB_OKX_OPTIONS", '{"defaultType": "swap"}')
    creds = VenueCredentials.for_venue("okx")
    assert "very-secret-456" not in repr(creds) and "very-secret-456" not in str(creds)
    assert creds.ccxt_config() == {"apiKey": "key-123", "secret": "very-secret-456"}
    assert creds.options == {"defaultType": "swap"}
    assert VenueCredentials.for_venue("gate").options is None
    assert creds.missing(venue_spec("okx")) == ["FUNDARB_OKX_PASSWORD"]
    assert VenueCredentials.for_venue("bybit").missing(venue_spec("bybit")) == [
        "FUNDARB_BYBIT_API_KEY",
        "FUNDARB_BYBIT_SECRET",
    ]


def test_a_held_feed_stays_stale_until_released_then_resets() -> None:
    tickers = rv.case("bybit", "fetchFundingRates")["httpResponse"]
    clock = Clock()
    conn = bybit_connector({"/v5/market/tickers": tickers}, clock)
    (trip,) = conn.hold("reconciliation pending: ExchangeNotAvailable: down")
    assert isinstance(trip, ev.BreakerTripped) and trip.breaker is Breaker.stale_feed
    assert (trip.venue, trip.instrument) == ("bybit", "BTC") and "reconciliation" in trip.detail
    assert "STALE" in conn.summary() and "reconciliation pending" in conn.summary()
    clock.now += 1_000
    out = rv.run_async(conn.poll())  # fresh market data, but the venue is still unknown
    assert not [e for e in out if isinstance(e, ev.BreakerReset | ev.BreakerTripped)]
    conn.release()
    clock.now += 1_000
    out = rv.run_async(conn.poll())
    assert [type(e).__name__ for e in out if isinstance(e, ev.BreakerReset)] == ["BreakerReset"]
