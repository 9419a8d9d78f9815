"""The ``fundarb`` command line (the composition root: wires infra, producers, consumers, app).

Every command reads settings from ``FUNDARB_*`` env vars and the TOML config file
(:mod:`infra.settings`). Errors meant for a person print one clear line and exit 1, never a
traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from infra import kafka_local
from infra.settings import Settings, load_settings

app = typer.Typer(
    name="fundarb",
    help="Cross-venue funding-rate arbitrage on crypto perpetual futures, event-sourced on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # click's own help layout: paragraphs re-wrapped to the terminal (no sentence broken at a
    # docstring's line end) and no <bool>/<str> type column
    rich_markup_mode=None,
)
infra_app = typer.Typer(
    help="The local Kafka broker (no Docker): up, down, status.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
topics_app = typer.Typer(
    help="The topic catalog: create and describe a run's topics.",
    no_args_is_help=True,
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


# no 80-column wrapping when the output is a pipe or a file (JSON, SQL results, grep-able lines)
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 10_000
out = Console(soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, soft_wrap=True, width=_WIDTH)


def _settings(**overrides: object) -> Settings:
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return load_settings(**clean)
    except Exception as exc:  # invalid env/config: say which, do not trace
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(1) from exc


def _fail(exc: BaseException | str) -> typer.Exit:
    # soft_wrap: a one-line message stays one line (grep-able), whatever the terminal width
    err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
    return typer.Exit(1)


PortOpt = Annotated[
    int | None,
    typer.Option(
        "--port",
        metavar="PORT",
        help="Broker port (default: FUNDARB_KAFKA_PORT or the settings file, else 9092).",
    ),
]
DataOpt = Annotated[
    str | None, typer.Option("--data-dir", metavar="DIR", help="Broker data folder.")
]


@infra_app.command("up")
def infra_up(port: PortOpt = None, data_dir: DataOpt = None) -> None:
    """Start the local broker (resolving its jars from Maven Central once); idempotent."""
    settings = _settings(kafka_port=port, kafka_data_dir=data_dir)
    try:
        st = kafka_local.up(settings)
    except kafka_local.BrokerError as exc:
        raise _fail(exc) from exc
    verb = "started" if st.started_now else "already running"
    out.print(f"broker {verb}: pid={st.pid}")
    out.print(f"bootstrap servers: {st.bootstrap}")


@infra_app.command("down")
def infra_down(port: PortOpt = None) -> None:
    """Stop the broker this state folder started (by its pid file)."""
    settings = _settings(kafka_port=port)
    stopped = kafka_local.down(settings)
    out.print("broker stopped" if stopped else "no broker of ours was running")


@infra_app.command("status")
def infra_status(port: PortOpt = None) -> None:
    """Say whether our broker runs and whether a produce/consume round trip succeeds.

    Exits 0 when healthy, 3 when stopped or unhealthy (scriptable).
    """
    settings = _settings(kafka_port=port)
    if not settings.uses_local_broker:
        ok = kafka_local.roundtrip_ok(settings.bootstrap)
        out.print(
            f"external cluster bootstrap={settings.bootstrap} round-trip={'ok' if ok else 'FAILED'}"
        )
        raise typer.Exit(0 if ok else 3)
    st = kafka_local.status(settings, check=True)
    out.print(st.describe())
    raise typer.Exit(0 if st.running and st.healthy else 3)


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
#: The data window and selection, shared by replay and backtest.
FromOpt = Annotated[
    str | None,
    typer.Option("--from", metavar="DATE", help="Window start (YYYY-MM-DD, ISO, or ms)."),
]
ToOpt = Annotated[str | None, typer.Option("--to", metavar="DATE", help="Window end, exclusive.")]
AssetsOpt = Annotated[
    str | None, typer.Option(metavar="A,B", help="Comma-separated base assets, e.g. BTC,ETH.")
]
VenuesOpt = Annotated[str | None, typer.Option(metavar="V,W", help="Comma-separated venues.")]


@topics_app.command("create")
def topics_create(
    prefix: PrefixOpt = None,
    partitions: Annotated[
        int | None, typer.Option(metavar="N", help="Override the co-partitioned count.")
    ] = None,
) -> None:
    """Create every catalog topic under the prefix (idempotent)."""
    import asyncio
    import dataclasses

    from infra.kafka_io import TopicMismatchError, create_topics
    from schemas.catalog import TOPICS

    settings = _settings(topic_prefix=prefix)
    specs = TOPICS
    if partitions:
        specs = tuple(
            dataclasses.replace(s, partitions=partitions) if s.co_partitioned else s for s in TOPICS
        )
    try:
        created = asyncio.run(create_topics(settings, specs))
    except TopicMismatchError as exc:
        raise _fail(exc) from exc
    except Exception as exc:
        raise _fail(f"cannot reach Kafka at {settings.bootstrap}: {exc}") from exc
    out.print(f"created {len(created)} topic(s), {len(specs) - len(created)} already existed")
    for name in created:
        out.print(f"  + {name}")


@topics_app.command("describe")
def topics_describe(prefix: PrefixOpt = None) -> None:
    """Show the catalog and what exists on the cluster."""
    import asyncio

    from rich.table import Table

    from infra.kafka_io import describe_topics

    settings = _settings(topic_prefix=prefix)
    try:
        states = asyncio.run(describe_topics(settings))
    except Exception as exc:
        raise _fail(f"cannot reach Kafka at {settings.bootstrap}: {exc}") from exc
    table = Table("topic", "exists", "partitions", "key", "cleanup", "retention", "event types")
    for st in states:
        retention = st.configs.get("retention.ms", str(st.spec.retention_ms))
        table.add_row(
            st.name,
            "yes" if st.exists else "no",
            f"{st.partitions}" if st.exists else f"({st.spec.partitions})",
            st.spec.key,
            st.configs.get("cleanup.policy", st.spec.cleanup_policy),
            "forever" if retention == "-1" else f"{int(retention) // 86_400_000}d",
            ", ".join(t.__name__ for t in st.spec.event_types),
        )
    out.print(table)


@topics_app.command("dump")
def topics_dump(
    out_file: Annotated[
        Path, typer.Argument(metavar="FILE", help="Output file (.jsonl or .jsonl.gz).")
    ],
    prefix: PrefixOpt = None,
    names: Annotated[
        str, typer.Option("--topics", metavar="T,U", help="Comma-separated catalog topics.")
    ] = "md.funding,md.tickers",
) -> None:
    """Record a run's topics to a file `fundarb replay` can read back (JSON lines, base64)."""
    import asyncio

    from infra.kafka_io import read_topics
    from producers.history.dump import DumpWriter

    settings = _settings(topic_prefix=prefix)

    async def dump() -> int:
        wanted = {settings.topic(t.strip()): t.strip() for t in names.split(",") if t.strip()}
        with DumpWriter(out_file) as writer:
            async for topic, partition, r in read_topics(settings.bootstrap, list(wanted)):
                writer.write(wanted[topic], partition, r.offset, r.timestamp, r.key, r.value)
        return writer.records

    try:
        count = asyncio.run(dump())
    except Exception as exc:
        raise _fail(f"dump from Kafka at {settings.bootstrap} failed: {exc}") from exc
    out.print(f"wrote {count} records to {out_file}")


