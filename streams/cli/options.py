"""The options several commands share, defined once (typer's reusable ``Annotated`` types).

Where commands word an option's help differently, the option is a factory taking the help text
(``strategy_option(help)``): name, metavar and kind stay in one place.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer


def normalise_prefix(value: str | None) -> str | None:
    """A run's topic prefix, given with or without its trailing dot (``bt-x-1a2b3c`` and
    ``bt-x-1a2b3c.`` name the same run, the ``run`` column of the audit tables)."""
    if value is None or value == "" or value.endswith("."):
        return value
    return value + "."


PrefixOpt = Annotated[
    str | None,
    typer.Option(
        "--prefix",
        metavar="RUN",
        callback=normalise_prefix,
        help="The run: its topic prefix, with or without the trailing dot.",
    ),
]

# ---- the data window and selection (replay, backtest, sweep) --------------------------------
FromOpt = Annotated[
    str | None,
    typer.Option("--from", metavar="DATE", help="Window start (YYYY-MM-DD, ISO, or ms)."),
]
ToOpt = Annotated[str | None, typer.Option("--to", metavar="DATE", help="Window end, exclusive.")]
AssetsOpt = Annotated[
    str | None, typer.Option(metavar="A,B", help="Comma-separated base assets, e.g. BTC,ETH.")
]
VenuesOpt = Annotated[str | None, typer.Option(metavar="V,W", help="Comma-separated venues.")]


def files_argument(help: str) -> Any:
    """The ``FILES...`` argument: data files or folders, the bundled window when omitted."""
    return typer.Argument(metavar="FILES...", help=help)


def reference_prices_option(help: str) -> Any:
    """``--reference-prices VENUE=REF`` (repeatable): price a venue without candles on REF's."""
    return typer.Option("--reference-prices", metavar="VENUE=REF", help=help)


def strategy_option(help: str) -> Any:
    """``--config`` / ``--strategy FILE``: the strategy file (TOML, or a run's JSON)."""
    return typer.Option("--config", "--strategy", metavar="FILE", help=help)


# ---- consumers: run until Ctrl-C, or --drain ------------------------------------------------
#: --drain on every consumer command: stop once caught up (audit: at the end offsets seen at
#: start; alerts, paper: after DRAIN_IDLE_S without records, or --drain-seconds)
DRAIN_IDLE_S = 3.0
DrainOpt = Annotated[
    bool, typer.Option("--drain", help="Stop when caught up (otherwise run until Ctrl-C).")
]
DrainSecondsOpt = Annotated[
    float | None,
    typer.Option(
        "--drain-seconds",
        metavar="SECONDS",
        min=0.1,
        help=f"With or without --drain: stop after this long without records "
        f"(--drain alone: {DRAIN_IDLE_S:g} s).",
    ),
]


def drain_ms(drain: bool, seconds: float | None) -> int | None:
    """The idle time (ms) after which a consumer stops; ``None``: run until Ctrl-C."""
    if seconds:
        return int(seconds * 1000)
    return int(DRAIN_IDLE_S * 1000) if drain else None
