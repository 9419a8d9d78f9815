from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.settings import Settings


@pytest.fixture(autouse=True)
def _no_fundarb_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the variables it is about; the shell's own FUNDARB_* must not leak in.

    (A developer with FUNDARB_KAFKA_PORT exported for a second broker saw the defaults fail.)
    """
    import os

    for var in [v for v in os.environ if v.startswith("FUNDARB_")]:
        monkeypatch.delenv(var)


def test_defaults_use_the_local_broker_on_9092(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("FUNDARB_BOOTSTRAP", "FUNDARB_BOOTSTRAP_SERVERS", "FUNDARB_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.uses_local_broker
    assert s.bootstrap == "127.0.0.1:9092"
    assert s.controller_listener_port == 9093
    assert s.chdb_path == Path(".fundarb/clickhouse")


def test_env_overrides_the_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "fundarb.toml"
    cfg.write_text('topic_prefix = "from-file."\nkafka_port = 19092\n')
    monkeypatch.setenv("FUNDARB_CONFIG", str(cfg))
    monkeypatch.setenv("FUNDARB_TOPIC_PREFIX", "from-env.")
    s = Settings()
    assert s.topic_prefix == "from-env."  # env beats file
    assert s.kafka_port == 19092  # file beats default
    assert s.topic("md.funding") == "from-env.md.funding"


def test_existing_cluster_is_used_by_setting_bootstrap_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FUNDARB_BOOTSTRAP", "kafka-a:9092,kafka-b:9092")
    s = Settings()
    assert not s.uses_local_broker
    assert s.bootstrap == "kafka-a:9092,kafka-b:9092"


def test_missing_config_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDARB_CONFIG", "/nonexistent/fundarb.toml")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Settings()


def test_topic_prefix_rejects_characters_kafka_does_not_allow() -> None:
    with pytest.raises(ValidationError, match="topic_prefix"):
        Settings(topic_prefix="run 1/")


def test_clickhouse_url_is_secret_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDARB_CLICKHOUSE_URL", "http://user:hunter2@ch:8123")
    s = Settings()
    assert "hunter2" not in repr(s)
    assert s.clickhouse_url is not None
    assert "hunter2" in s.clickhouse_url.get_secret_value()


def test_cluster_ids_never_start_with_a_dash() -> None:
    from infra.kafka_local import uuid_base64

    ids = [uuid_base64() for _ in range(2000)]
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)


def test_the_live_example_names_every_setting_and_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib

    example = Path(__file__).resolve().parents[2] / "config" / "live.example.toml"
    keys = set(tomllib.loads(example.read_text()))
    assert keys == set(Settings.model_fields)  # every setting explained, nothing unknown
    for var in ("FUNDARB_BOOTSTRAP", "FUNDARB_BOOTSTRAP_SERVERS", "FUNDARB_KAFKA_PORT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FUNDARB_CONFIG", str(example))
    s = Settings()
    assert s.bootstrap == "kafka-1:9092,kafka-2:9092" and s.topic_prefix == "live."


def test_an_unknown_settings_key_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.settings import UnknownSettingError

    cfg = tmp_path / "fundarb.toml"
    cfg.write_text("kafka_prot = 1\n")
    monkeypatch.setenv("FUNDARB_CONFIG", str(cfg))
    with pytest.raises(UnknownSettingError, match=r"'kafka_prot' \(did you mean 'kafka_port'\?\)"):
        Settings()
