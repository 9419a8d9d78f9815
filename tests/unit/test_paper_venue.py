"""Paper venue scenarios: fills by order type, partials, rejections, fees, funding, balances."""

from decimal import Decimal as D

import pytest

from producers.paper import Fault, PaperConfig, PaperVenue
from schemas import events as ev
from schemas.config import FeeConfig, VenueFees
from tests import stubs

T = stubs.T0
FEES = FeeConfig(
    venues={
        "binance": VenueFees(maker=D("0.0002"), taker=D("0.0005")),
        "hyperliquid": VenueFees(maker=D("0.00015"), taker=D("0.00045")),
    }
)


def venue(**kw: object) -> PaperVenue:
    cfg = PaperConfig(
        fees=FEES, slippage_bps=D("1"), impact_bps_per_musd=D("0"), latency_ms=50, **kw
    )  # type: ignore[arg-type]
    v = PaperVenue(cfg)
    v.on_event(stubs.ticker_observed(bid="100", ask="100.1", mark_price="100.05", event_time=T))
    return v


def order(cid: str = "c1", **kw: object) -> ev.PlaceOrder:
    base: dict[str, object] = dict(
        client_order_id=cid,
        event_id=stubs.eid(cid),
        side="buy",
        qty="2",
        order_type="market",
        time_in_force="IOC",
        limit_price=None,
        event_time=T + 10,
    )
    base.update(kw)
    return stubs.place_order(**base)


def kinds(events: list) -> list[str]:
    return [type(e).__name__ for e in events if not isinstance(e, ev.BalanceObserved)]


def test_market_buy_fills_at_ask_plus_slippage_with_taker_fee() -> None:
    out = venue().on_event(order())
    assert kinds(out) == ["OrderAccepted", "FillExecuted"]
    fill = out[1]
    assert fill.price == D("100.11001")  # 100.1 × (1 + 1 bp)
    assert fill.fee == D("0.10011001")  # 2 × 100.11001 × 0.0005
    assert fill.liquidity is ev.Liquidity.taker and fill.fee_currency == "USDT"
    assert fill.event_time == T + 60  # order time + 50 ms latency


def test_size_dependent_slippage() -> None:
    v = PaperVenue(PaperConfig(fees=FEES, slippage_bps=D("0"), impact_bps_per_musd=D("10")))
    v.on_event(stubs.ticker_observed(bid="100", ask="100", event_time=T))
    fill = v.on_event(order(qty="10000", side="sell"))[1]
    assert fill.price == D("99.9")  # notional 1M USD → 10 bp of 100


def test_ioc_limit_caps_the_price_and_expires_the_rest_on_partial() -> None:
    v = venue(faults={"c1": Fault("partial", D("0.25"))})
    out = v.on_event(order(order_type="limit", limit_price="100.105"))
    assert kinds(out) == ["OrderAccepted", "FillExecuted", "OrderExpired"]
    assert out[1].qty == D("0.5") and out[1].price == D("100.105")  # capped at the limit
    assert out[2].filled_qty == D("0.5")


def test_ioc_limit_that_does_not_cross_expires_unfilled() -> None:
    out = venue().on_event(order(order_type="limit", limit_price="99"))
    assert kinds(out) == ["OrderAccepted", "OrderExpired"]


def test_fok_fills_all_or_nothing() -> None:
    out = venue(faults={"c1": Fault("partial", D("0.5"))}).on_event(
        order(order_type="limit", limit_price="101", time_in_force="FOK")
    )
    assert kinds(out) == ["OrderAccepted", "OrderExpired"]
    expired = next(e for e in out if isinstance(e, ev.OrderExpired))
    assert expired.filled_qty == 0 and not any(isinstance(e, ev.FillExecuted) for e in out)


