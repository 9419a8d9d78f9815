"""The order gateway on ccxt's real exchange classes, offline: requests are built and signed by
ccxt, replies are recorded venue payloads (success and error) run through the venue's own
error mapping. Only the network is missing."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any
from urllib.parse import parse_qs, urlsplit

import ccxt.async_support as ccxt
import pytest

from producers.live.gateway import OrderGateway, RetryPolicy, reject_reason
from producers.recorded import Reply
from producers.venues import venue_spec
from schemas import events as ev
from schemas.types import MarketType, OrderType, RejectReason, Side, TimeInForce
from tests import stubs
from tests import venues as rv

NOW = 1_763_000_000_000
BINANCE_CID = "fa0123456789abcdef0123456789abcd"
HL_CID = "0x" + "ab" * 16


def gateway(venue: str, responses: list[Any]) -> tuple[OrderGateway, Any]:
    ex, http = rv.shared(venue, responses)
    gw = OrderGateway(
        venue_spec(venue), ex, retry=RetryPolicy(attempts=3, min_s=0, max_s=0), clock=lambda: NOW
    )
    return gw, http


def place(venue: str, instrument: str, **o: Any) -> ev.PlaceOrder:
    fields: dict[str, Any] = {
        "venue": venue,
        "instrument": instrument,
        "client_order_id": BINANCE_CID,
        "market_type": MarketType.spot if ":" not in instrument else MarketType.perp,
    }
    fields.update(o)
    return stubs.place_order(**fields)


def query(call: Any) -> dict[str, str]:
    """Params of a request, from its query string and url-encoded or JSON body."""
    out = {k: v[0] for k, v in parse_qs(urlsplit(call.url).query).items()}
    if call.body:
        body = call.json_body()
        if isinstance(body, dict):
            out.update({k: v for k, v in body.items()})
        else:
            out.update({k: v[0] for k, v in parse_qs(call.body).items()})
    return out


# ---- placement -----------------------------------------------------------------------------
def test_binance_spot_limit_carries_our_client_order_id() -> None:
    gw, http = gateway("binance", [rv.case("binance", "createOrder")["httpResponse"]])
    cmd = place(
        "binance",
        "SOL/USDT",
        side=Side.buy,
        qty=D("0.05"),
        limit_price=D("241"),
        time_in_force=TimeInForce.GTC,
    )
    out = rv.run_async(gw.handle(cmd))
    (call,) = http.calls
    assert call.method == "POST" and "/api/v3/order" in call.url
    q = query(call)
    assert q["newClientOrderId"] == BINANCE_CID
    assert (q["side"], q["type"], q["quantity"], q["price"]) == ("BUY", "LIMIT", "0.05", "241")
    (acc,) = out
    assert isinstance(acc, ev.OrderAccepted)
    # recorded reply: orderId "9780331417", transactTime "1737635557417"
    assert (acc.order_id, acc.event_time) == ("9780331417", 1_737_635_557_417)
    assert (acc.client_order_id, acc.causation_id, acc.correlation_id) == (
        BINANCE_CID,
        cmd.event_id,
        cmd.correlation_id,
    )


@pytest.mark.parametrize(("side", "effect"), [(Side.sell, "MARGIN_BUY"), (Side.buy, "AUTO_REPAY")])
def test_binance_spot_short_leg_borrows_and_repays_on_margin(side: Side, effect: str) -> None:
    gw, http = gateway("binance", [rv.case("binance", "createOrder")["httpResponse"]])
    cmd = place(
        "binance",
        "SOL/USDT",
        side=side,
        qty=D("0.05"),
        limit_price=D("241"),
        time_in_force=TimeInForce.GTC,
        margin=True,
    )
    rv.run_async(gw.handle(cmd))
    (call,) = http.calls
    assert "/sapi/v1/margin/order" in call.url
    assert query(call)["sideEffectType"] == effect


def test_bybit_perp_exit_is_reduce_only_with_order_link_id() -> None:
    gw, http = gateway("bybit", [rv.case("bybit", "createOrder", 1)["httpResponse"]])
    cmd = place(
        "bybit",
        "BTC/USDT:USDT",
        side=Side.sell,
        qty=D("0.01"),
        order_type=OrderType.market,
        limit_price=None,
        reduce_only=True,
    )
    (acc,) = rv.run_async(gw.handle(cmd))
    body = http.calls[0].json_body()
    assert body["orderLinkId"] == BINANCE_CID and body["reduceOnly"] is True
    assert (body["category"], body["side"], body["orderType"], body["qty"]) == (
        "linear",
        "Sell",
        "Market",
        "0.01",
    )
    assert body["timeInForce"] == "IOC"
    assert acc.order_id == "1609920528435648000"  # recorded result.orderId


def test_bybit_spot_margin_short_sets_is_leverage() -> None:
    gw, http = gateway("bybit", [rv.case("bybit", "createOrder", 1)["httpResponse"]])
    cmd = place("bybit", "BTC/USDT", side=Side.sell, qty=D("0.01"), margin=True)
    rv.run_async(gw.handle(cmd))
    body = http.calls[0].json_body()
    assert body["category"] == "spot" and str(body["isLeverage"]) == "1"


def test_hyperliquid_cloid_and_reference_price() -> None:
    gw, http = gateway("hyperliquid", [rv.case("hyperliquid", "createOrder")["httpResponse"]])
    cmd = place(
        "hyperliquid",
        "HYPE/USDC:USDC",
        client_order_id=HL_CID,
        side=Side.sell,
        qty=D("1"),
        order_type=OrderType.market,
        limit_price=None,
    )
    (rej,) = rv.run_async(gw.handle(cmd))
    assert isinstance(rej, ev.OrderRejected) and "reference price" in rej.message
    assert http.calls == []  # refused before any request
    gw.on_ticker(
        stubs.ticker_observed(
            venue="hyperliquid", instrument="HYPE/USDC:USDC", bid=D("25.58"), ask=D("25.60")
        )
    )
    cmd2 = place(
        "hyperliquid",
        "HYPE/USDC:USDC",
        client_order_id="0x" + "cd" * 16,
        side=Side.sell,
        qty=D("1"),
        order_type=OrderType.market,
        limit_price=None,
    )
    (acc,) = rv.run_async(gw.handle(cmd2))
    order = http.calls[0].json_body()["action"]["orders"][0]
    assert order["c"] == "0x" + "cd" * 16 and order["b"] is False and order["s"] == "1"
    assert acc.order_id == "296683658818"  # recorded statuses[0].filled.oid


def test_client_order_id_the_venue_would_refuse_is_rejected_without_a_request() -> None:
    gw, http = gateway("okx", [])
    cmd = place("okx", "BTC/USDT:USDT", client_order_id="fa-has-dashes")
    (rej,) = rv.run_async(gw.handle(cmd))
    assert rej.reject_reason is RejectReason.invalid_order and "clOrdId" in rej.message
    assert http.calls == []


def test_spot_margin_on_a_venue_without_it_is_rejected() -> None:
    gw, http = gateway("hyperliquid", [])
    cmd = place("hyperliquid", "PURR/USDC", client_order_id=HL_CID, margin=True)
    (rej,) = rv.run_async(gw.handle(cmd))
    assert "no spot margin" in rej.message and http.calls == []


# ---- failures and retries ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("venue", "reply", "reason"),
    [
        (
            "binance",
            Reply(400, {"code": -2019, "msg": "Margin is insufficient."}),
            RejectReason.insufficient_margin,
        ),
        (
            "binance",
            Reply(400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"}),
            RejectReason.invalid_order,
        ),
        (
            "binance",
            Reply(400, {"code": -2010, "msg": "Order would immediately match and take."}),
            RejectReason.post_only_would_cross,
        ),
        (
            "bybit",
            {
                "retCode": 110007,
                "retMsg": "ab not enough for new order",
                "result": {},
                "retExtInfo": {},
                "time": 1706653482432,
            },
            RejectReason.insufficient_margin,
        ),
    ],
)
def test_final_failures_are_mapped_and_never_retried(
    venue: str, reply: Any, reason: RejectReason
) -> None:
    gw, http = gateway(venue, [reply])
    instrument = "BTC/USDT:USDT"
    (rej,) = rv.run_async(gw.handle(place(venue, instrument)))
    assert isinstance(rej, ev.OrderRejected) and rej.reject_reason is reason
    assert len(http.calls) == 1  # not sent again


def test_rate_limited_submit_is_retried() -> None:
    ok = rv.case("binance", "createOrder")["httpResponse"]
    gw, http = gateway("binance", [Reply(429, {"code": -1003, "msg": "Too many requests."}), ok])
    (acc,) = rv.run_async(gw.handle(place("binance", "SOL/USDT", time_in_force=TimeInForce.GTC)))
    assert isinstance(acc, ev.OrderAccepted)
    assert [c.method for c in http.calls] == ["POST", "POST"]


def test_timeout_looks_the_order_up_by_client_id_before_resending() -> None:
    landed = rv.case("binance", "fetchOpenOrder")["httpResponse"]  # the order did land
    gw, http = gateway("binance", [ccxt.RequestTimeout("binance POST timed out"), landed])
    (acc,) = rv.run_async(gw.handle(place("binance", "LTC/USDT:USDT")))
    assert isinstance(acc, ev.OrderAccepted) and acc.order_id == "664082074"
    assert [c.method for c in http.calls] == ["POST", "GET"]  # no second submit
    assert query(http.calls[1])["origClientOrderId"] == BINANCE_CID


def test_timeout_then_not_found_resends_once() -> None:
    ok = rv.case("binance", "fetchOpenOrder")["httpResponse"]
    gw, http = gateway(
        "binance",
        [
            ccxt.RequestTimeout("binance POST timed out"),
            Reply(400, {"code": -2013, "msg": "Order does not exist."}),
            ok,
        ],
    )
    (acc,) = rv.run_async(gw.handle(place("binance", "LTC/USDT:USDT")))
    assert isinstance(acc, ev.OrderAccepted)
    assert [c.method for c in http.calls] == ["POST", "GET", "POST"]


def test_persistent_network_failure_is_a_network_rejection() -> None:
    gw, http = gateway("binance", [ccxt.ExchangeNotAvailable("down")] * 6)
    (rej,) = rv.run_async(gw.handle(place("binance", "LTC/USDT:USDT")))
    assert rej.reject_reason is RejectReason.network
    # one submit; each retry first asks for the order by client id, and the venue never answers,
    # so the order is never sent twice blind
    assert [c.method for c in http.calls] == ["POST", "GET", "GET"]  # RetryPolicy.attempts=3


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (ccxt.InsufficientFunds, RejectReason.insufficient_margin),
        (ccxt.RateLimitExceeded, RejectReason.rate_limited),
        (ccxt.DDoSProtection, RejectReason.rate_limited),
        (ccxt.OrderImmediatelyFillable, RejectReason.post_only_would_cross),
        (ccxt.InvalidOrder, RejectReason.invalid_order),
        (ccxt.BadSymbol, RejectReason.invalid_order),
        (ccxt.DuplicateOrderId, RejectReason.duplicate_client_order_id),
        (ccxt.RequestTimeout, RejectReason.network),
        (ccxt.ExchangeNotAvailable, RejectReason.network),
        (ccxt.AuthenticationError, RejectReason.unknown),
        (ValueError, RejectReason.unknown),
    ],
)
def test_reject_reason_mapping(exc: type[BaseException], reason: RejectReason) -> None:
    assert reject_reason(exc("x")) is reason


# ---- idempotency and fills -----------------------------------------------------------------
def test_resent_command_is_dropped_and_reused_client_id_rejected() -> None:
    gw, http = gateway("binance", [rv.case("binance", "createOrder")["httpResponse"]])
    cmd = place("binance", "SOL/USDT", time_in_force=TimeInForce.GTC)
    assert len(rv.run_async(gw.handle(cmd))) == 1
    assert rv.run_async(gw.handle(cmd)) == []  # the worker re-sent it after a restart
    other = place("binance", "SOL/USDT", time_in_force=TimeInForce.GTC, qty=D("0.5"))
    (rej,) = rv.run_async(gw.handle(other))
    assert rej.reject_reason is RejectReason.duplicate_client_order_id
    assert len(http.calls) == 1


def test_poll_reports_our_fills_with_our_client_order_id() -> None:
    # an accepted order whose venue id is the recorded trade's orderId "3524852987"
    placed = {
        "orderId": "3524852987",
        "symbol": "BTCUSDT",
        "status": "NEW",
        "clientOrderId": BINANCE_CID,
        "updateTime": "1699972836000",
    }
    trades = rv.case("binance", "fetchMyTrades", 1)["httpResponse"]
    status = {**placed, "status": "FILLED", "executedQty": "0.010", "origQty": "0.010"}
    gw, http = gateway("binance", [placed, trades, status])
    cmd = place("binance", "BTC/USDT:USDT", side=Side.buy, qty=D("0.01"))
    rv.run_async(gw.handle(cmd))
    (fill,) = rv.run_async(gw.poll())
    assert isinstance(fill, ev.FillExecuted)
    assert (fill.client_order_id, fill.correlation_id, fill.causation_id) == (
        BINANCE_CID,
        cmd.correlation_id,
        cmd.event_id,
    )
    assert (fill.fill_id, fill.qty, fill.price) == ("272536245", D("0.01"), D("36567.1"))
    http.responses[:] = [trades]
    assert rv.run_async(gw.poll()) == []  # the same trade is not reported twice


def test_expired_ioc_remainder() -> None:
    placed = {
        "orderId": "77",
        "symbol": "LTCUSDT",
        "status": "NEW",
        "clientOrderId": BINANCE_CID,
        "updateTime": "1699972836000",
    }
    expired = {
        **placed,
        "status": "EXPIRED",
        "executedQty": "0.004",
        "origQty": "0.010",
        "timeInForce": "IOC",
        "updateTime": "1699972836500",
    }
    gw, _ = gateway("binance", [placed, [], expired])
    rv.run_async(gw.handle(place("binance", "LTC/USDT:USDT", qty=D("0.01"))))
    (exp,) = rv.run_async(gw.poll())
    assert isinstance(exp, ev.OrderExpired)
    assert (exp.order_id, exp.filled_qty, exp.event_time) == ("77", D("0.004"), 1_699_972_836_500)


def test_request_bodies_never_contain_secrets() -> None:
    gw, http = gateway("binance", [rv.case("binance", "createOrder")["httpResponse"]])
    rv.run_async(gw.handle(place("binance", "SOL/USDT", time_in_force=TimeInForce.GTC)))
    blob = json.dumps([c.url for c in http.calls] + [c.body for c in http.calls])
    assert rv.CREDENTIALS["secret"] not in blob  # signed with it, never sent


def test_restart_restores_orders_from_the_log_and_adopts_open_orders() -> None:
    gw, _ = gateway("binance", [])
    cmd = place("binance", "LTC/USDT:USDT")
    other = place("binance", "LTC/USDT:USDT", client_order_id="fa" + "9" * 30)
    fill = stubs.fill_executed(venue="binance", fill_id="272536245")
    for e in (cmd, other, fill):
        gw.restore(e)
    gw.restore(
        stubs.order_accepted(venue="binance", client_order_id=other.client_order_id, order_id="55")
    )
    assert gw.by_order_id == {"55": other.client_order_id} and "272536245" in gw.seen_fills
    # the venue's open orders: ours (no accept in the log: we stopped before the reply) + one
    # placed by hand
    foreign = gw.adopt(
        [{"id": "664082074", "clientOrderId": BINANCE_CID}, {"id": "9", "clientOrderId": "by-hand"}]
    )
    assert foreign == ["9"] and gw.by_order_id["664082074"] == BINANCE_CID
    assert rv.run_async(gw.handle(cmd)) == []  # the re-sent command is not placed again


def test_a_gateway_not_reconciled_yet_rejects_orders_without_a_request() -> None:
    gw, http = gateway("binance", [])
    gw.ready = False
    cmd = place("binance", "BTC/USDT:USDT")
    (rej,) = rv.run_async(gw.handle(cmd))
    assert isinstance(rej, ev.OrderRejected) and rej.reject_reason is RejectReason.network
    assert "not reconciled" in rej.message and http.calls == []
    gw.ready = True
    assert rv.run_async(gw.handle(cmd)) == []  # the same command is not placed later
