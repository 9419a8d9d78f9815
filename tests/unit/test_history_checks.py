"""Row checks of recorded data (producers.history.checks): a row is bounded once or refused."""

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.history import check_candle_row, check_funding_row

T = 1_764_720_000_000  # 2025-12-03 00:00 UTC


def funding(**o: str) -> list[str]:
    row = {"venue": "binance", "symbol": "BTC/USDT:USDT", "t": str(T), "rate": "0.0001"}
    row |= o
    return [row["venue"], row["symbol"], row["t"], row["rate"], o.get("mark", "")]


def candle(**o: str) -> list[str]:
    row = {"interval": "1h", "open": str(T), "close": "95000.5", "volume": "12.5"}
    row |= o
    return [
        "binance",
        o.get("symbol", "BTC/USDT:USDT"),
        "perp",
        row["interval"],
        row["open"],
        "1",
        "1",
        "1",
        row["close"],
        row["volume"],
    ]


def test_a_funding_row_gives_time_rate_and_optional_mark() -> None:
    assert check_funding_row(funding()) == (T, D("0.0001"), None)
    assert check_funding_row(funding(mark="95000.1")) == (T, D("0.0001"), D("95000.1"))


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (funding()[:4], "expected 5 columns"),
        (funding(symbol="BTC/USDT"), "spot has no funding rows"),
        (funding(mark="-1"), "not positive"),
        (funding(t="soon"), "invalid literal"),
    ],
)
def test_a_bad_funding_row_is_refused_with_its_reason(row: list[str], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_funding_row(row)


def test_a_candle_row_gives_open_time_interval_close_and_volume() -> None:
    assert check_candle_row(candle()) == (T, 3_600_000, D("95000.5"), D("12.5"))
    assert check_candle_row(candle(interval="8h"))[1] == 8 * 3_600_000


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (candle()[:9], "expected 10 columns"),
        (candle(interval="2h"), "unknown candle interval"),
        (candle(close="0"), "out of range"),
        (candle(volume="-1"), "out of range"),
        (candle(close="1e14", volume="1e14"), "quote volume"),
    ],
)
def test_a_bad_candle_row_is_refused_with_its_reason(row: list[str], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_candle_row(row)


@given(st.lists(st.text(max_size=12), min_size=0, max_size=12))
def test_any_row_is_either_bounded_or_refused_with_a_value_error(cols: list[str]) -> None:
    """Hostile rows: nothing but ValueError escapes, and what passes is in range."""
    try:
        t, rate, mark = check_funding_row(cols)
    except ValueError:
        pass
    else:
        assert t > 0 and abs(rate) <= 1 and (mark is None or mark > 0)
    try:
        opened, step, close, volume = check_candle_row(cols)
    except ValueError:
        pass
    else:
        assert opened > 0 and step > 0 and close > 0 and volume >= 0
