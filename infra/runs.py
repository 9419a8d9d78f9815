"""Which runs the audit store holds, and the latest one (``fundarb sql --run latest``).

The audit tables carry each record's ``run`` (the topic prefix without its dot) but no time of
writing, so the CLI records a run in ``fundarb_runs`` when it has audited it. Works the same on
chDB and on a ClickHouse server.
"""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa

DDL = """CREATE TABLE IF NOT EXISTS fundarb_runs (
    run LowCardinality(String),
    audited_at DateTime64(3, 'UTC'),
    records UInt64
) ENGINE = MergeTree ORDER BY (audited_at, run)"""


def record_run(store: Any, run: str, records: int) -> None:
    """Note that ``run`` was audited now (``records`` consumed in that pass)."""
    store.execute(DDL)
    store.insert_arrow(
        "fundarb_runs",
        pa.table(
            {
                "run": [run.rstrip(".")],
                "audited_at": pa.array([int(time.time() * 1000)], pa.timestamp("ms", tz="UTC")),
                "records": pa.array([records], pa.uint64()),
            }
        ),
    )


def latest_run(store: Any) -> str | None:
    """The run audited last, or None when none was recorded."""
    store.execute(DDL)
    rows = store.query("SELECT run FROM fundarb_runs ORDER BY audited_at DESC LIMIT 1").rows
    return str(rows[0][0]) if rows else None
