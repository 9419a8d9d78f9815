"""Connection settings, in one place.

Precedence (highest first): keyword arguments, environment variables ``FUNDARB_*``, the TOML
config file, defaults. The config file is ``$FUNDARB_CONFIG`` if set, else ``fundarb.toml`` in
the working directory if it exists. Keys in the file are the field names below (flat), e.g.::

    bootstrap_servers = "kafka-1:9092,kafka-2:9092"
    topic_prefix = "paper."
    clickhouse_url = "http://localhost:8123"

An existing Kafka cluster is used by setting ``bootstrap_servers`` alone; when it is unset the
local broker managed by :mod:`infra.kafka_local` is used on ``127.0.0.1:<kafka_port>``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = "fundarb.toml"


def config_file_path() -> Path | None:
    """The TOML config file in force: ``$FUNDARB_CONFIG``, else ``./fundarb.toml`` if present."""
    explicit = os.environ.get("FUNDARB_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path(DEFAULT_CONFIG_FILE)
    return local if local.is_file() else None


class Settings(BaseSettings):
    """Where Kafka, ClickHouse and local state live.

    Attributes
    ----------
    bootstrap_servers
        Kafka bootstrap servers (``host:port[,host:port]``). ``None`` means the local broker.
    kafka_port, controller_port
        Ports of the local KRaft broker (PLAINTEXT listener and controller listener).
    topic_prefix
        Prepended to every topic name, so runs (a backtest, a test) never see each other's data.
    state_dir
        Git-ignored folder for Kafka jars, broker data and logs, and the embedded ClickHouse data.
    kafka_version
        Apache Kafka version resolved from Maven Central for the local broker.
    kafka_data_dir
        Broker log dir; defaults to ``<state_dir>/kafka/data``.
    kafka_jars_dir
        Cache of resolved broker jars; defaults to ``<state_dir>/kafka/jars``.
    clickhouse_url
        ClickHouse server URL (``http://user:pass@host:8123/db``). ``None`` means embedded chDB.
    clickhouse_path
        chDB data folder; defaults to ``<state_dir>/clickhouse``.
    schema_registry_url
        Confluent-compatible Schema Registry; ``None`` means the file-backed registry.
    table_store
        Faust table store URL (``memory://`` or ``rocksdb://``).
    worker_session_timeout_s
        Kafka consumer-group session timeout of the worker, in seconds, within
        [6, 1800]: the broker's default ``group.min/max.session.timeout.ms``.
    worker_tick_s
        Worker flush / end-offset refresh period, in seconds, within [0.001, 10]: below a
        millisecond it spins, above 10 s outputs wait that long.
    worker_max_snapshot_bytes
        Largest pickled per-asset snapshot the worker writes (bytes); a record whose fold would
        exceed it is dead-lettered and the asset keeps its previous state.
    worker_max_clock_jump_ms, worker_max_ahead_of_record_ms
        Far-future guards (ms): an event more than ``worker_max_clock_jump_ms`` ahead of its
        asset's clock (once set; 0 disables), or more than ``worker_max_ahead_of_record_ms``
        ahead of its record's broker timestamp or its ``ingest_time``, is dead-lettered.
    """

    model_config = SettingsConfigDict(env_prefix="FUNDARB_", extra="ignore", populate_by_name=True)

    bootstrap_servers: str | None = Field(
        default=None,
        # FUNDARB_BOOTSTRAP is the short form used by CI and the test fixtures
        validation_alias=AliasChoices(
            "bootstrap_servers", "FUNDARB_BOOTSTRAP_SERVERS", "FUNDARB_BOOTSTRAP"
        ),
    )
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    controller_port: int | None = Field(default=None, ge=1, le=65535)
    topic_prefix: str = ""
    state_dir: Path = Path(".fundarb")
    kafka_version: str = "4.1.1"
    kafka_data_dir: Path | None = None
    kafka_jars_dir: Path | None = None
    kafka_heap: str = "1g"
    clickhouse_url: SecretStr | None = None
    clickhouse_path: Path | None = None
    schema_registry_url: str | None = None
    table_store: str = "memory://"  # Faust table store: memory:// or rocksdb:// (rocksdict)
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    worker_session_timeout_s: float = Field(default=10.0, ge=6.0, le=1800.0, allow_inf_nan=False)
    worker_tick_s: float = Field(default=0.05, ge=0.001, le=10.0, allow_inf_nan=False)
    # a snapshot is one changelog record: stay under the broker's default 1 MiB message limit
    worker_max_snapshot_bytes: int = Field(default=512 * 1024, gt=0, le=16 * 1024 * 1024)
    # an event stamped further ahead of its asset's clock is dead-lettered (0 = no check)
    worker_max_clock_jump_ms: int = Field(default=86_400_000, ge=0, le=366 * 86_400_000)
    # ... and further ahead of its record's broker timestamp or its own ingest_time (skew)
    worker_max_ahead_of_record_ms: int = Field(default=60_000, ge=0, le=3_600_000)
    # the worker serves Prometheus /metrics on 127.0.0.1:<port> when set (streams/metrics.py)
    worker_metrics_port: int | None = Field(default=None, ge=0, le=65535)

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, value: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        bad = sorted(set(value) - allowed)
        if bad:
            raise ValueError(f"topic_prefix may use only [a-zA-Z0-9._-]; found {bad!r}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file_path()
        if path is not None:
            if not path.is_file():
                raise FileNotFoundError(f"config file {path} (from FUNDARB_CONFIG) does not exist")
            check_config_keys(path)
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    # ---- derived values -------------------------------------------------------------------
    @property
    def uses_local_broker(self) -> bool:
        """True when no external cluster is configured."""
        return not self.bootstrap_servers

    @property
    def bootstrap(self) -> str:
        """Bootstrap servers string for clients."""
        return self.bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def controller_listener_port(self) -> int:
        return self.controller_port or self.kafka_port + 1

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def jars_dir(self) -> Path:
        return self.kafka_jars_dir or self.kafka_dir / "jars"

    @property
    def broker_data_dir(self) -> Path:
        return self.kafka_data_dir or self.kafka_dir / "data"

    @property
    def chdb_path(self) -> Path:
        return self.clickhouse_path or self.state_dir / "clickhouse"

    def topic(self, name: str) -> str:
        """The full topic name for a catalog name under this run's prefix."""
        return f"{self.topic_prefix}{name}"


class UnknownSettingError(ValueError):
    """The settings file names a key that is no setting (a typo would be silently ignored)."""


def check_config_keys(path: Path) -> None:
    """Refuse a key of the settings file that is not a setting, naming it (and the nearest
    setting), as the strategy file does.

    Raises
    ------
    UnknownSettingError
        One line: the file, the unknown keys, suggestions.
    """
    import difflib
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UnknownSettingError(f"settings file {path} is not valid TOML: {exc}") from None
    known = set(Settings.model_fields)
    unknown = sorted(k for k in data if k not in known)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise UnknownSettingError(
            f"settings file {path}: unknown key {', '.join(hints)}; the settings are "
            f"{', '.join(sorted(known))}"
        )


def load_settings(**overrides: Any) -> Settings:
    """Build settings from overrides, environment and config file (see module docstring)."""
    return Settings(**overrides)
