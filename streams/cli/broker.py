"""``fundarb infra`` (the local broker) and ``fundarb topics`` (the topic catalog)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from infra import kafka_local
from streams.cli.common import cli_settings, fail, out
from streams.cli.options import PrefixOpt

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
    settings = cli_settings(kafka_port=port, kafka_data_dir=data_dir)
    try:
        st = kafka_local.up(settings)
    except kafka_local.BrokerError as exc:
        raise fail(exc) from exc
    verb = "started" if st.started_now else "already running"
    out.print(f"broker {verb}: pid={st.pid}")
    out.print(f"bootstrap servers: {st.bootstrap}")


@infra_app.command("down")
def infra_down(port: PortOpt = None) -> None:
    """Stop the broker this state folder started (by its pid file)."""
    settings = cli_settings(kafka_port=port)
    stopped = kafka_local.down(settings)
    out.print("broker stopped" if stopped else "no broker of ours was running")


@infra_app.command("status")
def infra_status(port: PortOpt = None) -> None:
    """Say whether our broker runs and whether a produce/consume round trip succeeds.

    Exits 0 when healthy, 3 when stopped or unhealthy (scriptable).
    """
    settings = cli_settings(kafka_port=port)
    if not settings.uses_local_broker:
        ok = kafka_local.roundtrip_ok(settings.bootstrap)
        out.print(
            f"external cluster bootstrap={settings.bootstrap} round-trip={'ok' if ok else 'FAILED'}"
        )
        raise typer.Exit(0 if ok else 3)
    st = kafka_local.status(settings, check=True)
    out.print(st.describe())
    raise typer.Exit(0 if st.running and st.healthy else 3)


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

    settings = cli_settings(topic_prefix=prefix)
    specs = TOPICS
    if partitions:
        specs = tuple(
            dataclasses.replace(s, partitions=partitions) if s.co_partitioned else s for s in TOPICS
        )
    try:
        created = asyncio.run(create_topics(settings, specs))
    except TopicMismatchError as exc:
        raise fail(exc) from exc
    except Exception as exc:
        raise fail(f"cannot reach Kafka at {settings.bootstrap}: {exc}") from exc
    out.print(f"created {len(created)} topic(s), {len(specs) - len(created)} already existed")
    for name in created:
        out.print(f"  + {name}")


@topics_app.command("describe")
def topics_describe(prefix: PrefixOpt = None) -> None:
    """Show the catalog and what exists on the cluster."""
    import asyncio

    from rich.table import Table

    from infra.kafka_io import describe_topics

    settings = cli_settings(topic_prefix=prefix)
    try:
        states = asyncio.run(describe_topics(settings))
    except Exception as exc:
        raise fail(f"cannot reach Kafka at {settings.bootstrap}: {exc}") from exc
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

    settings = cli_settings(topic_prefix=prefix)

    async def dump() -> int:
        wanted = {settings.topic(t.strip()): t.strip() for t in names.split(",") if t.strip()}
        with DumpWriter(out_file) as writer:
            async for topic, partition, r in read_topics(settings.bootstrap, list(wanted)):
                writer.write(wanted[topic], partition, r.offset, r.timestamp, r.key, r.value)
        return writer.records

    try:
        count = asyncio.run(dump())
    except Exception as exc:
        raise fail(f"dump from Kafka at {settings.bootstrap} failed: {exc}") from exc
    out.print(f"wrote {count} records to {out_file}")