# ---- replay --------------------------------------------------------------------------------
REPO_DATA = Path(__file__).resolve().parent.parent / "data"
DEFAULT_DATA = (
    REPO_DATA / "funding" / "finm33150_2025-12-03_2026-03-07.csv.gz",
    REPO_DATA / "prices" / "finm33150_perp_ohlcv_1h_2025-12-02_2026-03-07.csv.gz",
)


def parse_time(text: str | None, default: int) -> int:
    """``YYYY-MM-DD``, an ISO date-time (UTC unless it says otherwise) or epoch ms."""
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


def _csv_set(text: str | None) -> frozenset[str] | None:
    return frozenset(x.strip() for x in text.split(",") if x.strip()) if text else None


def _refs(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        venue, sep, ref = item.partition("=")
        if not sep or not venue or not ref:
            raise typer.BadParameter(f"--reference-prices takes VENUE=REF, got {item!r}")
        out[venue.strip()] = ref.strip()
    return out


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


def print_quality(report_quality: list[dict[str, object]], notes: list[str]) -> None:
    """The data-quality table (only series with findings) and the notes."""
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
                iso(int(q["first_time"] or 0)),  # type: ignore[call-overload]
                iso(int(q["last_time"] or 0)),  # type: ignore[call-overload]
                "; ".join(q.get("findings") or ()),  # type: ignore[arg-type]
            )
        out.print(table)
    else:
        out.print(
            "data quality: no duplicates, out-of-order rows, invalid rows, gaps, interval changes "
            "or coverage findings"
        )
    for note in notes:
        out.print(f"note: {note}")


