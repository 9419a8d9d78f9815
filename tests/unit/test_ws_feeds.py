"""Websocket feeds on ccxt.pro's real classes, offline (tests/recorded_ws.py): ccxt builds the
subscriptions and parses the messages with the venue's own websocket code; only the socket is
replaced. Messages: tests/resources/<venue>/ws.json (the documented messages ccxt's handlers
are written against; each file's ``_source`` says where, and what was changed for the test).

Every venue runs through a real :class:`producers.live.ws.WsFeed` (its stream loop, REST fallback,
reconnect with backoff and frame guard), fed frame by frame."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import ccxt.pro as ccxt_pro
import pytest
from aiohttp import WSMessage, WSMsgType
from prometheus_client import REGISTRY

from producers.live.connector import VenueConnector
from producers.live.ws import WsFeed
from producers.live.ws_channels import CHANNELS, REST_ONLY, ws_channel
from producers.recorded import RecordedHttp, market_rows
from producers.venues import VENUES, venue_spec
from schemas import events as ev
from tests import venues as rv
from tests.recorded_ws import RecordedSocket, RecordedWs, offline_pro_exchange
from tests.unit.test_connector import Clock, routed

pytestmark = pytest.mark.unit

#: the asset each venue's recorded message is about
ASSET = {
    "binance": "BTC",
    "bybit": "BTC",
    "gate": "BTC",
    "bitget": "BTC",
    "okx": "BTC",
    "paradex": "BTC",
    "hyperliquid": "ETH",
    "lighter": "ETH",
    "kraken": "BTC",
}
#: recorded REST replies the fallback poll gets (others: the venue unreachable)
REST = {
    "bybit": lambda: {"/v5/market/tickers": rv.case("bybit", "fetchFundingRates")["httpResponse"]},
    "gate": lambda: {"/futures/usdt/contracts": recorded("gate")["fetchFundingRates"]},
}


def recorded(venue: str) -> dict[str, Any]:
    return json.loads((rv.RESOURCES / venue / "ws.json").read_text())  # type: ignore[no-any-return]


def messages(venue: str) -> list[Any]:
    (key,) = [k for k in recorded(venue) if k.startswith("watch")]
    return recorded(venue)[key]  # type: ignore[no-any-return]


def markets(venue: str) -> list[dict[str, Any]]:
    """The venue's REST market table plus the markets its ``ws.json`` recording names."""
    rows = rv.markets(venue) if (rv.RESOURCES / venue / "markets.json").exists() else []
    have = {m["symbol"] for m in rows}
    # gate, bitget: the stream's examples trade a market the REST recordings do not list
    extra = [m for m in market_rows(recorded(venue).get("markets", [])) if m["symbol"] not in have]
    return rows + extra


def lag(venue: str, stream: str = "ws_funding") -> float | None:
    return REGISTRY.get_sample_value("fundarb_feed_lag_seconds", {"venue": venue, "stream": stream})


