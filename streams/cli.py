"""The ``fundarb`` command line (the composition root: wires infra, producers, consumers, app).

Every command reads settings from ``FUNDARB_*`` env vars and the TOML config file
(:mod:`infra.settings`). Errors meant for a person print one clear line and exit 1, never a
traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from infra import kafka_local
from infra.settings import Settings, load_settings

app = typer.Typer(
    name="fundarb",
    help="Cross-venue funding-rate arbitrage on crypto perpetual futures, event-sourced on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
infra_app = typer.Typer(
    help="The local Kafka broker (no Docker): up, down, status.", no_args_is_help=True
)
topics_app = typer.Typer(
    help="The topic catalog: create and describe a run's topics.", no_args_is_help=True
)
app.add_typer(infra_app, name="infra")
app.add_typer(topics_app, name="topics")

out = Console()
err = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return load_settings(**clean)
    except Exception as exc:  # invalid env/config: say which, do not trace
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(1) from exc


def _fail(exc: BaseException) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(1)


PortOpt = Annotated[int | None, typer.Option("--port", help="Broker port (default 9092).")]
DataOpt = Annotated[str | None, typer.Option("--data-dir", help="Broker data folder.")]


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


PrefixOpt = Annotated[str | None, typer.Option("--prefix", help="Topic prefix of the run.")]


@topics_app.command("create")
def topics_create(
    prefix: PrefixOpt = None,
    partitions: Annotated[
        int | None, typer.Option(help="Override the co-partitioned count.")
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


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
