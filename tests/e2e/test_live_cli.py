"""``fundarb live`` as one command: its own broker when none is configured, one line when a
configured one is unreachable, venues and assets from the strategy file or an asset list,
and ``fundarb sql`` answering while it runs (chDB: one process per folder, so the live
process serves read-only queries; infra/query_endpoint.py). Venues answer from recorded
replies (``--recorded tests/resources``): no network."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from infra import kafka_local
from tests.e2e.cli import REPO, fundarb

LIVE = ["live", "--paper", "--recorded", "tests/resources", "--poll", "0.5"]
COUNT = "SELECT count() AS n FROM events_raw FINAL WHERE run = {run:String}"


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FUNDARB_BOOTSTRAP", "FUNDARB_CONFIG")}
    return {
        **env,
        "FUNDARB_STATE_DIR": str(tmp / "state"),
        "FUNDARB_CLICKHOUSE_PATH": str(tmp / "ch"),
        **extra,
    }


def _rows(env: dict[str, str]) -> tuple[int, str, str]:
    proc = fundarb(["sql", "--run", "latest", "--format", "json", COUNT], env)
    n = json.loads(proc.stdout)[0]["n"] if proc.returncode == 0 else -1
    return int(n), proc.stdout, proc.stderr


def test_live_starts_its_own_broker_and_sql_answers_while_it_runs(tmp_path: Path) -> None:
    port = kafka_local.free_port()
    env = _env(tmp_path, FUNDARB_KAFKA_PORT=str(port))
    args = [*LIVE, "--venues", "bybit", "--assets", "BTC", "--prefix", "live-e2e"]
    live = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert live.stdout is not None
        for line in live.stdout:  # until the feed is flowing
            lines.append(line)
            if "bybit ok" in line:
                break
        assert any("starting the local broker on 127.0.0.1:" in ln for ln in lines), lines
        n, deadline = -1, time.monotonic() + 90
        while n <= 0 and time.monotonic() < deadline:  # the audit sink writes every second
            n, _out, err = _rows(env)
            time.sleep(1)
        assert n > 0, err
        assert "querying through it (read-only)" in err and "run live-e2e" in err
        write = fundarb(["sql", "DROP TABLE fundarb_runs"], env)
        assert write.returncode == 1 and "readonly" in write.stderr.lower(), write.stderr
        assert "Traceback" not in write.stderr
    finally:
        live.send_signal(signal.SIGINT)
        rest, _ = live.communicate(timeout=120)
    assert live.returncode == 0, "".join(lines) + rest
    assert "Traceback" not in rest
    assert not kafka_local.port_open(port)  # the broker it started is stopped again
    assert not (tmp_path / "ch" / ".fundarb-query.json").exists()
    after, _out, err = _rows(env)  # now sql opens the folder itself
    assert after >= n and "querying through it" not in err


def test_an_unreachable_configured_broker_is_one_line(tmp_path: Path) -> None:
    env = _env(tmp_path, FUNDARB_BOOTSTRAP=f"127.0.0.1:{kafka_local.free_port()}")
    proc = fundarb([*LIVE, "--venues", "bybit", "--assets", "BTC", "--duration", "5"], env)
    assert proc.returncode == 1
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: cannot reach Kafka at 127.0.0.1:")
    assert "Traceback" not in proc.stderr + proc.stdout


def test_venues_and_assets_from_the_strategy_file_and_the_asset_list(tmp_path: Path) -> None:
    # an unreachable broker stops the run right after the start line: what it would trade
    env = _env(tmp_path, FUNDARB_BOOTSTRAP=f"127.0.0.1:{kafka_local.free_port()}")
    universe = tmp_path / "universe.toml"
    universe.write_text('assets = ["SOL", "ETH"]\nvenues = ["binance", "bybit"]\n')
    strategy = tmp_path / "strategy.toml"
    base = (REPO / "config" / "strategy.toml").read_text()
    strategy.write_text(base + f'\n[live]\nvenues = ["bybit"]\nassets_file = "{universe}"\n')
    run = ["live", "--strategy", str(strategy), "--duration", "1"]
    proc = fundarb(run, env)
    assert "fundarb live: bybit × SOL,ETH, paper" not in proc.stdout  # paper is not the default
    assert "fundarb live: bybit × SOL,ETH, LIVE orders (asset list" in proc.stdout, proc.stdout
    proc = fundarb([*run, "--paper", "--assets", "btc", "--venues", "okx,bybit"], env)
    assert "fundarb live: okx,bybit × BTC, paper (dry run)\n" in proc.stdout  # flags win
    proc = fundarb([*run, "--paper", "--assets-file", str(universe)], env)
    assert "fundarb live: bybit × SOL,ETH, paper (dry run) (asset list" in proc.stdout
    strategy.write_text(base + '\n[live]\nvenues = ["bybit"]\nasets = ["BTC"]\n')
    bad = fundarb(run, env)
    assert bad.returncode == 1 and "[live]" in bad.stderr and "asets" in bad.stderr
    assert "Traceback" not in bad.stderr
    strategy.write_text(base + '\n[live]\nassets = ["BTC"]\n')
    none = fundarb(run, env)
    assert none.returncode == 1 and "no venues: pass --venues" in none.stderr