@dataclasses.dataclass
class Run:
    """A running :class:`WsFeed` for one venue: push frames, wait for what it emits."""

    venue: str
    clock: Clock
    assets: list[str] | None = None
    rest: bool = True
    ws: RecordedWs = dataclasses.field(default_factory=RecordedWs)
    emitted: list[list[Any]] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        spec = dataclasses.replace(venue_spec(self.venue), spot_symbol=None)  # perps only
        routes = REST[self.venue]() if self.rest and self.venue in REST else {}
        self.http: RecordedHttp = routed(routes)
        ex = offline_pro_exchange(
            spec.exchange_id,
            markets(self.venue),
            self.ws,
            http=self.http,
            options=dict(spec.options),
        )
        self.conn = VenueConnector(
            spec, ex, self.assets or [ASSET[self.venue]], stale_after_s=30, clock=self.clock
        )
        self.feed = WsFeed(self.conn, min_backoff_s=0, max_backoff_s=0)
        self._changed = asyncio.Event()

    async def emit(self, events: list[Any]) -> None:
        self.emitted.append(events)
        self._changed.set()

    async def until(self, check: Callable[[], bool]) -> None:
        while not check():
            self._changed.clear()
            await self._changed.wait()

    async def socket(self, n: int = 0, subscriptions: int = 1) -> RecordedSocket:
        """Socket ``n`` once ccxt has sent its ``subscriptions`` on it."""
        sock = await self.ws.next_socket(n)
        while len(sock.sent) < subscriptions:
            await asyncio.sleep(0)
        return sock

    async def push(self, sock: RecordedSocket, message: Any) -> list[Any]:
        """Push one frame and return what the feed emits for it."""
        n = len(self.emitted)
        sock.push(message)
        await self.until(lambda: len(self.emitted) > n)
        return self.emitted[-1]

    def go(self, scenario: Callable[[Run], Any], *, poll_first: bool = False) -> None:
        async def main() -> None:
            if poll_first:  # the REST poll live runs beside the stream
                self.emitted.append(await self.conn.poll())
            task = asyncio.create_task(self.feed.run(self.emit))
            try:
                await scenario(self)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await self.conn.exchange.close()

        asyncio.run(asyncio.wait_for(main(), 30))


def only(events: list[Any], kind: type) -> Any:
    (one,) = [e for e in events if isinstance(e, kind)]
    return one


# ---- the channel table ---------------------------------------------------------------------
def test_every_venue_has_a_funding_channel_ccxt_pro_implements() -> None:
    # every live venue streams, or is REST-only with its reason written down
    assert set(CHANNELS) <= set(VENUES)
    assert {v for v in VENUES if v not in CHANNELS} <= set(REST_ONLY)
    assert not set(CHANNELS) & set(REST_ONLY)
    for venue, ch in CHANNELS.items():
        cls = getattr(ccxt_pro, venue_spec(venue).exchange_id)  # kraken: krakenfutures
        assert callable(getattr(cls, ch.method)), (venue, ch.method)
        camel = "".join(w.capitalize() if i else w for i, w in enumerate(ch.method.split("_")))
        assert cls().has.get(camel) is True, (venue, camel)
    assert ws_channel("dydx") is None  # ccxt.pro dydx has no funding watcher: REST only


# ---- one venue at a time -------------------------------------------------------------------
def test_binance_mark_price_stream_carries_the_funding_rate() -> None:
    # raw: "s" "BTCUSDT", "E" 1562305380000, "p" "11794.15000000", "i" "11784.62659091",
    # "r" "0.00038167", "T" 1562306400000
    clock = Clock()
    clock.now = 1_562_305_380_250  # arrives 250 ms after the venue's event time

    async def scenario(r: Run) -> None:
        sock = await r.socket()
        assert sock.url.startswith("wss://fstream.binance.com/")
        assert sock.sent[0]["method"] == "SUBSCRIBE"
        assert sock.sent[0]["params"] == ["btcusdt@markPrice@1s"]
        out = await r.push(sock, messages("binance")[0])
        # no bid/ask on this stream: no ticker (tickers stay on the REST poll)
        assert [type(e) for e in out] == [ev.FundingRateObserved]
        fr = out[0]
        assert (fr.venue, fr.instrument) == ("binance", "BTC/USDT:USDT")
        assert (fr.funding_rate, fr.funding_time, fr.funding_interval_h) == (
            D("0.00038167"),
            1_562_306_400_000,
            8,
        )
        assert (fr.mark_price, fr.index_price) == (D("11794.15"), D("11784.62659091"))
        assert (fr.event_time, fr.ingest_time) == (1_562_305_380_000, 1_562_305_380_250)
        assert lag("binance") == pytest.approx(0.25)

    Run("binance", clock).go(scenario)


