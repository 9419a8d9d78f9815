"""Feed TTLs follow the data's candle interval (8 h candles must not look stale between bars)."""

from schemas.config import StrategyConfig
from streams.backtest import fit_ttls

H = 3_600_000


def test_ttls_are_raised_to_one_and_a_half_candle_intervals_with_a_note() -> None:
    config = StrategyConfig()  # ticker TTL 2 h, stale feed 3 h
    fitted, notes = fit_ttls(config, 8 * H)
    assert fitted.feeds.ticker_ttl_ms == 12 * H and fitted.risk.stale_feed_ms == 12 * H
    assert len(notes) == 2 and "feeds.ticker_ttl_ms raised from 7200000 to 43200000" in notes[0]
    assert fitted.entry == config.entry and fitted.fees == config.fees  # nothing else changes


def test_ttls_already_long_enough_are_left_alone() -> None:
    config = StrategyConfig()
    for candle_ms in (0, H):  # unknown interval, hourly candles
        fitted, notes = fit_ttls(config, candle_ms)
        assert fitted is config and notes == []
