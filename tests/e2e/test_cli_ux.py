"""The command line as a newcomer meets it: one run name, the run filter in SQL, a quiet
console, alerts worth reading, settings typos refused, and the README / docs examples run."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
from decimal import Decimal
from pathlib import Path

import pytest

from infra.kafka_io import read_topics
from schemas import events as ev
from schemas.serde import Serializer
from tests.conftest import Broker
from tests.e2e.cli import REPO, fundarb

#: a short slice with trades, funding payments and lighter's real feed gaps (ETH)
SLICE = [
    "--from",
    "2025-12-03",
    "--to",
    "2025-12-17",
    "--assets",
    "ETH,BTC",
    "--venues",
    "binance,bybit,lighter,hyperliquid",
    "--reference-prices",
    "hyperliquid=binance",
]
NOISE = ("not found in cluster metadata", "GroupCoordinatorNotAvailable", "NotLeaderForPartition")


@pytest.fixture(scope="module")
def run(kafka_broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One audited backtest on the slice, its output piped (not a terminal)."""
    tmp = tmp_path_factory.mktemp("ux")
    env = {
        **os.environ,
        "FUNDARB_BOOTSTRAP": kafka_broker.bootstrap,
        "FUNDARB_CLICKHOUSE_PATH": str(tmp / "ch"),
        "FUNDARB_STATE_DIR": str(tmp / "state"),
    }
    env.pop("COLUMNS", None)
    proc = fundarb(["backtest", *SLICE, "--out", str(tmp / "out")], env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp / "out" / "summary.json").read_text())
    return {
        "proc": proc,
        "summary": summary,
        "env": env,
        "tmp": tmp,
        "bootstrap": kafka_broker.bootstrap,
    }


def test_one_run_name_printed_and_used_by_sql(run: dict) -> None:
    proc, summary, env = run["proc"], run["summary"], run["env"]
    name = summary["run"]
    assert name == summary["topic_prefix"].rstrip(".")
    assert f"run {name}\n" in proc.stdout
    last = json.loads(proc.stdout.strip().splitlines()[-1])  # one unwrapped JSON line
    assert last["run"] == name and len(proc.stdout.strip().splitlines()[-1]) > 80
    query = "SELECT count() AS fills FROM fills FINAL WHERE run = {run:String}"
    for choice in ("latest", name, name + "."):
        sql = fundarb(["sql", "--run", choice, "--format", "json", query], env)
        assert sql.returncode == 0, sql.stderr
        assert json.loads(sql.stdout)[0]["fills"] == summary["fills"] > 0
    no_param = fundarb(["sql", "--run", "latest", "SELECT 1"], env)
    assert no_param.returncode == 1 and "{run:String}" in no_param.stderr


def test_prefix_with_or_without_the_dot_names_the_same_run(run: dict) -> None:
    name, env = run["summary"]["run"], run["env"]
    audited = fundarb(["audit", "--prefix", name, "--drain"], env, timeout=300)
    assert audited.returncode == 0, audited.stderr
    rows = re.search(r"events_raw holds (\d+) rows of run (\S+) ", audited.stdout)
    assert rows and rows.group(2) == name
    assert int(rows.group(1)) >= run["summary"]["events_in"]  # the backtest's rows, not 0


def test_sql_refuses_an_unknown_format(run: dict) -> None:
    proc = fundarb(["sql", "--format", "xml", "SELECT 1"], run["env"])
    assert proc.returncode == 2 and "xml" in proc.stderr


def test_quiet_console_progress_lines_and_the_log_file(run: dict) -> None:
    proc = run["proc"]
    for noise in NOISE:
        assert noise not in proc.stderr and noise not in proc.stdout
    assert re.search(r"^\[\s*\d+\.\ds\] simulate", proc.stderr, re.M)  # progress on a pipe
    assert re.search(r"^\[\s*\d+\.\ds\] audit to ClickHouse", proc.stderr, re.M)
    assert (run["tmp"] / "state" / "logs" / "fundarb.log").is_file()


def test_alerts_on_the_slice_are_few_and_timed(run: dict) -> None:
    name, env = run["summary"]["run"], run["env"]
    proc = fundarb(["alerts", "--prefix", name, "--drain"], env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    count = int(re.search(r"raised (\d+) alerts \(([^;]*);", proc.stdout).group(1))
    lines = [ln for ln in proc.stderr.splitlines() if " ALERT [" in ln]
    assert len(lines) == count
    assert 1 <= count <= 15, proc.stderr  # lighter's gaps; not one per feed per 4 hours
    for line in lines:
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC ALERT \[(warning|critical)\] ", line)
    # an 8-hour funding feed is not stale after 4 hours
    assert not [ln for ln in lines if "funding from binance" in ln or "funding from bybit" in ln]
    # the drawdown the alert rule saw: the backtest's, and recomputed here by plain code
    seen = Decimal(re.search(r"max drawdown seen (-?[\d.]+) USD", proc.stdout).group(1))
    ours = _plain_max_drawdown(run["bootstrap"], run["summary"]["topic_prefix"])
    summary = Decimal(run["summary"]["max_drawdown_usd"])
    assert summary > 1  # the slice has a drawdown to compare
    assert seen == round(ours, 2) == round(summary, 2)


def _plain_max_drawdown(bootstrap: str, prefix: str) -> Decimal:
    """Equity = Σ legs (realised + funding − fees + qty × (mark − entry)) with each leg's
    latest mark (ticker mark, else mid; a settlement's mark) at or before the time, judged
    after every event of a time; max fall below the running peak (from 0)."""
    names = ["md.funding", "md.tickers", "acct.funding", "derived.positions"]

    async def read() -> list[tuple[int, int, object]]:
        ser, got = Serializer(), []
        async for topic, _p, rec in read_topics(bootstrap, [prefix + n for n in names]):
            e = ser.decode(rec.value)
            got.append((e.event_time, names.index(topic.removeprefix(prefix)), e))
        return got

    events = [e for _t, _r, e in sorted(asyncio.run(read()), key=lambda x: x[:2])]
    marks: dict[tuple[str, str], Decimal] = {}
    legs: dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]] = {}
    peak = worst = Decimal(0)
    for i, e in enumerate(events):
        key = (e.venue, e.instrument)
        if isinstance(e, ev.TickerObserved):
            marks[key] = e.mark_price or (e.bid + e.ask) / 2
        elif isinstance(e, ev.FundingPaid):
            marks[key] = e.mark_price
        elif isinstance(e, ev.PositionChanged):
            legs[key] = (e.realised_pnl_usd + e.funding_usd - e.fees_usd, e.qty, e.avg_entry_price)
        last_of_time = i + 1 == len(events) or events[i + 1].event_time > e.event_time
        if legs and last_of_time:
            equity = sum(m + q * (marks.get(k, entry) - entry) for k, (m, q, entry) in legs.items())
            peak = max(peak, equity)
            worst = max(worst, peak - equity)
    return worst


