"""Avro schemas: derive a record schema from an event model, load the committed ``.avsc`` files.

The ``.avsc`` files under ``schemas/avro/<Type>.v<N>.avsc`` are the wire truth. They were
written by :func:`schema_for` from the models, and a test proves the models still mirror the
latest version of each; when a model changes, run ``python -m schemas.avro`` to write the
next version, then add an upcaster if the change is not a pure addition with defaults
(CONVENTIONS §7).

Type mapping (Avro 1.11 spec, https://avro.apache.org/docs/1.11.1/specification/):

=====================  ===========================================================
model                  Avro
=====================  ===========================================================
``Dec`` (Decimal)      ``string`` in plain notation, field attribute ``"decimal": true``
``int``                ``long`` (ms timestamps, offsets, counts)
``bool`` / ``bytes``   ``boolean`` / ``bytes``
``StrEnum``            ``enum`` (no default: an unknown symbol is a decode error)
``X | None``           ``["null", X]`` with default ``null``
``list[Model]``        ``array`` of a nested ``record``
=====================  ===========================================================
"""

from __future__ import annotations

import json
import types
import typing
from decimal import Decimal
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from schemas.events import EVENT_TYPES, Event

NAMESPACE = "fundarb.events"
AVRO_DIR = Path(__file__).resolve().parent / "avro"


def _is_decimal_field(info: FieldInfo, annotation: Any) -> bool:
    return annotation is Decimal


def _avro_type(annotation: Any, named: set[str]) -> tuple[Any, bool]:
    """(avro type, is_decimal) for a field annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _avro_type(typing.get_args(annotation)[0], named)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"only Optional unions are supported, got {annotation}")
        inner, is_dec = _avro_type(args[0], named)
        return ["null", inner], is_dec
    if origin is list:
        (item,) = typing.get_args(annotation)
        inner, _ = _avro_type(item, named)
        return {"type": "array", "items": inner}, False
    if annotation is Decimal:
        return "string", True
    if annotation is bool:
        return "boolean", False
    if annotation is int:
        return "long", False
    if annotation is str:
        return "string", False
    if annotation is bytes:
        return "bytes", False
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        if annotation.__name__ in named:
            return f"{NAMESPACE}.{annotation.__name__}", False
        named.add(annotation.__name__)
        return {
            "type": "enum",
            "name": annotation.__name__,
            "namespace": NAMESPACE,
            "symbols": [m.value for m in annotation],
        }, False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation.__name__ in named:
            return f"{NAMESPACE}.{annotation.__name__}", False
        named.add(annotation.__name__)
        return _record(annotation, named, doc=False), False
    raise TypeError(f"no Avro mapping for {annotation!r}")


def _default(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _record(model: type[BaseModel], named: set[str], doc: bool = True) -> dict[str, Any]:
    fields = []
    hints = typing.get_type_hints(model, include_extras=True)
    for name, info in model.model_fields.items():
        avro, is_dec = _avro_type(hints[name], named)
        field: dict[str, Any] = {"name": name, "type": avro}
        if is_dec:
            field["decimal"] = True
        if not info.is_required():
            default = info.get_default(call_default_factory=True)
            if default is None and isinstance(avro, list):
                field["default"] = None
            elif default is not None:
                field["default"] = _default(default)
        fields.append(field)
    record: dict[str, Any] = {"type": "record", "name": model.__name__, "namespace": NAMESPACE}
    if doc and model.__doc__:
        record["doc"] = " ".join(model.__doc__.split())
    record["fields"] = fields
    return record


def schema_for(event_type: type[Event]) -> dict[str, Any]:
    """The Avro record schema (as a dict) the model describes."""
    schema = _record(event_type, set())
    return schema


def avsc_path(type_name: str, version: int) -> Path:
    return AVRO_DIR / f"{type_name}.v{version}.avsc"


@cache
def load_avsc(type_name: str, version: int) -> dict[str, Any]:
    """A committed ``.avsc`` as a dict.

    Raises
    ------
    FileNotFoundError
        No such type/version is committed.
    """
    data: dict[str, Any] = json.loads(avsc_path(type_name, version).read_text(encoding="utf-8"))
    return data


def committed_versions(type_name: str) -> list[int]:
    """Versions of a type present as ``.avsc`` files, ascending."""
    found = sorted(
        int(p.name.rsplit(".v", 1)[1].removesuffix(".avsc"))
        for p in AVRO_DIR.glob(f"{type_name}.v*.avsc")
    )
    return found


def write_schemas() -> list[Path]:
    """Write each model's schema as its current version's ``.avsc`` if it is missing.

    An existing file for the current version is never overwritten: a changed model must bump
    ``SCHEMA_VERSION`` (the mirror test says so).
    """
    AVRO_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type in EVENT_TYPES:
        path = avsc_path(event_type.__name__, event_type.SCHEMA_VERSION)
        if not path.exists():
            path.write_text(json.dumps(schema_for(event_type), indent=2) + "\n", encoding="utf-8")
            written.append(path)
    return written


REGISTRY_FILE = AVRO_DIR / "registry.json"


def assign_ids() -> list[tuple[int, str, int]]:
    """Give every committed ``.avsc`` without one the next schema id in ``registry.json``.

    Ids are never reused or renumbered: they are on the wire in every recorded event.
    """
    entries: list[dict[str, Any]] = []
    if REGISTRY_FILE.exists():
        entries = json.loads(REGISTRY_FILE.read_text(encoding="utf-8"))["schemas"]
    known = {(e["type"], e["version"]) for e in entries}
    next_id = max((e["id"] for e in entries), default=0) + 1
    added = []
    for event_type in EVENT_TYPES:
        for version in committed_versions(event_type.__name__):
            if (event_type.__name__, version) not in known:
                entries.append({"id": next_id, "type": event_type.__name__, "version": version})
                added.append((next_id, event_type.__name__, version))
                next_id += 1
    REGISTRY_FILE.write_text(json.dumps({"schemas": entries}, indent=1) + "\n", encoding="utf-8")
    return added


if __name__ == "__main__":
    for p in write_schemas():
        print(f"wrote {p}")
    for schema_id, name, version in assign_ids():
        print(f"registered id {schema_id}: {name} v{version}")
