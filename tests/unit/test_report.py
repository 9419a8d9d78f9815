"""The report's metrics and page on a hand-made run (numbers worked out by hand below)."""

import json
import re
from decimal import Decimal

from consumers import report
from projections.strategies.funding_arb.strategy import ArbPlan
from schemas.types import ExitReason
from streams.backtest import outcome

H = 3_600_000
DAY = 24 * H
T0 = 1_765_000_800_000  # 2025-12-06 06:00 UTC


def _sample(t: int, funding: str, price: str, fees: str) -> dict:
    f, p, c = Decimal(funding), Decimal(price), Decimal(fees)
    return {
        "time": t,
        "funding": funding,
        "price": price,
        "fees": fees,
        "borrow": "0",
        "total": str(f + p - c),
        "net_delta_usd": "0",
        "open_arbs": 1,
        "deployed_usd": "20000",
    }


# totals: day 1 ends at 10, day 2 peaks at 30 then falls to 5 (drawdown 25), day 3 ends at 40
EQUITY = [
    _sample(T0, "0", "0", "0"),
    _sample(T0 + 2 * H, "10", "5", "5"),  # 10 (day 1 end)
    _sample(T0 + DAY, "20", "15", "5"),  # 30 (peak, day 2)
    _sample(T0 + DAY + 3 * H, "20", "-10", "5"),  # 5 (trough, day 2 end)
    _sample(T0 + 2 * DAY, "30", "20", "10"),  # 40 (recovered, day 3 end)
]


def _arb(arb_id: str, status: str, out: str, total: str, opened: int, closed: int | None) -> dict:
    return {
        "arb_id": arb_id,
        "asset": "BTC",
        "long": "binance BTC/USDT:USDT",
        "short": "bybit BTC/USDT:USDT",
        "opened_at": opened,
        "closed_at": closed,
        "status": status,
        "outcome": out,
        "exit_reason": "" if out in ("entry_failed", "open") else out,
        "entry_spread_apr": "0.12",
        "qty": "0.1",
        "notional_usd": "10000",
        "funding_usd": total,
        "price_pnl_usd": "0",
        "fees_usd": "0",
        "borrow_usd": "0",
        "total_usd": total,
    }


ARBS = [
    _arb("a", "closed", "take_profit", "30", T0, T0 + 10 * H),  # win, 10 h
    _arb("b", "closed", "funding_flip", "-10", T0, T0 + 20 * H),  # loss, 20 h
    _arb("c", "closed", "funding_flip", "15", T0, T0 + 30 * H),  # win, 30 h
    _arb("d", "closed", "entry_failed", "0", T0, T0 + H),  # nothing traded: not a trade
    _arb("e", "open", "open", "5", T0 + DAY, None),  # still open: not a trade
]
SUMMARY = {
    "run_id": "bt-unit",
    "window": {"from": T0, "to": T0 + 2 * DAY},
    "assets": ["BTC"],
    "venues": ["binance", "bybit"],
    "capital_usd": "1000",
    "total_pnl_usd": "40",
    "funding_pnl_usd": "30",
    "price_pnl_usd": "20",
    "fees_usd": "10",
    "borrow_usd": "0",
    "return_on_capital": "0.04",
    "apr_on_capital": "7.3",
    "arbs_opened": 5,
    "arbs_open_at_end": 1,
    "arbs_closed": {"entry_failed": 1, "funding_flip": 2, "take_profit": 1},
    "data_quality": {"rejected_rows": 2, "notes": ["lighter prices end early"]},
    "feed_ttls": {"candle_interval_ms": H, "ticker_ttl_ms": 2 * H, "stale_feed_ms": 3 * H},
}
DATA = {"equity": EQUITY, "arbs": ARBS, "spreads": {"a": [[T0, 0.1], [T0 + H, 0.12]]}}


