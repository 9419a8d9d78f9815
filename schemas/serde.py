"""Serializer: Avro schemaless encoding behind the Confluent wire header.

Wire format (Confluent, https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format):

====== ========= ==========================================
bytes  field     meaning
====== ========= ==========================================
0      magic     always ``0``
1-4    schema id big-endian uint32, from the schema registry
5-     payload   Avro binary (fastavro ``schemaless_writer``)
====== ========= ==========================================

The schema id names the event type and version, so one topic may carry several types
(``orders.commands``: PlaceOrder and CancelOrder). The default registry is the committed file
``schemas/avro/registry.json``; :class:`infra.schema_registry.ConfluentSchemaRegistry` speaks
to a Confluent-compatible server instead.

Every decode failure raises :class:`DecodeError` with an ``error_type`` and a reason, so the
dead-letter path can record it.

Two decodes, one per side of the edge (CONVENTIONS: validate at the edges, trust inside):

* :meth:`Serializer.decode` validates every invariant (pydantic). Use it wherever bytes may
  come from outside: the topics connectors and replays write (``md.*``, ``acct.*``) as read
  by the worker, and any consumer of a topic a foreign producer can reach.
* :meth:`Serializer.decode_trusted` builds the same event without re-validation, for topics
  only fundarb's own code writes from events that were validated when they were built (the
  engine's outputs, a backtest's own replay under its fresh prefix). It still refuses bad
  framing, unknown schema ids and payloads that do not match their schema.
"""

from __future__ import annotations

import io
import json
import struct
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import fastavro
from pydantic import BaseModel, ValidationError

from schemas.avro import REGISTRY_FILE, load_avsc
from schemas.events import EVENTS_BY_NAME, Event
from schemas.evolution import upcast
from schemas.trusted import SLOT_SETTERS

MAGIC = 0
HEADER = struct.Struct(">bI")


class DecodeError(ValueError):
    """A record could not be decoded or validated.

    Attributes
    ----------
    error_type
        ``empty``, ``truncated``, ``bad_magic``, ``unknown_schema_id``, ``avro`` (payload does
        not match its schema), ``trailing_bytes``, ``upcast`` or ``invalid`` (an invariant).
    reason
        Human-readable detail (for ``invalid``: pydantic's field-by-field message).
    """

    def __init__(self, error_type: str, reason: str) -> None:
        super().__init__(f"{error_type}: {reason}")
        self.error_type = error_type
        self.reason = reason


class EncodeError(ValueError):
    """An event could not be encoded (e.g. no schema id for its type and version)."""


@dataclass(frozen=True)
class SchemaEntry:
    schema_id: int
    type_name: str
    version: int
    schema: dict[str, Any]


class SchemaRegistry(Protocol):
    """Maps (event type, version) to a schema id and back."""

    def id_for(self, type_name: str, version: int) -> int: ...

    def entry(self, schema_id: int) -> SchemaEntry: ...


class FileSchemaRegistry:
    """The committed registry: ``schemas/avro/registry.json`` + ``<Type>.v<N>.avsc`` files."""

    def __init__(self, path: Path = REGISTRY_FILE) -> None:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))["schemas"]
        self._by_id: dict[int, tuple[str, int]] = {e["id"]: (e["type"], e["version"]) for e in raw}
        self._by_type = {v: k for k, v in self._by_id.items()}

    def id_for(self, type_name: str, version: int) -> int:
        try:
            return self._by_type[(type_name, version)]
        except KeyError:
            raise EncodeError(
                f"no schema id for {type_name} v{version}: run `python -m schemas.avro`"
            ) from None

    def entry(self, schema_id: int) -> SchemaEntry:
        try:
            type_name, version = self._by_id[schema_id]
        except KeyError:
            raise DecodeError(
                "unknown_schema_id", f"schema id {schema_id} is not registered"
            ) from None
        return SchemaEntry(schema_id, type_name, version, load_avsc(type_name, version))


