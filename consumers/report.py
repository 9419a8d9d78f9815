"""The backtest report: one self-contained HTML file (plotly.js embedded), readable offline.

Built only from ``summary.json`` and ``report_data.json`` (hourly equity samples, the arbs
with their exact money parts, each arb's spread samples, per-venue fills), so every number
in it can be recomputed from those two files. Sections:

- headline metrics: PnL split (funding, price, fees, borrow), return and APR on capital, max
  drawdown with its peak / trough / recovery dates, Sharpe, Sortino and Calmar on daily
  returns, profit factor, win rate, average and median holding time, capital usage;
- tables per asset, venue pair, venue (fills, volume, fees) and exit reason, and the daily /
  weekly / monthly breakdown;
- interactive charts (plotly): equity split, drawdown, net delta, the spread of each traded
  pair with entries and exits, funding vs fees per day, capital deployed;
- the arb list (sortable, filterable: a few lines of vanilla JS) with notional, entry and
  realised APR, holding time, cost attribution and the outcome the summary counts;
- the data-quality findings, the feed TTLs, and the exact parameters and data files.

Definitions (all on UTC days; money is exact ``Decimal`` until formatted):

- daily PnL = end-of-day total − previous end-of-day total (the run starts at 0); daily return
  = daily PnL / capital;
- Sharpe = mean / sample standard deviation of daily returns × √365; Sortino = mean / downside
  deviation (root mean square of min(r, 0) over all days) × √365; Calmar = APR on capital /
  (max drawdown / capital);
- max drawdown: the largest fall of the hourly total from its running peak (as in the summary);
- a *trade* is an arb that ended with fills (closed with an exit reason, or an ``entry_failed``
  arb whose PnL is not zero); win rate = trades with total > 0 / trades; profit factor = sum of
  winning totals / |sum of losing totals|;
- holding time = close − open (open arbs: to the end of the run); realised APR = total /
  notional per leg × 8760 / holding hours.
"""

from __future__ import annotations

import bisect
import html
import itertools
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

MS_PER_HOUR = 3_600_000
ZERO = Decimal(0)
MONEY_KEYS = ("funding", "price", "fees", "borrow", "total", "net_delta_usd", "deployed_usd")
ARB_MONEY = (
    "notional_usd",
    "funding_usd",
    "price_pnl_usd",
    "fees_usd",
    "borrow_usd",
    "total_usd",
    "entry_spread_apr",
    "qty",
    "spread_slippage_usd",
)


# ---- loading -------------------------------------------------------------------------------
# ---- forecast accuracy ---------------------------------------------------------------------
Points = list[tuple[int, Decimal]]


def usual_interval_h(times: list[int]) -> int | None:
    """The most common whole-hour gap between consecutive settlement times (ties: the
    shorter); None with fewer than two times or no whole-hour gap."""
    gaps: dict[int, int] = defaultdict(int)
    for a, b in itertools.pairwise(times):
        delta = b - a
        h = round(delta / MS_PER_HOUR)
        if h >= 1 and abs(delta - h * MS_PER_HOUR) <= 60_000:
            gaps[h] += 1
    if not gaps:
        return None
    return min(gaps, key=lambda h: (-gaps[h], h))


