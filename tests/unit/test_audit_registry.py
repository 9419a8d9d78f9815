"""Every event type has a typed audit row, registered beside a table whose DDL exists in
infra/sql with exactly the columns the row fills (consumers/audit.py ``audit_rows``)."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from consumers.audit import AUDIT_ROWS, AUDIT_TABLES, WHERE
from schemas.events import EVENT_TYPES, Event


def _ddl_columns(table: str) -> dict[str, list[str]]:
    """Column names of ``table`` in each infra/sql file that creates it (parsed from the DDL)."""
    found = {}
    for f in resources.files("infra").joinpath("sql").iterdir():
        if not f.name.endswith(".sql"):
            continue
        sql = f.read_text(encoding="utf-8")
        m = re.search(rf"CREATE TABLE IF NOT EXISTS {table} \((.*?)\) ENGINE", sql, re.S)
        if m is None:
            continue
        items, depth, current = [], 0, ""
        for ch in m.group(1):  # split on the commas outside parentheses
            depth += (ch == "(") - (ch == ")")
            if ch == "," and depth == 0:
                items.append(current)
                current = ""
            else:
                current += ch
        items.append(current)
        found[f.name] = [item.split()[0] for item in items if item.strip()]
    return found


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_every_event_type_has_a_typed_row_and_a_table(event_type: type[Event]) -> None:
    assert event_type.__name__ in AUDIT_ROWS
    table, build = AUDIT_ROWS[event_type.__name__]
    assert callable(build)
    assert AUDIT_TABLES[table.name] is table


@pytest.mark.parametrize("name", sorted(AUDIT_TABLES))
def test_every_table_has_its_ddl_with_the_rows_columns(name: str) -> None:
    table = AUDIT_TABLES[name]
    ddl = _ddl_columns(name)
    assert list(ddl) == [table.ddl], f"{name} must be created once, in {table.ddl}"
    assert ddl[table.ddl] == [*WHERE, *table.columns]


def test_the_ddl_parser_reads_a_known_table() -> None:
    # the parser itself, on a table written out here from infra/sql/001_audit.sql
    assert _ddl_columns("alerts") == {
        "001_audit.sql": [
            "run",
            "topic",
            "partition",
            "offset",
            "event_id",
            "event_time",
            "rule",
            "severity",
            "message",
            "dedup_key",
        ]
    }
