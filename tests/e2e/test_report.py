"""The backtest report of a real run: its numbers recomputed with plain code of this test's own
from ``summary.json`` and ``report_data.json``, and the page opened in headless Chromium."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import Broker
from tests.e2e.cli import fundarb

ARGS = [
    "backtest",
    "--from",
    "2025-12-10",
    "--to",
    "2026-01-10",
    "--assets",
    "BTC,ETH,SOL,HYPE",
    "--venues",
    "binance,bybit,okx,hyperliquid,lighter",
    "--reference-prices",
    "hyperliquid=binance",
    "--no-audit",
]


@pytest.fixture(scope="module")
def run_dir(kafka_broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    env = {**os.environ, "FUNDARB_BOOTSTRAP": kafka_broker.bootstrap}
    proc = fundarb([*ARGS, "--out", str(out)], env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _load(run_dir: Path) -> tuple[dict, dict, str, dict]:
    summary = json.loads((run_dir / "summary.json").read_text())
    data = json.loads((run_dir / "report_data.json").read_text())
    page = (run_dir / "report.html").read_text()
    shown = json.loads(re.search(r'id="metrics">(.*?)</script>', page, re.S).group(1))
    return summary, data, page, shown


def test_headline_numbers_recomputed_from_the_run_files(run_dir: Path) -> None:
    summary, data, page, shown = _load(run_dir)
    equity, arbs = data["equity"], data["arbs"]
    assert len(equity) > 24 * 20 and len(arbs) >= 5  # a month of hourly samples, some trades
    capital = Decimal(summary["capital_usd"])

    # max drawdown of the hourly total, and the same in the summary
    peak, max_dd = None, Decimal(0)
    for s in equity:
        total = Decimal(s["total"])
        peak = total if peak is None or total > peak else peak
        max_dd = max(max_dd, peak - total)
    assert Decimal(shown["max_drawdown_usd"]) == max_dd == Decimal(summary["max_drawdown_usd"])
    assert format(-max_dd.quantize(Decimal("0.01"), rounding="ROUND_HALF_EVEN"), "+,.2f") in page

    # Sharpe on daily returns: end-of-UTC-day totals, differenced from 0
    eod: dict[str, Decimal] = {}
    for s in equity:
        day = datetime.fromtimestamp(s["time"] / 1000, tz=UTC).date().isoformat()
        eod[day] = Decimal(s["total"])
    totals = [eod[d] for d in sorted(eod)]
    daily = [float((b - a) / capital) for a, b in zip([Decimal(0), *totals], totals, strict=False)]
    n = len(daily)
    mean = sum(daily) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in daily) / (n - 1))
    assert shown["days"] == n
    assert shown["sharpe"] == pytest.approx(mean / sd * math.sqrt(365), rel=1e-9)
    assert f"{mean / sd * math.sqrt(365):.2f}" in page

    # win rate and profit factor over the closed arbs that traded
    trades = [
        Decimal(a["total_usd"])
        for a in arbs
        if a["status"] == "closed"
        and (a["outcome"] != "entry_failed" or Decimal(a["total_usd"]) != 0)
    ]
    wins = [t for t in trades if t > 0]
    losses = [t for t in trades if t < 0]
    assert shown["trades"] == len(trades) and shown["wins"] == len(wins)
    assert shown["win_rate"] == pytest.approx(len(wins) / len(trades))
    assert shown["profit_factor"] == pytest.approx(float(sum(wins) / -sum(losses)))
    assert f"{len(wins)} of {len(trades)} closed trades" in page

    # the money parts are the summary's, exact
    assert Decimal(shown["total_usd"]) == Decimal(summary["total_pnl_usd"])
    total = Decimal(summary["total_pnl_usd"]).quantize(Decimal("0.01"), rounding="ROUND_HALF_EVEN")
    assert format(total, "+,.2f") in page


def test_every_arb_row_says_what_the_summary_counts(run_dir: Path) -> None:
    summary, data, page, _ = _load(run_dir)
    arbs = data["arbs"]
    closed = Counter(a["outcome"] for a in arbs if a["status"] == "closed")
    assert dict(closed) == summary["arbs_closed"]
    assert sum(a["status"] != "closed" for a in arbs) == summary["arbs_open_at_end"]
    for a in arbs:  # each arb's row shows its outcome, notional and exact total (to the cent)
        row = re.search(rf"<tr><td>{re.escape(a['arb_id'])}</td>(.*?)</tr>", page).group(1)
        assert f">{a['outcome']}<" in row
        total = Decimal(a["total_usd"])
        assert total == (
            Decimal(a["funding_usd"])
            + Decimal(a["price_pnl_usd"])
            - Decimal(a["fees_usd"])
            - Decimal(a["borrow_usd"])
        )
        assert format(total.quantize(Decimal("0.01"), rounding="ROUND_HALF_EVEN"), "+,.2f") in row
    assert summary["inputs"]["data_files"] and summary["inputs"]["strategy"]["capital_usd"]
    for f in summary["inputs"]["data_files"]:
        assert f["sha256"] in page


# ---- the page in a real browser ------------------------------------------------------------
def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless Chromium on PATH (Debian: apt-get install chromium; .ci/run does)")


def _dump_dom(html_file: Path) -> str:
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        proc = subprocess.run(
            [
                _chromium(),
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                f"--user-data-dir={profile}",
                "--dump-dom",
                html_file.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if proc.returncode != 0 and not proc.stdout:
        pytest.skip(f"chromium could not run here: {proc.stderr.strip()[-300:]}")
    return proc.stdout


def _script_errors(dom: str) -> str:
    return re.search(r'<pre id="js-errors"[^>]*>(.*?)</pre>', dom, re.S).group(1).strip()


def test_report_renders_in_headless_chromium(run_dir: Path) -> None:
    dom = _dump_dom(run_dir / "report.html")
    assert _script_errors(dom) == ""
    assert 'data-ready="1"' in dom  # the page's scripts ran to the end
    assert 'data-charts="4"' in dom  # four plotly charts, each with its drawn SVG
    assert dom.count('class="main-svg"') >= 8
    assert dom.count("<table") >= 8  # headline-adjacent tables: outcome, asset, pair, venue...
    assert 'class="legendtext"' in dom  # legends drawn


def test_the_browser_check_sees_a_script_error(run_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    page = (run_dir / "report.html").read_text()
    broken.write_text(page.replace("</body>", "<script>noSuchFunction();</script></body>"))
    assert "noSuchFunction" in _script_errors(_dump_dom(broken))
