"""Prometheus metrics of the connectors and the order gateway, read back from prometheus-client's
registry after real work: a connector polling ccxt offline on recorded Bybit replies, a gateway
placing orders through ccxt offline on recorded Binance replies (see test_connector.py and
test_gateway.py for the payloads). Counters are process-wide, so tests compare before/after."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D
from typing import Any

import ccxt.async_support as ccxt
import pytest
from prometheus_client import REGISTRY

from infra import metrics as m
from producers.live.connector import VenueConnector
from producers.live.gateway import OrderGateway, RetryPolicy
from producers.recorded import Reply, offline_exchange
from producers.venues import venue_spec
from schemas import events as ev
from schemas.types import Side, TimeInForce
from tests import stubs
from tests import venues as rv
from tests.unit.test_connector import Clock, routed

pytestmark = pytest.mark.unit
T0 = 1_763_000_000_000


def value(name: str, **labels: str) -> float:
    """A sample's value (0 when the series has no sample yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def connector(routes: dict[str, Any], clock: Clock) -> VenueConnector:
    spec = dataclasses.replace(venue_spec("bybit"), spot_symbol=None)
    ex = offline_exchange(
        "bybit", rv.markets("bybit"), routed(routes), options=spec.options, rate_limit=False
    )
    return VenueConnector(spec, ex, ["BTC"], stale_after_s=30, clock=clock)


def test_connector_sets_funding_gauges_lag_and_staleness_per_stream() -> None:
    # recorded bybit tickers: fundingRate "0.0001" (8 h interval from the market table)
    tickers = rv.case("bybit", "fetchFundingRates")["httpResponse"]
    up = {"ok": True}

    def reply() -> Any:
        if up["ok"]:
            return tickers
        raise ccxt.ExchangeNotAvailable("bybit down")

    clock = Clock()
    conn = connector({"/v5/market/tickers": reply}, clock)
    rv.run_async(conn.poll())
    assert value("fundarb_funding_rate", venue="bybit", asset="BTC") == pytest.approx(0.0001)
    # 0.0001 per 8 h × 3 a day × 365
    assert value("fundarb_funding_rate_apr", venue="bybit", asset="BTC") == pytest.approx(0.1095)
    assert value("fundarb_feed_staleness_seconds", venue="bybit", stream="funding") == 0
    assert value("fundarb_feed_staleness_seconds", venue="bybit", stream="tickers") == 0
    # the recorded ticker carries no venue time: stamped on arrival, lag 0
    assert value("fundarb_feed_lag_seconds", venue="bybit", stream="tickers") == 0
    assert value("fundarb_feed_stale", venue="bybit") == 0
    assert value(
        "fundarb_feed_last_success_timestamp_seconds", venue="bybit", stream="funding"
    ) == pytest.approx(T0 / 1000)

    failures = value("fundarb_feed_failures_total", venue="bybit", stream="funding")
    up["ok"] = False
    clock.now += 45_000  # past stale_after_s=30
    rv.run_async(conn.poll())
    assert value("fundarb_feed_failures_total", venue="bybit", stream="funding") == failures + 1
    assert value("fundarb_feed_staleness_seconds", venue="bybit", stream="funding") == 45
    assert value("fundarb_feed_staleness_seconds", venue="bybit", stream="tickers") == 45
    assert value("fundarb_feed_stale", venue="bybit") == 1

    up["ok"] = True
    clock.now += 5_000
    rv.run_async(conn.poll())
    assert value("fundarb_feed_staleness_seconds", venue="bybit", stream="tickers") == 0
    assert value("fundarb_feed_stale", venue="bybit") == 0


def gateway(responses: list[Any]) -> tuple[OrderGateway, Any]:
    ex, http = rv.shared("binance", responses)
    gw = OrderGateway(
        venue_spec("binance"),
        ex,
        retry=RetryPolicy(attempts=3, min_s=0, max_s=0),
        clock=lambda: T0,
    )
    return gw, http


CID = "fa0123456789abcdef0123456789abcd"


def test_gateway_counts_retries_and_failures_by_reason() -> None:
    ok = rv.case("binance", "createOrder")["httpResponse"]
    retries = value("fundarb_order_retries_total", venue="binance", reason="rate_limited")
    gw, _ = gateway([Reply(429, {"code": -1003, "msg": "Too many requests."}), ok])
    cmd = stubs.place_order(
        venue="binance",
        instrument="SOL/USDT",
        client_order_id=CID,
        time_in_force=TimeInForce.GTC,
    )
    (acc,) = rv.run_async(gw.handle(cmd))
    assert isinstance(acc, ev.OrderAccepted)
    assert value("fundarb_order_retries_total", venue="binance", reason="rate_limited") == (
        retries + 1
    )

    failed = value("fundarb_order_failures_total", venue="binance", reason="insufficient_margin")
    gw, _ = gateway([Reply(400, {"code": -2019, "msg": "Margin is insufficient."})])
    (rej,) = rv.run_async(
        gw.handle(
            stubs.place_order(venue="binance", instrument="BTC/USDT:USDT", client_order_id=CID)
        )
    )
    assert isinstance(rej, ev.OrderRejected)
    assert (
        value("fundarb_order_failures_total", venue="binance", reason="insufficient_margin")
        == failed + 1
    )


