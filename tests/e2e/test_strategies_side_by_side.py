"""The grid and the funding arbitrage on one asset in one backtest: both trade, neither
blocks the other.

One ``fundarb backtest`` (real broker, replay, engine, paper venue, audit into a chDB folder
of its own) over BTC on the bundled data with ``config/strategy.toml`` plus a grid on binance
BTC/USDT:USDT. The run's intents and fills are read back with ``fundarb sql`` and joined by
their correlation id (the target's id) to the strategy that set the target.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from decimal import Decimal
from pathlib import Path

from tests.conftest import Broker
from tests.e2e.cli import fundarb

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "strategy.toml"
GRID_MARKET = ("binance", "BTC/USDT:USDT")
GRID = """
[[strategies]]
kind = "funding_arb"

[[strategies]]
kind = "grid"
id = "grid-btc"
venue = "binance"
instrument = "BTC/USDT:USDT"
qty_per_level = "0.01"
levels = 4
atr_periods = 12
atr_mult = "2"
"""
WINDOW = ("2026-01-17", "2026-01-31")  # a BTC arb opens on 2026-01-24 beside the grid


def _sql(env: dict[str, str], run: str, query: str) -> list[dict[str, str]]:
    proc = fundarb(["sql", "--format", "csv", "--run", run, query], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return list(csv.DictReader(io.StringIO(proc.stdout)))


def test_the_grid_and_the_funding_arbitrage_both_trade_btc_in_one_backtest(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    config = tmp_path / "strategy.toml"
    config.write_text(CONFIG.read_text() + GRID)
    env = {
        **os.environ,
        "FUNDARB_BOOTSTRAP": kafka_broker.bootstrap,
        "FUNDARB_CLICKHOUSE_PATH": str(tmp_path / "clickhouse"),
        "COLUMNS": "200",
    }
    args = ["backtest", "--from", WINDOW[0], "--to", WINDOW[1], "--assets", "BTC"]
    args += ["--config", str(config), "--out", str(tmp_path / "out"), "--run-id", "side"]
    proc = fundarb(args, env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    run = str(summary["topic_prefix"]).rstrip(".")

    owner = {
        r["target"]: r["strategy"]
        for r in _sql(
            env,
            run,
            "SELECT DISTINCT correlation_id AS target, "
            "JSONExtractString(payload, 'strategy_id') AS strategy FROM events_raw FINAL "
            "WHERE run = {run:String} AND event_type = 'TargetPositionSet'",
        )
    }
    fills = _sql(
        env,
        run,
        "SELECT correlation_id AS target, venue, instrument FROM events_raw FINAL "
        "WHERE run = {run:String} AND event_type = 'FillExecuted'",
    )
    by_strategy = Counter(owner[f["target"]] for f in fills)  # KeyError: a fill of no target
    assert by_strategy["grid-btc"] > 0, by_strategy  # the grid traded ...
    assert by_strategy["funding_arb"] > 0, by_strategy  # ... and so did the arbitrage
    assert set(by_strategy) == {"grid-btc", "funding_arb"}
    for f in fills:  # the grid trades its market only, and owns it
        on_grid_market = (f["venue"], f["instrument"]) == GRID_MARKET
        assert on_grid_market == (owner[f["target"]] == "grid-btc"), f
    assert summary["arbs_opened"] > 0
    parts = [Decimal(summary[k]) for k in ("funding_pnl_usd", "price_pnl_usd", "fees_usd")]
    borrow = Decimal(summary.get("borrow_usd", "0"))
    assert Decimal(summary["total_pnl_usd"]) == parts[0] + parts[1] - parts[2] - borrow