def test_bybit_ticker_stream_carries_funding_and_top_of_book() -> None:
    # raw: topic "tickers.BTCUSDT", ts 1673272861686, fundingRate "-0.000212",
    # nextFundingTime "1673280000000", markPrice "17217.33", indexPrice "17227.36",
    # bid1Price "17215.50", ask1Price "17216.00", lastPrice "17216.00", turnover24h
    # "1570383121.943499"
    clock = Clock()
    clock.now = 1_673_272_862_000

    async def scenario(r: Run) -> None:
        sock = await r.socket()
        assert sock.url == "wss://stream.bybit.com/v5/public/linear"
        assert sock.sent[0]["op"] == "subscribe" and sock.sent[0]["args"] == ["tickers.BTCUSDT"]
        out = await r.push(sock, messages("bybit")[0])
        fr, tk = only(out, ev.FundingRateObserved), only(out, ev.TickerObserved)
        assert (fr.funding_rate, fr.funding_time) == (D("-0.000212"), 1_673_280_000_000)
        assert fr.event_time == tk.event_time == 1_673_272_861_686  # the message's "ts"
        assert (fr.mark_price, fr.index_price) == (D("17217.33"), D("17227.36"))
        assert (tk.bid, tk.ask, tk.last) == (D("17215.5"), D("17216.0"), D("17216.0"))
        assert (tk.mark_price, tk.quote_volume_24h) == (D("17217.33"), D("1570383121.943499"))
        assert lag("bybit", "ws_tickers") == pytest.approx(0.314)
        assert "bybit ok" in r.conn.summary()

    Run("bybit", clock).go(scenario)


def test_gate_ticker_stream_rate_is_placed_on_the_rest_schedule() -> None:
    # stream row: contract "BTC_USDT", funding_rate "0.0001", funding_rate_indicative "0.0001",
    # mark_price "6534", index_price "6531"; no settlement time. REST contract:
    # funding_next_apply 1610035200 (s), funding_interval 28800 (s)
    clock = Clock()
    clock.now = 1_610_031_600_500
    (msg,) = messages("gate")

    async def scenario(r: Run) -> None:
        sock = await r.socket()
        assert sock.url == "wss://fx-ws.gateio.ws/v4/ws/usdt"
        sub = sock.sent[0]
        assert (sub["channel"], sub["event"], sub["payload"]) == (
            "futures.tickers",
            "subscribe",
            ["BTC_USDT"],
        )
        # before any poll has named the settlement the row is held back, not guessed
        assert [e for e in await r.push(sock, msg) if not isinstance(e, ev.BreakerReset)] == []
        r.emitted.append(await r.conn.poll())  # the REST poll beside the stream
        assert r.conn.schedule["BTC/USDT:USDT"] == (1_610_035_200_000, 8)
        clock.now += 1_000
        fr = only(await r.push(sock, msg), ev.FundingRateObserved)
        assert (fr.funding_rate, fr.predicted_rate) == (D("0.0001"), D("0.0001"))
        assert (fr.funding_time, fr.funding_interval_h) == (1_610_035_200_000, 8)
        assert (fr.mark_price, fr.index_price) == (D("6534"), D("6531"))
        assert fr.event_time == fr.ingest_time == clock.now  # the row has no venue time
        assert lag("gate") is None  # so no lag to report (staleness still counts)
        # past that settlement (no poll since): the schedule's next one, 8 h later
        clock.now = 1_610_035_200_000 + 5_000
        fr = only(await r.push(sock, msg), ev.FundingRateObserved)
        assert fr.funding_time == 1_610_035_200_000 + 8 * 3_600_000
        assert not any(isinstance(e, ev.TickerObserved) for e in r.emitted[-1])

    Run("gate", clock).go(scenario)


