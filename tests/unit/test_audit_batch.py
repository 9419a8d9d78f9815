"""The audit batch never stops on one bad record: conversion and insert failures are
dead-letter candidates, the rest of the batch is written (consumers/audit.py)."""

from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest

from consumers import audit
from consumers.audit import AuditBatch
from schemas.events import FundingRateObserved
from schemas.serde import DecodeError, Serializer, to_record
from tests import stubs


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


def test_a_value_that_cannot_be_converted_is_kept_raw_and_rejected_not_raised(
    monkeypatch: Any,
) -> None:
    # every value within the decoder's bounds fits its column, so a conversion failure past
    # them is a bug (a typed row that cannot be built): the sink keeps the record raw and
    # dead-letters it, and goes on
    ser = Serializer()
    plan = audit._plan(FundingRateObserved)
    built = plan.row

    def row(values: dict[str, Any]) -> Any:
        if values["event_id"] == stubs.eid("bad"):
            raise ArithmeticError("cannot hold")
        return built(values)  # type: ignore[misc]

    monkeypatch.setattr(plan, "row", row)
    good = ser.encode(stubs.funding_observed())
    bad = ser.encode(stubs.funding_observed(event_id=stubs.eid("bad")))
    batch = AuditBatch(ser, "p.")
    for offset, value in enumerate([good, bad, good]):
        batch.add(_record(offset, value))
    assert [r["event_type"] for r in batch.rows("events_raw")] == [
        "FundingRateObserved",
        "Undecodable",
        "FundingRateObserved",
    ]
    assert len(batch.tables["funding_observations"]) == 2
    ((record, error),) = batch.rejected.values()
    assert record.offset == 1 and error.error_type == "audit_convert"


def test_a_value_beyond_the_decoders_bounds_is_kept_raw_and_left_to_its_processor() -> None:
    # the validated decode refuses 1E+25 (|value| >= 1e15): the worker dead-letters it, the
    # audit keeps its bytes with the reason and sends no second dead letter
    from tests.hostile import _frame

    ser = Serializer()
    huge = _frame(
        "FundingRateObserved", {**to_record(stubs.funding_observed()), "funding_rate": "1E+25"}
    )
    with pytest.raises(DecodeError):
        ser.decode(huge)
    batch = AuditBatch(ser, "p.")
    batch.add(_record(0, huge))
    ((row,),) = [batch.rows("events_raw")]
    assert row["event_type"] == "Undecodable" and "funding_rate" in row["payload"]
    assert not batch.rejected and "funding_observations" not in batch.tables


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
