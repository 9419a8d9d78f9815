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


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
