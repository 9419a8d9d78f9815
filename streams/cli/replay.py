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
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=16,
            metavar="N",
            help="Processes that parse and encode (this one only sends the bytes).",
        ),
    ] = 2,
) -> None:
    """Publish recorded funding and prices to the run's topics in event-time order."""
    import asyncio
    from decimal import Decimal

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from producers import history
    from producers.replay import Encoders, ReplaySource, replay_parallel

    window = parse_window(start, end, assets, venues)
    files = paths or list(DEFAULT_DATA)
    half_spread = Decimal(str(half_spread_bps)) / 10_000
    refs = default_refs(paths, parse_refs(reference_prices), venues)
    try:
        plan = history.plan(
            files,
            window,
            half_spread=half_spread,
            reference_prices=refs,
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

    def tick(published: int) -> None:
        progress.update(
            task, completed=published, rate=published / (_time.perf_counter() - started)
        )

    source = ReplaySource(list(files), window, half_spread, refs, False, plan.indexed)
    # started before the event loop and the progress bar's thread: forked, they start at once
    encoders = Encoders(settings, plan, source, workers)

    async def run() -> ReplayReport:
        await create_topics(settings)
        return await replay_parallel(
            settings, plan, source, speed=speed, on_progress=tick, encoders=encoders
        )

    try:
        with progress:
            report = asyncio.run(run())
    except Exception as exc:
        raise fail(f"replay to {settings.bootstrap} failed: {exc}") from exc
    finally:
        encoders.close()  # a failure before the replay read them: not left blocked
    out.print(
        f"published {report.events} events ({report.rejected} rejected rows to the dead-letter "
        f"topic) in {report.wall_seconds:.1f}s, {report.events_per_second:,.0f} events/s"
    )
    for topic, count in sorted(report.by_topic.items()):
        out.print(f"  {topic}: {count}")
    print_quality(report.quality, report.notes)
