"""Position book: average cost, realised PnL, fees, funding, per-arb ledger, exact PnL sum."""

from decimal import Decimal as D

import pytest

from projections import positions as pos
from tests import stubs

BOOK = pos.PositionBook("BTC")


def fill(
    i: int,
    side: str,
    qty: str,
    price: str,
    fee: str = "0",
    ccy: str = "USDT",
    arb: str = "arb-1",
    venue: str = "binance",
    instrument: str = "BTC/USDT:USDT",
) -> object:
    return stubs.fill_executed(
        fill_id=f"t-{i}",
        side=side,
        qty=qty,
        price=price,
        fee=fee,
        fee_currency=ccy,
        correlation_id=arb,
        venue=venue,
        instrument=instrument,
        event_time=stubs.T0 + i,
        market_type="spot" if ":" not in instrument else "perp",
    )


def fold(*events: object, book: pos.PositionBook = BOOK) -> pos.PositionBook:
    for e in events:
        book = pos.apply(book, e)  # type: ignore[arg-type]
    return book


def test_average_cost_realised_pnl_and_crossing_zero() -> None:
    book = fold(fill(1, "buy", "1", "100"), fill(2, "buy", "1", "110"))
    leg = book.leg("binance", "BTC/USDT:USDT")
    assert (leg.qty, leg.avg_entry_price) == (D(2), D(105))
    book = fold(fill(3, "sell", "1.5", "120"), book=book)
    leg = book.leg("binance", "BTC/USDT:USDT")
    assert (leg.qty, leg.avg_entry_price, leg.realised_pnl) == (D("0.5"), D(105), D("22.5"))
    book = fold(fill(4, "sell", "1", "100"), book=book)  # closes 0.5 at -5, opens -0.5 at 100
    leg = book.leg("binance", "BTC/USDT:USDT")
    assert (leg.qty, leg.avg_entry_price, leg.realised_pnl) == (D("-0.5"), D(100), D("20"))


def test_fees_in_quote_and_in_base_are_valued_in_usd() -> None:
    book = fold(
        fill(1, "buy", "0.01", "90000", fee="0.45"),
        fill(2, "buy", "0.01", "90000", fee="0.00001", ccy="BTC"),
    )
    assert book.leg("binance", "BTC/USDT:USDT").fees == D("1.35")  # 0.45 + 0.00001 × 90000
    with pytest.raises(pos.UnsupportedFeeCurrencyError, match="BNB"):
        fold(fill(3, "buy", "0.01", "90000", fee="0.001", ccy="BNB"))


def test_duplicate_fill_is_a_no_op() -> None:
    once = fold(fill(1, "buy", "1", "100", fee="0.05"))
    assert fold(fill(1, "buy", "1", "100", fee="0.05"), book=once) is once


def test_arb_ledger_delta_and_pnl_parts_sum_exactly() -> None:
    book = fold(
        fill(1, "sell", "0.5", "100", fee="0.025"),  # short leg
        fill(2, "buy", "0.5", "99.8", fee="0.0275", venue="bybit"),  # long hedge
        stubs.funding_paid(
            venue="binance",
            position_qty="-0.5",
            mark_price="101",
            funding_rate="0.0001",
            amount="0.00505",
            funding_id="f-1",
            correlation_id=None,
            event_time=stubs.T0 + 8 * 3_600_000,
        ),
        stubs.funding_paid(
            venue="bybit",
            position_qty="0.5",
            mark_price="101",
            funding_rate="0.00002",
            amount="-0.00101",
            funding_id="f-2",
            correlation_id=None,
            event_time=stubs.T0 + 8 * 3_600_000,
        ),
    )
    assert book.net_delta_base("arb-1") == 0
    assert book.net_delta_usd("arb-1") == D("0")  # both legs marked at 101
    pnl = book.arb_pnl("arb-1")
    # funding attributed by leg ownership: 0.00505 - 0.00101; price: short -0.5 (101-100) and
    # long 0.5 (101-99.8); fees 0.025 + 0.0275
    assert pnl.funding == D("0.00404")
    assert pnl.price == D("-0.5") + D("0.6")
    assert pnl.fees == D("0.0525")
    assert pnl.total == pnl.funding + pnl.price - pnl.fees - pnl.borrow == D("0.05154")
    assert book.pnl().total == pnl.total


def test_funding_on_a_spot_leg_is_borrow_interest() -> None:
    book = fold(
        fill(1, "sell", "1", "100", instrument="BTC/USDT", ccy="USDT"),
        stubs.funding_paid(
            instrument="BTC/USDT",
            position_qty="-1",
            mark_price="100",
            funding_rate="0.00001",
            amount="-0.001",
            funding_id="b-1",
            correlation_id="arb-1",
        ),
    )
    assert book.arb_pnl("arb-1").borrow == D("0.001")
    assert book.arb_pnl("arb-1").funding == 0


def test_events_of_another_asset_are_refused() -> None:
    with pytest.raises(ValueError, match="is not BTC"):
        pos.apply(BOOK, stubs.fill_executed(instrument="ETH/USDT:USDT"))


def test_hedged_arb_has_no_net_delta_however_far_apart_its_venues_marks_are() -> None:
    """Regression: net delta was Σ qty × own-venue mark, so a hedged arb whose venues' marks
    differ by > 1 % read as > 100 USD one-legged and was force-exited."""
    book = fold(
        fill(1, "sell", "300", "34.165", venue="kraken", instrument="HYPE/USD:USD"),
        fill(2, "buy", "300", "32.42", venue="binance", instrument="HYPE/USDT:USDT"),
        book=pos.PositionBook("HYPE"),
    )
    book = pos.mark(book, "kraken", "HYPE/USD:USD", D("34.165"))
    book = pos.mark(book, "binance", "HYPE/USDT:USDT", D("32.42"))
    # the old sum: 300 × 32.42 − 300 × 34.165 = −523.5 USD "one-legged"
    assert book.net_delta_base("arb-1") == 0
    assert book.net_delta_usd("arb-1") == 0
    assert book.net_delta_usd_all() == 0
    # a real imbalance is valued once, at the mean of the legs' marks
    book = fold(
        fill(3, "buy", "10", "32.42", venue="binance", instrument="HYPE/USDT:USDT"), book=book
    )
    assert book.net_delta_usd("arb-1") == D("10") * (D("34.165") + D("32.42")) / 2


def test_inverse_contracts_are_refused_not_mis_valued() -> None:
    """Regression: fees of ``ETH/USD:ETH`` fills (USD) were read as ETH and multiplied by the
    price again (−118 M USD on 100 k of capital). The book refuses coin-margined contracts."""
    inverse = fill(1, "sell", "100", "2000", fee="0.05", ccy="ETH", instrument="ETH/USD:ETH")
    with pytest.raises(pos.InverseContractError, match="inverse"):
        fold(inverse, book=pos.PositionBook("ETH"))
