"""Config bounds: absurd values are refused at load with the key named (schemas/config.py,
infra/settings.py)."""

import math
import time

import pytest
from pydantic import ValidationError

from infra.settings import Settings
from schemas.config import AlertsConfig, StrategyConfig


def _refused(data: dict, key: str) -> str:
    with pytest.raises(ValidationError) as err:
        StrategyConfig.model_validate(data)
    assert key in str(err.value)
    return str(err.value)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"execution": {"limit_offset_frac": "-5"}}, "execution.limit_offset_frac"),
        ({"execution": {"limit_offset_frac": "0.2"}}, "execution.limit_offset_frac"),
        ({"execution": {"hedge_cross_frac": "2"}}, "execution.hedge_cross_frac"),
        ({"fees": {"venues": {"binance": {"maker": "-5", "taker": "0.0005"}}}}, "binance.maker"),
        ({"fees": {"venues": {"okx": {"maker": "0", "taker": "-5"}}}}, "okx.taker"),
        ({"fees": {"slippage_frac": "0.5"}}, "fees.slippage_frac"),
        ({"capital_usd": "1E+100000000"}, "capital_usd"),
        ({"capital_usd": "1E+15"}, "capital_usd"),
        ({"risk": {"max_margin_ratio": "3"}}, "risk.max_margin_ratio"),
        ({"risk": {"min_liquidation_distance_frac": "2"}}, "risk.min_liquidation_distance_frac"),
        ({"exits": {"basis_stop_frac": "5"}}, "exits.basis_stop_frac"),
        ({"entry": {"borrow_rate_h": "1"}}, "entry.borrow_rate_h"),
    ],
)
def test_strategy_config_refuses_absurd_values_naming_the_key(data: dict, key: str) -> None:
    started = time.perf_counter()
    _refused(data, key)
    assert time.perf_counter() - started < 0.5  # "1E+100000000" used to take ~1 GB and seconds


def test_strategy_config_defaults_and_bundled_values_still_load() -> None:
    config = StrategyConfig.model_validate(
        {"execution": {"limit_offset_frac": "0.0001", "hedge_cross_frac": "0.002"}}
    )
    assert config.execution.limit_offset_frac > 0
    assert StrategyConfig().capital_usd > 0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("worker_tick_s", 1e-9),
        ("worker_tick_s", 3600.0),
        ("worker_tick_s", math.nan),
        ("worker_session_timeout_s", math.inf),
        ("worker_session_timeout_s", 1e9),
        ("worker_session_timeout_s", 1.0),
    ],
)
def test_settings_refuse_absurd_worker_timings(key: str, value: float) -> None:
    with pytest.raises(ValidationError, match=key):
        Settings(**{key: value})


def test_settings_accept_their_defaults() -> None:
    s = Settings()
    assert 0 < s.worker_tick_s < s.worker_session_timeout_s


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/hook",
        "gopher://example.com/",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.1.1:8080/hook",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/hook",
        "http://[::ffff:169.254.169.254]/",
        "http://2852039166/",  # 169.254.169.254 as one decimal number
        "http://0.0.0.0/hook",
        "http://metadata.google.internal/computeMetadata/v1/",
        "not a url",
    ],
)
@pytest.mark.parametrize("field", ["url", "api_base"])
def test_alert_sink_urls_must_be_http_and_not_link_local(url: str, field: str) -> None:
    sink = {"kind": "telegram", "chat_id": "1", "token": "t", field: url}
    with pytest.raises(ValidationError) as err:
        AlertsConfig.model_validate({"sinks": [sink]})
    assert f"sinks.0.{field}" in str(err.value)
    if field == "url":
        assert url not in str(err.value)  # a webhook URL is a secret: never echoed


def test_alert_sink_url_from_the_environment_is_checked_at_load() -> None:
    environ = {"FUNDARB_TEST_HOOK": "http://169.254.169.254/"}
    sinks = {"sinks": [{"kind": "webhook", "url_env": "FUNDARB_TEST_HOOK"}]}
    with pytest.raises(ValidationError, match="FUNDARB_TEST_HOOK") as err:
        AlertsConfig.model_validate(sinks, context={"environ": environ})
    assert "169.254" not in str(err.value)
    # without the environment (a pure load), the variable is not resolved
    assert AlertsConfig.model_validate(sinks).sinks[0].url_env == "FUNDARB_TEST_HOOK"


@pytest.mark.parametrize(
    "url",
    ["https://hooks.slack.com/services/T0/B0/x", "http://127.0.0.1:8123/hook", "http://10.1.2.3/"],
)
def test_alert_sink_urls_that_are_fine(url: str) -> None:
    config = AlertsConfig.model_validate({"sinks": [{"kind": "webhook", "url": url}]})
    assert config.sinks[0].url is not None
    assert config.sinks[0].url.get_secret_value() == url