def test_bitget_ticker_stream_carries_funding_and_top_of_book() -> None:
    # raw: instId "BTCUSDT", fundingRate "0.000096", nextFundingTime "1701849600000",
    # markPrice "43476.4", indexPrice "43478.4", bidPr "43476.3", askPr "43476.8",
    # lastPr "43480.4", quoteVolume "5167385048.693", ts "1701843962811"
    clock = Clock()
    clock.now = 1_701_843_963_000

    async def scenario(r: Run) -> None:
        sock = await r.socket()
        assert sock.url == "wss://ws.bitget.com/v2/ws/public"
        assert sock.sent[0] == {
            "op": "subscribe",
            "args": [{"instType": "USDT-FUTURES", "channel": "ticker", "instId": "BTCUSDT"}],
        }
        out = await r.push(sock, messages("bitget")[0])
        fr, tk = only(out, ev.FundingRateObserved), only(out, ev.TickerObserved)
        assert (fr.funding_rate, fr.funding_time, fr.funding_interval_h) == (
            D("0.000096"),
            1_701_849_600_000,
            8,
        )
        assert (fr.mark_price, fr.index_price) == (D("43476.4"), D("43478.4"))
        assert (tk.bid, tk.ask, tk.last) == (D("43476.3"), D("43476.8"), D("43480.4"))
        assert tk.quote_volume_24h == D("5167385048.693")
        assert fr.event_time == tk.event_time == 1_701_843_962_811
        assert lag("bitget") == pytest.approx(0.189)

    Run("bitget", clock).go(scenario)


def test_okx_funding_rate_channel() -> None:
    # raw: instId "BTC-USDT-SWAP", fundingRate "0.0001875391284828", fundingTime
    # "1700726400000", nextFundingRate "0.0002608059239328", nextFundingTime "1700755200000",
    # ts "1700724675402"
    clock = Clock()
    clock.now = 1_700_724_676_000

    async def scenario(r: Run) -> None:
        sock = await r.socket()
        assert sock.url == "wss://ws.okx.com:443/ws/v5/public"
        assert sock.sent[0] == {
            "op": "subscribe",
            "args": [{"channel": "funding-rate", "instId": "BTC-USDT-SWAP"}],
        }
        fr = only(await r.push(sock, messages("okx")[0]), ev.FundingRateObserved)
        assert (fr.funding_rate, fr.predicted_rate) == (
            D("0.0001875391284828"),
            D("0.0002608059239328"),
        )
        assert (fr.funding_time, fr.next_funding_time, fr.funding_interval_h) == (
            1_700_726_400_000,
            1_700_755_200_000,
            8,
        )
        assert fr.event_time == 1_700_724_675_402  # the row's "ts"
        assert lag("okx") == pytest.approx(0.598)

    Run("okx", clock).go(scenario)


