"""Kraken Futures and dYdX as live venues, and Lighter's settled-rate sign, on recorded replies.

Replies: ``tests/resources/kraken/`` and ``tests/resources/dydx/`` (ccxt's static test data,
sources in their ``_source``), run through ccxt's own ``krakenfutures`` and ``dydx`` classes
offline. Expected values are read by hand from the raw replies quoted in the comments.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any
from urllib.parse import parse_qs, urlsplit

import ccxt.async_support as ccxt
import pytest

from producers import parse as p
from producers.live.connector import VenueConnector
from producers.recorded import RecordedHttp, offline_exchange
from producers.venues import venue_spec
from schemas import events as ev
from schemas.types import Liquidity, MarketType, Side
from tests import venues as rv

INGEST = 1_763_000_000_123
HOUR = 3_600_000


def ms(iso: str) -> int:
    return int(
        datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).timestamp() * 1000
    )


# ---- Kraken Futures -----------------------------------------------------------------------
def test_kraken_is_traded_through_ccxts_krakenfutures_class() -> None:
    ex, _ = rv.shared("kraken", [])
    assert ex.id == "krakenfutures"
    assert venue_spec("kraken").perp("BTC") == "BTC/USD:USD"  # the bundled data's symbol


def test_kraken_funding_rate_is_the_absolute_rate_over_the_mark_per_hour() -> None:
    # raw tickers row PF_DOGEUSD: fundingRate "-0.000000742689179664" (absolute: USD per
    # contract per hour), fundingRatePrediction "-0.000000253089377012", markPrice
    # "0.09624183255", indexPrice "0.096257", lastTime "2026-02-08T17:32:13.922599Z"
    rows = rv.run("kraken", "fetchFundingRates")
    (e,), bad = p.parse_funding_rates(venue_spec("kraken"), rows, ingest_time=INGEST)
    assert bad == []
    assert (e.venue, e.instrument) == ("kraken", "DOGE/USD:USD")
    # relative rate per hour = absolute / mark (ccxt's recorded parse: -0.000007716906047878)
    assert e.funding_rate == D("-0.000007716906047878")
    assert abs(e.funding_rate - D("-0.000000742689179664") / D("0.09624183255")) < D("1e-18")
    assert e.predicted_rate == D("-0.000002629723170332")
    assert e.funding_interval_h == 1
    t = ms("2026-02-08T17:32:13.922Z")
    assert e.event_time == t
    assert e.funding_time == (t // HOUR + 1) * HOUR  # hourly, no time sent: the next hour
    assert (e.mark_price, e.index_price) == (D("0.09624183255"), D("0.096257"))


def test_kraken_ticker_field_by_field() -> None:
    # raw: bid "0.096234", ask "0.096253", last "0.096326", markPrice "0.09624183255"
    tickers = rv.run("kraken", "fetchTickers")
    t = p.parse_ticker(venue_spec("kraken"), tickers["DOGE/USD:USD"], ingest_time=INGEST)
    assert (t.bid, t.ask, t.last, t.mark_price) == (
        D("0.096234"),
        D("0.096253"),
        D("0.096326"),
        D("0.09624183255"),
    )
    assert t.event_time == ms("2026-02-08T17:32:13.922Z")


def test_kraken_fills_field_by_field() -> None:
    # raw: fill_id "da062bc0-…", order_id "85805e01-…", PF_LTCUSD buy size "0.1" price "68.54"
    # fillType "taker" fillTime "2024-02-06T22:24:34.849Z"; no fee in the reply: ccxt
    # estimates it as cost × the market's taker rate (0.0005, tests/resources/kraken/markets)
    fills, bad = p.parse_fills(
        venue_spec("kraken"), rv.run("kraken", "fetchMyTrades"), ingest_time=INGEST
    )
    assert bad == []
    ltc = next(f for f in fills if f.instrument == "LTC/USD:USD")
    assert (ltc.fill_id, ltc.order_id) == (
        "da062bc0-5901-48a5-9bb3-34c6be3ef7a5",
        "85805e01-9eed-4395-8360-ed1a228237c9",
    )
    assert (ltc.side, ltc.qty, ltc.price, ltc.liquidity) == (
        Side.buy,
        D("0.1"),
        D("68.54"),
        Liquidity.taker,
    )
    assert (ltc.fee, ltc.fee_currency) == (D("0.1") * D("68.54") * D("0.0005"), "USD")
    assert ltc.market_type is MarketType.perp and ltc.event_time == ms("2024-02-06T22:24:34.849Z")
    ftm = next(f for f in fills if f.instrument == "FTM/USD:USD")
    assert (ftm.side, ftm.qty, ftm.price) == (Side.sell, D("1"), D("0.50008"))


def test_kraken_position_field_by_field() -> None:
    # raw openPositions: PF_LTCUSD side "long" size "0.1" price "68.54" (entry)
    (e,) = [
        p.parse_position(venue_spec("kraken"), r, ingest_time=INGEST)
        for r in rv.run("kraken", "fetchPositions")
    ]
    assert (e.instrument, e.currency) == ("LTC/USD:USD", "USD")
    assert (e.position_qty, e.entry_price) == (D("0.1"), D("68.54"))
    assert e.event_time == ms("2024-02-06T22:24:34.849Z")


def test_kraken_funding_payment_takes_the_logs_mark_and_derives_the_relative_rate() -> None:
    # raw account log row: id 2, contract "pf_xrpusd", info "funding rate change",
    # realized_funding 0.0116 (USD; old_balance 1068.0239 → new_balance 1068.0355: received),
    # mark_price 1.01013, funding_rate 5.44e-06 (absolute), date "2026-08-10T16:00:00.000Z"
    (row,) = rv.run("kraken", "fetchFundingHistory", 0)
    spec = venue_spec("kraken")
    with pytest.raises(p.ParseError, match="no position"):
        p.parse_funding_payment(spec, row, ingest_time=INGEST)  # the log has no position size
    leg = p.LegView(position_qty=D("-2132"))  # short XRP: the connector's view
    e = p.parse_funding_payment(spec, row, ingest_time=INGEST, leg=leg)
    assert (e.instrument, e.amount, e.amount_currency) == ("XRP/USD:USD", D("0.0116"), "USD")
    assert e.mark_price == D("1.01013")  # from the row, not from the view
    assert e.funding_time == e.event_time == ms("2026-08-10T16:00:00.000Z")
    assert -e.position_qty * e.mark_price * e.funding_rate == e.amount
    # the derived relative rate matches the log's absolute rate over the mark within 1 %
    assert abs(e.funding_rate / (D("5.44e-06") / D("1.01013")) - 1) < D("0.01")


# ---- dYdX ---------------------------------------------------------------------------------
def test_dydx_funding_and_prices_come_from_the_market_list() -> None:
    # raw perpetualMarkets row BTC-USD: nextFundingRate "0.00016451111111111111" (the coming
    # hour's), oraclePrice "118700.5426", volume24H "563041.3490" (USD)
    spec = venue_spec("dydx")
    markets = rv.run("dydx", "fetchMarkets")
    rates, tickers = p.markets_snapshot(spec, markets, symbols=["BTC/USDC:USDC"])
    (e,), bad = p.parse_funding_rates(spec, rates, ingest_time=INGEST)
    assert bad == []
    assert (e.venue, e.instrument) == ("dydx", "BTC/USDC:USDC")
    assert e.funding_rate == D("0.00016451111111111111")  # the venue's string, exactly
    assert e.funding_interval_h == 1
    assert e.funding_time == (INGEST // HOUR + 1) * HOUR
    assert e.mark_price == D("118700.5426") and e.event_time == INGEST
    # raw order book: best bid "118267", best ask "118485"
    book = rv.run("dydx", "fetchOrderBook")
    t = p.parse_ticker(spec, tickers["BTC/USDC:USDC"], ingest_time=INGEST, book=book)
    assert (t.bid, t.ask, t.mark_price) == (D("118267"), D("118485"), D("118700.5426"))
    assert t.quote_volume_24h == D("563041.3490")
    assert p.markets_snapshot(spec, markets, symbols=["ETH/USDC:USDC"]) == ([], {})


def test_dydx_connector_polls_the_market_list_and_the_book() -> None:
    markets = rv.case("dydx", "fetchMarkets")["httpResponse"]
    book = rv.case("dydx", "fetchOrderBook")["httpResponse"]

    def answer(method: str, url: str, headers: object, body: object) -> object:
        return markets if "perpetualMarkets" in url else book

    spec = venue_spec("dydx")
    http = RecordedHttp(fallback=answer)
    ex = offline_exchange("dydx", rv.markets("dydx"), http, options=spec.options, rate_limit=False)
    conn = VenueConnector(spec, ex, ["BTC"], stale_after_s=30, clock=lambda: INGEST)
    out = rv.run_async(conn.poll())
    fr = next(e for e in out if isinstance(e, ev.FundingRateObserved))
    tk = next(e for e in out if isinstance(e, ev.TickerObserved))
    assert fr.funding_rate == D("0.00016451111111111111") and fr.funding_interval_h == 1
    assert (tk.bid, tk.ask) == (D("118267"), D("118485"))
    assert any("perpetualMarkets" in c.url for c in http.calls)
    assert not [e for e in out if isinstance(e, ev.EventRejected)]


def test_dydx_position_field_by_field() -> None:
    # raw: market "BTC-USD" side "SHORT" size "-0.407", entryPrice
    # "118692.04840909090909090909" (ccxt keeps a float), createdAt "2025-07-14T07:53:55.631Z"
    (e,) = [
        p.parse_position(venue_spec("dydx"), r, ingest_time=INGEST)
        for r in rv.run("dydx", "fetchPositions")
    ]
    assert (e.instrument, e.currency, e.position_qty) == ("BTC/USDC:USDC", "USDC", D("-0.407"))
    assert e.entry_price == D("118692.04840909092")
    assert e.event_time == ms("2025-07-14T07:53:55.631Z")


def test_dydx_balance_without_a_total_yields_no_balance_event() -> None:
    # raw: equity "161451.040416029", freeCollateral "152508"; ccxt reports USDC free 152508
    # with total None — a balance without its total is not made up
    bal = rv.run("dydx", "fetchBalance")
    assert bal["USDC"]["free"] == 152508 and bal["USDC"]["total"] is None
    assert p.parse_balance(venue_spec("dydx"), bal, ingest_time=INGEST) == []


DYDX_WALLET = "dydx1cpb4tedmwq304c2kc9pwzjwq0sc6z2a4tasxrz"  # ccxt's example chain address


def dydx_account() -> Any:
    """The recorded indexer replies (``tests/resources/dydx/account.json``, its ``_source``)."""
    return json.loads((rv.RESOURCES / "dydx" / "account.json").read_text())


def dydx_exchange(http: RecordedHttp) -> Any:
    spec = venue_spec("dydx")
    ex = offline_exchange("dydx", rv.markets("dydx"), http, options=spec.options, rate_limit=False)
    ex.walletAddress = DYDX_WALLET
    return ex


def test_dydx_indexer_fills_field_by_field() -> None:
    spec = venue_spec("dydx")
    rows = dydx_account()["fills"]["fills"]
    trades = [p.indexer_fill_trade(r, {"BTC-USD": "BTC/USDC:USDC"}) for r in rows]
    fills, bad = p.parse_fills(
        spec, trades, ingest_time=INGEST, client_ids={"3c9b4ad1-7e1b-5a8f-a2c4-0f6d9e8b7a61": "1"}
    )
    assert bad == []
    a, b = fills
    # raw 1: id "6b2b3d4e-…", side "BUY", liquidity "TAKER", market "BTC-USD", price "118485",
    # size "0.0100", fee "0.592425", createdAt "2025-07-14T08:00:01.512Z", orderId "3c9b4ad1-…"
    assert (a.fill_id, a.order_id) == (
        "6b2b3d4e-1f0a-5c9e-8d7b-0a1b2c3d4e5f",
        "3c9b4ad1-7e1b-5a8f-a2c4-0f6d9e8b7a61",
    )
    assert a.client_order_id == "1"  # the gateway's order id → client id map
    assert (a.venue, a.instrument, a.market_type) == ("dydx", "BTC/USDC:USDC", MarketType.perp)
    assert (a.side, a.liquidity) == (Side.buy, Liquidity.taker)
    assert (a.qty, a.price) == (D("0.0100"), D("118485"))
    assert (a.fee, a.fee_currency) == (D("0.592425"), "USDC")
    assert a.event_time == ms("2025-07-14T08:00:01.512Z")
    # raw 2: side "SELL", liquidity "MAKER", price "118700", size "0.0050", fee "0.05935",
    # orderId "d1e2f3a4-…" (not ours: no client id known)
    assert (b.side, b.liquidity, b.qty, b.price) == (
        Side.sell,
        Liquidity.maker,
        D("0.0050"),
        D("118700"),
    )
    assert b.fee == D("0.05935")
    assert b.client_order_id == "ext-d1e2f3a4-b5c6-5d7e-8f90-a1b2c3d4e5f6"
    assert b.event_time == ms("2025-07-14T09:15:30.004Z")


def test_dydx_indexer_fill_with_a_bad_side_is_refused() -> None:
    row = dict(dydx_account()["fills"]["fills"][0], side="BOTH")
    trade = p.indexer_fill_trade(row, {"BTC-USD": "BTC/USDC:USDC"})
    with pytest.raises(p.ParseError, match="side"):
        p.parse_fill(venue_spec("dydx"), trade, ingest_time=INGEST)
    with pytest.raises(p.ParseError, match="createdAt"):
        p.indexer_fill_trade(dict(row, createdAt="yesterday"), {})


def test_dydx_indexer_funding_payments_field_by_field() -> None:
    spec = venue_spec("dydx")
    rows = dydx_account()["fundingPayments"]["fundingPayments"]
    long_, short = (
        p.parse_funding_payment(
            spec, p.indexer_funding_row(r, {"BTC-USD": "BTC/USDC:USDC"}), ingest_time=INGEST
        )
        for r in rows
    )
    # raw 1: ticker "BTC-USD", side "LONG", size "0.0150", oraclePrice "118700.5426",
    # rate "0.00001", payment "-0.01780508139" (paid), createdAt "2025-07-14T09:00:01.053Z",
    # createdAtHeight "44003001"
    assert (long_.venue, long_.instrument) == ("dydx", "BTC/USDC:USDC")
    assert long_.position_qty == D("0.0150")
    assert (long_.mark_price, long_.funding_rate) == (D("118700.5426"), D("0.00001"))
    assert (long_.amount, long_.amount_currency) == (D("-0.01780508139"), "USDC")
    assert long_.funding_time == long_.event_time == ms("2025-07-14T09:00:01.053Z")
    assert long_.funding_id == "BTC-USD|44003001"
    # raw 2: side "SHORT", size "-0.407", oraclePrice "118650", rate "0.000012",
    # payment "0.5794866" (received: shorts are paid when the rate is positive)
    assert short.position_qty == D("-0.407")
    assert short.amount == D("0.5794866") > 0
    # the indexer's own formula (v4-chain roundtable update_funding_payments.sql):
    # payment = - size × oraclePrice × rate, size the signed net position
    for e in (long_, short):
        assert -e.position_qty * e.mark_price * e.funding_rate == e.amount


def test_dydx_indexer_funding_payment_with_a_bad_side_is_refused() -> None:
    row = dict(dydx_account()["fundingPayments"]["fundingPayments"][0], side="FLAT")
    with pytest.raises(p.ParseError, match="LONG/SHORT"):
        p.indexer_funding_row(row, {})


def test_dydx_connector_and_gateway_read_the_indexer_through_ccxts_dydx_class() -> None:
    from producers.live.gateway import OrderGateway

    acct = dydx_account()
    markets = rv.case("dydx", "fetchMarkets")["httpResponse"]
    positions = rv.case("dydx", "fetchPositions")["httpResponse"]

    def answer(method: str, url: str, headers: object, body: object) -> object:
        if "/v4/fills" in url:
            return acct["fills"]
        if "/v4/fundingPayments" in url:
            return acct["fundingPayments"]
        if "perpetualPositions" in url:
            return positions
        if "perpetualMarkets" in url:
            return markets
        return {"subaccount": {"equity": "1", "freeCollateral": "1"}}

    spec = venue_spec("dydx")
    http = RecordedHttp(fallback=answer)
    ex = dydx_exchange(http)
    conn = VenueConnector(spec, ex, ["BTC"], stale_after_s=30, clock=lambda: INGEST, private=True)
    out = rv.run_async(conn._account(INGEST))
    paid = [e for e in out if isinstance(e, ev.FundingPaid)]
    assert [e.amount for e in paid] == [D("-0.01780508139"), D("0.5794866")]
    assert not [e for e in out if isinstance(e, ev.EventRejected)]
    funding_call = next(c for c in http.calls if "/v4/fundingPayments" in c.url)
    assert f"address={DYDX_WALLET}" in funding_call.url and "ticker=BTC-USD" in funding_call.url
    assert "subaccountNumber=0" in funding_call.url

    events, _ = rv.run_async(conn.reconcile(set(), since=None, client_ids={}))
    assert [e.fill_id for e in events if isinstance(e, ev.FillExecuted)] == [
        "6b2b3d4e-1f0a-5c9e-8d7b-0a1b2c3d4e5f",
        "9f8e7d6c-5b4a-5321-9fed-cba987654321",
    ]
    fills_call = next(c for c in http.calls if "/v4/fills" in c.url)
    assert "market=BTC-USD" in fills_call.url and "marketType=PERPETUAL" in fills_call.url

    gw = OrderGateway(spec, ex, clock=lambda: INGEST)
    fills = rv.run_async(gw.fetch_fills("BTC/USDC:USDC", since=ms("2025-07-14T09:00:00.000Z")))
    assert [f.fill_id for f in fills] == ["9f8e7d6c-5b4a-5321-9fed-cba987654321"]  # since


def test_dydx_trades_live() -> None:
    from streams.live import MissingCredentialsError, check_credentials

    assert venue_spec("dydx").private_trading
    with pytest.raises(MissingCredentialsError, match="FUNDARB_DYDX_WALLET_ADDRESS"):
        check_credentials(["dydx"], paper=False)
    assert "dydx" in check_credentials(["dydx"], paper=True)


# ---- Lighter: a magnitude plus the side that pays ------------------------------------------
LIGHTER_ROW = {"timestamp": 1_763_000_000, "value": "0.0012", "rate": "0.0012"}


@pytest.mark.parametrize(("side", "expected"), [("long", D("0.000012")), ("short", D("-0.000012"))])
def test_lighter_settled_rate_is_signed_by_the_paying_side(side: str, expected: D) -> None:
    # rate "0.0012" is percent of notional for the hour; direction names who pays
    e = p.parse_settled_funding(
        venue_spec("lighter"),
        {**LIGHTER_ROW, "direction": side},
        instrument="ETH/USDC:USDC",
        ingest_time=INGEST,
    )
    assert e.funding_rate == expected  # positive when longs pay, as every venue's rate
    assert e.settled is True and e.funding_interval_h == 1
    assert e.funding_time == e.event_time == 1_763_000_000_000  # seconds → ms
    # a long of 1 ETH at 3000 pays (−qty × mark × rate < 0) exactly when longs pay
    assert (-D(1) * D(3000) * e.funding_rate < 0) == (side == "long")


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ({**LIGHTER_ROW, "direction": "both"}, "paying side"),
        ({**LIGHTER_ROW, "direction": None}, "paying side"),
        ({**LIGHTER_ROW, "rate": "-0.0012", "direction": "long"}, "magnitude"),
        ({"timestamp": 1_763_000_000, "direction": "long"}, "missing"),
    ],
)
def test_lighter_settled_rows_without_a_clear_sign_are_refused(row: dict, match: str) -> None:
    with pytest.raises(p.ParseError, match=match):
        p.parse_settled_funding(
            venue_spec("lighter"), row, instrument="ETH/USDC:USDC", ingest_time=INGEST
        )


def test_a_venue_without_paying_side_rows_refuses_them() -> None:
    with pytest.raises(p.ParseError, match="no settled-funding rows"):
        p.parse_settled_funding(
            venue_spec("binance"),
            {**LIGHTER_ROW, "direction": "long"},
            instrument="BTC/USDT:USDT",
            ingest_time=INGEST,
        )


def _lighter_connector(fundings: object) -> tuple[VenueConnector, RecordedHttp]:
    """A Lighter connector whose ``/fundings`` answers ``fundings``; the market poll's other
    calls fail (venue unreachable), so the settled rates are read on their own."""

    def answer(method: str, url: str, headers: object, body: object) -> object:
        if "/api/v1/fundings" in url:
            return fundings
        raise ccxt.NetworkError(f"offline: {url}")

    spec = venue_spec("lighter")
    http = RecordedHttp(fallback=answer)
    ex = offline_exchange(
        "lighter", rv.markets("lighter"), http, options=spec.options, rate_limit=False
    )
    return VenueConnector(spec, ex, ["ETH"], stale_after_s=30, clock=lambda: INGEST), http


def test_lighter_connector_polls_the_settled_rates_signed_by_the_paying_side() -> None:
    # reply (tests/resources/lighter/fundings.json): {timestamp 1762995600, rate "0.0012",
    # direction "long"}, {timestamp 1762999200, rate "0.0004", direction "short"}
    reply = json.loads((rv.RESOURCES / "lighter" / "fundings.json").read_text())
    conn, http = _lighter_connector(reply["fetchSettledFunding"])
    out = rv.run_async(conn.poll())
    (call,) = [c for c in http.calls if "/api/v1/fundings" in c.url]
    query = parse_qs(urlsplit(call.url).query)
    end_s = INGEST // 1000
    assert query == {
        "market_id": ["0"],  # ETH's market_id (tests/resources/lighter/markets.json)
        "resolution": ["1h"],
        "start_timestamp": [str(end_s - 3 * 3600)],
        "end_timestamp": [str(end_s)],
        "count_back": ["3"],
    }
    settled = [e for e in out if isinstance(e, ev.FundingRateObserved)]
    assert [(e.funding_time, e.funding_rate) for e in settled] == [
        (1_762_995_600_000, D("0.000012")),  # 0.0012 % of notional, longs paid: +
        (1_762_999_200_000, D("-0.000004")),  # 0.0004 %, shorts paid: −
    ]
    assert all(e.settled and e.instrument == "ETH/USDC:USDC" for e in settled)
    assert all(e.event_time == e.funding_time and e.funding_interval_h == 1 for e in settled)
    assert not [e for e in out if isinstance(e, ev.EventRejected)]
    # the next poll reads the same hours again: nothing new
    assert not [e for e in rv.run_async(conn.poll()) if isinstance(e, ev.FundingRateObserved)]


def test_lighter_settled_rows_without_a_paying_side_are_dead_letters() -> None:
    reply = {
        "code": 200,
        "resolution": "1h",
        "fundings": [{**LIGHTER_ROW, "direction": "both"}, {**LIGHTER_ROW, "direction": "long"}],
    }
    conn, _ = _lighter_connector(reply)
    out = rv.run_async(conn.poll())
    (letter,) = [e for e in out if isinstance(e, ev.EventRejected)]
    assert letter.source_topic == "venue.lighter.fundings" and letter.error_type == "parse.value"
    (fr,) = [e for e in out if isinstance(e, ev.FundingRateObserved)]
    assert fr.funding_rate == D("0.000012") and fr.settled
    # a reply without the list is refused too, not a crash
    conn, _ = _lighter_connector({"code": 200})
    (letter,) = [e for e in rv.run_async(conn.poll()) if isinstance(e, ev.EventRejected)]
    assert letter.error_type == "parse.missing"


def test_dydx_unreadable_indexer_row_is_dead_lettered_the_rest_kept() -> None:
    acct = dydx_account()
    good, _ = acct["fundingPayments"]["fundingPayments"]
    reply = {"fundingPayments": [dict(good, side="FLAT"), good]}
    positions = rv.case("dydx", "fetchPositions")["httpResponse"]

    def answer(method: str, url: str, headers: object, body: object) -> object:
        if "/v4/fundingPayments" in url:
            return reply
        if "perpetualPositions" in url:
            return positions
        return {"subaccount": {"equity": "1", "freeCollateral": "1"}}

    spec = venue_spec("dydx")
    conn = VenueConnector(
        spec, dydx_exchange(RecordedHttp(fallback=answer)), ["BTC"], clock=lambda: INGEST
    )
    out = rv.run_async(conn._account(INGEST))
    (dead,) = [e for e in out if isinstance(e, ev.EventRejected)]
    assert "LONG/SHORT" in dead.reason
    assert [e.amount for e in out if isinstance(e, ev.FundingPaid)] == [D("-0.01780508139")]