def _stats(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    n = len(pairs)
    out: dict[str, Any] = {"samples": n, "correlation": None, "slope": None, "sign_hit_rate": None}
    if n < 3:
        return out
    f = [a for a, _ in pairs]
    r = [b for _, b in pairs]
    if len(set(f)) > 1 and len(set(r)) > 1:
        out["correlation"] = round(statistics.correlation(f, r), 6)
        out["slope"] = round(statistics.linear_regression(f, r).slope, 6)
    signed = [(a, b) for a, b in pairs if a != 0 and b != 0]
    if signed:
        hits = sum(1 for a, b in signed if (a > 0) == (b > 0))
        out["sign_hit_rate"] = round(hits / len(signed), 6)
    return out


def forecast_accuracy(
    settlements: dict[tuple[str, str], Points],
    params: Any,
    horizons_h: tuple[int, ...] = (24, 168),
    step_h: int = 24,
) -> dict[str, Any]:
    """How well the run's forecast (:func:`projections.strategies.funding_arb.forecast.forecast_rate_h` with
    ``params``) predicted the realised spread of every cross-venue perp pair.

    ``settlements``: per (venue, instrument) the settled (funding_time ms, rate per interval)
    the run saw, ascending. Each leg's interval is :func:`usual_interval_h` of its times.
    Pairs: per base asset every two legs on different venues, ``(a, b)`` in name order, spread
    ``b − a`` per hour. Samples at every ``step_h`` multiple of UTC time ``t`` where both legs
    have a settlement at or before ``t`` and beyond ``t + H``. Forecast: from the settlements at
    or before ``t`` (no predicted rate: a replayed history has none), horizon ``H``;
    realised: :func:`projections.strategies.funding_arb.forecast.realised_rate_h` over ``(t, t + H]``. Also the naive
    forecast, the latest settled rate per hour, as the baseline. Per horizon: samples, Pearson
    correlation, OLS slope of realised on forecast, sign hit rate (samples where both are
    non-zero). Statistics are floats (not money).
    """
    from projections.strategies.funding_arb.forecast import forecast_rate_h, realised_rate_h

    legs = {}
    for key, pts in sorted(settlements.items()):
        interval = usual_interval_h([t for t, _ in pts])
        if interval is not None and "/" in key[1] and ":" in key[1]:
            legs[key] = (pts, interval)
    step = step_h * MS_PER_HOUR
    cache: dict[tuple[tuple[str, str], int], tuple[float, float] | None] = {}

    def leg_at(key: tuple[str, str], t: int, h: int) -> tuple[float, float] | None:
        ck = (key, t)  # no predicted rate: the forecast does not depend on h
        if ck not in cache:
            pts, interval = legs[key]
            past = pts[: bisect.bisect_right(pts, (t, Decimal("Infinity")))]
            f = forecast_rate_h(past, interval, params, Decimal(h)) if past else None
            cache[ck] = None if f is None else (float(f), float(past[-1][1] / interval))
        return cache[ck]

    def realised(pts: Points, t: int, h: int) -> Decimal | None:
        # realised_rate_h on the points that can matter (bisected: the same sum, far faster)
        lo = bisect.bisect_right(pts, (t, Decimal("Infinity")))
        hi = bisect.bisect_right(pts, (t + h * MS_PER_HOUR, Decimal("Infinity")))
        return realised_rate_h(pts[lo : hi + 1], t, h)  # one point past the span, if any

    out: dict[str, Any] = {}
    for h in horizons_h:
        model: list[tuple[float, float]] = []
        naive: list[tuple[float, float]] = []
        keys = sorted(legs)
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                if a[0] == b[0] or a[1].split("/")[0] != b[1].split("/")[0]:
                    continue
                pa, pb = legs[a][0], legs[b][0]
                first = max(pa[0][0], pb[0][0])
                t = (first + step - 1) // step * step
                while True:
                    ra, rb = realised(pa, t, h), realised(pb, t, h)
                    if ra is None or rb is None:
                        break
                    fa, fb = leg_at(a, t, h), leg_at(b, t, h)
                    if fa is not None and fb is not None:
                        spread = float(rb - ra)
                        model.append((fb[0] - fa[0], spread))
                        naive.append((fb[1] - fa[1], spread))
                    t += step
        out[f"{h}h"] = {"forecast": _stats(model), "latest": _stats(naive)}
    return out


def load_data(raw: dict[str, Any]) -> dict[str, Any]:
    """``report_data.json`` as parsed JSON → the same with money as ``Decimal``."""
    equity = [
        {k: (Decimal(v) if k in MONEY_KEYS else v) for k, v in s.items()}
        for s in raw.get("equity", [])
    ]
    arbs = [
        {k: (Decimal(v) if k in ARB_MONEY else v) for k, v in a.items()}
        for a in raw.get("arbs", [])
    ]
    venues = {
        v: {
            "fills": int(x["fills"]),
            "volume_usd": Decimal(x["volume_usd"]),
            "fees": Decimal(x["fees"]),
        }
        for v, x in raw.get("venues", {}).items()
    }
    spreads = {k: [(int(t), float(y)) for t, y in v] for k, v in raw.get("spreads", {}).items()}
    return {"equity": equity, "arbs": arbs, "venues": venues, "spreads": spreads}


# ---- formatting ----------------------------------------------------------------------------
def dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def fmt_time(ms: int | None) -> str:
    return dt(ms).strftime("%Y-%m-%d %H:%M") if ms else "—"


def usd(x: Decimal, sign: bool = True) -> str:
    """USD to the cent (half-even on the exact value), thousands separated, signed."""
    cents = Decimal(x).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return format(cents, "+,.2f" if sign else ",.2f")


def pct(x: Decimal | float | None, digits: int = 2, sign: bool = True) -> str:
    """A fraction as a percentage (signed unless ``sign`` is false: rates, shares)."""
    if x is None:
        return "—"
    return format(Decimal(str(x)) * 100, f"{'+' if sign else ''}.{digits}f") + " %"


def num(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—" if x is None else ("∞" if x > 0 else "−∞")
    return format(x, f".{digits}f")


def hours(h: float | None) -> str:
    if h is None:
        return "—"
    return f"{h:.1f} h" if h < 48 else f"{h / 24:.1f} d"


# ---- metrics (plain code; tests recompute them independently) ------------------------------
def hold_hours(arb: dict[str, Any], end_ms: int) -> float:
    close: int = arb["closed_at"] or end_ms
    opened: int = arb["opened_at"]
    return max(close - opened, 0) / MS_PER_HOUR


def is_trade(arb: dict[str, Any]) -> bool:
    """An arb that ended with money moved (see the module docstring)."""
    if arb["status"] != "closed":
        return False
    return bool(arb["outcome"] != "entry_failed" or arb["total_usd"] != 0)


def realised_apr(arb: dict[str, Any], end_ms: int) -> Decimal | None:
    h = hold_hours(arb, end_ms)
    if not arb["notional_usd"] or h <= 0:
        return None
    total_usd: Decimal = arb["total_usd"]
    notional_usd: Decimal = arb["notional_usd"]
    return total_usd / notional_usd * Decimal(8760) / Decimal(str(h))


def drawdown(equity: list[dict[str, Any]]) -> dict[str, Any]:
    """Max fall of ``total`` from its running peak, with the peak, trough and recovery times."""
    best: dict[str, Any] = {"usd": ZERO, "peak": None, "trough": None, "recovered": None}
    peak_v, peak_t = Decimal("-Infinity"), None
    for s in equity:
        if s["total"] > peak_v:
            peak_v, peak_t = s["total"], s["time"]
        if peak_v - s["total"] > best["usd"]:
            best = {"usd": peak_v - s["total"], "peak": peak_t, "trough": s["time"]}
            best["peak_value"] = peak_v
    if best["trough"] is not None:
        best["recovered"] = next(
            (
                s["time"]
                for s in equity
                if s["time"] > best["trough"] and s["total"] >= best["peak_value"]
            ),
            None,
        )
    return best


def drawdown_series(equity: list[dict[str, Any]]) -> list[Decimal]:
    out, peak = [], Decimal("-Infinity")
    for s in equity:
        peak = max(peak, s["total"])
        out.append(s["total"] - peak)
    return out


def period_key(ms: int, period: str) -> str:
    d = dt(ms).date()
    if period == "day":
        return d.isoformat()
    if period == "week":
        iso = d.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    return f"{d.year}-{d.month:02d}"


def period_pnl(equity: list[dict[str, Any]], period: str) -> list[dict[str, Any]]:
    """PnL parts per UTC day / ISO week / month: the change of each cumulative part from the
    end of the previous period (the run starts at 0). Days without a sample carry 0."""
    ends: dict[str, dict[str, Any]] = {}
    for s in equity:
        ends[period_key(s["time"], period)] = s  # the last sample of the period
    if period == "day" and equity:  # every calendar day, so daily returns have no holes
        d, last = dt(equity[0]["time"]).date(), dt(equity[-1]["time"]).date()
        filled: dict[str, dict[str, Any]] = {}
        prev = None
        while d <= last:
            k = d.isoformat()
            prev = ends.get(k, prev)
            if prev is not None:
                filled[k] = prev
            d += timedelta(days=1)
        ends = filled
    rows = []
    before = dict.fromkeys(("funding", "price", "fees", "borrow", "total"), ZERO)
    for k in sorted(ends):
        s = ends[k]
        row: dict[str, Any] = {"period": k}
        for part in before:
            row[part] = s[part] - before[part]
            before[part] = s[part]
        rows.append(row)
    return rows


def ratios(
    daily: list[Decimal], capital: Decimal, apr: Decimal, max_dd: Decimal
) -> dict[str, float | None]:
    """Sharpe, Sortino, Calmar on daily returns (floats: they are ratios, not money)."""
    r = [float(x / capital) for x in daily]
    out: dict[str, float | None] = {"sharpe": None, "sortino": None, "calmar": None}
    if len(r) >= 2:
        mean, sd = statistics.fmean(r), statistics.stdev(r)
        out["sharpe"] = mean / sd * math.sqrt(365) if sd > 0 else None
        down = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / len(r))
        out["sortino"] = mean / down * math.sqrt(365) if down > 0 else None
    if max_dd > 0:
        out["calmar"] = float(apr) / float(max_dd / capital)
    return out


def metrics(summary: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers (money ``Decimal``, ratios ``float``)."""
    equity, arbs = data["equity"], data["arbs"]
    capital = Decimal(summary["capital_usd"])
    end = summary["window"]["to"]
    dd = drawdown(equity)
    daily = [row["total"] for row in period_pnl(equity, "day")]
    trades = [a for a in arbs if is_trade(a)]
    wins = [a["total_usd"] for a in trades if a["total_usd"] > 0]
    losses = [a["total_usd"] for a in trades if a["total_usd"] < 0]
    holds = [hold_hours(a, end) for a in trades]
    deployed = [s.get("deployed_usd", ZERO) for s in equity]
    m: dict[str, Any] = {
        "total_usd": Decimal(summary["total_pnl_usd"]),
        "funding_usd": Decimal(summary["funding_pnl_usd"]),
        "price_usd": Decimal(summary["price_pnl_usd"]),
        "fees_usd": Decimal(summary["fees_usd"]),
        "borrow_usd": Decimal(summary["borrow_usd"]),
        "capital_usd": capital,
        "return_on_capital": Decimal(summary["return_on_capital"]),
        "apr_on_capital": Decimal(summary["apr_on_capital"]),
        "max_drawdown_usd": dd["usd"],
        "max_drawdown_peak": dd["peak"],
        "max_drawdown_trough": dd["trough"],
        "max_drawdown_recovered": dd["recovered"],
        "days": len(daily),
        "trades": len(trades),
        "wins": len(wins),
        "win_rate": len(wins) / len(trades) if trades else None,
        "profit_factor": (
            float(sum(wins, ZERO) / -sum(losses, ZERO)) if losses else (math.inf if wins else None)
        ),
        "avg_hold_h": statistics.fmean(holds) if holds else None,
        "median_hold_h": statistics.median(holds) if holds else None,
        "max_deployed_usd": max(deployed, default=ZERO),
        "avg_deployed_usd": sum(deployed, ZERO) / len(deployed) if deployed else ZERO,
    }
    m.update(ratios(daily, capital, m["apr_on_capital"], dd["usd"]))
    return m


def group(
    arbs: list[dict[str, Any]], key: Callable[[dict[str, Any]], str], end: int
) -> list[dict[str, Any]]:
    """Per group: arbs, trades, win rate, PnL parts, average PnL and hold (over trades)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in arbs:
        groups[key(a)].append(a)
    rows = []
    for k, items in groups.items():
        trades = [a for a in items if is_trade(a)]
        total = sum((a["total_usd"] for a in items), ZERO)
        rows.append(
            {
                "key": k,
                "arbs": len(items),
                "trades": len(trades),
                "win_rate": (
                    sum(a["total_usd"] > 0 for a in trades) / len(trades) if trades else None
                ),
                "funding": sum((a["funding_usd"] for a in items), ZERO),
                "price": sum((a["price_pnl_usd"] for a in items), ZERO),
                "fees": sum((a["fees_usd"] for a in items), ZERO),
                "borrow": sum((a["borrow_usd"] for a in items), ZERO),
                "total": total,
                "avg_total": total / len(items),
                "avg_hold_h": statistics.fmean(hold_hours(a, end) for a in items),
            }
        )
    return sorted(rows, key=lambda r: r["total"], reverse=True)


# ---- HTML pieces ---------------------------------------------------------------------------
def _e(x: object) -> str:
    return html.escape(str(x))


def table(headers: list[str], rows: Iterable[list[Any]], cls: str = "", table_id: str = "") -> str:
    """An HTML table; a cell is text or ``(text, sort value)``; numbers align right."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for c in row:
            text, key = c if isinstance(c, tuple) else (c, None)
            attr = f' data-v="{_e(key)}"' if key is not None else ""
            num_cls = ' class="n"' if key is not None else ""
            cells.append(f"<td{attr}{num_cls}>{_e(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return (
        f'<table class="{cls}"{ident}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def m_cell(x: Decimal, sign: bool = True) -> tuple[str, str]:
    return usd(x, sign), format(x, "f")


def group_table(rows: list[dict[str, Any]], label: str) -> str:
    return table(
        [
            label,
            "arbs",
            "trades",
            "win rate",
            "avg PnL USD",
            "avg hold",
            "funding USD",
            "price USD",
            "fees USD",
            "borrow USD",
            "total USD",
        ],
        (
            [
                r["key"],
                (r["arbs"], r["arbs"]),
                (r["trades"], r["trades"]),
                (
                    pct(r["win_rate"], 1, sign=False) if r["win_rate"] is not None else "—",
                    r["win_rate"] if r["win_rate"] is not None else -1,
                ),
                m_cell(r["avg_total"]),
                (hours(r["avg_hold_h"]), r["avg_hold_h"]),
                m_cell(r["funding"]),
                m_cell(r["price"]),
                m_cell(r["fees"], False),
                m_cell(r["borrow"], False),
                m_cell(r["total"]),
            ]
            for r in rows
        ),
        "sortable",
    )


def period_table(rows: list[dict[str, Any]], capital: Decimal, label: str) -> str:
    return table(
        [label, "funding USD", "price USD", "fees USD", "borrow USD", "total USD", "return"],
        (
            [
                r["period"],
                m_cell(r["funding"]),
                m_cell(r["price"]),
                m_cell(r["fees"], False),
                m_cell(r["borrow"], False),
                m_cell(r["total"]),
                (pct(r["total"] / capital, 3), format(r["total"] / capital, "f")),
            ]
            for r in rows
        ),
        "sortable",
    )


def arb_table(arbs: list[dict[str, Any]], end: int) -> str:
    rows = []
    for a in arbs:
        h = hold_hours(a, end)
        rapr = realised_apr(a, end)
        rows.append(
            [
                a["arb_id"],
                a["asset"],
                a["long"],
                a["short"],
                (fmt_time(a["opened_at"]), a["opened_at"]),
                (fmt_time(a["closed_at"]), a["closed_at"] or 0),
                (hours(h), h),
                a["outcome"],
                m_cell(a["notional_usd"], False),
                (pct(a["entry_spread_apr"]), format(a["entry_spread_apr"], "f")),
                (pct(rapr) if rapr is not None else "—", format(rapr, "f") if rapr else 0),
                m_cell(a["funding_usd"]),
                m_cell(a["price_pnl_usd"]),
                m_cell(a.get("spread_slippage_usd", ZERO), False),
                m_cell(a["fees_usd"], False),
                m_cell(a["borrow_usd"], False),
                m_cell(a["total_usd"]),
                _covers(a),
            ]
        )
    return table(
        [
            "arb",
            "asset",
            "long",
            "short",
            "entry UTC",
            "exit UTC",
            "held",
            "outcome",
            "notional/leg USD",
            "entry APR",
            "realised APR",
            "funding USD",
            "price USD",
            "of which spread+slippage USD",
            "fees USD",
            "borrow USD",
            "total USD",
            "funding / fees",
        ],
        rows,
        "sortable",
        "arbs",
    )


def _covers(a: dict[str, Any]) -> tuple[str, str]:
    """Funding earned / fees paid of one arb (≥ 1: its funding covered its fees)."""
    if a["fees_usd"] <= 0:
        return "—", "0"
    ratio = a["funding_usd"] / a["fees_usd"]
    return f"{ratio:.2f}×", format(ratio.quantize(Decimal("1e-6")), "f")


# ---- charts --------------------------------------------------------------------------------
def _times(equity: list[dict[str, Any]]) -> list[datetime]:
    return [dt(s["time"]) for s in equity]


def equity_figure(equity: list[dict[str, Any]]) -> go.Figure:
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06
    )
    t = _times(equity)
    for name, ys, color, width in (
        ("funding", [float(s["funding"]) for s in equity], "#2ca02c", 1.5),
        ("price PnL", [float(s["price"]) for s in equity], "#1f77b4", 1.5),
        ("− fees", [-float(s["fees"]) for s in equity], "#d62728", 1.5),
        ("− borrow", [-float(s["borrow"]) for s in equity], "#9467bd", 1.0),
        ("total", [float(s["total"]) for s in equity], "#000000", 2.5),
    ):
        fig.add_trace(
            go.Scatter(
                x=t,
                y=ys,
                name=name,
                mode="lines",
                line={"color": color, "width": width},
                hovertemplate="%{y:,.2f} USD",
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=t,
            y=[float(x) for x in drawdown_series(equity)],
            name="drawdown",
            fill="tozeroy",
            mode="lines",
            line={"color": "#ff7f0e"},
            hovertemplate="%{y:,.2f} USD",
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="cumulative USD", row=1, col=1)
    fig.update_yaxes(title_text="drawdown USD", row=2, col=1)
    fig.update_layout(
        title="Equity: total = funding + price − fees − borrow (USD)",
        height=560,
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.08},
    )
    return fig


def delta_figure(equity: list[dict[str, Any]]) -> go.Figure:
    t = _times(equity)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(
            x=t,
            y=[float(s["net_delta_usd"]) for s in equity],
            name="net delta (USD)",
            mode="lines",
            line={"color": "#9467bd"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=t,
            y=[float(s.get("deployed_usd", 0)) for s in equity],
            name="deployed notional, both legs (USD)",
            mode="lines",
            line={"color": "#7f7f7f", "dash": "dot"},
        ),
        secondary_y=True,
    )
    fig.update_yaxes(title_text="net delta USD", secondary_y=False)
    fig.update_yaxes(title_text="deployed USD", secondary_y=True)
    fig.update_layout(
        title="Net delta and capital deployed (hourly)",
        height=380,
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.12},
    )
    return fig


def spread_figure(arbs: list[dict[str, Any]], spreads: dict[str, list[Any]]) -> go.Figure:
    fig = go.Figure()
    seen: set[str] = set()
    palette = [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    ]
    colors: dict[str, str] = {}
    for a in arbs:
        series = spreads.get(a["arb_id"], [])
        pair = f"{a['asset']}: long {a['long']} / short {a['short']}"
        color = colors.setdefault(pair, palette[len(colors) % len(palette)])
        first = pair not in seen
        seen.add(pair)
        if series:
            fig.add_trace(
                go.Scatter(
                    x=[dt(t) for t, _ in series],
                    y=[v * 100 for _, v in series],
                    mode="lines",
                    name=pair,
                    legendgroup=pair,
                    showlegend=first,
                    line={"color": color, "width": 1},
                    hovertemplate=f"{_e(a['arb_id'])}<br>%{{y:.2f}} % APR<extra>{_e(pair)}</extra>",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=[dt(a["opened_at"])],
                y=[float(a["entry_spread_apr"]) * 100],
                mode="markers",
                name=pair,
                legendgroup=pair,
                showlegend=first and not series,
                marker={"symbol": "triangle-up", "size": 10, "color": color},
                hovertemplate=f"entry {_e(a['arb_id'])}<br>%{{y:.2f}} % APR<extra>{_e(pair)}</extra>",
            )
        )
        if a["closed_at"] and series:
            fig.add_trace(
                go.Scatter(
                    x=[dt(a["closed_at"])],
                    y=[series[-1][1] * 100],
                    mode="markers",
                    name=pair,
                    legendgroup=pair,
                    showlegend=False,
                    marker={
                        "symbol": "triangle-down",
                        "size": 10,
                        "color": color,
                        "line": {"color": "black", "width": 1},
                    },
                    hovertemplate=(
                        f"exit {_e(a['arb_id'])} ({_e(a['outcome'])})<br>last spread "
                        f"%{{y:.2f}} % APR<extra>{_e(pair)}</extra>"
                    ),
                )
            )
    fig.add_hline(y=0, line={"color": "grey", "width": 0.5})
    fig.update_yaxes(title_text="spread, % APR (short − long funding)")
    # one button per asset: show that asset's pairs only
    groups = [t.legendgroup.split(":")[0] if t.legendgroup else "" for t in fig.data]
    assets = sorted({g for g in groups if g})
    buttons = [
        {"label": "all assets", "method": "restyle", "args": ["visible", [True] * len(groups)]}
    ]
    buttons += [
        {"label": a, "method": "restyle", "args": ["visible", [g == a for g in groups]]}
        for a in assets
    ]
    fig.update_layout(
        title="Spread of each traded pair while held (▲ entry, ▼ exit; pick an asset, click "
        "the legend to show or hide a pair)",
        height=620,
        margin={"t": 120},
        legend={"font": {"size": 10}},
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "buttons": buttons,
                "x": 0,
                "y": 1.08,
                "xanchor": "left",
                "yanchor": "top",
                "showactive": True,
            }
        ],
    )
    return fig


def funding_fees_figure(daily: list[dict[str, Any]]) -> go.Figure:
    x = [r["period"] for r in daily]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(
            x=x,
            y=[float(r["funding"]) for r in daily],
            name="funding / day",
            marker_color="#2ca02c",
        )
    )
    fig.add_trace(
        go.Bar(
            x=x,
            y=[-float(r["fees"] + r["borrow"]) for r in daily],
            name="− fees − borrow / day",
            marker_color="#d62728",
        )
    )
    cf = cfees = ZERO
    cum_f, cum_c = [], []
    for r in daily:
        cf += r["funding"]
        cfees += r["fees"] + r["borrow"]
        cum_f.append(float(cf))
        cum_c.append(float(cfees))
    fig.add_trace(
        go.Scatter(
            x=x, y=cum_f, name="cumulative funding", mode="lines", line={"color": "#2ca02c"}
        ),
        secondary_y=True,
    )
    fig.add_trace(
        go.Scatter(
            x=x, y=cum_c, name="cumulative fees + borrow", mode="lines", line={"color": "#d62728"}
        ),
        secondary_y=True,
    )
    fig.update_yaxes(title_text="USD per day", secondary_y=False)
    fig.update_yaxes(title_text="cumulative USD", secondary_y=True)
    fig.update_layout(
        title="Funding earned vs fees paid (per UTC day)",
        barmode="relative",
        height=420,
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.12},
    )
    return fig


def _div(fig: go.Figure, div_id: str) -> str:
    html: str = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )
    return html


# ---- the page ------------------------------------------------------------------------------
SCRIPT = """
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push(String(e.message));
  var box = document.getElementById('js-errors');
  if (box) { box.textContent += e.message + '\\n'; box.style.display = 'block'; }
});
"""

TABLE_JS = """
(function () {
  function val(td) { var v = td.getAttribute('data-v'); return v === null ? td.textContent : parseFloat(v); }
  document.querySelectorAll('table.sortable').forEach(function (t) {
    t.querySelectorAll('th').forEach(function (th, i) {
      th.title = 'click to sort';
      th.addEventListener('click', function () {
        var body = t.tBodies[0], rows = Array.from(body.rows);
        var dir = th.dataset.dir === 'asc' ? -1 : 1; th.dataset.dir = dir === 1 ? 'asc' : 'desc';
        rows.sort(function (a, b) {
          var x = val(a.cells[i]), y = val(b.cells[i]);
          return (x > y ? 1 : x < y ? -1 : 0) * dir;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  var q = document.getElementById('arb-filter'), o = document.getElementById('arb-outcome');
  function filter() {
    var text = q.value.toLowerCase(), want = o.value, shown = 0;
    Array.from(document.getElementById('arbs').tBodies[0].rows).forEach(function (r) {
      var ok = (!text || r.textContent.toLowerCase().indexOf(text) >= 0) &&
               (!want || r.cells[7].textContent === want);
      r.style.display = ok ? '' : 'none'; shown += ok ? 1 : 0;
    });
    document.getElementById('arb-count').textContent = shown;
  }
  if (q) { q.addEventListener('input', filter); o.addEventListener('change', filter); }
  document.body.dataset.charts = document.querySelectorAll('.js-plotly-plot .main-svg').length > 0
    ? String(document.querySelectorAll('.js-plotly-plot').length) : '0';
  document.body.dataset.ready = '1';
})();
"""

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1280px;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12.5px;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;white-space:nowrap}
th{background:#f4f4f4;cursor:pointer} td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:8px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 10px}
.card .k{font-size:11px;color:#666} .card .v{font-size:18px;font-weight:600}
.card .s{font-size:11px;color:#666} .pos{color:#137333} .neg{color:#b3261e}
.scroll{max-height:520px;overflow:auto} #js-errors{display:none;color:#b3261e}
details{margin:.4em 0} pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:12px}
"""


def _card(label: str, value: str, sub: str = "", tone: Decimal | float | None = None) -> str:
    cls = "" if tone is None else (" pos" if tone > 0 else " neg" if tone < 0 else "")
    return (
        f'<div class="card"><div class="k">{_e(label)}</div>'
        f'<div class="v{cls}">{_e(value)}</div><div class="s">{_e(sub)}</div></div>'
    )


def _cards(m: dict[str, Any]) -> str:
    dd_sub = (
        f"peak {fmt_time(m['max_drawdown_peak'])}, trough "
        f"{fmt_time(m['max_drawdown_trough'])}, "
        + (
            f"recovered {fmt_time(m['max_drawdown_recovered'])}"
            if m["max_drawdown_recovered"]
            else "not recovered by the end"
        )
    )
    cap = m["capital_usd"]
    pf = m["profit_factor"]
    return (
        '<div class="cards">'
        + "".join(
            [
                _card(
                    "total PnL (USD)",
                    usd(m["total_usd"]),
                    "funding + price − fees − borrow",
                    m["total_usd"],
                ),
                _card("funding (USD)", usd(m["funding_usd"]), "received − paid", m["funding_usd"]),
                _card(
                    "price PnL (USD)", usd(m["price_usd"]), "realised + unrealised", m["price_usd"]
                ),
                _card("fees (USD)", usd(m["fees_usd"], False), "paid"),
                _card("borrow (USD)", usd(m["borrow_usd"], False), "paid on short spot"),
                _card(
                    "return on capital",
                    pct(m["return_on_capital"], 3),
                    f"capital {usd(cap, False)} USD",
                    m["return_on_capital"],
                ),
                _card(
                    "APR on capital",
                    pct(m["apr_on_capital"]),
                    "return × 8760 / hours",
                    m["apr_on_capital"],
                ),
                _card("max drawdown (USD)", usd(-m["max_drawdown_usd"]), dd_sub),
                _card("Sharpe (daily, ×√365)", num(m["sharpe"]), f"{m['days']} UTC days"),
                _card("Sortino (daily, ×√365)", num(m["sortino"]), "downside deviation"),
                _card("Calmar", num(m["calmar"]), "APR / (max drawdown / capital)"),
                _card(
                    "profit factor", num(pf) if pf is not None else "—", "gross wins / gross losses"
                ),
                _card(
                    "win rate",
                    pct(m["win_rate"], 1, sign=False) if m["win_rate"] is not None else "—",
                    f"{m['wins']} of {m['trades']} closed trades",
                ),
                _card(
                    "holding time",
                    f"avg {hours(m['avg_hold_h'])}",
                    f"median {hours(m['median_hold_h'])}",
                ),
                _card(
                    "capital usage",
                    pct(m["max_deployed_usd"] / cap, 1, sign=False) + " max",
                    f"avg {pct(m['avg_deployed_usd'] / cap, 1, sign=False)}; both legs' notional / capital",
                ),
            ]
        )
        + "</div>"
    )


def _quality(summary: dict[str, Any]) -> str:
    dq = summary.get("data_quality") or {}
    ttl = summary.get("feed_ttls") or {}
    parts = [
        f"<p>{_e(dq.get('rejected_rows', 0))} rejected rows (dead-lettered with the raw line); "
        f"{len(dq.get('series_with_findings') or [])} series with findings.</p>"
    ]
    notes = dq.get("notes") or []
    if notes:
        parts.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    series = dq.get("series_with_findings") or []
    if series:
        parts.append(
            table(
                [
                    "kind",
                    "venue",
                    "symbol",
                    "rows",
                    "duplicates",
                    "out of order",
                    "invalid",
                    "gaps",
                    "longest gap",
                    "interval changes",
                    "from",
                    "to",
                    "findings",
                ],
                (
                    [
                        q.get("kind"),
                        q.get("venue"),
                        q.get("symbol"),
                        (q.get("rows"), q.get("rows")),
                        (q.get("duplicates"), q.get("duplicates")),
                        (q.get("out_of_order"), q.get("out_of_order")),
                        (q.get("invalid"), q.get("invalid")),
                        (q.get("gaps"), q.get("gaps")),
                        (
                            hours((q.get("longest_gap_ms") or 0) / MS_PER_HOUR)
                            if q.get("gaps")
                            else "—",
                            q.get("longest_gap_ms") or 0,
                        ),
                        (q.get("interval_changes"), q.get("interval_changes")),
                        fmt_time(q.get("first_time")),
                        fmt_time(q.get("last_time")),
                        "; ".join(q.get("findings") or []) or "—",
                    ]
                    for q in series
                ),
                "sortable",
            )
        )
    if ttl:
        parts.append(
            "<p>Feed TTLs used: ticker "
            f"{_e(hours(ttl.get('ticker_ttl_ms', 0) / MS_PER_HOUR))}, stale-feed breaker "
            f"{_e(hours(ttl.get('stale_feed_ms', 0) / MS_PER_HOUR))} (data candles "
            f"{_e(hours(ttl.get('candle_interval_ms', 0) / MS_PER_HOUR))})"
            + ("; raised: " + _e("; ".join(ttl["raised"])) if ttl.get("raised") else "")
            + ".</p>"
        )
    return "".join(parts)


def _inputs(summary: dict[str, Any]) -> str:
    inp = summary.get("inputs") or {}
    files = inp.get("data_files") or []
    parts = []
    if files:
        parts.append(
            table(
                ["data file", "bytes", "sha256"],
                ([f["path"], (f"{f['bytes']:,}", f["bytes"]), f["sha256"]] for f in files),
            )
        )
    facts = {
        "run (topics, SQL `run`)": summary.get("run")
        or (summary.get("topic_prefix") or "").rstrip("."),
        "run_id (output name)": summary.get("run_id"),
        "window (UTC)": f"{fmt_time(summary['window']['from'])} → "
        f"{fmt_time(summary['window']['to'])}",
        "assets": ", ".join(summary.get("assets", [])),
        "venues": ", ".join(summary.get("venues", [])),
        "strategy file": inp.get("strategy_file") or "(defaults)",
        "reference prices": ", ".join(
            f"{k}={v}" for k, v in (inp.get("reference_prices") or {}).items()
        )
        or "—",
        "half spread": inp.get("half_spread", "—"),
        "events in": summary.get("events_in"),
        "intents / orders / fills": f"{summary.get('intents')} / {summary.get('orders')} / "
        f"{summary.get('fills')}",
        "funding payments": summary.get("funding_payments"),
        "dead letters": summary.get("dead_letters"),
        "wall time": f"{summary.get('wall_seconds')} s ({summary.get('events_per_second')} "
        "events/s)",
        "output_digest": summary.get("output_digest"),
    }
    parts.append(table(["", ""], ([k, v] for k, v in facts.items())))
    if inp.get("strategy"):
        parts.append(
            "<details><summary>strategy parameters in force (after the feed-TTL fit)"
            f"</summary><pre>{_e(json.dumps(inp['strategy'], indent=2))}</pre>"
            "</details>"
        )
    if inp.get("paper_venue"):
        parts.append(
            "<details><summary>paper venue</summary>"
            f"<pre>{_e(json.dumps(inp['paper_venue'], indent=2))}</pre></details>"
        )
    return "".join(parts)


def _forecast_and_costs(summary: dict[str, Any]) -> str:
    """The forecast's accuracy (``forecast_accuracy``) and the run's cost attribution
    (``cost_attribution``) as the summary holds them; empty for summaries without them."""
    parts = []
    acc = summary.get("forecast_accuracy")
    if acc:
        rows = []
        for h in ("24h", "168h"):
            for kind in ("forecast", "latest"):
                x = acc.get(h, {}).get(kind)
                if x:
                    rows.append(
                        [
                            h,
                            kind,
                            x["samples"],
                            num(x["correlation"], 3),
                            num(x["slope"], 3),
                            num(x["sign_hit_rate"], 3),
                        ]
                    )
        parts.append(
            "<h2>Forecast accuracy</h2><p>Every cross-venue perp pair, sampled daily: the "
            "forecast spread vs the funding spread settled over the next 24 h / 168 h "
            f"(forecast {_e(acc.get('params', {}))}; ‘latest’: the last settled rate)</p>"
            + table(
                ["horizon", "forecast", "samples", "correlation", "slope", "sign hit rate"], rows
            )
        )
    cost = summary.get("cost_attribution")
    if cost:
        share = cost.get("funding_covered_fees_share")
        parts.append(
            "<h2>Cost attribution</h2>"
            + table(
                [
                    "closed trades",
                    "switches keeping a leg",
                    "funding ≥ fees",
                    "funding USD",
                    "fees USD",
                    "spread+slippage USD",
                    "price USD",
                    "failed-entry churn USD",
                ],
                [
                    [
                        cost["closed_trades"],
                        cost.get("switches_keeping_a_leg", 0),
                        f"{cost['funding_covered_fees']} ({pct(Decimal(share)) if share else '—'})",
                        cost["funding_usd"],
                        cost["fees_usd"],
                        cost["spread_slippage_usd"],
                        cost["price_pnl_usd"],
                        cost["failed_entry_churn_usd"],
                    ]
                ],
            )
        )
    return "".join(parts)


def render(summary: dict[str, Any], data: dict[str, Any]) -> str:
    """The report page (``data`` as :func:`load_data` gives it)."""
    end = summary["window"]["to"]
    m = metrics(summary, data)
    arbs, equity = data["arbs"], data["equity"]
    capital = m["capital_usd"]
    daily = period_pnl(equity, "day")
    venue_rows = []
    per_venue: dict[str, int] = defaultdict(int)
    for a in arbs:  # both legs' venues share the arb's PnL for the count of arbs only
        for leg in (a["long"], a["short"]):
            per_venue[leg.split(" ")[0]] += 1
    for v, x in sorted(data["venues"].items()):
        venue_rows.append(
            [
                v,
                (int(per_venue[v]), int(per_venue[v])),
                (x["fills"], x["fills"]),
                m_cell(x["volume_usd"], False),
                m_cell(x["fees"], False),
                (
                    pct(x["fees"] / x["volume_usd"], 4, sign=False) if x["volume_usd"] else "—",
                    format(x["fees"] / x["volume_usd"], "f") if x["volume_usd"] else 0,
                ),
            ]
        )
    outcomes = sorted({a["outcome"] for a in arbs})
    closed = summary.get("arbs_closed") or {}
    closed_line = ", ".join(f"{k} {v}" for k, v in closed.items()) or "none"
    m_json = {
        k: (format(v, "f") if isinstance(v, Decimal) else v)
        for k, v in m.items()
        if not (isinstance(v, float) and not math.isfinite(v))
    }
    charts = "".join(
        [
            "<h2>Equity and drawdown</h2>",
            _div(equity_figure(equity), "chart-equity"),
            "<h2>Funding vs fees</h2>",
            _div(funding_fees_figure(daily), "chart-funding-fees"),
            "<h2>Net delta and capital deployed</h2>",
            _div(delta_figure(equity), "chart-delta"),
            "<h2>Spreads of the traded pairs</h2>",
            _div(spread_figure(arbs, data["spreads"]), "chart-spreads"),
        ]
    )
    run = _e(summary.get("run_id", ""))
    metrics_json = json.dumps(m_json).replace("</", "<\\/")  # safe inside <script>
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>fundarb backtest {run}</title>
<style>{STYLE}</style><script>{SCRIPT}</script>
<script type="text/javascript">{get_plotlyjs()}</script>
</head><body>
<pre id="js-errors"></pre>
<h1>fundarb backtest {run}</h1>
<p>{fmt_time(summary["window"]["from"])} → {fmt_time(summary["window"]["to"])} UTC ·
{_e(", ".join(summary.get("assets", [])))} · {_e(", ".join(summary.get("venues", [])))} ·
{summary.get("arbs_opened")} arbs opened, closed: {_e(closed_line)},
{summary.get("arbs_open_at_end")} open at the end.</p>
{_cards(m)}
<script type="application/json" id="metrics">{metrics_json}</script>
{charts}
{_forecast_and_costs(summary)}
<h2>Per exit reason</h2>{group_table(group(arbs, lambda a: a["outcome"], end), "outcome")}
<h2>Per asset</h2>{group_table(group(arbs, lambda a: a["asset"], end), "asset")}
<h2>Per venue pair</h2>{group_table(group(arbs, lambda a: f"{a['long'].split(' ')[0]} / {a['short'].split(' ')[0]}", end), "long / short")}
<h2>Per venue</h2>{table(["venue", "arb legs", "fills", "volume USD", "fees USD", "fee rate"], venue_rows, "sortable")}
<h2>Periods</h2>
<details open><summary>monthly</summary>{period_table(period_pnl(equity, "month"), capital, "month")}</details>
<details><summary>weekly (ISO weeks)</summary>{period_table(period_pnl(equity, "week"), capital, "week")}</details>
<details><summary>daily</summary><div class="scroll">{period_table(daily, capital, "day")}</div></details>
<h2>Arbs (<span id="arb-count">{len(arbs)}</span> of {len(arbs)})</h2>
<p><input id="arb-filter" placeholder="filter: asset, venue, arb id…" size="30">
<select id="arb-outcome"><option value="">every outcome</option>{"".join(f"<option>{_e(o)}</option>" for o in outcomes)}</select>
click a column to sort; money per arb: total = funding + price − fees − borrow.</p>
<div class="scroll">{arb_table(arbs, end)}</div>
<h2>Data quality</h2><div style="overflow-x:auto">{_quality(summary)}</div>
<h2>Inputs and parameters</h2>{_inputs(summary)}
<script>{TABLE_JS}</script>
</body></html>
"""


def write_report(out_dir: Path, summary: dict[str, Any], data: dict[str, Any]) -> Path:
    """Write ``report.html`` into ``out_dir`` from the summary and the report data (as written
    to ``report_data.json``: money as decimal strings); returns its path."""
    path = out_dir / "report.html"
    path.write_text(render(summary, load_data(data)), encoding="utf-8")
    return path


def rebuild(run_dir: Path) -> Path:
    """Re-render ``run_dir/report.html`` from its ``summary.json`` and ``report_data.json``."""
    summary = json.loads((run_dir / "summary.json").read_text())
    data = json.loads((run_dir / "report_data.json").read_text())
    return write_report(run_dir, summary, data)