def plain_decimal(value: Decimal) -> str:
    """``format(value, "f")``: the decimal in plain notation, as every Decimal is written.

    ``str`` is 2-3x faster and gives the same text whenever it has no exponent: Python's
    ``str`` writes a finite Decimal without one exactly when its exponent is ≤ 0 and its
    adjusted exponent ≥ -6 (the General Decimal Arithmetic "to-scientific-string" rule), and
    then both write the coefficient's digits with -exponent places. Otherwise (``1E+3``,
    ``1E-7``) ``format`` writes it (``tests/property/test_serde_plain_decimal.py``)."""
    text = str(value)
    return format(value, "f") if "E" in text else text


def to_record(value: Any) -> Any:
    """An event (or nested model) as the plain dict fastavro writes: Decimal -> plain string."""
    kind = type(value)
    if kind is Decimal:
        return plain_decimal(value)
    if isinstance(value, BaseModel):
        return {k: to_record(v) for k, v in value.__dict__.items()}
    if isinstance(value, Enum):
        return value.value
    if kind is list:
        return [to_record(v) for v in value]
    return value


def _record_converter(model: type[BaseModel]) -> Callable[[BaseModel], dict[str, Any]]:
    """``to_record(event)`` for one model, faster: a copy of the event's ``__dict__`` in which
    only the fields that may need converting are touched, generated once per model as
    straight-line code (a Decimal written by :func:`plain_decimal` directly, anything else
    but None through :func:`to_record`): a loop over the field names and ``to_record``'s type
    tests cost half as much as fastavro's own writing in the replay's encoders (issue 18)."""
    env: dict[str, Any] = {"Decimal": Decimal, "plain": plain_decimal, "to_record": to_record}
    lines = ["def run(event):", "    r = dict(event.__dict__)"]
    for name, info in model.model_fields.items():
        ann = str(info.annotation)
        if info.annotation in (str, int, bool, bytes) or ann in (
            "str | None",
            "bytes | None",
            "int | None",
        ):
            continue
        lines += [
            f"    v = r[{name!r}]",
            f"    if v.__class__ is Decimal: r[{name!r}] = plain(v)",
            f"    elif v is not None: r[{name!r}] = to_record(v)",
        ]
    lines.append("    return r")
    exec("\n".join(lines), env)  # noqa: S102  # generated from the model's own field names
    return env["run"]  # type: ignore[no-any-return]  # exec'd code: its type is the converter's


