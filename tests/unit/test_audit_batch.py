"""The audit batch never stops on one bad record: conversion and insert failures are
dead-letter candidates, the rest of the batch is written (consumers/audit.py)."""

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pyarrow as pa

from consumers.audit import AuditBatch
from schemas.events import FundingRateObserved
from schemas.serde import Serializer
from tests import stubs


class _PassThrough:
    """A serializer that hands back prepared events by their bytes (to bypass validation)."""

    def __init__(self, events: dict[bytes, Any]) -> None:
        self.events = events

    def decode(self, value: bytes) -> Any:
        return self.events[value]


class _Store:
    """Refuses any Arrow batch holding a marked fill id; answers queries (it is up)."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.inserts = 0

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        self.inserts += 1
        if "fill_id" in data.column_names and "bad" in data.column("fill_id").to_pylist():
            raise RuntimeError("Code: 69. value out of range")
        self.rows[table] = self.rows.get(table, 0) + data.num_rows

    def query(self, sql: str) -> None:
        return None


def _record(offset: int, value: Any) -> SimpleNamespace:
    return SimpleNamespace(
        topic="p.md.funding", partition=0, offset=offset, key=b"BTC", value=value, timestamp=1
    )


def test_a_value_that_cannot_be_converted_is_kept_raw_and_rejected_not_raised() -> None:
    huge = FundingRateObserved.model_construct(
        **{**stubs.funding_observed().__dict__, "funding_rate": Decimal("1E+25")}
    )
    ser = _PassThrough({b"a": stubs.funding_observed(), b"huge": huge})
    batch = AuditBatch(ser, "p.")  # type: ignore[arg-type]
    for offset, value in enumerate([b"a", b"huge", b"a"]):
        batch.add(_record(offset, value))
    assert [r["event_type"] for r in batch.tables["events_raw"]] == [
        "FundingRateObserved",
        "Undecodable",
        "FundingRateObserved",
    ]
    assert len(batch.tables["funding_observations"]) == 2
    ((record, error),) = batch.rejected.values()
    assert record.offset == 1 and error.error_type == "audit_convert"


def test_a_row_the_store_refuses_is_rejected_alone_and_the_rest_inserted() -> None:
    ser = Serializer()
    batch = AuditBatch(ser, "p.")
    fills = [stubs.fill_executed(fill_id=f"f{i}") for i in range(15)] + [
        stubs.fill_executed(fill_id="bad")
    ]
    for i, fill in enumerate(fills):
        batch.add(_record(i, ser.encode(fill)))
    store = _Store()
    assert batch.write(store) == 16  # type: ignore[arg-type]
    assert store.rows == {"events_raw": 16, "fills": 15}
    ((record, error),) = batch.rejected.values()
    assert record.offset == 15 and error.error_type == "audit_insert"
    assert store.inserts < 16  # bisected, not row by row
