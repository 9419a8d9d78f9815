"""``fundarb sql``, ``fundarb audit`` and ``fundarb alerts``: the audit store and the
consumers that watch a run's topics."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from streams.cli.common import cli_settings, err, fail, out
from streams.cli.options import DrainOpt, DrainSecondsOpt, PrefixOpt, drain_ms


class SqlFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


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

    settings = cli_settings()
    try:
        store: Any = open_store(settings)
    except StoreLockedError as exc:
        # held by a running `fundarb live`: it answers read-only queries (infra/query_endpoint)
        store = held_store(settings.chdb_path)
        if store is None:
            raise fail(exc) from exc
        err.print("store held by a running process: querying through it (read-only)")
    except StoreError as exc:
        raise fail(exc) from exc
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
        raise fail(exc) from exc
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

    settings = cli_settings(topic_prefix=prefix)
    run = run_name(settings.topic_prefix)
    try:
        # the CLI owns the store so it can count this run's rows once the sink is done
        store = open_store(settings)
    except StoreError as exc:
        raise fail(exc) from exc
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

        record_run(store, run, result.records)
    except StoreError as exc:
        raise fail(exc) from exc
    except Exception as exc:  # broker unreachable and the like: one line, no traceback
        raise fail(f"cannot audit from Kafka at {settings.bootstrap}: {exc}") from exc
    finally:
        store.close()
    out.print(
        f"audited {result.records} records; events_raw holds {int(run_rows)} rows of run "
        f"{run} ({result.raw_rows} rows across all runs)",
        soft_wrap=True,
    )


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
        raise fail(f"alerts config {config} does not exist") from None
    except Exception as exc:
        raise fail(f"alerts config {config}: {exc}") from exc
    settings = cli_settings(topic_prefix=prefix)
    idle_ms = drain_ms(drain, drain_seconds)
    try:
        result = asyncio.run(run_alerts(settings, alerts_config, drain_ms=idle_ms))
    except Exception as exc:
        raise fail(f"cannot run alerts against Kafka at {settings.bootstrap}: {exc}") from exc
    by_rule = ", ".join(f"{k} {v}" for k, v in result.by_rule.items()) or "none"
    out.print(
        f"raised {result.alerts} alerts ({by_rule}; {result.suppressed} rate-limited, "
        f"{result.sink_failures} sink failures, {result.sink_dropped} dropped on a full "
        f"sink queue, {result.sink_undelivered} undelivered at shutdown)"
    )
    out.print(f"max drawdown seen {result.max_drawdown_usd:.2f} USD (equity marked to market)")
