"""Compatibility rules and upcasters, on synthetic version pairs."""

import copy
import io
from typing import Any

import fastavro
import pytest

from schemas import evolution
from schemas.avro import load_avsc

V1: dict[str, Any] = {
    "type": "record",
    "name": "Probe",
    "namespace": "t",
    "fields": [
        {"name": "a", "type": "string"},
        {"name": "side", "type": {"type": "enum", "name": "S", "symbols": ["buy", "sell"]}},
    ],
}


def _v2(**change: Any) -> dict[str, Any]:
    schema = copy.deepcopy(V1)
    schema["fields"].append(change["add"]) if "add" in change else None
    return schema


def test_adding_a_field_with_a_default_is_compatible_both_ways() -> None:
    v2 = _v2(add={"name": "b", "type": ["null", "string"], "default": None})
    assert evolution.compatibility_problems(V1, v2) == []


def test_adding_a_field_without_default_breaks_backward() -> None:
    v2 = _v2(add={"name": "b", "type": "string"})
    problems = evolution.compatibility_problems(V1, v2)
    assert any(p.startswith("backward: b") for p in problems)


def test_removing_a_required_field_breaks_forward() -> None:
    v2 = copy.deepcopy(V1)
    v2["fields"] = v2["fields"][1:]
    problems = evolution.compatibility_problems(V1, v2)
    assert any(p.startswith("forward: a") for p in problems)


def test_changing_a_type_breaks_both_and_promotion_does_not() -> None:
    v2 = copy.deepcopy(V1)
    v2["fields"][0]["type"] = "long"
    assert len(evolution.compatibility_problems(V1, v2)) == 2
    ints = {"type": "record", "name": "P", "fields": [{"name": "n", "type": "int"}]}
    longs = {"type": "record", "name": "P", "fields": [{"name": "n", "type": "long"}]}
    assert evolution.record_problems(longs, ints) == []  # int data read as long: fine


def test_adding_an_enum_symbol_breaks_forward() -> None:
    v2 = copy.deepcopy(V1)
    v2["fields"][1]["type"]["symbols"].append("short")
    problems = evolution.compatibility_problems(V1, v2)
    assert problems == ["forward: side: enum symbols ['short'] unknown to the reader"]


def test_checker_agrees_with_fastavro_resolution() -> None:
    v2 = _v2(add={"name": "b", "type": "string", "default": "x"})
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(V1), {"a": "1", "side": "buy"})
    buf.seek(0)
    got = fastavro.schemaless_reader(buf, fastavro.parse_schema(V1), fastavro.parse_schema(v2))
    assert got == {"a": "1", "side": "buy", "b": "x"}


def test_upcast_fills_defaults_and_applies_registered_upcasters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    v2 = _v2(add={"name": "b", "type": "string", "default": "x"})
    v3 = copy.deepcopy(v2)
    v3["fields"][0]["name"] = "alpha"  # a rename needs an upcaster
    schemas = {2: v2, 3: v3}
    monkeypatch.setitem(
        evolution.UPCASTERS,
        ("Probe", 2),
        lambda r: {**{k: v for k, v in r.items() if k != "a"}, "alpha": r["a"]},
    )
    out = evolution.upcast(
        "Probe", {"a": "1", "side": "buy", "schema_version": 1}, 1, 3, schemas.__getitem__
    )
    assert out == {"alpha": "1", "side": "buy", "b": "x", "schema_version": 3}


def test_upcast_without_upcaster_for_a_required_field_is_an_error() -> None:
    v2 = _v2(add={"name": "b", "type": "string"})
    with pytest.raises(ValueError, match="no default and no upcaster"):
        evolution.upcast("Probe", {"a": "1", "side": "buy"}, 1, 2, {2: v2}.__getitem__)


def test_real_schemas_load() -> None:
    assert load_avsc("FundingRateObserved", 1)["name"] == "FundingRateObserved"