def test_gtc_limit_rests_then_fills_as_maker_when_the_market_trades_through() -> None:
    v = venue()
    out = v.on_event(order(order_type="limit", limit_price="99.5", time_in_force="GTC"))
    assert kinds(out) == ["OrderAccepted"]
    assert (
        v.on_event(
            stubs.ticker_observed(
                bid="99.6", ask="99.7", event_time=T + 1000, event_id=stubs.eid("q2")
            )
        )
        == []
    )
    out = v.on_event(
        stubs.ticker_observed(bid="99.3", ask="99.4", event_time=T + 2000, event_id=stubs.eid("q3"))
    )
    fill = next(e for e in out if isinstance(e, ev.FillExecuted))
    assert fill.price == D("99.5") and fill.liquidity is ev.Liquidity.maker
    assert fill.fee == D("0.0398")  # 2 × 99.5 × 0.0002


def test_post_only_that_would_cross_is_rejected() -> None:
    out = venue().on_event(order(order_type="limit", limit_price="100.2", time_in_force="PO"))
    assert out[0].reject_reason is ev.RejectReason.post_only_would_cross


def test_scripted_rejection_no_quote_and_duplicate_client_order_id() -> None:
    out = venue(faults={"c1": Fault("reject")}).on_event(order())
    assert (
        kinds(out) == ["OrderRejected"]
        and out[0].reject_reason is ev.RejectReason.insufficient_margin
    )
    out = PaperVenue(PaperConfig(fees=FEES)).on_event(order())
    assert out[0].reject_reason is ev.RejectReason.no_liquidity
    v = venue()
    first = v.on_event(order())
    assert v.on_event(order()) == []  # the same command again: already answered
    other = v.on_event(order(event_id=stubs.eid("another")))
    assert other[0].reject_reason is ev.RejectReason.duplicate_client_order_id
    assert len(first) > 1


def test_cancel_a_resting_order() -> None:
    v = venue()
    v.on_event(order(order_type="limit", limit_price="99", time_in_force="GTC"))
    out = v.on_event(stubs.cancel_order(client_order_id="c1", event_time=T + 500))
    assert kinds(out) == ["OrderCanceled"] and out[0].filled_qty == 0


@pytest.mark.parametrize(
    ("venue_id", "instrument", "side", "rate", "expected"),
    [
        ("binance", "BTC/USDT:USDT", "buy", "0.0001", "-0.02"),  # 8h venue, long pays
        ("binance", "BTC/USDT:USDT", "sell", "0.0001", "0.02"),  # short receives
        ("hyperliquid", "BTC/USDC:USDC", "buy", "-0.00002", "0.004"),  # 1h venue, long receives
        ("hyperliquid", "BTC/USDC:USDC", "sell", "-0.00002", "-0.004"),
    ],
)
def test_funding_settlement_amount_and_sign(
    venue_id: str, instrument: str, side: str, rate: str, expected: str
) -> None:
    v = PaperVenue(PaperConfig(fees=FEES))
    v.on_event(
        stubs.ticker_observed(
            venue=venue_id,
            instrument=instrument,
            bid="99.9",
            ask="100.1",
            mark_price="100",
            event_time=T,
        )
    )
    v.on_event(order(venue=venue_id, instrument=instrument, side=side, correlation_id="arb-9"))
    out = v.on_event(
        stubs.funding_observed(
            venue=venue_id,
            instrument=instrument,
            funding_rate=rate,
            mark_price=None,
            funding_time=T + 3_600_000,
            event_time=T + 3_600_000,
            next_funding_time=0,
        )
    )
    paid = out[0]
    assert isinstance(paid, ev.FundingPaid)
    assert paid.amount == D(expected)  # −qty × mark × rate, qty ±2, mark 100
    assert paid.correlation_id == "arb-9" and paid.amount_currency == instrument.rsplit(":", 1)[1]


def test_balances_report_margin_ratio_and_liquidation_price() -> None:
    v = venue()
    out = v.on_event(order(side="sell"))
    bal = out[-1]
    assert isinstance(bal, ev.BalanceObserved)
    assert bal.position_qty == D("-2") and bal.leverage == D("3")
    # short at 99.99 (bid 100 − 1 bp): liq = entry × (1 + 1/3 − 0.005)
    assert bal.liquidation_price == (D("99.99") * (1 + D(1) / 3 - D("0.005"))).quantize(D("1e-8"))
    assert bal.margin_ratio is not None and bal.margin_ratio > 0


