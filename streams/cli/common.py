"""What every command shares: the consoles, logging, settings and the one-line error exit,
the bundled data and the parsers of window and selection values.

Errors meant for a person print one clear line and exit 1 (:func:`fail`), never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from infra.settings import Settings, load_settings

if TYPE_CHECKING:
    from producers.history import Window

#: our packages: their warnings reach the console; every other library logs to the file only
OUR_LOGGERS = ("fundarb", "streams", "consumers", "producers", "infra", "schemas", "projections")


class _OursOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] in OUR_LOGGERS


def setup_logging() -> Path:
    """Library noise (aiokafka's ``Topic … not found in cluster metadata``, coordinator and
    leader retries, …) goes to ``<state_dir>/logs/fundarb.log``; the console shows our own
    warnings only. Returns the log file's path."""
    try:
        state_dir = load_settings().state_dir
    except Exception:  # a bad config is reported by the command itself
        state_dir = Path(".fundarb")
    path = state_dir / "logs" / "fundarb.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.addFilter(_OursOnly())
    console.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(file_handler)
    root.addHandler(console)
    return path


# no 80-column wrapping when the output is a pipe or a file (JSON, SQL results, grep-able lines)
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 10_000
out = Console(soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, soft_wrap=True, width=_WIDTH)


def cli_settings(**overrides: object) -> Settings:
    """:func:`infra.settings.load_settings` with the flags given (``None``: not given); an
    invalid env/config prints which and exits 1."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return load_settings(**clean)
    except Exception as exc:  # invalid env/config: say which, do not trace
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(1) from exc


def fail(exc: BaseException | str) -> typer.Exit:
    """Print ``error: <exc>`` on one line to stderr; return the exit (1) for the caller to
    raise (``raise fail(exc) from exc``)."""
    # soft_wrap: a one-line message stays one line (grep-able), whatever the terminal width
    err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
    return typer.Exit(1)


# ---- the bundled data, window and selection values ------------------------------------------
REPO_DATA = Path(__file__).resolve().parents[2] / "data"
DEFAULT_DATA = (
    REPO_DATA / "funding" / "finm33150_2025-12-03_2026-03-07.csv.gz",
    REPO_DATA / "prices" / "finm33150_perp_ohlcv_1h_2025-12-02_2026-03-07.csv.gz",
)


def parse_time(text: str | None, default: int) -> int:
    """``YYYY-MM-DD``, an ISO date-time (UTC unless it says otherwise) or epoch ms; ``default``
    when empty. Raises ``typer.BadParameter`` for anything else."""
    if not text:
        return default
    if text.isdigit():
        return int(text)
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date (YYYY-MM-DD), ISO time or epoch ms"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_window(
    start: str | None, end: str | None, assets: str | None, venues: str | None
) -> Window:
    """The ``--from``/``--to``/``--assets``/``--venues`` values as a history window (all of
    time and everything when not given)."""
    from producers.history import Window

    return Window(parse_time(start, 0), parse_time(end, 2**62), csv_set(assets), csv_set(venues))


def csv_set(text: str | None) -> frozenset[str] | None:
    """``"A, B"`` → ``{"A", "B"}``; ``None`` (no selection) when empty."""
    return frozenset(x.strip() for x in text.split(",") if x.strip()) if text else None


def parse_refs(items: list[str] | None) -> dict[str, str]:
    """``--reference-prices VENUE=REF`` values → ``{venue: ref}``; raises
    ``typer.BadParameter`` on a value without both sides."""
    refs = {}
    for item in items or []:
        venue, sep, ref = item.partition("=")
        if not sep or not venue or not ref:
            raise typer.BadParameter(f"--reference-prices takes VENUE=REF, got {item!r}")
        refs[venue.strip()] = ref.strip()
    return refs


#: the bundled window has no hyperliquid candles: backtest and replay price it on binance's
BUNDLED_REFERENCE_PRICES = {"hyperliquid": "binance"}


def default_refs(
    paths: list[Path] | None, refs: dict[str, str], venues: str | None = None
) -> dict[str, str]:
    """The reference prices in force: the ones given, else on the bundled data its default
    (when the selection includes hyperliquid)."""
    wanted = {v.strip().lower() for v in venues.split(",")} if venues else None
    if paths is None and not refs and (wanted is None or "hyperliquid" in wanted):
        out.print(
            "note: hyperliquid has no candles in the bundled window; using binance prices for it",
            soft_wrap=True,
        )
        return dict(BUNDLED_REFERENCE_PRICES)
    return refs


def print_quality(report_quality: list[dict[str, Any]], notes: list[str]) -> None:
    """The data-quality table (only series with findings, each as
    :func:`producers.history.as_dict` gives it) and the notes."""
    from rich.table import Table

    from producers.history import has_findings, iso

    cols = ("duplicates", "out_of_order", "invalid", "gaps", "interval_changes")
    flagged = [q for q in report_quality if has_findings(q)]
    if flagged:
        table = Table(
            "series",
            "rows",
            *cols,
            "from",
            "to",
            "findings",
            title="data quality (series with findings)",
        )
        for q in flagged:
            table.add_row(
                f"{q['kind']} {q['venue']} {q['symbol']}",
                str(q["rows"]),
                *(str(q[c]) for c in cols),
                iso(int(q["first_time"] or 0)),
                iso(int(q["last_time"] or 0)),
                "; ".join(q.get("findings") or ()),
            )
        out.print(table)
    else:
        out.print(
            "data quality: no duplicates, out-of-order rows, invalid rows, gaps, interval changes "
            "or coverage findings"
        )
    for note in notes:
        out.print(f"note: {note}")
