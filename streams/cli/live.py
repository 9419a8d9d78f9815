"""``fundarb worker``, ``fundarb paper`` and ``fundarb live``: the processes of a running
system (the Faust worker, the paper venue, and live's connectors + worker + gateway)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from infra import kafka_local
from streams.cli.common import cli_settings, fail, out
from streams.cli.options import DrainOpt, DrainSecondsOpt, PrefixOpt, drain_ms, strategy_option
from streams.cli.strategy import load_strategy_config


def worker_cmd(
    prefix: PrefixOpt = None,
    config: Annotated[
        Path | None, strategy_option("Strategy file (defaults when omitted).")
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
    settings = cli_settings(topic_prefix=prefix, table_store=store)
    try:
        run_worker(settings, strategy, loglevel=loglevel, backtest_clock=backtest_clock)
    except TopicMismatchError as exc:
        raise fail(exc) from exc


def paper_cmd(
    prefix: PrefixOpt = None,
    config: Annotated[Path | None, strategy_option("Strategy file (its fee table).")] = None,
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
        fees=strategy.fees,
        latency_ms=latency_ms,
        max_quote_age_ms=strategy.feeds.ticker_ttl_ms,
    )
    settings = cli_settings(topic_prefix=prefix)
    idle_ms = drain_ms(drain, drain_seconds)
    try:
        counts = asyncio.run(run_paper_venue(settings, paper, drain_ms=idle_ms))
    except Exception as exc:
        raise fail(
            f"cannot run the paper venue against Kafka at {settings.bootstrap}: {exc}"
        ) from exc
    out.print(f"paper venue: {counts.inputs} inputs answered with {counts.outputs} events")


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
        strategy_option(
            "Strategy file (defaults when omitted); its [live] table selects venues, "
            "assets and feed settings unless flags do."
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
        ExchangeFactory,
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
        raise fail(escape(f"strategy file {config}: [live]: {exc}")) from exc
    try:
        choice = choose(sel, venues, assets, assets_file)
        for v in choice.venues:
            venue_spec(v)
    except (LiveSelectionError, UnknownVenueError) as exc:
        raise fail(exc.args[0]) from exc
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
    factory: ExchangeFactory = ccxt_exchange
    if recorded is not None:
        try:
            check_recordings(recorded, opts.venues)
        except RecordedVenueError as exc:
            raise fail(exc) from exc
        factory = recorded_factory(recorded)
    settings = cli_settings(topic_prefix=prefix)
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
        raise fail(exc.args[0]) from exc
    except kafka_local.BrokerError as exc:
        raise fail(exc) from exc
    except (KafkaUnreachableError, TopicMismatchError, StoreError) as exc:
        raise fail(exc) from exc
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    out.print(f"stopped: {report.events} events published, {report.dead_letters} dead letters")
