"""``fundarb replay``: publish recorded funding and prices to a run's topics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from streams.cli.common import (
    DEFAULT_DATA,
    cli_settings,
    default_refs,
    err,
    fail,
    out,
    parse_refs,
    parse_window,
    print_quality,
)
from streams.cli.options import (
    AssetsOpt,
    FromOpt,
    PrefixOpt,
    ToOpt,
    VenuesOpt,
    files_argument,
    reference_prices_option,
)

if TYPE_CHECKING:
    from producers.replay import ReplayReport


def replay_cmd(
    paths: Annotated[
        list[Path] | None,
        files_argument(
            "CSV/CSV.gz/Parquet files or folders (default: the bundled finm33150 window)."
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
        reference_prices_option("VENUE=REF: use REF's candles for a venue without prices."),
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

    window = parse_window(start, end, assets, venues)
    try:
        plan = history.plan(
            paths or list(DEFAULT_DATA),
            window,
            half_spread=Decimal(str(half_spread_bps)) / 10_000,
            reference_prices=default_refs(paths, parse_refs(reference_prices), venues),
            need_prices=False,  # funding alone serves analysis and alerts; backtests need prices
        )
    except history.HistoryError as exc:
        raise fail(exc) from exc
    if dry_run:
        n = rejected = 0
        for item in history.merged(plan):
            rejected += isinstance(item, history.RejectedRow)
            n += not isinstance(item, history.RejectedRow)
        out.print(f"dry run: {n} events would be published, {rejected} rows rejected")
        notes = plan.notes + history.coverage_notes(plan, window)  # adds findings: before
        print_quality([history.as_dict(q) for q in plan.quality], notes)
        return
    settings = cli_settings(topic_prefix=prefix)
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

    async def run() -> ReplayReport:
        await create_topics(settings)
        return await replay(settings, plan, window, speed=speed, on_event=tick)

    try:
        with progress:
            report = asyncio.run(run())
    except Exception as exc:
        raise fail(f"replay to {settings.bootstrap} failed: {exc}") from exc
    out.print(
        f"published {report.events} events ({report.rejected} rejected rows to the dead-letter "
        f"topic) in {report.wall_seconds:.1f}s, {report.events_per_second:,.0f} events/s"
    )
    for topic, count in sorted(report.by_topic.items()):
        out.print(f"  {topic}: {count}")
    print_quality(report.quality, report.notes)