def test_paradex_funding_data_channel_accrues_continuously() -> None:
    # raw: market "BTC-USD-PERP", funding_rate "-0.00014969570582", funding_period_hours 8,
    # created_at 1771506636154
    clock = Clock()
    clock.now = 1_771_506_637_000

    async def scenario(r: Run) -> None:
        sock = await r.socket()
        assert sock.url.startswith("wss://ws.api.prod.paradex.trade/v1")
        assert sock.sent[0]["method"] == "subscribe"
        assert sock.sent[0]["params"] == {"channel": "funding_data"}
        fr = only(await r.push(sock, messages("paradex")[0]), ev.FundingRateObserved)
        assert (fr.funding_rate, fr.funding_interval_h) == (D("-0.00014969570582"), 8)
        assert fr.event_time == 1_771_506_636_154
        # continuous accrual: stamped at the next whole hour after the venue time
        assert fr.funding_time == (1_771_506_636_154 // 3_600_000 + 1) * 3_600_000
        assert lag("paradex") == pytest.approx(0.846)

    Run("paradex", clock).go(scenario)


def test_hyperliquid_asset_context_stream_one_subscription_per_coin() -> None:
    # raw: coin "ETH", funding "0.0000125", markPx "14.3161", oraclePx "14.32",
    # impactPxs ["14.3047", "14.3444"], midPx "14.314", dayNtlVlm "1169046.29406"
    clock = Clock()

    async def scenario(r: Run) -> None:
        sock = await r.socket(subscriptions=2)
        assert sock.url == "wss://api.hyperliquid.xyz/ws"
        coins = sorted(s["subscription"]["coin"] for s in sock.sent)
        assert coins == ["ETH", "SOL"]
        assert {s["subscription"]["type"] for s in sock.sent} == {"activeAssetCtx"}
        out = await r.push(sock, messages("hyperliquid")[0])
        fr, tk = only(out, ev.FundingRateObserved), only(out, ev.TickerObserved)
        assert fr.instrument == tk.instrument == "ETH/USDC:USDC"  # SOL's watcher still waits
        assert (fr.funding_rate, fr.funding_interval_h) == (D("0.0000125"), 1)
        assert (fr.mark_price, fr.index_price) == (D("14.3161"), D("14.32"))
        # no venue time: stamped on arrival, settling at the next hour of our clock
        assert fr.event_time == clock.now
        assert fr.funding_time == (clock.now // 3_600_000 + 1) * 3_600_000
        assert (tk.bid, tk.ask, tk.quote_volume_24h) == (
            D("14.3047"),
            D("14.3444"),
            D("1169046.29406"),
        )

    Run("hyperliquid", clock, assets=["ETH", "SOL"]).go(scenario)


def test_lighter_market_stats_rate_is_in_percent() -> None:
    # raw: market_id 0, current_funding_rate "0.0012" (percent), mark_price "3013.91"
    clock = Clock()

    async def scenario(r: Run) -> None:
        sock = await r.socket()
        assert sock.url == "wss://mainnet.zklighter.elliot.ai/stream"
        assert sock.sent[0] == {"type": "subscribe", "channel": "market_stats/all"}
        out = await r.push(sock, messages("lighter")[0])
        fr = only(out, ev.FundingRateObserved)
        assert fr.instrument == "ETH/USDC:USDC"
        assert (fr.funding_rate, fr.funding_interval_h) == (D("0.000012"), 1)  # 0.0012 %
        assert fr.funding_time == (clock.now // 3_600_000 + 1) * 3_600_000
        assert not any(isinstance(e, ev.TickerObserved) for e in out)  # no bid/ask here
        assert lag("lighter") is None  # no venue time in the message

    Run("lighter", clock).go(scenario)


def test_kraken_ticker_feed_carries_funding_and_top_of_book() -> None:
    # raw: product_id "PF_XBTUSD", time 1680811086487, funding_rate 0.006118542530909774
    # (absolute, USD per contract per hour), funding_rate_prediction -0.03360493619854426,
    # relative_funding_rate 2.18013888889e-7, next_funding_rate_time 1680811200000,
    # markPrice 28064.92082724592, index 28062.14, bid 28060, ask 28070, last 28053.5,
    # volumeQuote 19628180
    clock = Clock()
    clock.now = 1_680_811_086_987  # arrives 500 ms after the venue's time

    async def scenario(r: Run) -> None:
        sock = await r.socket()
        assert sock.url == "wss://futures.kraken.com/ws/v1"
        assert sock.sent[0] == {
            "event": "subscribe",
            "feed": "ticker",
            "product_ids": ["PF_XBTUSD"],
        }
        (msg,) = messages("kraken")
        out = await r.push(sock, msg)
        fr, tk = only(out, ev.FundingRateObserved), only(out, ev.TickerObserved)
        assert fr.instrument == tk.instrument == "BTC/USD:USD"
        # the REST unit: absolute rate / mark (ccxt's parse_funding_rate), a relative rate per
        # hour; Kraken's own relative rate (against the spot price at calculation) agrees
        mark = D("28064.92082724592")
        assert fr.funding_rate == pytest.approx(D("0.006118542530909774") / mark, abs=D("1e-18"))
        assert fr.funding_rate == pytest.approx(D("2.18013888889e-7"), abs=D("1e-15"))
        assert fr.predicted_rate == pytest.approx(D("-0.03360493619854426") / mark, abs=D("1e-18"))
        assert fr.funding_interval_h == 1
        # the next whole hour of the venue time: the message's next_funding_rate_time
        assert fr.funding_time == msg["next_funding_rate_time"] == 1_680_811_200_000
        assert (fr.mark_price, fr.index_price) == (mark, D("28062.14"))
        assert fr.event_time == tk.event_time == 1_680_811_086_487  # the message's "time"
        assert (tk.bid, tk.ask, tk.last) == (D("28060"), D("28070"), D("28053.5"))
        assert tk.quote_volume_24h == D("19628180")
        assert lag("kraken") == pytest.approx(0.5)
        assert lag("kraken", "ws_tickers") == pytest.approx(0.5)

    Run("kraken", clock).go(scenario)


def test_kraken_stream_and_rest_give_the_same_rate_for_the_same_row() -> None:
    # the recorded REST tickers row (PF_DOGEUSD: fundingRate "-0.000000742689179664",
    # markPrice "0.09624183255"), sent as the ticker feed names its fields
    reply = rv.case("kraken", "fetchFundingRates")["httpResponse"]
    (row,) = reply["tickers"]
    ws_row = {
        "feed": "ticker",
        "product_id": row["symbol"],
        "time": 1_770_571_934_500,  # a second after the REST row (the same time: deduped)
        "funding_rate": float(row["fundingRate"]),
        "funding_rate_prediction": float(row["fundingRatePrediction"]),
        "markPrice": float(row["markPrice"]),
        "index": float(row["indexPrice"]),
        "bid": float(row["bid"]),
        "ask": float(row["ask"]),
        "tag": "perpetual",
    }
    clock = Clock()
    clock.now = 1_770_571_935_000

    async def scenario(r: Run) -> None:
        rest = only(await r.conn.poll(), ev.FundingRateObserved)
        sock = await r.socket()
        stream = only(await r.push(sock, ws_row), ev.FundingRateObserved)
        assert stream.funding_rate == rest.funding_rate
        assert stream.predicted_rate == rest.predicted_rate
        assert stream.funding_interval_h == rest.funding_interval_h == 1
        # recomputed from the raw row: absolute rate per contract / mark price
        expected = D(row["fundingRate"]) / D(row["markPrice"])
        assert rest.funding_rate == pytest.approx(expected, abs=D("1e-18"))

    run = Run("kraken", clock, assets=["DOGE"])
    run.http = routed({"/tickers": reply})
    run.conn.exchange.fetch = run.http
    run.http.exchange = run.conn.exchange
    run.go(scenario)


# ---- dropped streams -----------------------------------------------------------------------
def _subscription(sent: Any) -> Any:
    """A subscription without its per-connection request id / time."""
    return {k: v for k, v in sent.items() if k not in ("id", "req_id", "time")}


@pytest.mark.parametrize("venue", sorted(ASSET))
def test_dropped_stream_polls_rest_then_reconnects_and_subscribes_again(venue: str) -> None:
    clock = Clock()
    (msg,) = messages(venue)
    counter = "fundarb_ws_reconnects_total"
    before = REGISTRY.get_sample_value(counter, {"venue": venue}) or 0.0

    async def scenario(r: Run) -> None:
        first = await r.socket()
        clock.now += 1_000
        await r.push(first, msg)
        assert r.conn.stream_ok_ms["ws_funding"] == clock.now  # the stream's update
        calls = len(r.http.calls)
        n = len(r.emitted)
        first.drop()  # the venue drops the connection
        await r.until(lambda: len(r.emitted) > n)  # the REST fallback poll ...
        assert len(r.http.calls) > calls
        second = await r.socket(1)  # ... then ccxt.pro opens a new connection
        assert _subscription(second.sent[0]) == _subscription(first.sent[0])
        clock.now += 1_000
        await r.push(second, msg)  # and the stream flows again
        assert r.conn.stream_ok_ms["ws_funding"] == clock.now

    run = Run(venue, clock)
    run.go(scenario, poll_first=venue == "gate")  # gate's stream needs the REST schedule
    assert run.feed.reconnects == 1 and len(run.ws.sockets) == 2
    assert REGISTRY.get_sample_value(counter, {"venue": venue}) == before + 1


def test_bybit_fallback_poll_publishes_the_rest_rate() -> None:
    clock = Clock()
    (msg,) = messages("bybit")

    async def scenario(r: Run) -> None:
        first = await r.socket()
        await r.push(first, msg)
        first.drop()
        await r.until(lambda: len(r.emitted) == 2)

    run = Run("bybit", clock)
    run.go(scenario)
    # the REST poll: the recorded tickers reply (fundingRate "0.0001", bid1Price "68641.20")
    assert only(run.emitted[1], ev.FundingRateObserved).funding_rate == D("0.0001")
    assert not run.conn.status.stale and run.conn.status.last_ok_ms == clock.now


def test_a_silent_stream_is_reconnected() -> None:
    clock = Clock()

    async def scenario(r: Run) -> None:
        await r.socket()  # subscribed, then nothing arrives
        clock.now += 5_000
        second = await r.socket(1)
        assert _subscription(second.sent[0]) == {"op": "subscribe", "args": ["tickers.BTCUSDT"]}
        await r.until(lambda: bool(r.emitted))  # the REST poll

    run = Run("bybit", clock)
    run.feed.idle_s = 0.2
    run.go(scenario)
    assert run.feed.reconnects >= 1

    def staleness(stream: str) -> float | None:
        labels = {"venue": "bybit", "stream": stream}
        return REGISTRY.get_sample_value("fundarb_feed_staleness_seconds", labels)

    # per feed: the REST poll has just read funding, the stream never delivered (5 s)
    assert (staleness("funding"), staleness("ws_funding"), staleness("ws_tickers")) == (0, 5, 5)


# ---- hostile frames against the running feed -----------------------------------------------
def _bybit(**data: Any) -> dict[str, Any]:
    (msg,) = messages("bybit")
    return {**msg, "data": {**msg["data"], **data}}


def test_hostile_frames_are_dead_lettered_and_the_feed_goes_on() -> None:
    clock = Clock()
    clock.now = 1_673_272_862_000
    hostile: list[tuple[Any, str]] = [
        ("{not json", "parse.frame"),  # ccxt's json decode raises in its receive loop
        (_bybit(fundingRate="NaN"), "parse.value"),
        (_bybit(fundingRate="5"), "parse.value"),  # 500 % per interval
        (_bybit(markPrice="1e20"), "parse.value"),
        ({**_bybit(), "ts": 4_102_444_799_000}, "parse.future"),  # 2099-12-31
    ]

    async def scenario(r: Run) -> None:
        sock = await r.socket()
        for frame, error_type in hostile:
            out = await r.push(sock, frame)
            rejected = [e for e in out if isinstance(e, ev.EventRejected)]
            assert rejected and {e.error_type for e in rejected} == {error_type}, frame
            assert all(e.source_topic.startswith("venue.bybit.watch") for e in rejected)
            assert not any(isinstance(e, ev.FundingRateObserved) for e in out)
        # the same garbage again (already dead-lettered once), shapes ccxt's handler ignores,
        # a binary frame of garbage: the feed reads on
        sock.push("{not json")
        sock.push({"topic": "tickers.BTCUSDT", "type": "snapshot", "data": "x"})
        sock.push([1, 2])
        sock.frames.put_nowait(WSMessage(WSMsgType.BINARY, b"\xff\xfe{", None))
        sock.push(messages("bybit")[0])

        def rates() -> list[Any]:
            return [e for b in r.emitted for e in b if isinstance(e, ev.FundingRateObserved)]

        await r.until(lambda: bool(rates()))
        assert [e.funding_rate for e in rates()] == [D("-0.000212")]

    run = Run("bybit", clock)
    run.go(scenario)
    assert run.feed.frames_refused == 3 and run.feed.reconnects == 0  # 2 × bad JSON, binary
    letters = [e for batch in run.emitted for e in batch if isinstance(e, ev.EventRejected)]
    frame = json.loads(letters[0].raw_value)
    assert frame == {"frame": "{not json", "frame_chars": 9}