def test_gateway_hedge_fill_observes_latency_and_slippage() -> None:
    # recorded trade: orderId "3524852987", BUY 0.010 @ 36567.10, time 1699972836419
    placed = {
        "orderId": "3524852987",
        "symbol": "BTCUSDT",
        "status": "NEW",
        "clientOrderId": CID,
        "updateTime": "1699972836000",
    }
    trades = rv.case("binance", "fetchMyTrades", 1)["httpResponse"]
    status = {**placed, "status": "FILLED", "executedQty": "0.010", "origQty": "0.010"}
    gw, _ = gateway([placed, trades, status])
    cmd = stubs.place_order(
        venue="binance",
        instrument="BTC/USDT:USDT",
        client_order_id=CID,
        side=Side.buy,
        qty=D("0.01"),
        limit_price=D("36560"),
        is_hedge=True,
        event_time=1_699_972_836_419 - 1_500,
        ingest_time=1_699_972_836_419 - 1_500,
    )
    lat_n = value("fundarb_hedge_latency_seconds_count", venue="binance")
    lat_sum = value("fundarb_hedge_latency_seconds_sum", venue="binance")
    slip_n = value("fundarb_slippage_bps_count", venue="binance")
    slip_sum = value("fundarb_slippage_bps_sum", venue="binance")
    le2 = value("fundarb_hedge_latency_seconds_bucket", venue="binance", le="2.0")
    rv.run_async(gw.handle(cmd))
    (fill,) = rv.run_async(gw.poll())
    assert fill.is_hedge
    assert value("fundarb_hedge_latency_seconds_count", venue="binance") == lat_n + 1
    assert value("fundarb_hedge_latency_seconds_sum", venue="binance") == pytest.approx(
        lat_sum + 1.5
    )
    assert value("fundarb_hedge_latency_seconds_bucket", venue="binance", le="2.0") == le2 + 1
    # a buy at 36567.1 against a 36560 limit: (36567.1 − 36560) / 36560 × 1e4 bps worse
    assert value("fundarb_slippage_bps_count", venue="binance") == slip_n + 1
    assert value("fundarb_slippage_bps_sum", venue="binance") == pytest.approx(
        slip_sum + 7.1 / 36560 * 1e4
    )


@pytest.mark.parametrize(
    ("side", "price", "bps"),
    [(Side.buy, "101", "100"), (Side.buy, "99", "-100"), (Side.sell, "99", "100")],
)
def test_slippage_sign(side: Side, price: str, bps: str) -> None:
    assert m.slippage_bps(side, D(price), D("100")) == D(bps)


def test_paper_venue_answers_feed_the_order_metrics() -> None:
    """The paper venue's own answers (a taker hedge filled off its quote, an order without a
    quote rejected) through the paper service's metrics hook."""
    from producers.paper import PaperConfig, PaperVenue, observe_paper

    venue = PaperVenue(PaperConfig(latency_ms=200))
    quote = stubs.ticker_observed(venue="bybit", bid=D("99"), ask=D("101"))
    hedge = stubs.place_order(
        venue="bybit", side=Side.buy, limit_price=None, is_hedge=True, order_type="market"
    )
    orphan = stubs.place_order(venue="bybit", instrument="ETH/USDT:USDT", client_order_id="x-1")
    n = value("fundarb_hedge_latency_seconds_count", venue="bybit")
    lat = value("fundarb_hedge_latency_seconds_sum", venue="bybit")
    slip_n = value("fundarb_slippage_bps_count", venue="bybit")
    fails = value("fundarb_order_failures_total", venue="bybit", reason="no_liquidity")
    placed: dict[str, Any] = {}
    venue.on_event(quote)
    for cmd in (hedge, orphan):
        placed[cmd.client_order_id] = (cmd, cmd.limit_price or D("100"))  # the quote's mid
        for answer in venue.on_event(cmd):
            observe_paper(m, answer, placed)
    assert value("fundarb_hedge_latency_seconds_count", venue="bybit") == n + 1
    # the paper venue fills latency_ms after the command's event time
    assert value("fundarb_hedge_latency_seconds_sum", venue="bybit") == pytest.approx(lat + 0.2)
    assert value("fundarb_slippage_bps_count", venue="bybit") == slip_n + 1
    assert value("fundarb_order_failures_total", venue="bybit", reason="no_liquidity") == fails + 1
