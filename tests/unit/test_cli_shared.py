"""The CLI's shared pieces: the [backtest] selection against the flags (backtest and sweep
resolve it once), and the backtest summary's headline line (money exact, fixed order)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from streams.backtest import BacktestSummary
from streams.cli.common import BUNDLED_REFERENCE_PRICES, DEFAULT_DATA, parse_refs
from streams.cli.strategy import resolve_selection

JAN_5_MS = 1_767_571_200_000  # 2026-01-05T00:00:00Z
FEB_1_MS = 1_769_904_000_000  # 2026-02-01T00:00:00Z


def _strategy(tmp_path: Path, backtest: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(f"[backtest]\n{backtest}\n", encoding="utf-8")
    return path


def test_the_file_selects_when_no_flag_does(tmp_path: Path) -> None:
    path = _strategy(
        tmp_path,
        'from = "2026-01-05"\nto = "2026-02-01"\nassets = ["BTC", "ETH"]\n'
        'venues = ["binance", "okx"]\nreference_prices = { okx = "binance" }',
    )
    sel = resolve_selection(path, None, None, None, None, None)
    assert (sel.window.start, sel.window.end) == (JAN_5_MS, FEB_1_MS)
    assert sel.window.assets == frozenset({"BTC", "ETH"})
    assert sel.window.venues == frozenset({"binance", "okx"})
    assert sel.reference_prices == {"okx": "binance"}
    assert sel.given_paths is None and sel.paths == list(DEFAULT_DATA)


def test_each_flag_wins_over_its_key_only(tmp_path: Path) -> None:
    path = _strategy(
        tmp_path, 'from = "2026-01-05"\nto = "2026-02-01"\nassets = ["BTC"]\nvenues = ["okx"]'
    )
    data = [tmp_path / "funding.csv"]
    sel = resolve_selection(path, data, None, "2026-01-20", "ETH", None, parse_refs(["okx=bybit"]))
    assert sel.window.start == JAN_5_MS  # from the file
    assert sel.window.end == JAN_5_MS + 15 * 86_400_000  # the flag
    assert sel.window.assets == frozenset({"ETH"})
    assert sel.window.venues == frozenset({"okx"})
    assert sel.reference_prices == {"okx": "bybit"}
    assert sel.paths == data


def test_bundled_data_prices_hyperliquid_on_binance_unless_told() -> None:
    assert resolve_selection(None, None, None, None, None, None).reference_prices == dict(
        BUNDLED_REFERENCE_PRICES
    )
    # hyperliquid not selected: no stand-in prices needed
    assert resolve_selection(None, None, None, None, None, "binance,okx").reference_prices == {}


def test_an_unknown_backtest_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(typer.Exit):
        resolve_selection(_strategy(tmp_path, 'form = "2026-01-05"'), None, None, None, None, None)


def test_a_reference_price_needs_both_sides() -> None:
    with pytest.raises(typer.BadParameter, match="VENUE=REF"):
        parse_refs(["okx"])


def _summary(**money: str) -> BacktestSummary:
    parts = {
        "total_pnl_usd": "1",
        "funding_pnl_usd": "2",
        "price_pnl_usd": "-0.5",
        "fees_usd": "0.5",
        "borrow_usd": "0",
        "apr_on_capital": "0.01",
    } | money
    return BacktestSummary.model_validate(
        {
            "run": "bt-x",
            "run_id": "bt-x",
            "events_in": 10,
            "events_consumed": 10,
            "intents": 2,
            "orders": 4,
            "fills": 4,
            "arbs_opened": 1,
            "wall_seconds": 1.25,
            "events_per_second": 8.0,
            "output_digest": "ab" * 32,
            "digest_records": {"acct.fills": 4},
            "window": {"from": 0, "to": 1},  # any other summary.json key is kept
            **parts,
        }
    )


def test_the_headline_is_the_printed_line_in_order() -> None:
    line = _summary().headline()
    assert list(line) == [
        "run",
        "events_in",
        "intents",
        "orders",
        "fills",
        "arbs_opened",
        "total_pnl_usd",
        "funding_pnl_usd",
        "price_pnl_usd",
        "fees_usd",
        "apr_on_capital",
        "wall_seconds",
        "events_per_second",
        "output_digest",
    ]
    assert _summary().model_extra == {"window": {"from": 0, "to": 1}}


@given(
    st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, places=12)
)
def test_headline_money_is_the_summary_string_exactly(value: Decimal) -> None:
    text = format(value, "f")  # how summary.json writes money
    line = json.loads(json.dumps(_summary(fees_usd=text, apr_on_capital=text).headline()))
    assert line["fees_usd"] == text and line["apr_on_capital"] == text