def _trusted_kind(annotation: Any) -> tuple[Callable[[Any], Any] | None, bool]:
    """(conversion of a field's Avro value into the model's value, or None when it already
    is the model's value: str, int, bool, bytes; whether the field is optional)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _trusted_kind(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _trusted_kind(inner)[0], True
    if origin is list:
        (item,) = typing.get_args(annotation)
        conv = _trusted_kind(item)[0]
        if conv is None:
            return list, False
        return (lambda vs: [conv(v) for v in vs]), False
    if annotation is Decimal:
        return Decimal, False
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return annotation._value2member_map_.__getitem__, False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _trusted_builder(annotation), False
    return None, False


def rewrites_its_input(model: type[BaseModel]) -> bool:
    """Whether a model has a ``before`` validator of its own that changes the values it is
    given (``EventRejected`` cuts raw bytes and fills in their digest): building such a model
    without validation would not give the validated event, so the trusted decode validates
    it (dead letters are rare). The envelope's ``_current_version`` only adds a missing
    ``schema_version``, which an Avro record always has."""
    validators = model.__pydantic_decorators__.model_validators
    return any(
        d.info.mode in ("before", "wrap") and name != "_current_version"
        for name, d in validators.items()
    )


def _trusted_builder(model: type[BaseModel]) -> Callable[[dict[str, Any]], Any]:
    """A function building ``model`` from its Avro record the way ``model_construct`` does
    (the record as ``__dict__``, every field set, no extra, no private), converting only the
    fields whose Avro value differs from the model's (decimal strings, enum symbols, nested
    records). The record is converted in place and becomes the event's ``__dict__``.

    Equal to ``model.model_validate(record)`` for every record fundarb itself wrote (its
    decimals are canonical: ``to_record`` writes ``format(d, "f")`` of a canonical Decimal,
    and ``Decimal`` of that string has the same digits and exponent);
    ``tests/unit/test_trusted_decode.py`` proves it on every fixture and stub.

    The body is generated once per model as straight-line code (one statement per converted
    field, the slots set through their descriptors): a loop over converters and a closure
    per optional field cost as much as the Avro decoding they follow. The fields-set object
    is shared by every event the builder makes (pydantic copies it before any update, and
    frozen events are never updated in place).
    """
    hints = typing.get_type_hints(model, include_extras=True)
    names = tuple(model.model_fields)
    env: dict[str, Any] = {
        **SLOT_SETTERS,
        "model": model,
        "fields_set": set(names),
    }
    lines = ["def build(r):"]
    for i, name in enumerate(names):
        conv, optional = _trusted_kind(hints[name])
        if conv is None:
            continue
        env[f"c{i}"] = conv
        if optional:
            lines += [f"    v = r[{name!r}]", f"    if v is not None: r[{name!r}] = c{i}(v)"]
        else:
            lines.append(f"    r[{name!r}] = c{i}(r[{name!r}])")
    lines += [
        "    obj = new(model)",
        "    set_dict(obj, r)",
        "    set_fields(obj, fields_set)",
        "    set_extra(obj, None)",
        "    set_private(obj, None)",
        "    return obj",
    ]
    exec("\n".join(lines), env)  # noqa: S102  # generated from the model's own field names
    return env["build"]  # type: ignore[no-any-return]  # exec'd code: its type is the builder's


@dataclass(frozen=True)
class _Writer:
    schema_id: int
    header: bytes
    parsed: Any
    to_record: Any


@dataclass(frozen=True)
class _Reader:
    model: type[Event]
    version: int
    parsed: Any
    type_name: str
    build: Callable[[dict[str, Any]], Any] | None  # None: validate (see rewrites_its_input)
    fields: frozenset[str]


class Serializer:
    """Encode events to Confluent-framed Avro and decode them back into typed events.

    Parameters
    ----------
    registry
        Where schema ids come from; the committed file registry by default.
    """

    def __init__(self, registry: SchemaRegistry | None = None) -> None:
        self.registry = registry if registry is not None else FileSchemaRegistry()
        self._writers: dict[type[Event], _Writer] = {}
        self._readers: dict[int, _Reader] = {}

    def _writer(self, event_type: type[Event]) -> _Writer:
        writer = self._writers.get(event_type)
        if writer is None:
            version = event_type.SCHEMA_VERSION
            schema_id = self.registry.id_for(event_type.__name__, version)
            parsed = fastavro.parse_schema(load_avsc(event_type.__name__, version))
            writer = _Writer(
                schema_id, HEADER.pack(MAGIC, schema_id), parsed, _record_converter(event_type)
            )
            self._writers[event_type] = writer
        return writer

    def schema_id(self, event_type: type[Event]) -> int:
        """The schema id this serializer writes for ``event_type``."""
        return self._writer(event_type).schema_id

    def encode(self, event: Event) -> bytes:
        """Confluent-framed Avro bytes of ``event`` (deterministic: same event, same bytes)."""
        writer = self._writer(type(event))
        buf = io.BytesIO()
        buf.write(writer.header)
        fastavro.schemaless_writer(buf, writer.parsed, writer.to_record(event))
        return buf.getvalue()

    def _reader(self, schema_id: int) -> _Reader:
        reader = self._readers.get(schema_id)
        if reader is None:
            entry = self.registry.entry(schema_id)
            model = EVENTS_BY_NAME.get(entry.type_name)
            if model is None:
                raise DecodeError(
                    "unknown_schema_id",
                    f"schema id {schema_id} is {entry.type_name}, not an event type",
                )
            reader = _Reader(
                model,
                entry.version,
                fastavro.parse_schema(entry.schema),
                entry.type_name,
                None if rewrites_its_input(model) else _trusted_builder(model),
                frozenset(model.model_fields),
            )
            self._readers[schema_id] = reader
        return reader

    def decode_record(self, data: bytes) -> tuple[type[Event], dict[str, Any]]:
        """Unframe and Avro-decode without validating (type, record upcast to current)."""
        reader, record = self._read(data)
        return reader.model, record

    def _read(self, data: bytes) -> tuple[_Reader, dict[str, Any]]:
        if not data:
            raise DecodeError("empty", "record value is empty")
        if len(data) < HEADER.size:
            raise DecodeError("truncated", f"{len(data)} bytes is shorter than the 5-byte header")
        magic, schema_id = HEADER.unpack_from(data)
        if magic != MAGIC:
            raise DecodeError(
                "bad_magic", f"magic byte {magic} is not 0 (not Confluent-framed Avro)"
            )
        reader = self._reader(schema_id)
        buf = io.BytesIO(data)
        buf.seek(HEADER.size)
        try:
            # no reader schema argument: passing None takes fastavro's slower resolution path
            record = fastavro.schemaless_reader(buf, reader.parsed)
        except EOFError:
            raise DecodeError(
                "truncated", f"payload ends early for {reader.type_name} v{reader.version}"
            ) from None
        except Exception as exc:
            raise DecodeError(
                "avro", f"{reader.type_name} v{reader.version}: {type(exc).__name__}: {exc}"
            ) from None
        if buf.tell() != len(data):
            raise DecodeError(
                "trailing_bytes",
                f"{len(data) - buf.tell()} bytes after the {reader.type_name} record",
            )
        if not isinstance(record, dict):
            raise DecodeError("avro", "payload is not a record")
        current = reader.model.SCHEMA_VERSION
        if reader.version != current:
            try:
                record = upcast(
                    reader.type_name,
                    record,
                    reader.version,
                    current,
                    lambda v: load_avsc(reader.type_name, v),
                )
            except Exception as exc:
                raise DecodeError(
                    "upcast", f"{reader.type_name} v{reader.version}->v{current}: {exc}"
                ) from None
        return reader, record

    def decode_trusted(self, data: bytes) -> Event:
        """Decode Confluent-framed Avro into its event type **without re-validating** it.

        For internal topics only (see the module docstring): fundarb's own events were
        validated when they were built, and their bytes decode to an event equal to what
        :meth:`decode` gives (``==`` and the same bytes when encoded again). Bytes from
        outside (connectors' and replays' topics read by the worker, anything a foreign
        producer can write) go through :meth:`decode`.

        Raises
        ------
        DecodeError
            Empty, truncated, not framed, unknown schema id, not matching its schema,
            trailing bytes, a failed upcast, or a value that is not even convertible
            (``invalid``: a decimal string that is not a number).
        """
        reader, record = self._read(data)
        model = reader.model
        if reader.build is None or (
            reader.version != model.SCHEMA_VERSION and record.keys() != reader.fields
        ):  # a model that rewrites its input, or an upcast record of another shape
            return self.validate_record(model, record)
        try:
            return reader.build(record)  # type: ignore[no-any-return]  # the reader builds `model`
        except Exception as exc:
            raise DecodeError(
                "invalid", f"{model.__name__}: {type(exc).__name__}: {exc}"[:200]
            ) from None

    def decode(self, data: bytes) -> Event:
        """Decode and validate Confluent-framed Avro into its event type.

        Raises
        ------
        DecodeError
            Empty, truncated, not framed, unknown schema id, not matching its schema,
            trailing bytes, or an invariant violated (``error_type='invalid'``).
        """
        model, record = self.decode_record(data)
        return self.validate_record(model, record)

    @staticmethod
    def validate_record(model: type[Event], record: dict[str, Any]) -> Event:
        """Validate a decoded record (:meth:`decode_record`) into its event.

        Raises
        ------
        DecodeError
            ``invalid``: an invariant is violated (pydantic's field-by-field message).
        """
        try:
            return model.model_validate(record)
        except ValidationError as exc:
            raise DecodeError("invalid", f"{model.__name__}: {_short(exc)}") from None


def _short(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{loc}: {err['msg']}")
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(parts) + more
