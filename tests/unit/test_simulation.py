"""The simulation loop: what a decision and a paper fill at ``t`` may see, and when positions
change. Regression tests for mispricings found by recomputing a backtest from the raw rows."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from producers.paper import PaperConfig
from schemas.config import EntryConfig, FeeConfig, StrategyConfig, VenueFees
from schemas.events import Event, FillExecuted, FundingPaid, PlaceOrder
from streams.simulation import Simulation
from tests.market import T0, H, funding, ticker

CFG = StrategyConfig(entry=EntryConfig(max_break_even_h=D("96"), min_net_apr=D("0.10")))


def _run(events: list[Event], config: StrategyConfig = CFG) -> list[Event]:
    out: list[Event] = []
    sim = Simulation(config, on_output=out.append)
    for e in events:
        sim.feed(e)
    sim.finish()
    return out


def _history_at_par(t: int) -> list[Event]:
    """Both venues flat at 100 and equal funding at ``t``: nothing to trade."""
    return [
        ticker("binance", "99.99", "100.01", t),
        ticker("bybit", "99.99", "100.01", t),
        funding("binance", "0.0001", t, next_funding_time=t + 8 * H),
        funding("bybit", "0.0001", t, next_funding_time=t + 8 * H),
    ]


def stale_quote_history() -> list[Event]:
    """The spread is open from T0 but binance has no price until ``T0 + 8 h``; bybit (the
    thinner venue, so its leg goes first) ticks hourly at 100, then 110 at ``T0 + 8 h``."""
    t1 = T0 + 8 * H
    events: list[Event] = [
        funding("binance", "0.0003", T0, next_funding_time=t1),
        funding("bybit", "0.00005", T0, next_funding_time=t1),
    ]
    events += [ticker("bybit", "99.99", "100.01", T0 + h * H, volume="1000") for h in range(8)]
    # t1: binance's first ticker (sorted first), then bybit's, which moved to 110
    events += [
        ticker("binance", "99.99", "100.01", t1),
        ticker("bybit", "109.99", "110.01", t1, volume="1000"),
    ]
    return events


def test_a_decision_at_t_sees_every_quote_stamped_t() -> None:
    """Regression (a HYPE arb filled kraken at the 16:00 quote on binance's 17:00 ticker):
    market events of one time were folded one by one, and the first one's decision filled the
    other leg at that venue's previous quote although its same-time quote was in the data."""
    t1 = T0 + 8 * H
    out = _run(stale_quote_history())
    fills = [e for e in out if isinstance(e, FillExecuted)]
    assert {f.venue for f in fills} == {"binance", "bybit"}
    for f in fills:
        touch = {"binance": D("100"), "bybit": D("110")}[f.venue]
        # at the t1 quote plus or minus slippage (a few bp), never bybit's old 100
        assert abs(f.price - touch) / touch < D("0.001"), (f.venue, f.price)
    orders = [e for e in out if isinstance(e, PlaceOrder)]
    assert orders and all(o.event_time >= t1 for o in orders)


def test_a_settlement_pays_the_position_held_at_its_time_not_one_filled_after() -> None:
    """Regression: the paper venue changed positions at command time, so a fill stamped after
    a settlement (command before it, fill after the modelled latency) still received it."""
    t1 = T0 + 8 * H
    entry = t1 - 20  # the spread is seen 20 ms before the settlement at t1
    events = [
        *_history_at_par(T0),
        # the spread opens at T0 + 4 h, but prices are stale (TTL 2 h) until t1 − 20 ms
        funding("binance", "0.0003", T0 + 4 * H, next_funding_time=t1),
        funding("bybit", "0.00005", T0 + 4 * H, next_funding_time=t1),
        ticker("binance", "99.99", "100.01", entry),
        ticker("bybit", "99.99", "100.01", entry),
        funding("binance", "0.0003", t1, next_funding_time=t1 + 8 * H),
        funding("bybit", "0.00005", t1, next_funding_time=t1 + 8 * H),
    ]
    out = _run(events)
    fills = [e for e in out if isinstance(e, FillExecuted)]
    first = min(f.event_time for f in fills)
    # the first command went out before t1 (paper latency 50 ms): the fill lands after it
    assert min(e.event_time for e in out if isinstance(e, PlaceOrder)) < t1 < first
    paid = [e for e in out if isinstance(e, FundingPaid) and e.funding_time == t1]
    assert paid == []


def test_the_paper_venue_charges_the_configs_fee_table() -> None:
    """Regression: the backtest's paper venue used the default fee table whatever the config
    said, so the strategy modelled one fee table and the venue charged another."""
    fees = FeeConfig(
        venues={
            "binance": VenueFees(maker=D("0.0001"), taker=D("0.0002")),
            "bybit": VenueFees(maker=D("0.0001"), taker=D("0.0003")),
        }
    )
    config = StrategyConfig(
        entry=EntryConfig(max_break_even_h=D("96"), min_net_apr=D("0.10")), fees=fees
    )
    t1 = T0 + 8 * H
    events = [
        *_history_at_par(T0),
        funding("binance", "0.0003", t1, next_funding_time=t1 + 8 * H),
        funding("bybit", "0.00005", t1, next_funding_time=t1 + 8 * H),
        ticker("binance", "99.99", "100.01", t1),
        ticker("bybit", "99.99", "100.01", t1),
    ]
    fills = [e for e in _run(events, config) if isinstance(e, FillExecuted)]
    assert fills
    for f in fills:
        rate = fees.venues[f.venue].taker
        assert f.fee == (f.qty * f.price * rate).quantize(D("1e-8"))
    with pytest.raises(ValueError, match="one fee table"):
        Simulation(config, PaperConfig(fees=FeeConfig()))


def test_a_partial_fee_table_merges_with_the_defaults_and_bounds_are_checked() -> None:
    """Regression: a partial ``[fees.venues]`` replaced the defaults, so every other venue had
    no fees and all trading stopped (4,904 dead letters, 0 arbs, exit 0)."""
    config = StrategyConfig.model_validate(
        {"fees": {"venues": {"binance": {"maker": "0.0001", "taker": "0.0004"}}}}
    )
    assert config.fees.venues["binance"].taker == D("0.0004")
    assert config.fees.venues["bybit"].taker == D("0.00055")  # the default, kept
    config.fees.require(["binance", "bybit", "kraken"])
    with pytest.raises(ValueError, match="no fees for traded venue\\(s\\) nosuchdex"):
        config.fees.require(["binance", "nosuchdex"])
    with pytest.raises(ValueError, match=r"fees\.venues\.okx\.taker"):
        StrategyConfig.model_validate({"fees": {"venues": {"okx": {"maker": "0", "taker": "-5"}}}})
