"""``fundarb backtest`` and ``fundarb sweep``: the engine and the paper venue over recorded
data (one run, or a parameter search with a walk-forward table)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from infra import kafka_local
from streams.cli.common import cli_settings, err, fail, out, parse_refs, parse_time
from streams.cli.options import (
    AssetsOpt,
    FromOpt,
    ToOpt,
    VenuesOpt,
    files_argument,
    reference_prices_option,
    strategy_option,
)
from streams.cli.strategy import load_strategy_config, resolve_selection, strategy_file


def backtest_cmd(
    paths: Annotated[
        list[Path] | None,
        files_argument("Data files or folders (default: the bundled finm33150 window)."),
    ] = None,
    start: FromOpt = None,
    end: ToOpt = None,
    assets: AssetsOpt = None,
    venues: VenuesOpt = None,
    config: Annotated[
        Path | None,
        strategy_option(
            "Strategy file (TOML, see config/strategy.toml; its [backtest] table selects "
            "data, window, assets and venues unless flags do). Not the settings file "
            "(fundarb.toml: connections)."
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
        list[str] | None, reference_prices_option("VENUE=REF for venues without prices.")
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
        int,
        typer.Option(
            "--workers",
            metavar="N",
            help="Worker processes in one consumer group (--engine worker: 1..4).",
        ),
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

    # flags win over the strategy file's [backtest]
    sel = resolve_selection(config, paths, start, end, assets, venues, parse_refs(reference_prices))
    opts = BacktestOptions(
        paths=sel.paths,
        window=sel.window,
        out_dir=Path("."),
        run_id="",
        config=load_strategy_config(config),
        reference_prices=sel.reference_prices,
        audit=not no_audit,
        config_path=config,
    )
    opts.run_id = run_id or default_run_id(opts)
    opts.out_dir = out_dir or Path("runs") / opts.run_id
    try:
        prepared = prepare(opts)  # the data and the selection, checked before any broker
    except history.HistoryError as exc:
        raise fail(exc) from exc
    for note in prepared.notes:
        out.print(f"note: {note}")
    settings = cli_settings(topic_prefix=fresh_prefix(opts.run_id))
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
        raise fail(f"--engine must be sim or worker, not {engine!r}")
    if engine == "worker":
        from schemas.catalog import ASSET_PARTITIONS
        from streams.worker_backtest import run_backtest_on_workers

        if not 1 <= workers <= ASSET_PARTITIONS:  # one consumer group over the partitions
            raise fail(f"--workers must be 1..{ASSET_PARTITIONS} (one per asset partition at most)")

        try:
            worker_summary = run_backtest_on_workers(settings, opts, prepared, workers=workers)
        except kafka_local.BrokerError as exc:
            raise fail(exc) from exc
        out.print(f"summary: {opts.out_dir / 'summary.json'}")
        out.print(f"output_digest {worker_summary.output_digest}")
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
        raise fail(exc) from exc
    except kafka_local.BrokerError as exc:
        raise fail(exc) from exc
    out.print(f"report: {opts.out_dir / 'report.html'}")
    out.print(f"summary: {opts.out_dir / 'summary.json'}")
    if not no_audit:
        out.print(
            f"audited to ClickHouse as run {run_name}: fundarb sql --run latest "  # noqa: S608
            '"SELECT count() FROM fills FINAL WHERE run = {run:String}"',
            highlight=False,
            markup=False,
        )
    print(json.dumps(summary.headline()), flush=True)  # one line, never wrapped


def sweep_cmd(
    paths: Annotated[
        list[Path] | None, files_argument("Data files (default: the bundled window).")
    ] = None,
    start: FromOpt = None,
    end: ToOpt = None,
    assets: AssetsOpt = None,
    venues: VenuesOpt = None,
    config: Annotated[Path | None, strategy_option("Base strategy file.")] = None,
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

    sel = resolve_selection(config, paths, start, end, assets, venues)
    window = sel.window
    base = strategy_file(config) if config else {}
    base.pop("backtest", None)
    try:
        grid = sweep.parse_params(param or [])
        configs = sweep.candidates(base, grid, sample, seed)
        plan = history.plan(sel.paths, window, reference_prices=sel.reference_prices)
    except (ValueError, history.HistoryError) as exc:
        raise fail(exc) from exc
    funding_runs = [r for r in plan.runs if r.kind == "funding"]
    span_start = max(window.start, min(r.first_time for r in funding_runs))
    span_end = min(window.end, max(r.last_time for r in funding_runs) + 1)
    cut = parse_time(train_until, 0) if train_until else None
    splits = sweep.walk_forward(span_start, span_end, folds, cut)
    if not splits:
        raise fail("no walk-forward split: give --folds ≥ 1 or a --train-until inside the span")
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
            title=f"{split.split}: train {history.iso(split.train[0])} → "
            f"{history.iso(split.train[1])}, test → {history.iso(split.test[1])}"
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
        for r in split.rows:
            t, o = r.train, r.test
            table.add_row(
                f"{r.candidate}{' *' if r.candidate == split.chosen else ''}",
                " ".join(f"{k}={v}" for k, v in r.params.items()),
                f"{t.total_usd:.2f}",
                f"{t.funding_usd:.2f}",
                f"{t.fees_usd:.2f}",
                f"{o.total_usd:.2f}",
                f"{o.funding_usd:.2f}",
                f"{o.fees_usd:.2f}",
                f"{o.covered_fees}/{o.closed_filled}",
            )
        out.print(table)
        ch = split.rows[split.chosen]
        out.print(
            f"{split.split}: chosen #{split.chosen} {ch.params}: in-sample "
            f"{ch.train.total_usd:.2f} USD, out-of-sample {ch.test.total_usd:.2f} USD"
        )
    meta = {
        "data": [str(p) for p in sel.paths],
        "window": [span_start, span_end],
        "grid": grid,
        "random": sample,
        "seed": seed,
        "config": str(config) if config else None,
    }
    js, page = sweep.write(out_dir, result, meta)
    out.print(f"sweep: {js}")
    out.print(f"page: {page}")
