"""Row checks of recorded data (producers.history.checks): a row is bounded once or refused."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.history import check_candle_row, check_funding_row
from producers.history.checks import candle_row, candle_row_times, funding_row, funding_row_time

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


# ---- the cheaper checks of rows outside the window: the same verdict, the same reason -------

_DIGITS = st.text("0123456789", min_size=1, max_size=17)
#: decimal-looking text near every edge the text patterns prove: signs, exponents, places,
#: non-ASCII digits, underscores, the 10^15 bound and the ±1 rate bound
_NUMBER = st.one_of(
    st.builds(
        "{}{}{}{}".format,
        st.sampled_from(["", "-", "+", " "]),
        _DIGITS,
        st.one_of(st.just(""), st.builds(".{}".format, _DIGITS), st.just(".")),
        st.one_of(
            st.just(""),
            st.builds(
                "{}{}{}".format,
                st.sampled_from(["e", "E"]),
                st.sampled_from(["", "-", "+", "-0"]),
                st.integers(0, 40).map(str),
            ),
        ),
    ),
    st.sampled_from(["0", "-0", "0.0", "1", "-1", "1.0", "nan", "inf", "", "٣", "1_0", "1e-31"]),
    st.text(max_size=8),
)


def _verdict(check: object, cols: list[str]) -> object:
    try:
        return check(cols)  # type: ignore[operator]
    except ValueError as exc:
        return ("refused", str(exc))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["binance", "Binance", "b"]),
    st.sampled_from(["BTC/USDT:USDT", "BTC/USDT", "btc"]),
    st.one_of(st.just(str(T)), _DIGITS, st.text(max_size=4)),
    _NUMBER,
    st.one_of(st.just(""), _NUMBER),
    st.integers(4, 6),
)
def test_a_funding_rows_time_is_checked_as_the_full_check_does(
    venue: str, symbol: str, t: str, rate: str, mark: str, n: int
) -> None:
    cols = [venue, symbol, t, rate, mark, "x"][:n]
    full = _verdict(check_funding_row, cols)
    for _ in range(2):  # the second time with the venue and symbol remembered
        got = _verdict(funding_row_time, cols)
        assert got == (full if full[0] == "refused" else full[0])  # type: ignore[index]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["binance", "Binance"]),
    st.sampled_from(["BTC/USDT:USDT", "BTC/USDT", "btc"]),
    st.sampled_from(["1h", "4h", "2h"]),
    st.one_of(st.just(str(T)), _DIGITS),
    _NUMBER,
    _NUMBER,
    st.integers(9, 11),
)
def test_a_candle_rows_times_are_checked_as_the_full_check_does(
    venue: str, symbol: str, interval: str, opened: str, close: str, volume: str, n: int
) -> None:
    cols = [venue, symbol, "perp", interval, opened, "1", "1", "1", close, volume, "x"][:n]
    full = _verdict(check_candle_row, cols)
    for _ in range(2):
        got = _verdict(candle_row_times, cols)
        assert got == (full if full[0] == "refused" else full[:2])  # type: ignore[index]


@pytest.mark.parametrize(
    ("close", "volume"),
    [
        ("99999999.9", "9999999.99"),  # 14 integer digits: the text proves it in bounds
        ("99999999.9", "99999999.99"),  # ~10^16: refused by the full check
        ("9.999999999999999999", "99999999999999.9999999"),  # rounds up to 10^15: refused
        ("0.000", "1"),
        ("1e3", "1"),
    ],
)
def test_edge_candles_get_the_full_checks_verdict(close: str, volume: str) -> None:
    cols = candle(close=close, volume=volume)
    full = _verdict(check_candle_row, cols)
    assert _verdict(candle_row_times, cols) == (full if full[0] == "refused" else full[:2])  # type: ignore[index]


@pytest.mark.parametrize(
    ("rate", "mark"),
    [("5", ""), ("1", ""), ("-1.0", ""), ("9.9e-1", "0"), ("1e-31", ""), ("0.0001", "1e15")],
)
def test_edge_funding_rows_get_the_full_checks_verdict(rate: str, mark: str) -> None:
    cols = funding(rate=rate, mark=mark)
    full = _verdict(check_funding_row, cols)
    assert _verdict(funding_row_time, cols) == (full if full[0] == "refused" else full[0])  # type: ignore[index]


def _exact(verdict: object) -> object:
    """A verdict with each Decimal as its digits and exponent (``1.0`` is not ``1`` on the
    wire)."""
    if isinstance(verdict, tuple) and verdict and verdict[0] != "refused":
        return tuple((str(v), v.as_tuple()) if isinstance(v, D) else v for v in verdict)
    return verdict


def _outside(cols: list[str], at: int, start: int, end: int) -> bool:
    """The replay's test before issue 18's fifth round (``producers/history/events.py``)."""
    return len(cols) > at and cols[at].isdigit() and not start <= int(cols[at]) < end


def _before_funding(cols: list[str], start: int, end: int) -> object:
    """What the funding stream did with a row before ``funding_row`` (commit 2b72048)."""
    if _outside(cols, 2, start, end):
        return funding_row_time(cols), None, None
    return check_funding_row(cols)


def _before_candle(cols: list[str], end: int) -> object:
    """What the ticker stream did with a row before ``candle_row`` (commit 2b72048)."""
    if _outside(cols, 4, -1, end):
        return (*candle_row_times(cols), None, None)
    return check_candle_row(cols)


_TIMES = st.one_of(
    st.just(str(T)),
    _DIGITS,
    st.sampled_from(["0", "1230767999999", "4102444800000", "4102444800001", "٣", "²", "1_0"]),
    st.text(max_size=4),
)


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(["binance", "Binance", "b"]),
    st.sampled_from(["BTC/USDT:USDT", "BTC/USDT", "btc"]),
    _TIMES,
    _NUMBER,
    st.one_of(st.just(""), _NUMBER),
    st.integers(4, 6),
    st.sampled_from([T, T + 1, T + 3_600_000, 2**62]),
)
def test_a_funding_row_gets_the_full_checks_verdict_and_values(
    venue: str, symbol: str, t: str, rate: str, mark: str, n: int, end: int
) -> None:
    cols = [venue, symbol, t, rate, mark, "x"][:n]
    full = _verdict(lambda c: _before_funding(c, T, end), cols)
    for _ in range(2):  # the second time with the venue and symbol remembered
        assert _exact(_verdict(lambda c: funding_row(c, T, end), cols)) == _exact(full)


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(["binance", "Binance"]),
    st.sampled_from(["BTC/USDT:USDT", "BTC/USDT", "btc"]),
    st.sampled_from(["1h", "4h", "2h"]),
    _TIMES,
    _NUMBER,
    _NUMBER,
    st.integers(9, 11),
    st.sampled_from([T, T + 1, T + 3_600_000, 2**62]),
)
def test_a_candle_row_gets_the_full_checks_verdict_and_values(
    venue: str,
    symbol: str,
    interval: str,
    opened: str,
    close: str,
    volume: str,
    n: int,
    end: int,
) -> None:
    cols = [venue, symbol, "perp", interval, opened, "1", "1", "1", close, volume, "x"][:n]
    full = _exact(_verdict(lambda c: _before_candle(c, end), cols))
    for _ in range(2):
        assert _exact(_verdict(lambda c: candle_row(c, end), cols)) == full


@pytest.mark.parametrize(
    ("close", "volume"),
    [
        ("95000.5", "12.5"),
        ("95000.50", "0.000"),  # a zero volume is one zero, the close keeps its places
        ("99999999.9", "9999999.99"),
        ("99999999.9", "99999999.99"),
        ("0.000", "1"),
        ("1e3", "1"),
        ("NaN", "1"),
        ("1E+400000", "1"),
        ("-1", "1"),
        ("1", "-0"),
        ("1." + "1" * 41, "1"),
    ],
)
def test_edge_candles_in_the_window_get_the_full_checks_values(close: str, volume: str) -> None:
    cols = candle(close=close, volume=volume)
    full = _exact(_verdict(check_candle_row, cols))
    for _ in range(2):
        assert _exact(_verdict(lambda c: candle_row(c, 2**62), cols)) == full
