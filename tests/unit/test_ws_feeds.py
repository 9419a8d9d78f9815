"""Websocket feeds on ccxt.pro's real classes, offline (producers/recorded_ws.py): ccxt builds the
subscriptions and parses the messages with the venue's own websocket code; only the socket is
replaced. Messages: tests/resources/<venue>/ws.json (the venues' docs examples ccxt's
handlers are written against, see tests/resources/README.md)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest
from prometheus_client import REGISTRY

from producers.connector import VenueConnector
from producers.recorded import RecordedHttp
from producers.recorded_ws import RecordedWs, offline_pro_exchange
from producers.venues import venue_spec
from producers.ws import WsFeed
from schemas import events as ev
from tests import venues as rv
from tests.unit.test_connector import Clock, routed

pytestmark = pytest.mark.unit


def messages(venue: str, method: str) -> list[dict[str, Any]]:
    return json.loads((rv.RESOURCES / venue / "ws.json").read_text())[method]  # type: ignore[no-any-return]


def connector(venue: str, ws: RecordedWs, clock: Clock, http: Any = None) -> VenueConnector:
    spec = dataclasses.replace(venue_spec(venue), spot_symbol=None)  # perps only here
    ex = offline_pro_exchange(venue, rv.markets(venue), ws, http=http, options=dict(spec.options))
    return VenueConnector(spec, ex, ["BTC"], stale_after_s=30, clock=clock)


async def one_update(conn: VenueConnector, ws: RecordedWs, message: Any) -> tuple[Any, list[Any]]:
    watch = getattr(conn.exchange, conn.spec.ws_funding or "")
    task = asyncio.create_task(watch(conn.perps))
    sock = await ws.next_socket(0)
    subscription = await ws.subscribed(sock)
    sock.push(message)
    tickers = await asyncio.wait_for(task, 10)
    try:
        return subscription, conn.on_stream(tickers)
    finally:
        await conn.exchange.close()


def test_binance_mark_price_stream_carries_the_funding_rate() -> None:
    # raw: "s" "BTCUSDT", "E" 1562305380000, "p" "11794.15000000", "i" "11784.62659091",
    # "r" "0.00038167", "T" 1562306400000
    (msg,) = messages("binance", "watchMarkPrices")
    clock = Clock()
    clock.now = 1_562_305_380_250  # arrives 250 ms after the venue's event time
    ws = RecordedWs()
    conn = connector("binance", ws, clock)
    sub, out = asyncio.run(one_update(conn, ws, msg))
    assert ws.sockets[0].url.startswith("wss://fstream.binance.com/")
    assert sub["method"] == "SUBSCRIBE" and sub["params"] == ["btcusdt@markPrice@1s"]
    (fr,) = out  # no bid/ask on this stream: no ticker (tickers stay on the REST poll)
    assert isinstance(fr, ev.FundingRateObserved)
    assert (fr.venue, fr.instrument) == ("binance", "BTC/USDT:USDT")
    assert (fr.funding_rate, fr.funding_time, fr.funding_interval_h) == (
        D("0.00038167"),
        1_562_306_400_000,
        8,
    )
    assert (fr.mark_price, fr.index_price) == (D("11794.15"), D("11784.62659091"))
    assert (fr.event_time, fr.ingest_time) == (1_562_305_380_000, 1_562_305_380_250)
    lag = REGISTRY.get_sample_value(
        "fundarb_feed_lag_seconds", {"venue": "binance", "stream": "funding"}
    )
    assert lag == pytest.approx(0.25)


def test_bybit_ticker_stream_carries_funding_and_top_of_book() -> None:
    # raw: topic "tickers.BTCUSDT", ts 1673272861686, fundingRate "-0.000212",
    # nextFundingTime "1673280000000", markPrice "17217.33", indexPrice "17227.36",
    # bid1Price "17215.50", ask1Price "17216.00", lastPrice "17216.00", turnover24h
    # "1570383121.943499"
    (msg,) = messages("bybit", "watchTickers")
    clock = Clock()
    clock.now = 1_673_272_862_000
    ws = RecordedWs()
    conn = connector("bybit", ws, clock)
    sub, out = asyncio.run(one_update(conn, ws, msg))
    assert ws.sockets[0].url == "wss://stream.bybit.com/v5/public/linear"
    assert sub["op"] == "subscribe" and sub["args"] == ["tickers.BTCUSDT"]
    fr = next(e for e in out if isinstance(e, ev.FundingRateObserved))
    tk = next(e for e in out if isinstance(e, ev.TickerObserved))
    assert (fr.funding_rate, fr.funding_time) == (D("-0.000212"), 1_673_280_000_000)
    assert fr.event_time == tk.event_time == 1_673_272_861_686  # the message's "ts"
    assert (fr.mark_price, fr.index_price) == (D("17217.33"), D("17227.36"))
    assert (tk.bid, tk.ask, tk.last) == (D("17215.5"), D("17216.0"), D("17216.0"))
    assert (tk.mark_price, tk.quote_volume_24h) == (D("17217.33"), D("1570383121.943499"))
    assert tk.event_time == 1_673_272_861_686
    assert "bybit ok" in conn.summary()


def test_dropped_stream_polls_rest_then_reconnects_and_subscribes_again() -> None:
    (msg,) = messages("bybit", "watchTickers")
    rest = rv.case("bybit", "fetchFundingRates")["httpResponse"]  # recorded REST tickers
    http: RecordedHttp = routed({"/v5/market/tickers": rest})
    clock = Clock()
    ws = RecordedWs()
    conn = connector("bybit", ws, clock, http=http)
    feed = WsFeed(conn, min_backoff_s=0, max_backoff_s=0)
    reconnects = REGISTRY.get_sample_value("fundarb_ws_reconnects_total", {"venue": "bybit"}) or 0.0
    emitted: list[list[Any]] = []
    changed = asyncio.Event()

    async def emit(events: list[Any]) -> None:
        emitted.append(events)
        changed.set()

    async def until(check: Callable[[], bool]) -> None:
        while not check():
            changed.clear()
            await changed.wait()

    async def scenario() -> None:
        task = asyncio.create_task(feed.run(emit))
        try:
            first = await ws.next_socket(0)
            await ws.subscribed(first)
            first.push(msg)
            await until(lambda: len(emitted) == 1)  # the stream's update
            first.drop()  # the venue drops the connection
            await until(lambda: len(emitted) == 2)  # the REST fallback poll
            second = await ws.next_socket(1)  # ccxt.pro opens a new one ...
            assert await ws.subscribed(second) == {**first.sent[0], "req_id": ANY_ID}
            clock.now += 1_000
            second.push(msg)  # ... and the stream flows again
            await until(lambda: len(emitted) == 3)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await conn.exchange.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    stream, fallback, again = emitted
    assert {type(e).__name__ for e in stream} == {"FundingRateObserved", "TickerObserved"}
    # the REST poll: the recorded tickers reply (fundingRate "0.0001", bid1Price "68641.20")
    assert [c.url for c in http.calls if "/v5/market/tickers" in c.url]
    rest_rate = next(e for e in fallback if isinstance(e, ev.FundingRateObserved))
    assert rest_rate.funding_rate == D("0.0001")
    assert again == []  # the same snapshot again: nothing new, but the feed is read
    assert feed.reconnects == 1 and len(ws.sockets) == 2
    assert (
        REGISTRY.get_sample_value("fundarb_ws_reconnects_total", {"venue": "bybit"})
        == reconnects + 1
    )
    assert not conn.status.stale and conn.status.last_ok_ms == clock.now


class _AnyId:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, int)


ANY_ID = _AnyId()
