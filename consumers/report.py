"""The backtest report: one self-contained HTML file (plots embedded as PNG), readable offline.

Contents: the summary, a per-arb table (pair, entry/exit time and reason, funding, price PnL,
fees), and three plots — equity split into funding / price / fees (the total is their sum
minus borrow), net delta in USD over time, and the spread APR of every traded pair with
entry (▲) and exit (▼) markers. Plotting is matplotlib (Agg backend, no display needed).
"""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def equity_plot(samples: list[dict[str, Any]]) -> str:
    fig, ax = plt.subplots(figsize=(10, 4))
    if samples:
        t = [_dt(s["time"]) for s in samples]
        ax.plot(t, [float(s["funding"]) for s in samples], label="funding", color="tab:green")
        ax.plot(t, [float(s["price"]) for s in samples], label="price PnL", color="tab:blue")
        ax.plot(t, [-float(s["fees"]) for s in samples], label="− fees", color="tab:red")
        ax.plot(t, [float(s["total"]) for s in samples], label="total", color="black", lw=2)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_title("Equity (USD): total = funding + price − fees − borrow")
    ax.legend(loc="upper left")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    fig.autofmt_xdate()
    return _png(fig)


def delta_plot(samples: list[dict[str, Any]]) -> str:
    fig, ax = plt.subplots(figsize=(10, 3))
    if samples:
        ax.plot(
            [_dt(s["time"]) for s in samples],
            [float(s["net_delta_usd"]) for s in samples],
            color="tab:purple",
        )
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_title("Net delta (USD) over time")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    fig.autofmt_xdate()
    return _png(fig)


def spread_plot(spreads: dict[str, list[tuple[int, float]]], arbs: list[dict[str, Any]]) -> str:
    fig, ax = plt.subplots(figsize=(10, 4))
    for arb in arbs:
        series = spreads.get(arb["arb_id"], [])
        if not series:
            continue
        (line,) = ax.plot(
            [_dt(t) for t, _ in series],
            [v for _, v in series],
            lw=1,
            label=f"{arb['asset']}: {arb['long']} / {arb['short']}"[:60],
        )
        ax.plot(
            [_dt(arb["opened_at"])], [arb["entry_spread_apr"]], marker="^", color=line.get_color()
        )
        if arb["closed_at"]:
            ax.plot([_dt(series[-1][0])], [series[-1][1]], marker="v", color=line.get_color())
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_title("Spread APR of the traded pairs (▲ entry, ▼ exit)")
    if 0 < len(arbs) <= 12 and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper right")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    fig.autofmt_xdate()
    return _png(fig)


def _fmt_time(ms: int | None) -> str:
    return _dt(ms).strftime("%Y-%m-%d %H:%M") if ms else "—"


def write_report(
    out_dir: Path, summary: dict[str, Any], arbs: list[dict[str, Any]], recorder: Any
) -> Path:
    """Write ``report.html`` into ``out_dir``; returns its path."""
    keys = [
        "run_id",
        "events_in",
        "intents",
        "orders",
        "fills",
        "arbs_opened",
        "arbs_closed",
        "total_pnl_usd",
        "funding_pnl_usd",
        "price_pnl_usd",
        "fees_usd",
        "borrow_usd",
        "max_drawdown_usd",
        "max_net_delta_usd",
        "return_on_capital",
        "apr_on_capital",
        "wall_seconds",
        "events_per_second",
        "output_digest",
    ]
    summary_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(summary.get(k)))}</td></tr>"
        for k in keys
    )
    window = summary.get("window", {})
    arb_rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                a["asset"],
                a["long"],
                a["short"],
                _fmt_time(a["opened_at"]),
                _fmt_time(a["closed_at"]),
                a["exit_reason"] or a["status"],
                f"{a['funding_usd']:.2f}",
                f"{a['price_pnl_usd']:.2f}",
                f"{a['fees_usd']:.2f}",
                f"{a['total_usd']:.2f}",
            )
        )
        + "</tr>"
        for a in arbs
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>fundarb backtest {html.escape(summary.get("run_id", ""))}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}} th{{background:#f4f4f4}} img{{max-width:100%}}</style>
</head><body>
<h1>fundarb backtest</h1>
<p>Window {_fmt_time(window.get("from"))} → {_fmt_time(window.get("to"))} UTC; assets
{html.escape(", ".join(summary.get("assets", [])))}; venues {html.escape(", ".join(summary.get("venues", [])))}.</p>
<h2>Summary</h2><table>{summary_rows}</table>
<h2>Equity</h2><img alt="equity" src="data:image/png;base64,{equity_plot(recorder.equity)}">
<h2>Net delta</h2><img alt="net delta" src="data:image/png;base64,{delta_plot(recorder.equity)}">
<h2>Spreads</h2><img alt="spreads" src="data:image/png;base64,{spread_plot(recorder.spreads, arbs)}">
<h2>Arbs ({len(arbs)})</h2>
<table><tr><th>asset</th><th>long</th><th>short</th><th>entry</th><th>exit</th><th>reason</th>
<th>funding USD</th><th>price PnL USD</th><th>fees USD</th><th>total USD</th></tr>{arb_rows}</table>
</body></html>
"""
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
