"""Write/read through each available ClickHouse backend with the same DDL and SQL."""

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from infra.clickhouse import ClickHouseStore, StoreLockedError, open_chdb, open_server
from tests.conftest import docker_available

REPO = Path(__file__).resolve().parents[2]

DDL = """
CREATE TABLE IF NOT EXISTS funding_probe (
    venue LowCardinality(String),
    instrument LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    funding_rate Decimal(38, 18)
) ENGINE = ReplacingMergeTree ORDER BY (venue, instrument, event_time)
"""


def _rows() -> pa.Table:
    return pa.table(
        {
            "venue": ["binance", "bybit", "binance"],
            "instrument": ["BTC/USDT:USDT"] * 3,
            "event_time": pa.array(
                [1764748800000, 1764748800000, 1764777600000], pa.timestamp("ms", tz="UTC")
            ),
            "funding_rate": pa.array(
                [Decimal("0.0001"), Decimal("-0.00002779"), Decimal("0.00003218")],
                pa.decimal128(38, 18),
            ),
        }
    )


def _roundtrip(store: ClickHouseStore) -> None:
    store.execute(DDL)
    assert store.insert_arrow("funding_probe", _rows()) == 3
    res = store.query(
        "SELECT venue, sum(funding_rate) AS s FROM funding_probe WHERE instrument = {i:String} "
        "GROUP BY venue ORDER BY venue",
        {"i": "BTC/USDT:USDT"},
    )
    assert res.columns == ["venue", "s"]
    assert res.rows == [("binance", Decimal("0.00013218")), ("bybit", Decimal("-0.00002779"))]


@pytest.fixture(params=["chdb", "server"])
def any_store(
    request: pytest.FixtureRequest, chdb_store: ClickHouseStore
) -> Iterator[ClickHouseStore]:
    if request.param == "chdb":
        yield chdb_store
        return
    url = os.environ.get("FUNDARB_CLICKHOUSE_URL")
    if url:
        store = open_server(url, database="fundarb_test")
        yield store
        store.execute("DROP TABLE IF EXISTS funding_probe")
        store.close()
        return
    ok, why = docker_available()
    if not ok:
        pytest.skip(f"clickhouse-connect server backend: no FUNDARB_CLICKHOUSE_URL and {why}")
    from testcontainers.clickhouse import ClickHouseContainer

    with ClickHouseContainer("clickhouse/clickhouse-server:25.8") as ch:
        store = open_server(ch.get_connection_url().replace("clickhouse://", "http://"))
        yield store
        store.close()


def test_write_and_read_through_each_backend(any_store: ClickHouseStore) -> None:
    _roundtrip(any_store)


def test_chdb_data_survives_a_reopen_in_a_new_process(tmp_path: Path) -> None:
    script = (
        "import sys; from infra.clickhouse import open_chdb;"
        "from tests.integration.test_store import _roundtrip;"
        "s = open_chdb(sys.argv[1]); _roundtrip(s); s.close()"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=REPO, check=True)
    reader = (
        "import sys; from infra.clickhouse import open_chdb;"
        "s = open_chdb(sys.argv[1]); print(s.query('SELECT count() FROM funding_probe').scalar())"
    )
    out = subprocess.run(
        [sys.executable, "-c", reader, str(tmp_path)],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "3"


def test_second_process_on_the_same_folder_gets_a_clear_message(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; from infra.clickhouse import open_chdb; s=open_chdb(sys.argv[1]);"
            "print('open', flush=True); time.sleep(30)",
            str(tmp_path),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from infra.clickhouse import open_chdb, StoreLockedError\n"
                "try: open_chdb(sys.argv[1])\nexcept StoreLockedError as e: print(e)",
                str(tmp_path),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.kill()
        holder.wait()
    assert "is in use by another process" in probe.stdout
    assert f"pid {holder.pid}" in probe.stdout


def test_store_errors_name_the_engine_reason(chdb_store: ClickHouseStore) -> None:
    from infra.clickhouse import StoreError

    with pytest.raises(StoreError, match=r"UNKNOWN_TABLE|does not exist"):
        chdb_store.query("SELECT * FROM no_such_table")
    assert StoreLockedError.__mro__[1] is StoreError
    _ = open_chdb  # same module API as used by the CLI
