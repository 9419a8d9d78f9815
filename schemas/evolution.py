"""Schema evolution: compatibility checks between versions and upcasters for version bumps.

Rules (Avro schema resolution, https://avro.apache.org/docs/1.11.1/specification/#schema-resolution;
CONVENTIONS §7):

* **backward** (the new reader reads old data): every field the new schema adds has a default;
  no field changes type (except Avro's promotions int→long→float→double, string↔bytes);
  an enum keeps every symbol old data may hold.
* **forward** (an old reader skips new fields in new data): every field the new schema drops
  had a default in the old one; enums add no symbols (an old reader could not read them).

A change that is not a pure addition with defaults bumps ``SCHEMA_VERSION`` *and* registers an
upcaster ``(type, from_version) -> fn(record) -> record`` that rewrites an old record to the
next version's shape; decode applies the chain once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.strategy_specs import FUNDING_ARB_ID

Record = dict[str, Any]
Upcaster = Callable[[Record], Record]

#: (event type name, from_version) -> function turning a v(n) record into a v(n+1) record.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}

_PROMOTIONS = {
    ("int", "long"),
    ("int", "float"),
    ("int", "double"),
    ("long", "float"),
    ("long", "double"),
    ("float", "double"),
    ("string", "bytes"),
    ("bytes", "string"),
}


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Decorator registering an upcaster from ``from_version`` to ``from_version + 1``."""

    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(type_name, from_version)] = fn
        return fn

    return register


def _fields(schema: Record) -> dict[str, Record]:
    return {f["name"]: f for f in schema.get("fields", [])}


def _type_name(t: Any) -> str:
    if isinstance(t, str):
        return t
    if isinstance(t, list):
        return "union"
    return str(t.get("type"))


def _compatible_type(
    path: str, reader: Any, writer: Any, problems: list[str], named: dict[str, Any]
) -> None:
    """Can data written as ``writer`` be read as ``reader``? Appends problems found."""
    if isinstance(reader, str) and reader in named:
        reader = named[reader]
    if isinstance(writer, str) and writer in named:
        writer = named[writer]
    if isinstance(reader, dict) and reader.get("type") in ("record", "enum"):
        named.setdefault(f"{reader.get('namespace', '')}.{reader['name']}".lstrip("."), reader)
    if isinstance(writer, dict) and writer.get("type") in ("record", "enum"):
        named.setdefault(f"{writer.get('namespace', '')}.{writer['name']}".lstrip("."), writer)
    if isinstance(writer, list):
        # every branch the writer can produce must be readable
        for branch in writer:
            if isinstance(reader, list):
                if not any(_branch_ok(r, branch, named) for r in reader):
                    problems.append(f"{path}: union branch {_type_name(branch)} unreadable")
            else:
                _compatible_type(path, reader, branch, problems, named)
        return
    if isinstance(reader, list):
        if not any(_branch_ok(r, writer, named) for r in reader):
            problems.append(f"{path}: {_type_name(writer)} not in reader union")
        return
    rt, wt = _type_name(reader), _type_name(writer)
    if rt != wt:
        if (wt, rt) not in _PROMOTIONS:
            problems.append(f"{path}: type changed {wt} -> {rt}")
        return
    if rt == "record":
        problems.extend(record_problems(reader, writer, path, named))
    elif rt == "enum":
        missing = set(writer["symbols"]) - set(reader["symbols"])
        if missing and "default" not in reader:
            problems.append(f"{path}: enum symbols {sorted(missing)} unknown to the reader")
    elif rt == "array":
        _compatible_type(f"{path}[]", reader["items"], writer["items"], problems, named)
    elif rt == "map":
        _compatible_type(f"{path}{{}}", reader["values"], writer["values"], problems, named)


def _branch_ok(reader: Any, writer: Any, named: dict[str, Any]) -> bool:
    probe: list[str] = []
    _compatible_type("", reader, writer, probe, dict(named))
    return not probe


def record_problems(
    reader: Record, writer: Record, path: str = "", named: dict[str, Any] | None = None
) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader`` (empty = it can)."""
    named = {} if named is None else named
    problems: list[str] = []
    r_fields, w_fields = _fields(reader), _fields(writer)
    for name, field in r_fields.items():
        where = f"{path}.{name}" if path else name
        if name in w_fields:
            _compatible_type(where, field["type"], w_fields[name]["type"], problems, named)
        elif "default" not in field:
            problems.append(f"{where}: reader field missing from writer and has no default")
    return problems


def compatibility_problems(old: Record, new: Record) -> list[str]:
    """Problems in both directions between two versions of a schema (empty = full compat)."""
    backward = [f"backward: {p}" for p in record_problems(new, old)]
    forward = [f"forward: {p}" for p in record_problems(old, new)]
    return backward + forward


def upcast(
    type_name: str,
    record: Record,
    from_version: int,
    to_version: int,
    schemas: Callable[[int], Record],
) -> Record:
    """Bring an old record to ``to_version``.

    Each step uses the registered upcaster, or, for a pure addition, fills the next
    version's field defaults (what Avro resolution would do).

    Raises
    ------
    ValueError
        A step has no upcaster and the next version adds a field without a default.
    """
    for version in range(from_version, to_version):
        step = UPCASTERS.get((type_name, version))
        if step is not None:
            record = step(dict(record))
        else:
            nxt = schemas(version + 1)
            filled = dict(record)
            for field in nxt["fields"]:
                if field["name"] not in filled:
                    if "default" not in field:
                        raise ValueError(
                            f"{type_name} v{version}->v{version + 1}: field {field['name']} has "
                            "no default and no upcaster is registered"
                        )
                    filled[field["name"]] = field["default"]
            keep = {f["name"] for f in nxt["fields"]}
            record = {k: v for k, v in filled.items() if k in keep}
        record["schema_version"] = version + 1
    return record


# ---- registered upcasters ------------------------------------------------------------------
#: every v1 intent was the funding arbitrage's (the only strategy before plug-ins)
V1_STRATEGY_ID = FUNDING_ARB_ID


def _with_strategy_id(record: Record) -> Record:
    """``record`` with ``strategy_id`` placed before ``arb_id``, as in the v2 schema (a record
    in schema order decodes to the same model, field order included, on every path)."""
    out: Record = {}
    for key, value in record.items():
        if key == "arb_id":
            out["strategy_id"] = V1_STRATEGY_ID
        out[key] = value
    return out


@upcaster("TargetPositionSet", 1)
def _target_v1_to_v2(record: Record) -> Record:
    """v2 added ``strategy_id`` (required) and made ``expected_apr`` nullable."""
    return _with_strategy_id(record)


@upcaster("ExitRequested", 1)
def _exit_v1_to_v2(record: Record) -> Record:
    """v2 added ``strategy_id`` (required)."""
    return _with_strategy_id(record)
