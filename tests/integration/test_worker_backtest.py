"""``fundarb backtest --engine worker``: real worker processes and the paper venue service, in
lockstep by watermarks, take the in-process simulation's decisions byte for byte."""

from __future__ import annotations

from pathlib import Path

from infra.settings import Settings
from producers import history
from streams.backtest import BacktestOptions, prepare, run_backtest
from streams.cli import (
    BUNDLED_REFERENCE_PRICES,
    DEFAULT_DATA,
    load_strategy_config,
    parse_time,
)
from streams.worker_backtest import run_backtest_on_workers

REPO = Path(__file__).resolve().parents[2]
#: two weeks of the bundled data: 8 arbs opened, 30 orders, 30 fills with config/strategy.toml
START, END = "2026-01-05", "2026-01-19"


def _opts(out: Path, start: str = START, end: str = END) -> BacktestOptions:
    paths = list(DEFAULT_DATA)
    return BacktestOptions(
        paths=paths,
        window=history.Window(parse_time(start, 0), parse_time(end, 0)),
        out_dir=out,
        run_id="slice",
        config=load_strategy_config(REPO / "config" / "strategy.toml"),  # type: ignore[arg-type]
        reference_prices=dict(BUNDLED_REFERENCE_PRICES),  # hyperliquid: binance's candles
        audit=False,
    )


def test_one_worker_gives_the_in_process_simulations_output_digest(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    prefix = kafka_settings.topic_prefix
    sim_opts = _opts(tmp_path / "sim")
    sim = run_backtest(
        kafka_settings.model_copy(update={"topic_prefix": prefix + "sim."}), sim_opts
    )
    assert sim.digest_records["acct.fills"] > 0  # the slice trades: the digest means something

    opts = _opts(tmp_path / "worker")
    summary = run_backtest_on_workers(
        kafka_settings.model_copy(update={"topic_prefix": prefix + "wk."}), opts, prepare(opts)
    )
    assert summary.digest_records == sim.digest_records
    assert summary.output_digest == sim.output_digest
