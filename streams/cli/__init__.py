"""The ``fundarb`` command line (the composition root: wires infra, producers, consumers, app).

One typer app composed here from a module per command group; each command parses its flags,
calls a service and prints its typed result:

- :mod:`streams.cli.broker` — ``infra up|down|status`` (the local broker), ``topics``
- :mod:`streams.cli.replay` — ``replay``
- :mod:`streams.cli.backtest` — ``backtest``, ``sweep``
- :mod:`streams.cli.audit` — ``sql``, ``audit``, ``alerts``
- :mod:`streams.cli.live` — ``worker``, ``paper``, ``live``
- :mod:`streams.cli.universe` — ``universe``
- :mod:`streams.cli.bench` — ``bench``

Shared pieces: :mod:`streams.cli.options` (options several commands take, defined once),
:mod:`streams.cli.common` (consoles, settings, one-line errors, window parsing) and
:mod:`streams.cli.strategy` (the strategy file and its ``[backtest]`` selection).

Every command reads settings from ``FUNDARB_*`` env vars and the TOML config file
(:mod:`infra.settings`). Errors meant for a person print one clear line and exit 1, never a
traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from streams.cli.audit import alerts_cmd, audit_cmd, sql_cmd
from streams.cli.backtest import backtest_cmd, sweep_cmd
from streams.cli.bench import bench_cmd
from streams.cli.broker import infra_app, topics_app
from streams.cli.common import (
    BUNDLED_REFERENCE_PRICES,
    DEFAULT_DATA,
    err,
    parse_time,
    setup_logging,
)
from streams.cli.live import live_cmd, paper_cmd, worker_cmd
from streams.cli.options import normalise_prefix
from streams.cli.replay import replay_cmd
from streams.cli.strategy import load_strategy_config
from streams.cli.universe import universe_cmd

#: what other modules, tests and benchmarks import from here
__all__ = [
    "BUNDLED_REFERENCE_PRICES",
    "DEFAULT_DATA",
    "app",
    "load_strategy_config",
    "main",
    "normalise_prefix",
    "parse_time",
]

app = typer.Typer(
    name="fundarb",
    help="Cross-venue funding-rate arbitrage on crypto perpetual futures, event-sourced on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # click's own help layout: paragraphs re-wrapped to the terminal (no sentence broken at a
    # docstring's line end) and no <bool>/<str> type column
    rich_markup_mode=None,
)
app.add_typer(infra_app, name="infra")
app.add_typer(topics_app, name="topics")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("fundarb")
        except PackageNotFoundError:  # a source tree without an install
            v = "unknown"
        print(f"fundarb {v}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    _version_flag: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Cross-venue funding-rate arbitrage on crypto perpetual futures, event-sourced on Kafka."""
    if ctx.invoked_subcommand != "worker":  # the Faust worker configures its own logging
        setup_logging()


# the order of `fundarb --help`
app.command("replay")(replay_cmd)
app.command("backtest")(backtest_cmd)
app.command("sweep")(sweep_cmd)
app.command("sql")(sql_cmd)
app.command("audit")(audit_cmd)
app.command("worker")(worker_cmd)
app.command("bench")(bench_cmd)
app.command("paper")(paper_cmd)
app.command("live")(live_cmd)
app.command("alerts")(alerts_cmd)
app.command("universe")(universe_cmd)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
