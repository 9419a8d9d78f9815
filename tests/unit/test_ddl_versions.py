"""The audit store's DDL files are applied once per version (the name up to the first ``_``):
two files with one version would leave the second unapplied, so the shipped folder has none
and ``apply_ddl`` refuses such a folder."""

from __future__ import annotations

from importlib import resources

from consumers.audit import ddl_version_clashes


def test_the_shipped_ddl_files_have_distinct_versions() -> None:
    names = [p.name for p in resources.files("infra").joinpath("sql").iterdir()]
    sql = [n for n in names if n.endswith(".sql")]
    assert len(sql) >= 5
    assert ddl_version_clashes(sql) == []


def test_a_shared_version_is_named() -> None:
    names = ["001_audit.sql", "004_a.sql", "004_b.sql", "005_c.sql"]
    assert ddl_version_clashes(names) == ["004_a.sql", "004_b.sql"]
