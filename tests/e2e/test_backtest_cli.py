"""`fundarb backtest` as a user runs it: a short window, two assets, run twice."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from tests.conftest import Broker

REPO = Path(__file__).resolve().parents[2]
ARGS = [
    "backtest",
    "--from",
    "2025-12-14",
    "--to",
    "2025-12-21",
    "--assets",
    "BTC,SOL",
    "--venues",
    "binance,bybit,okx,kraken,hyperliquid",
    "--reference-prices",
    "hyperliquid=binance",
]


def _run(broker: Broker, tmp: Path, name: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp / name
    env = {
        **os.environ,
        "FUNDARB_BOOTSTRAP": broker.bootstrap,
        "COLUMNS": "200",
        "FUNDARB_CLICKHOUSE_PATH": str(tmp / "clickhouse"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", *ARGS, "--out", str(out), "--run-id", "e2e"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return proc, out


def test_backtest_twice_same_digest_exact_parts_and_a_report(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    first, out1 = _run(kafka_broker, tmp_path, "a")
    assert first.returncode == 0, first.stderr[-3000:]
    second, out2 = _run(kafka_broker, tmp_path, "b")
    assert second.returncode == 0, second.stderr[-3000:]

    s1 = json.loads((out1 / "summary.json").read_text())
    s2 = json.loads((out2 / "summary.json").read_text())
    assert s1["output_digest"] == s2["output_digest"]
    assert s1["topic_prefix"] != s2["topic_prefix"]  # fresh topics each run
    assert s1["orders"] > 0 and s1["fills"] > 0 and s1["intents"] > 0  # it traded
    # the digest covers every intent, order and fill of the run (it once saw only intents)
    assert s1["digest_records"] == {
        "acct.fills": s1["fills"],
        "orders.commands": s1["orders"] + s1["cancels"],
        "strategy.intents": s1["intents"],
    }
    parts = (
        Decimal(s1["funding_pnl_usd"])
        + Decimal(s1["price_pnl_usd"])
        - Decimal(s1["fees_usd"])
        - Decimal(s1["borrow_usd"])
    )
    assert parts == Decimal(s1["total_pnl_usd"])
    assert s1["assets"] == ["BTC", "SOL"]
    for key in (
        "run_id",
        "window",
        "venues",
        "events_in",
        "arbs_opened",
        "arbs_closed",
        "max_drawdown_usd",
        "max_net_delta_usd",
        "return_on_capital",
        "apr_on_capital",
        "wall_seconds",
        "events_per_second",
    ):
        assert key in s1
    report = (out1 / "report.html").read_text()
    assert report.count('class="plotly-graph-div"') == 4  # the interactive charts
    assert "report:" in first.stdout and "output_digest" in first.stdout
    # the run's rows are in the store, queryable with `fundarb sql`
    assert s1["audit"]["records"] >= s1["events_in"]
    env = {**os.environ, "FUNDARB_CLICKHOUSE_PATH": str(tmp_path / "clickhouse"), "COLUMNS": "200"}
    sql = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "sql",
            "--format",
            "json",
            f"SELECT count() AS fills FROM fills FINAL WHERE run = '{s1['topic_prefix'].rstrip('.')}'",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sql.returncode == 0, sql.stderr
    assert json.loads(sql.stdout)[0]["fills"] == s1["fills"]


def test_bad_data_gives_a_clear_message_not_a_traceback(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    bad = tmp_path / "f.csv"
    bad.write_text(
        "venue,symbol,funding_time_ms,funding_rate,mark_price\n"
        "hyperliquid,BTC/USDC:USDC,1764748800000,0.0001,\n"
    )
    env = {
        **os.environ,
        "FUNDARB_BOOTSTRAP": kafka_broker.bootstrap,
        "FUNDARB_CLICKHOUSE_PATH": str(tmp_path / "ch"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "backtest", str(bad), "--out", str(tmp_path / "o")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "no price series for: hyperliquid BTC/USDC:USDC" in proc.stderr.replace("\n", " ")
    assert "Traceback" not in proc.stderr