def test_version_and_unknown_settings_key(tmp_path: Path) -> None:
    version = fundarb(["--version"], dict(os.environ))
    assert version.returncode == 0 and re.fullmatch(r"fundarb \S+\n", version.stdout)
    bad = tmp_path / "fundarb.toml"
    bad.write_text("kafka_prot = 1\n")
    proc = fundarb(["sql", "SELECT 1"], {**os.environ, "FUNDARB_CONFIG": str(bad)})
    assert proc.returncode == 1
    assert "unknown key 'kafka_prot' (did you mean 'kafka_port'?)" in proc.stderr


def test_replay_dry_run_on_the_bundled_data_uses_the_backtest_reference_prices() -> None:
    proc = fundarb(["replay", "--dry-run", "--to", "2025-12-06"], dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert "using binance prices" in proc.stdout and "events would be published" in proc.stdout


# ---- the README's and docs/sql.md's examples -----------------------------------------------
def _readme_sql_commands() -> list[list[str]]:
    """Every `fundarb sql` line of a bash block in README.md and docs/sql.md (comments cut),
    but the placeholder `"SELECT ..."` of the docs' syntax line."""
    cmds = []
    for doc in (REPO / "README.md", REPO / "docs" / "sql.md"):
        for block in re.findall(r"```bash\n(.*?)```", doc.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():  # continuation lines joined
                words = shlex.split(line, comments=True)
                is_sql = words[:1] in ([".venv/bin/fundarb"], ["fundarb"]) and words[1:2] == ["sql"]
                if is_sql and words[-1] != "SELECT ...":
                    cmds.append(words[1:])
    return cmds


def _docs_sql_blocks() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", (REPO / "docs" / "sql.md").read_text(), re.S)


def test_readme_and_docs_sql_examples_return_rows(run: dict) -> None:
    readme = _readme_sql_commands()
    docs = _docs_sql_blocks()
    assert len(readme) >= 3 and len(docs) >= 6  # README's two, the docs' run-filter example
    for args in readme:
        proc = fundarb([args[0], "--format", "json", *args[1:]], run["env"])
        assert proc.returncode == 0, (args, proc.stderr)
        assert json.loads(proc.stdout), args
    for query in docs:
        proc = fundarb(["sql", "--run", "latest", "--format", "json", query], run["env"])
        assert proc.returncode == 0, (query, proc.stderr)
        assert json.loads(proc.stdout), query


@pytest.mark.parametrize(
    "command",
    [[], ["backtest"], ["replay"], ["sql"], ["audit"], ["alerts"], ["live"], ["infra", "up"]],
)
def test_help_has_no_type_noise_and_whole_sentences(command: list[str]) -> None:
    proc = fundarb([*command, "--help"], {**os.environ, "COLUMNS": "100"})
    assert proc.returncode == 0, proc.stderr
    options = proc.stdout.split("Options:")[1]  # (typer always types an argument: QUERY <str>)
    for noise in ("<bool>", "<str>", "<int>", "<float>", "<path>"):
        assert noise not in options, (command, noise)
    assert "  --help" in options


def test_the_strategy_files_backtest_table_selects_the_run_and_flags_win(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    strategy = tmp_path / "strategy.toml"
    base = (REPO / "config" / "strategy.toml").read_text()
    strategy.write_text(
        base + '\n[backtest]\nfrom = "2025-12-14"\nto = "2025-12-16"\nassets = ["BTC", "SOL"]\n'
        'venues = ["binance", "bybit"]\n'
    )
    env = {**os.environ, "FUNDARB_BOOTSTRAP": kafka_broker.bootstrap}
    out = tmp_path / "out"
    args = ["backtest", "--strategy", str(strategy), "--no-audit", "--out", str(out)]
    proc = fundarb([*args, "--assets", "SOL"], env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["assets"] == ["SOL"]  # the flag beats the file
    assert summary["venues"] == ["binance", "bybit"]
    assert summary["inputs"]["window_requested"] == {"from": 1765670400000, "to": 1765843200000}
    strategy.write_text(base + '\n[backtest]\nasets = ["BTC"]\n')
    bad = fundarb(args, env)
    assert bad.returncode == 1 and "asets" in bad.stderr and "Traceback" not in bad.stderr
