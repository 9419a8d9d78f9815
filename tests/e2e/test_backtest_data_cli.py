"""`fundarb backtest` / `fundarb replay` against what the data holds: selections of nothing fail
fast (before any broker), filters ignore case, and the aha-hh set (inverse perps next to linear
ones, 8-hourly candles) backtests with inverse contracts refused and sane money."""

import asyncio
import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from infra import kafka_local
from infra.kafka_io import read_topics
from schemas.events import BreakerTripped
from schemas.serde import Serializer
from schemas.types import Breaker
from tests.conftest import Broker
from tests.e2e.cli import fundarb

REPO = Path(__file__).resolve().parents[2]
AHA = [
    "data/funding/aha-hh_2023-01_2024-07_binance-bybit-okx_btc-eth.csv.gz",
    "data/prices/aha-hh_spot_perp_ohlcv_8h_2023-01_2024-07.csv.gz",
]


def _cli(
    args: list[str], env: dict[str, str], timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    # narrow on purpose: a one-line error must not wrap
    return fundarb(args, {**env, "COLUMNS": "80"}, timeout=timeout)


def _no_cluster_env(tmp: Path) -> dict[str, str]:
    """No FUNDARB_BOOTSTRAP: the backtest would start its own broker in ``tmp/state``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDARB_BOOTSTRAP")}
    return {
        **env,
        "FUNDARB_STATE_DIR": str(tmp / "state"),
        "FUNDARB_KAFKA_JARS_DIR": str(REPO / ".fundarb" / "kafka" / "jars"),
        "FUNDARB_KAFKA_PORT": str(kafka_local.free_port()),
        "FUNDARB_CONTROLLER_PORT": str(kafka_local.free_port()),
        "FUNDARB_CLICKHOUSE_PATH": str(tmp / "ch"),
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--assets", "NOSUCH"],
            "no data for assets NOSUCH; the data has BTC, DOGE, ETH, HYPE, SOL",
        ),
        (
            ["--venues", "binanse"],
            "no data for venues binanse; the data has binance, bybit, dydx, hyperliquid, kraken, "
            "lighter, okx",
        ),
        (
            ["--from", "2030-01-01"],
            "window 2030-01-01 00:00 → … is outside the data (2025-12-02 00:00 → 2026-03-07 09:00)",
        ),
    ],
)
def test_a_backtest_of_nothing_is_refused_in_one_line_before_any_broker_starts(
    tmp_path: Path, args: list[str], message: str
) -> None:
    proc = _cli(["backtest", *args, "--out", str(tmp_path / "o")], _no_cluster_env(tmp_path))
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.strip() == f"error: {message}"  # one line, naming what the data has
    assert "Traceback" not in proc.stderr
    # nothing of a broker was touched: no state written, no output written
    assert not (tmp_path / "state" / "kafka").exists()
    assert not (tmp_path / "o").exists()


def test_filters_ignore_case(tmp_path: Path) -> None:
    proc = _cli(
        ["replay", "--dry-run", "--venues", "Binance,BYBIT", "--assets", "btc"],
        _no_cluster_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("dry run: ") and int(first.split()[2]) > 4000, first


def test_a_replay_of_nothing_is_refused_before_any_topic_is_created(
    kafka_broker: Broker, tmp_path: Path, topic_prefix: str
) -> None:
    env = {**os.environ, "FUNDARB_BOOTSTRAP": kafka_broker.bootstrap}
    proc = _cli(["replay", "--to", "2020-01-01", "--prefix", topic_prefix], env)
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert proc.stderr.strip() == (
        "error: window … → 2020-01-01 00:00 is outside the data (2025-12-02 00:00 → "
        "2026-03-07 09:00)"
    )

    async def topics() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    assert not [t for t in asyncio.run(topics()) if t.startswith(topic_prefix)]


def test_aha_hh_backtests_with_inverse_refused_no_cadence_stale_trips_and_sane_money(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    """Two months of the aha-hh set. Before: inverse fees in USD labelled as ETH and multiplied
    by the price again (−118M USD on 100k capital), and a stale_feed trip on nearly every
    8-hour bar (2 h ticker TTL)."""
    env = {
        **os.environ,
        "FUNDARB_BOOTSTRAP": kafka_broker.bootstrap,
        "FUNDARB_CLICKHOUSE_PATH": str(tmp_path / "ch"),
    }
    out = tmp_path / "aha"
    proc = _cli(
        [
            "backtest",
            *AHA,
            "--from",
            "2023-01-01",
            "--to",
            "2023-03-01",
            "--config",
            "config/strategy.toml",
            "--out",
            str(out),
            "--no-audit",
        ],
        env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    stdout = " ".join(proc.stdout.split())  # rich may wrap notes
    assert (
        "note: inverse (coin-margined) contracts are not supported: excluded binance "
        "BTC/USD:BTC, binance ETH/USD:ETH, bybit BTC/USD:BTC" in stdout
    )
    assert "feeds.ticker_ttl_ms raised from 7200000 to 43200000" in stdout
    s = json.loads((out / "summary.json").read_text())
    assert s["feed_ttls"]["candle_interval_ms"] == 8 * 3_600_000
    assert s["feed_ttls"]["ticker_ttl_ms"] >= 12 * 3_600_000
    assert s["feed_ttls"]["stale_feed_ms"] >= 12 * 3_600_000
    assert s["fills"] > 0  # it traded
    assert abs(Decimal(s["total_pnl_usd"])) < Decimal(s["capital_usd"])
    assert Decimal(s["fees_usd"]) < Decimal(s["capital_usd"]) / 100
    inverse_findings = [
        q for q in s["data_quality"]["series_with_findings"] if q["symbol"].endswith(":BTC")
    ]
    assert len(inverse_findings) == 6  # funding + candles × binance, bybit, okx

    async def stale_trips() -> int:
        ser, n = Serializer(), 0
        topic = s["topic_prefix"] + "risk.events"
        async for _t, _p, record in read_topics(kafka_broker.bootstrap, [topic]):
            event = ser.decode(record.value)
            n += isinstance(event, BreakerTripped) and event.breaker == Breaker.stale_feed
        return n

    assert asyncio.run(stale_trips()) == 0