def test_metrics_match_the_hand_computed_values() -> None:
    m = report.metrics(SUMMARY, report.load_data(DATA))
    assert m["max_drawdown_usd"] == Decimal(25)
    assert (m["max_drawdown_peak"], m["max_drawdown_trough"]) == (T0 + DAY, T0 + DAY + 3 * H)
    assert m["max_drawdown_recovered"] == T0 + 2 * DAY
    assert (m["trades"], m["wins"], m["win_rate"]) == (3, 2, 2 / 3)
    assert m["profit_factor"] == 4.5  # (30 + 15) / 10
    assert (m["avg_hold_h"], m["median_hold_h"]) == (20, 20)
    # daily PnL 10, −5, 35 on 1000 capital: mean 0.0133.., sample sd 0.02
    r = [0.010, -0.005, 0.035]
    mean = sum(r) / 3
    sd = (sum((x - mean) ** 2 for x in r) / 2) ** 0.5
    assert abs(m["sharpe"] - mean / sd * 365**0.5) < 1e-12
    assert abs(m["sortino"] - mean / (0.005**2 / 3) ** 0.5 * 365**0.5) < 1e-12
    assert abs(m["calmar"] - 7.3 / 0.025) < 1e-9
    assert m["max_deployed_usd"] == Decimal(20000)


def test_periods_are_changes_of_the_cumulative_parts() -> None:
    data = report.load_data(DATA)
    days = report.period_pnl(data["equity"], "day")
    assert [(d["period"], d["total"]) for d in days] == [
        ("2025-12-06", Decimal(10)),
        ("2025-12-07", Decimal(-5)),
        ("2025-12-08", Decimal(35)),
    ]
    (month,) = report.period_pnl(data["equity"], "month")
    assert (month["funding"], month["price"], month["fees"]) == (30, 20, 10)


def test_formatting_is_to_the_cent_with_sign() -> None:
    assert report.usd(Decimal("-2229.646332072615423934794592")) == "-2,229.65"
    assert report.usd(Decimal("1477.04046177"), sign=False) == "1,477.04"
    assert report.usd(Decimal("0.005")) == "+0.00"  # half-even on the exact value
    assert report.pct(Decimal("0.00964752")) == "+0.96 %"
    assert report.pct(Decimal("-0.0123"), 1) == "-1.2 %"


def test_the_page_shows_every_arb_with_its_summary_outcome_and_the_quality_notes() -> None:
    page = report.render(SUMMARY, report.load_data(DATA))
    metrics = json.loads(re.search(r'id="metrics">(.*?)</script>', page).group(1))
    assert metrics["max_drawdown_usd"] == "25"
    rows = re.findall(r"<tr><td>([a-e])</td>(.*?)</tr>", page)
    assert {arb: re.findall(r"<td>([a-z_]+)</td>", cells)[-1] for arb, cells in rows} == {
        "a": "take_profit",
        "b": "funding_flip",
        "c": "funding_flip",
        "d": "entry_failed",
        "e": "open",
    }
    assert "lighter prices end early" in page and "2 rejected rows" in page
    assert page.count('class="plotly-graph-div"') == 4
    assert "-25.00" in page and "2025-12-07 06:00" in page  # drawdown and its peak date


def _plan(status: str, reason: ExitReason | None) -> ArbPlan:
    return ArbPlan(
        arb_id="x",
        asset="BTC",
        long=("binance", "BTC/USDT:USDT"),
        short=("bybit", "BTC/USDT:USDT"),
        first=("binance", "BTC/USDT:USDT"),
        qty=Decimal(0),
        notional_usd=Decimal(10000),
        opened_at=T0,
        entry_spread_h=Decimal("0.0001"),
        entry_spread_apr=Decimal("0.876"),
        entry_basis=None,
        status=status,
        exit_reason=reason,
    )


def test_outcome_is_what_the_summary_counts() -> None:
    assert outcome(_plan("closed", None)) == "entry_failed"  # the row once said "closed"
    assert outcome(_plan("closed", ExitReason.funding_flip)) == "funding_flip"
    assert outcome(_plan("open", None)) == "open"
