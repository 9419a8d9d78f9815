"""Hostile venue payloads: every parser returns a valid event or raises ParseError, nothing else."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers import parse as p
from producers.venues import venue_spec
from tests import venues as rv

INGEST = 1_763_000_000_123
LEG = p.LegView(position_qty=D("0.1"), mark_price=D("80"), funding_rate=D("0.0001"))

HOSTILE = st.one_of(
    st.none(),
    st.just(""),
    st.booleans(),
    st.sampled_from(["abc", "1e999", "NaN", "-inf", "0x10", " ", "1,5", "١٢٣"]),
    st.sampled_from([float("nan"), float("inf"), -1.0, 0, -0.0, 1e300, 10**30, 1_700_000_000]),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)

# (venue, unified item, parser) for each kind of payload
CASES: list[tuple[str, Callable[[], Any], Callable[[Any], Any]]] = [
    (
        "bybit",
        lambda: rv.run("bybit", "fetchFundingRate"),
        lambda x: p.parse_funding_rate(venue_spec("bybit"), x, ingest_time=INGEST),
    ),
    (
        "bybit",
        lambda: rv.run("bybit", "fetchTicker"),
        lambda x: p.parse_ticker(venue_spec("bybit"), x, ingest_time=INGEST),
    ),
    (
        "binance",
        lambda: rv.run("binance", "fetchMyTrades", 1)[0],
        lambda x: p.parse_fill(venue_spec("binance"), x, ingest_time=INGEST),
    ),
    (
        "bybit",
        lambda: rv.run("bybit", "fetchFundingHistory")[0],
        lambda x: p.parse_funding_payment(venue_spec("bybit"), x, ingest_time=INGEST, leg=LEG),
    ),
    (
        "bybit",
        lambda: rv.run("bybit", "fetchPositions")[0],
        lambda x: p.parse_position(venue_spec("bybit"), x, ingest_time=INGEST),
    ),
    (
        "hyperliquid",
        lambda: rv.run("hyperliquid", "fetchBalance", 1),
        lambda x: p.parse_balance(venue_spec("hyperliquid"), x, ingest_time=INGEST),
    ),
]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:3]):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


@pytest.mark.parametrize("index", range(len(CASES)))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_hostile_field_gives_event_or_parse_error(index: int, data: st.DataObject) -> None:
    _venue, make, parser = CASES[index]
    item = copy.deepcopy(make())
    paths = _paths(item)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        with contextlib.suppress(KeyError, IndexError, TypeError):
            _set(item, path, data.draw(HOSTILE))  # fails when a parent became a scalar
        paths = _paths(item) or paths
    try:
        parser(item)
    except p.ParseError as exc:
        assert exc.error_type and exc.reason


@pytest.mark.parametrize("whole", [None, [], "x", 3, {"symbol": None}, {"symbol": "BTCUSDT"}])
def test_hostile_whole_payloads(whole: Any) -> None:
    spec = venue_spec("bybit")
    for parser in (p.parse_funding_rate, p.parse_ticker, p.parse_fill, p.parse_position):
        with pytest.raises(p.ParseError):
            parser(spec, whole, ingest_time=INGEST)


@pytest.mark.parametrize(
    ("field", "value", "error_type"),
    [
        ("fundingRate", "abc", "type"),
        ("fundingRate", None, "missing"),
        ("fundingRate", True, "type"),
        ("fundingRate", 5, "value"),  # 500 % per interval: a percent/fraction slip
        ("fundingRate", float("nan"), "value"),
        ("timestamp", 1_730_730_080, "unit"),  # seconds where ms belong
        ("fundingTimestamp", -5, "value"),
        ("markPrice", -1, "value"),
        ("markPrice", 1e15, "value"),
    ],
)
def test_named_bad_values(field: str, value: Any, error_type: str) -> None:
    item = {**rv.run("bybit", "fetchFundingRate"), field: value}
    with pytest.raises(p.ParseError) as info:
        p.parse_funding_rate(venue_spec("bybit"), item, ingest_time=INGEST)
    assert info.value.error_type == error_type


def test_crossed_book_is_refused() -> None:
    item = {**rv.run("bybit", "fetchTicker"), "bid": 2.0, "ask": 1.0}
    with pytest.raises(p.ParseError, match="crossed"):
        p.parse_ticker(venue_spec("bybit"), item, ingest_time=INGEST)