@app.command("replay")
def replay_cmd(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FILES...",
            help="CSV/CSV.gz/Parquet files or folders (default: the bundled finm33150 window).",
        ),
    ] = None,
    start: FromOpt = None,
    end: ToOpt = None,
    assets: AssetsOpt = None,
    venues: VenuesOpt = None,
    prefix: PrefixOpt = None,
    speed: Annotated[
        float, typer.Option(metavar="K", help="0 = as fast as possible; k = k× real time.")
    ] = 0.0,
    half_spread_bps: Annotated[
        float,
        typer.Option(metavar="BPS", help="Half the bid/ask spread put around candle closes (bps)."),
    ] = 1.0,
    reference_prices: Annotated[
        list[str] | None,
        typer.Option(
            "--reference-prices",
            metavar="VENUE=REF",
            help="VENUE=REF: use REF's candles for a venue without prices.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and check the data, publish nothing.")
    ] = False,
) -> None:
    """Publish recorded funding and prices to the run's topics in event-time order."""
    import asyncio
    from decimal import Decimal

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from producers import history
    from producers.replay import replay

    window = history.Window(
        parse_time(start, 0), parse_time(end, 2**62), _csv_set(assets), _csv_set(venues)
    )
    try:
        plan = history.plan(
            paths or list(DEFAULT_DATA),
            window,
            half_spread=Decimal(str(half_spread_bps)) / 10_000,
            reference_prices=default_refs(paths, _refs(reference_prices), venues),
            need_prices=False,  # funding alone serves analysis and alerts; backtests need prices
        )
    except history.HistoryError as exc:
        raise _fail(exc) from exc
    if dry_run:
        n = rejected = 0
        for item in history.merged(plan):
            rejected += isinstance(item, history.RejectedRow)
            n += not isinstance(item, history.RejectedRow)
        out.print(f"dry run: {n} events would be published, {rejected} rows rejected")
        notes = plan.notes + history.coverage_notes(plan, window)  # adds findings: before
        print_quality([history.as_dict(q) for q in plan.quality], notes)
        return
    settings = _settings(topic_prefix=prefix)
    from infra.kafka_io import create_topics

    progress = Progress(
        TextColumn("replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>9,.0f} ev/s"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task("replay", total=plan.expected, rate=0.0)
    import time as _time

    started = _time.perf_counter()
    seen = 0

    def tick(_event: object) -> None:
        nonlocal seen
        seen += 1
        if seen % 2000 == 0:
            progress.update(task, completed=seen, rate=seen / (_time.perf_counter() - started))

    async def run() -> object:
        await create_topics(settings)
        return await replay(settings, plan, window, speed=speed, on_event=tick)

    try:
        with progress:
            report = asyncio.run(run())
    except Exception as exc:
        raise _fail(f"replay to {settings.bootstrap} failed: {exc}") from exc
    out.print(
        f"published {report.events} events ({report.rejected} rejected rows to the dead-letter "  # type: ignore[attr-defined]
        f"topic) in {report.wall_seconds:.1f}s, {report.events_per_second:,.0f} events/s"
    )  # type: ignore[attr-defined]
    for topic, count in sorted(report.by_topic.items()):  # type: ignore[attr-defined]
        out.print(f"  {topic}: {count}")
    print_quality(report.quality, report.notes)  # type: ignore[attr-defined]


# ---- backtest, sql, audit ------------------------------------------------------------------
def _strategy_file(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(f"strategy file {path} does not exist") from None
    except Exception as exc:
        raise _fail(f"strategy file {path}: {exc}") from exc


def load_strategy_config(path: Path | None) -> object:
    """A StrategyConfig from a strategy TOML file (defaults when ``path`` is None); its
    ``[backtest]`` table is the backtest's selection (:func:`load_backtest_selection`)."""
    from schemas.config import StrategyConfig

    if path is None:
        return StrategyConfig()
    if path.suffix == ".json":  # a config in force, written by a run (backtest --engine worker)
        try:
            return StrategyConfig.model_validate_json(path.read_text(encoding="utf-8"))
        except Exception as exc:
            raise _fail(f"strategy file {path}: {exc}") from exc
    data = _strategy_file(path)
    data.pop("backtest", None)
    data.pop("live", None)  # fundarb live's selection (streams/live_config.py)
    try:
        return StrategyConfig.model_validate(data)
    except Exception as exc:
        raise _fail(f"strategy file {path}: {exc}") from exc


class BacktestSelection(BaseModel):
    """``[backtest]`` in the strategy file: what to replay, overridden by the flags."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    data: list[Path] | None = None  # files or folders, relative to the working directory
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    assets: list[str] | None = None
    venues: list[str] | None = None
    reference_prices: dict[str, str] | None = None


def load_backtest_selection(path: Path | None) -> BacktestSelection:
    if path is None:
        return BacktestSelection()
    try:
        return BacktestSelection.model_validate(_strategy_file(path).get("backtest", {}))
    except Exception as exc:
        raise _fail(f"strategy file {path}: [backtest]: {exc}") from exc


@app.command("backtest")
def backtest_cmd(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FILES...",
            help="Data files or folders (default: the bundled finm33150 window).",
        ),
    ] = None,
    start: FromOpt = None,
    end: ToOpt = None,
    assets: AssetsOpt = None,
    venues: VenuesOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "--strategy",
            metavar="FILE",
            help="Strategy file (TOML, see config/strategy.toml; its [backtest] table selects "
            "data, window, assets and venues unless flags do). Not the settings file "
            "(fundarb.toml: connections).",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Output folder (default runs/<run id>)."),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            metavar="NAME",
            help="Name of the run (default: a hash of data, window and config).",
        ),
    ] = None,
    reference_prices: Annotated[
        list[str] | None,
        typer.Option(
            "--reference-prices", metavar="VENUE=REF", help="VENUE=REF for venues without prices."
        ),
    ] = None,
    no_audit: Annotated[
        bool, typer.Option("--no-audit", help="Skip writing the run to ClickHouse.")
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            metavar="KIND",
            help="sim: the in-process simulation (default); worker: real `fundarb worker` "
            "processes and the paper venue service in lockstep by watermarks (same digest; "
            "summary.json only).",
        ),
    ] = "sim",
    workers: Annotated[
        int, typer.Option("--workers", metavar="N", help="Worker processes (--engine worker: 1).")
    ] = 1,
) -> None:
    """Replay recorded data through the engine and the paper venue; write summary and report."""
    import json

    from rich.progress import Progress as RichProgress
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    from producers import history
    from producers.history import iso
    from streams.backtest import (
        BacktestOptions,
        Progress,
        default_run_id,
        fresh_prefix,
        prepare,
        run_backtest,
    )

    sel = load_backtest_selection(config)  # flags win over the strategy file's [backtest]
    paths = paths or sel.data
    start = start or sel.from_
    end = end or sel.to
    assets = assets or (",".join(sel.assets) if sel.assets else None)
    venues = venues or (",".join(sel.venues) if sel.venues else None)
    refs = default_refs(paths, _refs(reference_prices) or dict(sel.reference_prices or {}), venues)
    window = history.Window(
        parse_time(start, 0), parse_time(end, 2**62), _csv_set(assets), _csv_set(venues)
    )
    opts = BacktestOptions(
        paths=paths or list(DEFAULT_DATA),
        window=window,
        out_dir=Path("."),
        run_id="",
        config=load_strategy_config(config),  # type: ignore[arg-type]
        reference_prices=refs,
        audit=not no_audit,
        config_path=config,
    )
    opts.run_id = run_id or default_run_id(opts)
    opts.out_dir = out_dir or Path("runs") / opts.run_id
    try:
        prepared = prepare(opts)  # the data and the selection, checked before any broker
    except history.HistoryError as exc:
        raise _fail(exc) from exc
    for note in prepared.notes:
        out.print(f"note: {note}")
    settings = _settings(topic_prefix=fresh_prefix(opts.run_id))
    spinner = RichProgress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = spinner.add_task("starting")

    run_name = settings.topic_prefix.rstrip(".")
    out.print(f"run {run_name}")
    if engine not in ("sim", "worker"):
        raise _fail(f"--engine must be sim or worker, not {engine!r}")
    if engine == "worker":
        from streams.worker_backtest import run_backtest_on_workers

        if workers != 1:  # the backtest clock merges every partition in one process
            raise _fail("--engine worker runs one worker for now (--workers 1)")

        try:
            summary = run_backtest_on_workers(settings, opts, prepared, workers=workers)
        except kafka_local.BrokerError as exc:
            raise _fail(exc) from exc
        out.print(f"summary: {opts.out_dir / 'summary.json'}")
        out.print(f"output_digest {summary['output_digest']}")
        return
    import time as _time

    started = _time.perf_counter()
    lines = not err.is_terminal  # no spinner on a pipe or a file: progress lines instead
    last_line = [0.0]

    def phase(name: str) -> None:
        spinner.update(task, description=name)
        if lines:
            err.print(f"[{_time.perf_counter() - started:5.1f}s] {name}", highlight=False)

    def tick(events: int, sim_time: int, open_arbs: int) -> None:
        text = f"simulate: {iso(sim_time)} UTC, {events:,} events, {open_arbs} open arbs"
        spinner.update(task, description=text)
        now = _time.perf_counter()
        if lines and now - last_line[0] >= 5:  # a line every 5 s at most
            last_line[0] = now
            err.print(f"[{now - started:5.1f}s] {text}", highlight=False)

    try:
        with spinner:
            summary = run_backtest(settings, opts, Progress(on_phase=phase, on_tick=tick), prepared)
    except history.HistoryError as exc:
        raise _fail(exc) from exc
    except kafka_local.BrokerError as exc:
        raise _fail(exc) from exc
    out.print(f"report: {opts.out_dir / 'report.html'}")
    out.print(f"summary: {opts.out_dir / 'summary.json'}")
    if not no_audit:
        out.print(
            f"audited to ClickHouse as run {run_name}: fundarb sql --run latest "  # noqa: S608
            '"SELECT count() FROM fills FINAL WHERE run = {run:String}"',
            highlight=False,
            markup=False,
        )
    line = {
        k: summary[k]
        for k in (
            "run",
            "events_in",
            "intents",
            "orders",
            "fills",
            "arbs_opened",
            "total_pnl_usd",
            "funding_pnl_usd",
            "price_pnl_usd",
            "fees_usd",
            "apr_on_capital",
            "wall_seconds",
            "events_per_second",
            "output_digest",
        )
    }
    print(json.dumps(line), flush=True)  # one line, never wrapped


@app.command("sweep")
def sweep_cmd(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(metavar="FILES...", help="Data files (default: the bundled window)."),
    ] = None,
    start: FromOpt = None,
    end: ToOpt = None,
    assets: AssetsOpt = None,
    venues: VenuesOpt = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "--strategy", metavar="FILE", help="Base strategy file."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", metavar="KEY=V1,V2", help="A strategy key and its values (repeatable)."
        ),
    ] = None,
    sample: Annotated[
        int | None, typer.Option("--random", metavar="N", help="Sample N candidates of the grid.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of --random.")] = 0,
    folds: Annotated[int, typer.Option(help="Rolling walk-forward splits.")] = 2,
    train_until: Annotated[
        str | None,
        typer.Option("--train-until", metavar="DATE", help="Also: train before DATE, test after."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Where sweep.json and sweep.html go.")
    ] = Path("runs/sweep"),
) -> None:
    """Search strategy parameters over one replay; walk-forward in- vs out-of-sample table."""
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress
    from rich.table import Table

    from producers import history
    from streams import sweep

    sel = load_backtest_selection(config)
    paths = paths or sel.data
    start = start or sel.from_
    end = end or sel.to
    assets = assets or (",".join(sel.assets) if sel.assets else None)
    venues = venues or (",".join(sel.venues) if sel.venues else None)
    refs = default_refs(paths, dict(sel.reference_prices or {}), venues)
    window = history.Window(
        parse_time(start, 0), parse_time(end, 2**62), _csv_set(assets), _csv_set(venues)
    )
    base = _strategy_file(config) if config else {}
    base.pop("backtest", None)
    try:
        grid = sweep.parse_params(param or [])
        configs = sweep.candidates(base, grid, sample, seed)
        plan = history.plan(paths or list(DEFAULT_DATA), window, reference_prices=refs)
    except (ValueError, history.HistoryError) as exc:
        raise _fail(exc) from exc
    funding_runs = [r for r in plan.runs if r.kind == "funding"]
    span_start = max(window.start, min(r.first_time for r in funding_runs))
    span_end = min(window.end, max(r.last_time for r in funding_runs) + 1)
    cut = parse_time(train_until, 0) if train_until else None
    splits = sweep.walk_forward(span_start, span_end, folds, cut)
    if not splits:
        raise _fail("no walk-forward split: give --folds ≥ 1 or a --train-until inside the span")
    bounds = sorted({t for s in splits for w in (s.train, s.test) for t in w})
    out.print(f"sweep: {len(configs)} candidates × one replay, {len(splits)} splits")
    bar = RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
    )
    with bar:
        task = bar.add_task("replay", total=span_end - span_start)
        last = [span_start]

        def tick(t: int) -> None:
            if t - last[0] >= 3_600_000:
                bar.update(task, completed=min(t, span_end) - span_start)
                last[0] = t

        cands = sweep.run(plan, configs, bounds, history.candle_interval_ms(plan), tick)
        bar.update(task, completed=span_end - span_start)
    result = sweep.evaluate(cands, splits)
    for split in result:
        table = Table(
            title=f"{split['split']}: train {history.iso(split['train'][0])} → "
            f"{history.iso(split['train'][1])}, test → {history.iso(split['test'][1])}"
        )
        for col in (
            "#",
            "params",
            "in total",
            "in fund",
            "in fees",
            "out total",
            "out fund",
            "out fees",
            "out covered",
        ):
            table.add_column(col, justify="left" if col == "params" else "right")
        for r in split["rows"]:
            t, o = r["train"], r["test"]
            table.add_row(
                f"{r['candidate']}{' *' if r['candidate'] == split['chosen'] else ''}",
                " ".join(f"{k}={v}" for k, v in r["params"].items()),
                f"{t['total_usd']:.2f}",
                f"{t['funding_usd']:.2f}",
                f"{t['fees_usd']:.2f}",
                f"{o['total_usd']:.2f}",
                f"{o['funding_usd']:.2f}",
                f"{o['fees_usd']:.2f}",
                f"{o['covered_fees']}/{o['closed_filled']}",
            )
        out.print(table)
        ch = split["rows"][split["chosen"]]
        out.print(
            f"{split['split']}: chosen #{split['chosen']} {ch['params']}: in-sample "
            f"{ch['train']['total_usd']:.2f} USD, out-of-sample {ch['test']['total_usd']:.2f} USD"
        )
    meta = {
        "data": [str(p) for p in (paths or list(DEFAULT_DATA))],
        "window": [span_start, span_end],
        "grid": grid,
        "random": sample,
        "seed": seed,
        "config": str(config) if config else None,
    }
    js, page = sweep.write(out_dir, result, meta)
    out.print(f"sweep: {js}")
    out.print(f"page: {page}")


class SqlFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command("sql")
def sql_cmd(
    query: Annotated[str, typer.Argument(metavar="QUERY", help="A ClickHouse SQL query.")],
    fmt: Annotated[
        SqlFormat,
        typer.Option("--format", metavar="table|csv|json", help="Output: a table, CSV or JSON."),
    ] = SqlFormat.table,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            metavar="NAME|latest",
            help="Bind {run:String} in the query to this run ('latest': the last one audited;"
            " with or without the trailing dot).",
        ),
    ] = None,
) -> None:
    """Run a query against the audit store (chDB folder, or FUNDARB_CLICKHOUSE_URL's server).

    With --run, the query's {run:String} parameter is that run, e.g.
    fundarb sql --run latest "SELECT count() FROM fills FINAL WHERE run = {run:String}".
    """
    import csv
    import json

    from rich.table import Table

    from infra.clickhouse import StoreError, StoreLockedError, open_store
    from infra.query_endpoint import held_store
    from infra.runs import latest_run

    settings = _settings()
    try:
        store: Any = open_store(settings)
    except StoreLockedError as exc:
        # held by a running `fundarb live`: it answers read-only queries (infra/query_endpoint)
        store = held_store(settings.chdb_path)
        if store is None:
            raise _fail(exc) from exc
        err.print("store held by a running process: querying through it (read-only)")
    except StoreError as exc:
        raise _fail(exc) from exc
    try:
        params = None
        if run is not None:
            name = latest_run(store) if run == "latest" else run.rstrip(".")
            if name is None:
                raise StoreError("--run latest: no run has been audited to this store yet")
            if "{run:" not in query:
                raise StoreError("--run binds {run:String}: the query does not use it")
            err.print(f"run {name}", soft_wrap=True)
            params = {"run": name}
        result = store.query(query, params)
    except StoreError as exc:
        raise _fail(exc) from exc
    finally:
        store.close()
    if fmt is SqlFormat.json:
        print(json.dumps(result.dicts(), default=str, indent=2))
    elif fmt is SqlFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows(result.rows)
    else:
        table = Table(*result.columns)
        for row in result.rows:
            table.add_row(*(str(v) for v in row))
        out.print(table)


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


def _drain_ms(drain: bool, seconds: float | None) -> int | None:
    if seconds:
        return int(seconds * 1000)
    return int(DRAIN_IDLE_S * 1000) if drain else None


@app.command("audit")
def audit_cmd(
    prefix: PrefixOpt = None,
    drain: DrainOpt = False,
) -> None:
    """Consume every topic of a run into ClickHouse (raw + typed tables, deduplicated).

    Prints the records consumed now, the rows the store holds for this run (the run is the
    topic prefix) and, labelled, the rows of all runs in the store.
    """
    import asyncio

    from consumers.audit import audit_topics, run_name
    from infra.clickhouse import StoreError, open_store

    settings = _settings(topic_prefix=prefix)
    run = run_name(settings.topic_prefix)
    try:
        # the CLI owns the store so it can count this run's rows once the sink is done
        store = open_store(settings)
    except StoreError as exc:
        raise _fail(exc) from exc
    try:
        result = asyncio.run(
            audit_topics(
                settings,
                drain=drain,
                store=store,
                on_batch=lambda n: err.print(f"audited {n} records"),
            )
        )
        run_rows = store.query(
            "SELECT count() FROM events_raw FINAL WHERE run = {r:String}", {"r": run}
        ).scalar()
        from infra.runs import record_run

        record_run(store, run, int(result["records"]))
    except StoreError as exc:
        raise _fail(exc) from exc
    except Exception as exc:  # broker unreachable and the like: one line, no traceback
        raise _fail(f"cannot audit from Kafka at {settings.bootstrap}: {exc}") from exc
    finally:
        store.close()
    out.print(
        f"audited {result['records']} records; events_raw holds {int(run_rows)} rows of run "
        f"{run} ({result.get('raw_rows')} rows across all runs)",
        soft_wrap=True,
    )


@app.command("worker")
def worker_cmd(
    prefix: PrefixOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "--strategy", metavar="FILE", help="Strategy file (defaults when omitted)."
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            metavar="URL", help="Faust table store: memory:// (default) or rocksdb:// (rocksdict)."
        ),
    ] = None,
    loglevel: Annotated[str, typer.Option(metavar="LEVEL", help="Faust log level.")] = "info",
    backtest_clock: Annotated[
        bool,
        typer.Option(
            "--backtest-clock",
            help="Lockstep with the paper venue by watermarks (backtest --engine worker).",
        ),
    ] = False,
) -> None:
    """Run the Faust worker: the engine (board, book, strategy, risk, executor) and risk agents.

    Creates the run's topics when missing and refuses to start when co-partitioned topics have
    different partition counts. Stops on Ctrl-C / SIGTERM; a restart resumes from the tables'
    changelogs. Writes a status file (<state_dir>/worker/<prefix>status.json) every second.
    """
    from infra.kafka_io import TopicMismatchError
    from streams.worker import run_worker

    strategy = load_strategy_config(config)
    settings = _settings(topic_prefix=prefix, table_store=store)
    try:
        run_worker(settings, strategy, loglevel=loglevel, backtest_clock=backtest_clock)  # type: ignore[arg-type]
    except TopicMismatchError as exc:
        raise _fail(exc) from exc


@app.command("bench")
def bench_cmd(
    only: Annotated[
        str | None,
        typer.Option(metavar="A,B", help="Subset: serializer,replay,worker,audit,backtest."),
    ] = None,
    runs: Annotated[
        int, typer.Option(metavar="N", min=5, help="Runs per figure (median, min, max).")
    ] = 5,
) -> None:
    """Run the benchmarks under bench/ against one broker; write bench/results/<date>.json
    and a Markdown table (each stage beside its baseline measured in the same run)."""
    import subprocess

    script = Path(__file__).resolve().parents[1] / "bench" / "run_all.py"
    if not script.exists():
        raise _fail(f"{script} not found: fundarb bench runs from a source checkout")
    cmd = [sys.executable, str(script), "--runs", str(runs)]
    if only:
        cmd += ["--only", only]
    raise typer.Exit(subprocess.call(cmd))


@app.command("paper")
def paper_cmd(
    prefix: PrefixOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "--strategy", metavar="FILE", help="Strategy file (its fee table)."
        ),
    ] = None,
    latency_ms: Annotated[
        int, typer.Option(metavar="MS", help="Modelled order latency (ms).")
    ] = 50,
    drain: DrainOpt = False,
    drain_seconds: DrainSecondsOpt = None,
) -> None:
    """Run the paper venue on a run's topics: answer orders.commands with venue events."""
    import asyncio

    from producers.paper import PaperConfig, run_paper_venue

    strategy = load_strategy_config(config)
    paper = PaperConfig(
        fees=strategy.fees,  # type: ignore[attr-defined]
        latency_ms=latency_ms,
        max_quote_age_ms=strategy.feeds.ticker_ttl_ms,  # type: ignore[attr-defined]
    )
    settings = _settings(topic_prefix=prefix)
    drain_ms = _drain_ms(drain, drain_seconds)
    try:
        counts = asyncio.run(run_paper_venue(settings, paper, drain_ms=drain_ms))
    except Exception as exc:
        raise _fail(
            f"cannot run the paper venue against Kafka at {settings.bootstrap}: {exc}"
        ) from exc
    out.print(f"paper venue: {counts['inputs']} inputs answered with {counts['outputs']} events")


@app.command("live")
def live_cmd(
    venues: Annotated[
        str | None,
        typer.Option(metavar="V,W", help="Comma-separated ccxt ids: binance,bybit,okx,…"),
    ] = None,
    assets: Annotated[
        str | None, typer.Option(metavar="A,B", help="Comma-separated base assets: BTC,ETH,…")
    ] = None,
    assets_file: Annotated[
        Path | None,
        typer.Option(
            "--assets-file", metavar="FILE", help="Asset list written by fundarb universe."
        ),
    ] = None,
    paper: Annotated[
        bool | None,
        typer.Option(
            "--paper/--no-paper", help="Dry run: public data, paper fills, no keys needed."
        ),
    ] = None,
    prefix: PrefixOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "--strategy",
            metavar="FILE",
            help="Strategy file (defaults when omitted); its [live] table selects venues, "
            "assets and feed settings unless flags do.",
        ),
    ] = None,
    poll: Annotated[
        float | None, typer.Option(metavar="SECONDS", min=0.2, help="REST poll period (s).")
    ] = None,
    stale_after: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS", min=1, help="A feed without a good poll this long is stale (s)."
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(metavar="SECONDS", help="Stop after this many seconds (default: Ctrl-C)."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT", help="Prometheus /metrics on 127.0.0.1:PORT (worker: PORT+1)."
        ),
    ] = None,
    ws: Annotated[
        bool | None, typer.Option("--ws/--no-ws", help="Also stream funding via websockets.")
    ] = None,
    recorded: Annotated[
        Path | None,
        typer.Option(
            "--recorded",
            metavar="DIR",
            help="Answer every venue from recorded replies in DIR/<venue>/ (offline demo).",
        ),
    ] = None,
) -> None:
    """Run live: venue connectors + worker + (paper venue | order gateway) + audit sink.

    Starts (and stops on exit) the local broker when no cluster is configured and none runs,
    as backtest does. Prints a status line every few seconds: each feed (ok/STALE, age of
    its last good poll, events, dead letters) and the worker's open arbs, PnL and net delta.
    A stale or failing feed trips the stale_feed breaker (entries paused on its assets).
    Without --paper, orders go to the venues: credentials come from FUNDARB_<VENUE>_API_KEY /
    _SECRET / _PASSWORD / _WALLET_ADDRESS / _PRIVATE_KEY and are never logged.
    """
    import asyncio

    from rich.markup import escape

    from infra.clickhouse import StoreError
    from infra.kafka_io import TopicMismatchError
    from producers.recorded_venues import (
        RecordedVenueError,
        check_recordings,
        recorded_factory,
    )
    from producers.venues import UnknownVenueError, venue_spec
    from streams.live import (
        KafkaUnreachableError,
        LiveOptions,
        MissingCredentialsError,
        ccxt_exchange,
        run_live,
        start_kafka,
    )
    from streams.live_config import LiveSelectionError, choose, load_live_selection

    try:
        sel = load_live_selection(config)  # flags win over the strategy file's [live]
    except ValueError as exc:
        raise _fail(escape(f"strategy file {config}: [live]: {exc}")) from exc
    try:
        choice = choose(sel, venues, assets, assets_file)
        for v in choice.venues:
            venue_spec(v)
    except (LiveSelectionError, UnknownVenueError) as exc:
        raise _fail(exc.args[0]) from exc
    paper = paper if paper is not None else bool(sel.paper)
    poll_s = poll or sel.poll_s or 5.0
    metrics_port = metrics_port if metrics_port is not None else sel.metrics_port
    opts = LiveOptions(
        venues=choice.venues,
        assets=choice.assets,
        paper=paper,
        poll_s=poll_s,
        stale_after_s=stale_after or sel.stale_after_s or 60.0,
        status_s=max(poll_s, 2.0),
        duration_s=duration,
        strategy_config=config,
        metrics_port=metrics_port,
        worker_metrics_port=metrics_port + 1 if metrics_port else None,
        websocket=ws if ws is not None else bool(sel.websocket),
    )
    factory = ccxt_exchange
    if recorded is not None:
        try:
            check_recordings(recorded, opts.venues)
        except RecordedVenueError as exc:
            raise _fail(exc) from exc
        factory = recorded_factory(recorded)
    settings = _settings(topic_prefix=prefix)
    mode = "paper (dry run)" if paper else "LIVE orders"
    out.print(
        f"fundarb live: {','.join(opts.venues)} × {','.join(opts.assets)}, {mode}"
        + (f" ({choice.source})" if choice.source != "flags" else ""),
        soft_wrap=True,
    )
    try:
        with kafka_local.broker_for(
            settings, lambda: out.print(f"starting the local broker on {settings.bootstrap}")
        ):
            asyncio.run(start_kafka(settings))  # one clear line when the broker is unreachable
            report = asyncio.run(
                run_live(settings, opts, exchange_factory=factory, on_status=out.print)
            )
    except (MissingCredentialsError, UnknownVenueError) as exc:
        raise _fail(exc.args[0]) from exc
    except kafka_local.BrokerError as exc:
        raise _fail(exc) from exc
    except (KafkaUnreachableError, TopicMismatchError, StoreError) as exc:
        raise _fail(exc) from exc
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    out.print(f"stopped: {report.events} events published, {report.dead_letters} dead letters")


@app.command("alerts")
def alerts_cmd(
    prefix: PrefixOpt = None,
    config: Annotated[
        Path, typer.Option("--config", metavar="FILE", help="Alert rules and sinks (TOML).")
    ] = Path("config/alerts.toml"),
    drain: DrainOpt = False,
    drain_seconds: DrainSecondsOpt = None,
) -> None:
    """Watch a run's topics; raise AlertRaised to `alerts` and deliver to the sinks."""
    import asyncio
    import tomllib

    from consumers.alerts import run_alerts
    from schemas.config import AlertsConfig

    try:
        alerts_config = AlertsConfig.model_validate(
            tomllib.loads(config.read_text(encoding="utf-8")),
            context={"environ": dict(os.environ)},  # sink URLs named by url_env are checked too
        )
    except FileNotFoundError:
        raise _fail(f"alerts config {config} does not exist") from None
    except Exception as exc:
        raise _fail(f"alerts config {config}: {exc}") from exc
    settings = _settings(topic_prefix=prefix)
    drain_ms = _drain_ms(drain, drain_seconds)
    try:
        result = asyncio.run(run_alerts(settings, alerts_config, drain_ms=drain_ms))
    except Exception as exc:
        raise _fail(f"cannot run alerts against Kafka at {settings.bootstrap}: {exc}") from exc
    by_rule = ", ".join(f"{k} {v}" for k, v in result.get("by_rule", {}).items()) or "none"
    out.print(
        f"raised {result['alerts']} alerts ({by_rule}; {result['suppressed']} rate-limited, "
        f"{result['sink_failures']} sink failures, {result['sink_dropped']} dropped on a full "
        f"sink queue, {result['sink_undelivered']} undelivered at shutdown)"
    )
    out.print(f"max drawdown seen {result['max_drawdown_usd']:.2f} USD (equity marked to market)")


# commands kept in their own modules (registered here only)
from streams.universe_cli import universe_cmd  # noqa: E402

app.command("universe")(universe_cmd)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