def test_same_inputs_give_byte_identical_outputs() -> None:
    from schemas.serde import Serializer

    ser = Serializer()
    runs = []
    for _ in range(2):
        v = venue()
        outs = v.on_event(order()) + v.on_event(order("c2", event_id=stubs.eid("c2"), side="sell"))
        runs.append([ser.encode(e) for e in outs])
    assert runs[0] == runs[1]


def test_an_order_on_an_inverse_contract_is_rejected() -> None:
    venue = PaperVenue()
    venue.on_event(
        stubs.ticker_observed(venue="bybit", instrument="ETH/USD:ETH", bid="1999", ask="2001")
    )
    out = venue.on_event(
        stubs.place_order(venue="bybit", instrument="ETH/USD:ETH", client_order_id="inv-1")
    )
    assert len(out) == 1 and isinstance(out[0], ev.OrderRejected)
    assert "inverse" in out[0].message and venue.positions == {}


def test_fees_round_half_even_whatever_ccxt_did_to_the_decimal_context() -> None:
    """ccxt's number formatting sets the current decimal context to ROUND_HALF_UP; the paper
    venue's fills and fees must not depend on it (live --paper shares the process with ccxt)."""
    import decimal

    from ccxt.base.decimal_to_precision import ROUND, decimal_to_precision

    decimal_to_precision("1.5", ROUND, 0)
    assert decimal.getcontext().rounding == decimal.ROUND_HALF_UP  # the premise
    fees = FeeConfig(venues={"binance": VenueFees(maker=D("0"), taker=D("0.0005"))})
    v = PaperVenue(PaperConfig(fees=fees, slippage_bps=D("0"), impact_bps_per_musd=D("0")))
    v.on_event(stubs.ticker_observed(bid="100", ask="100.1", mark_price="100.05", event_time=T))
    # 0.0001 × 100.1 × 0.0005 = 0.000005005: a tie at 1e-8 (half-even 0.00000500, half-up …501)
    out = v.on_event(
        stubs.place_order(
            client_order_id="tie", side="buy", qty=D("0.0001"), limit_price=D("200"), event_time=T
        )
    )
    (fill,) = [e for e in out if isinstance(e, ev.FillExecuted)]
    assert fill.qty * fill.price * D("0.0005") == D("0.000005005")
    assert fill.fee == D("0.00000500")


def test_the_cached_id_prefix_names_the_same_ids_as_the_id_scheme() -> None:
    """``_key_id`` caches ``kind/('venue', 'instrument')/`` per key; the ids must stay those of
    ``IdNamespace.PAPER.id(kind, key, t)`` (they are in every output, and the digest)."""
    from hypothesis import given
    from hypothesis import strategies as st

    from schemas.envelope import IdNamespace

    v = PaperVenue()

    @given(
        kind=st.sampled_from(["funding", "borrow", "balance"]),
        venue_id=st.sampled_from(["binance", "bybit", "okx"]),
        instrument=st.sampled_from(["BTC/USDT:USDT", "ETH/USDT", "1000PEPE/USDC:USDC"]),
        t=st.integers(min_value=0, max_value=2**53),
    )
    def check(kind: str, venue_id: str, instrument: str, t: int) -> None:
        key = (venue_id, instrument)
        assert v._key_id(kind, key, t) == IdNamespace.PAPER.id(kind, key, t)
        assert v._key_id(kind, key, t) == v._key_id(kind, key, t)  # the cached prefix again

    check()


def test_a_settlement_and_its_balance_carry_the_ids_of_the_id_scheme() -> None:
    from schemas.envelope import IdNamespace

    v = venue()
    v.on_event(order())
    settle = stubs.funding_observed(funding_time=T + 8 * 3_600_000, event_time=T + 8 * 3_600_000)
    paid, balance = v.on_event(settle)
    key = ("binance", "BTC/USDT:USDT")
    assert paid.event_id == IdNamespace.PAPER.id("funding", key, settle.funding_time)
    assert balance.event_id == IdNamespace.PAPER.id("balance", *key, settle.funding_time, v.fills)
