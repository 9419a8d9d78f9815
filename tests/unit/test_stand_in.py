"""The stand-in quote of a stale leg (projections.stand_in), and the paper venue filling on it."""

from decimal import Decimal as D

from producers.paper import PaperConfig, PaperVenue
from projections.stand_in import stand_in_quote
from schemas import events as ev
from schemas.config import FeeConfig, VenueFees
from tests import stubs

H = 3_600_000
T = stubs.T0
PERP = "BTC/USDT:USDT"


def row(venue: str, bid: str, ask: str, t: int, instrument: str = PERP):
    return (venue, instrument, D(bid), D(ask), t)


def test_fresh_own_quote_stands_whatever_the_others_say() -> None:
    own = row("binance", "100", "100.1", T)
    others = [own, row("bybit", "200", "200.2", T + H)]
    assert stand_in_quote(own, others, T + 2 * H, 2 * H) == (D("100"), D("100.1"))


def test_stale_own_quote_takes_the_median_of_fresh_same_asset_same_type_quotes() -> None:
    own = row("binance", "100", "100.1", T)
    now = T + 3 * H
    others = [
        own,
        row("bybit", "109.9", "110.1", now - 1),  # mid 110
        row("okx", "111.9", "112.1", now - H),  # mid 112
        row("dydx", "300", "302", now - H, "BTC/USD:USDC"),  # mid 301
        row("kraken", "199", "201", T),  # stale: out
        row("binance", "150", "150.2", now, "BTC/USDT"),  # spot: not a perp price
        row("bybit", "5", "5.01", now, "ETH/USDT:USDT"),  # another asset
    ]
    bid, ask = stand_in_quote(own, others, now, 2 * H)
    h = D("0.05") / D("100.05")  # own relative half-spread, kept
    assert (bid, ask) == (D(112) * (1 - h), D(112) * (1 + h))  # median of 110, 112, 301


def test_even_count_takes_the_mean_of_the_middle_two() -> None:
    own = row("binance", "100", "100", T)
    now = T + 3 * H
    others = [row("bybit", "110", "110", now), row("okx", "114", "114", now)]
    assert stand_in_quote(own, others, now, 2 * H) == (D(112), D(112))


def test_no_fresh_quote_anywhere_keeps_the_own_one() -> None:
    own = row("binance", "100", "100.1", T)
    others = [own, row("bybit", "109.9", "110.1", T)]
    assert stand_in_quote(own, others, T + 5 * H, 2 * H) == (D("100"), D("100.1"))


def test_paper_venue_fills_a_stale_leg_at_the_stand_in_not_an_hours_old_price() -> None:
    fees = FeeConfig(venues={"binance": VenueFees(maker=D("0.0002"), taker=D("0.0005"))})
    v = PaperVenue(PaperConfig(fees=fees, slippage_bps=D("1"), impact_bps_per_musd=D("0")))
    v.on_event(stubs.ticker_observed(bid="100", ask="100.1", mark_price=None, event_time=T))
    now = T + 3 * H
    for venue, bid, ask in (("bybit", "109.9", "110.1"), ("okx", "111.9", "112.1")):
        v.on_event(
            stubs.ticker_observed(
                venue=venue, bid=bid, ask=ask, mark_price=None, event_time=now - 1000
            )
        )
    cmd = stubs.place_order(
        client_order_id="c1",
        event_id=stubs.eid("c1"),
        side="buy",
        qty="2",
        order_type="market",
        time_in_force="IOC",
        limit_price=None,
        event_time=now - 50,  # reaches the venue at ``now`` (50 ms latency)
    )
    fill = next(e for e in v.on_event(cmd) if isinstance(e, ev.FillExecuted))
    ask = D(111) * (1 + D("0.05") / D("100.05"))  # median mid 111, own half-spread
    assert fill.price == (ask * D("1.0001")).quantize(D("1e-8"))  # + 1 bp slippage
