"""Funding board: latest state per feed, staleness, ranked pairs with reasons."""

from decimal import Decimal as D

import pytest

from projections import board as bd
from schemas.config import EntryConfig, FeedConfig, StrategyConfig
from tests.market import T0, H, board_of, funding, ticker, two_venue_history

CFG = StrategyConfig(entry=EntryConfig(max_break_even_h=D("96")))


def test_best_pair_shorts_the_higher_rate_with_hand_computed_edge() -> None:
    board = board_of(two_venue_history())
    now = T0 + 16 * H
    best = bd.candidate_pairs(board, CFG, now)[0]
    assert best.blocked is None
    assert best.short == ("binance", "BTC/USDT:USDT") and best.long == ("bybit", "BTC/USDT:USDT")
    assert best.spread_h == D("0.00003125")  # (0.0003 − 0.00005) / 8
    assert best.spread_apr == D("0.27375")  # × 8760
    # cost: taker 2×0.0005 + 2×0.00055 + slippage 4 × (0.02/2/100) = 0.0025
    assert best.cost_frac == D("0.0025")
    assert best.break_even_h == D("80")  # 0.0025 / 0.00003125
    # (0.00003125 × 168 − 0.0025) × 8760 / 168 = 0.1433928571...
    assert best.net_edge_apr.quantize(D("1e-10")) == D("0.1433928571")


def test_stale_leg_blocks_the_pair_and_says_why() -> None:
    board = board_of(two_venue_history(n=2))
    late = T0 + 8 * H + 5 * H  # tickers 5h old > 2h ttl; funding fine (5h < 1.5 × 8h)
    q = bd.candidate_pairs(board, CFG, late)[0]
    assert q.blocked is not None and "stale prices on" in q.blocked
    very_late = T0 + 8 * H + 13 * H  # funding 13h old > 12h
    q = bd.candidate_pairs(board, CFG, very_late)[0]
    assert q.blocked is not None and "stale funding on" in q.blocked


def test_unknown_interval_blocks_instead_of_assuming_8h() -> None:
    board = board_of(
        [
            funding("binance", "0.0003", T0),
            funding("bybit", "0.00005", T0),
            ticker("binance", "99.99", "100.01", T0),
            ticker("bybit", "99.99", "100.01", T0),
        ]
    )
    q = bd.candidate_pairs(board, CFG, T0)[0]
    assert q.blocked is not None and "no funding interval" in q.blocked
    configured = StrategyConfig(
        entry=EntryConfig(max_break_even_h=D("96")),
        feeds=FeedConfig(intervals_h={"binance": 8, "bybit": 8}),
    )
    assert bd.candidate_pairs(board, configured, T0)[0].blocked is None


def test_hourly_and_8h_venues_compare_per_hour() -> None:
    events = []
    for i in range(9):
        events.append(funding("hyperliquid", "0.00002", T0 + i * H, instrument="BTC/USDC:USDC"))
    events += [
        funding("binance", "0.0001", T0),
        funding("binance", "0.0001", T0 + 8 * H),
        ticker("binance", "99.99", "100.01", T0 + 8 * H),
        ticker("hyperliquid", "99.99", "100.01", T0 + 8 * H, instrument="BTC/USDC:USDC"),
    ]
    q = bd.candidate_pairs(board_of(events), CFG, T0 + 8 * H)[0]
    # binance 0.0001/8h = 0.0000125/h < hyperliquid 0.00002/h: short hyperliquid
    assert q.short[0] == "hyperliquid" and q.spread_h == D("0.0000075")


def test_out_of_order_funding_is_refused_and_duplicates_are_no_ops() -> None:
    board = board_of(two_venue_history(n=2))
    with pytest.raises(bd.OutOfOrderError, match="older"):
        bd.apply(board, funding("binance", "0.0002", T0))
    again = two_venue_history(n=2)[-1]
    assert bd.apply(board, again) is board


def test_spot_perp_pair_long_spot_short_perp() -> None:
    events = [
        *two_venue_history(n=2),
        ticker("binance", "99.98", "100.00", T0 + 8 * H, instrument="BTC/USDT"),
    ]
    pairs = bd.candidate_pairs(board_of(events), CFG, T0 + 8 * H)
    spot = next(q for q in pairs if q.long == ("binance", "BTC/USDT"))
    assert spot.short == ("binance", "BTC/USDT:USDT")
    assert spot.long_rate_h == 0 and spot.spread_h == D("0.0000375")  # 0.0003 / 8
