"""Feed TTLs follow the data's candle interval (8 h candles must not look stale between bars)."""

from pathlib import Path

import pytest

from producers import history
from schemas.config import StrategyConfig
from streams.backtest import BacktestOptions, fit_ttls, prepare

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


def test_a_traded_venue_without_fees_is_refused_before_any_broker(tmp_path: Path) -> None:
    """Regression: a venue with no fee entry ran anyway and dead-lettered every order
    (``UnknownVenueFeesError``, 0 arbs, exit 0). ``prepare`` refuses it by name."""
    path = tmp_path / "funding.csv"
    path.write_text(
        "venue,symbol,funding_time_ms,funding_rate,mark_price\n"
        + "".join(
            f"deribit,BTC/USD:BTC,{1764748800000 + i * 8 * H},0.0001,90000\n" for i in range(3)
        )
        + "".join(
            f"deribit,BTC/USDC:USDC,{1764748800000 + i * 8 * H},0.0001,90000\n" for i in range(3)
        )
    )
    opts = BacktestOptions(
        paths=[path], window=history.Window(), out_dir=tmp_path, run_id="t", audit=False
    )
    with pytest.raises(history.HistoryError, match="no fees for traded venue\\(s\\) deribit"):
        prepare(opts)
