"""The worker's per-asset snapshot encoding: versioned, self-describing JSON, no pickle.

A snapshot is ``b"FSNAP"`` + JSON ``{"format", "version", "asset", "applied", "jump",
"state"}``. ``state`` is the asset's slice of :class:`projections.engine.EngineState`, written
by shape: a dataclass as ``{"$C": "module:Class", "f": {field: value}}``, a mapping as
``{"$M": [[key, value], ...]}`` (insertion order kept), ``{"$T": [...]}`` a tuple,
``{"$F": [...]}`` a frozenset, ``{"$D": "1.50"}`` a Decimal (exact), ``{"$E": "module:Enum",
"v": value}`` an enum. Only classes of the ``projections`` and ``schemas`` packages are
rebuilt (a snapshot never names code to import elsewhere).

Compatibility rules (:func:`decode_snapshot`):

* a field the code added since the snapshot was written takes its default;
* a field the snapshot has and the code no longer has, a field without a default that the
  snapshot lacks, a class that no longer exists, or a ``version`` newer than
  :data:`STATE_VERSION`: :class:`SnapshotVersionError` with a message naming the difference.
  Such a change bumps :data:`STATE_VERSION` with an upcaster in :data:`UPCASTERS` (JSON → JSON,
  one version step), or bumps the worker's Faust ``App(version=…)``
  (:data:`streams.worker.APP_VERSION`): a new version has a fresh changelog and consumer
  group, so the worker rebuilds its state by replaying its inputs;
* version 1 is the pickled ``Snapshot`` the worker wrote before this codec (our own changelog
  topic): read once, re-written in this format at the next flush.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import pickle
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from projections.board import RateHistory
from projections.positions import AppliedIds
from schemas.strategy_specs import FUNDING_ARB_ID

MAGIC = b"FSNAP"
FORMAT = "fundarb.snapshot"
#: 1: pickled ``streams.worker.Snapshot`` (before this codec); 2: this JSON encoding;
#: 3: strategies as plug-ins (``EngineState.strategies`` by strategy id, classes moved)
STATE_VERSION = 3
#: version → function turning a version-``n`` document into a version-``n + 1`` one
UPCASTERS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

#: classes that moved when the funding arbitrage became a plug-in (version 2 → 3)
_FUNDING_ARB = "projections.strategies.funding_arb.strategy"
MOVED_IN_V3 = {
    "projections.strategy:StrategyState": f"{_FUNDING_ARB}:StrategyState",
    "projections.strategy:ArbPlan": f"{_FUNDING_ARB}:ArbPlan",
    "projections.strategy:Breakers": "projections.strategies.base:Breakers",
}


def _renamed(x: Any, moved: Mapping[str, str]) -> Any:
    if isinstance(x, list):
        return [_renamed(v, moved) for v in x]
    if not isinstance(x, dict):
        return x
    out = {k: _renamed(v, moved) for k, v in x.items()}
    if isinstance(out.get("$C"), str):
        out["$C"] = moved.get(out["$C"], out["$C"])
    return out


def _v2_to_v3(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 2 held one ``EngineState.strategy`` (the funding arbitrage's state, in
    ``projections.strategy``); version 3 holds ``strategies`` by strategy id."""
    doc = _renamed(doc, MOVED_IN_V3)
    fields = doc["state"]["f"]
    if "strategy" in fields:
        fields["strategies"] = {"$M": [[FUNDING_ARB_ID, fields.pop("strategy")]]}
    return doc


UPCASTERS[2] = _v2_to_v3
ALLOWED_PACKAGES = ("projections.", "schemas.")


class SnapshotVersionError(ValueError):
    """A snapshot this code cannot read as it stands (the message says why and what to do)."""


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _enc(x: Any) -> Any:
    t = type(x)
    if t is str or t is int or t is bool or x is None:
        return x
    if t is Decimal:
        return {"$D": str(x)}
    if t is tuple:
        return {"$T": [_enc(v) for v in x]}
    if t is dict:
        return {"$M": [[_enc(k), _enc(v)] for k, v in x.items()]}
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {"$C": _name(t), "f": {n: _enc(getattr(x, n)) for n in _fields(t)}}
    if isinstance(x, enum.Enum):
        return {"$E": _name(t), "v": x.value}
    if isinstance(x, bool | int | str):
        return x
    if isinstance(x, Mapping):
        return {"$M": [[_enc(k), _enc(v)] for k, v in x.items()]}
    if isinstance(x, tuple):
        return {"$T": [_enc(v) for v in x]}
    if isinstance(x, list):
        return [_enc(v) for v in x]
    if isinstance(x, frozenset | set):
        tag = "$F" if isinstance(x, frozenset) else "$S"
        if all(type(v) is str for v in x):
            return {tag: sorted(x)}  # the usual case (applied ids): no per-item encoding
        return {tag: sorted((_enc(v) for v in x), key=lambda v: json.dumps(v, sort_keys=True))}
    if isinstance(x, AppliedIds):  # the book's persistent id set: written as the set it is
        return {"$F": sorted(x)}
    if isinstance(x, RateHistory):  # a feed's shared rate window: written as the tuple it is
        return {"$T": [_enc(v) for v in x]}
    raise TypeError(f"snapshot state holds a {t.__name__}, which the codec cannot write")


def _cls(name: str) -> Any:
    module, _, qual = name.partition(":")
    if not module.startswith(ALLOWED_PACKAGES):
        raise SnapshotVersionError(f"snapshot names {name}, outside the state's packages")
    try:
        obj: Any = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise SnapshotVersionError(
            f"snapshot names {name}, which this code no longer has"
        ) from None
    return obj


def _dec(x: Any) -> Any:
    if isinstance(x, list):
        return [_dec(v) for v in x]
    if not isinstance(x, dict):
        return x
    if "$D" in x:
        return Decimal(x["$D"])
    if "$T" in x:
        return tuple(_dec(v) for v in x["$T"])
    if "$F" in x:
        return frozenset(_dec(v) for v in x["$F"])
    if "$S" in x:
        return {_dec(v) for v in x["$S"]}
    if "$M" in x:
        return {_dec(k): _dec(v) for k, v in x["$M"]}
    if "$E" in x:
        return _cls(x["$E"])(x["v"])
    if "$C" in x:
        cls = _cls(x["$C"])
        # a class, not an instance: is_dataclass alone would narrow to either
        if not isinstance(cls, type) or not dataclasses.is_dataclass(cls):
            raise SnapshotVersionError(f"{x['$C']} is no longer a dataclass")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = x["f"]
        gone = sorted(set(values) - set(fields))
        if gone:
            raise SnapshotVersionError(
                f"{x['$C']} has no field {', '.join(gone)} any more: the snapshot's state "
                f"layout is older than this code's (add an upcaster and bump STATE_VERSION, or "
                f"bump the worker's App version to rebuild by replay)"
            )
        missing = [
            n
            for n, f in fields.items()
            if n not in values
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise SnapshotVersionError(
                f"{x['$C']} needs field {', '.join(missing)}, which the snapshot lacks "
                f"(add an upcaster and bump STATE_VERSION)"
            )
        return cls(**{k: _dec(v) for k, v in values.items()})
    raise SnapshotVersionError(f"unknown shape in snapshot: {sorted(x)[:3]}")


def _json(x: Any) -> str:
    """``x`` (an :func:`_enc` tree) as the snapshot's JSON text."""
    return json.dumps(x, separators=(",", ":"))


def _document(asset: str, applied: Mapping[str, int], jump: int | None, state: str) -> bytes:
    """The snapshot around ``state`` (its JSON text): ``json.dumps`` of the whole document."""
    head = _json({"format": FORMAT, "version": STATE_VERSION, "asset": asset})
    rest = _json({"applied": dict(applied), "jump": jump})
    return MAGIC + (head[:-1] + "," + rest[1:-1] + ',"state":' + state + "}").encode()


def encode_snapshot(asset: str, state: Any, applied: Mapping[str, int], jump: int | None) -> bytes:
    """One asset's snapshot (``state``: its :class:`~projections.engine.EngineState` slice;
    ``applied``: ``"topic/partition" → offset``; ``jump``: the pending clock-jump candidate).
    Raises ``TypeError`` for a value the codec cannot write. A worker writing snapshots
    again and again uses a :class:`SnapshotEncoder` (same bytes, cached)."""
    return _document(asset, applied, jump, _json(_enc(state)))


_str = json.encoder.encode_basestring_ascii  # what json.dumps writes for a str (ensure_ascii)
_Entry = tuple[Any, str]


class SnapshotEncoder:
    """:func:`encode_snapshot`, byte for byte, with the text of unchanged immutable parts kept.

    Why (issue 18): the worker encodes each dirty asset's snapshot at every flush and to
    check the size limit, and most of a snapshot does not change between two encodings: the
    settled-rate windows (``RateHistory``, most of a board's bytes), their points, settlement
    times, closed arbs. Each encoding walked and wrote all of it again (~1–2 ms per asset on
    the bundled data).

    What is kept: the JSON text of a value whose whole subtree is immutable, by identity
    (``id``, with the value itself held so the id cannot be reused): tuples, frozen
    dataclasses, frozensets and the book's ``AppliedIds`` of immutable values, and
    ``RateHistory`` windows (immutable views of an append-only list). Dicts, lists, sets and
    dataclasses that are not frozen (the fold's slots classes are read-only by convention
    only) are walked at every encoding, as are the values that contain them. Values of any
    other shape go through :func:`_enc` (the same text). Memory is bounded: two generations
    of at most ``limit`` entries each; the older one is dropped when the newer fills.
    """

    def __init__(self, limit: int = 1 << 15) -> None:
        self.limit = limit
        self._new: dict[int, _Entry] = {}
        self._old: dict[int, _Entry] = {}
        self._mutable = False  # set while writing a value: something in it is mutable
        self._classes: dict[type, Any] = {}

    def encode(self, asset: str, state: Any, applied: Mapping[str, int], jump: int | None) -> bytes:
        """:func:`encode_snapshot`'s bytes. Raises ``TypeError`` as it does."""
        self._mutable = False
        return _document(asset, applied, jump, self._write(state))

    # -- the cache --
    def _get(self, x: Any) -> str | None:
        key = id(x)
        entry = self._new.get(key)
        if entry is None:
            entry = self._old.get(key)
            if entry is None or entry[0] is not x:
                return None
            self._put(x, entry[1])  # still in use: keep it in the newer generation
        elif entry[0] is not x:
            return None
        return entry[1]

    def _put(self, x: Any, text: str) -> None:
        if len(self._new) >= self.limit:
            self._old, self._new = self._new, {}
        self._new[id(x)] = (x, text)

    # -- writing --
    def _write(self, x: Any) -> str:
        t = type(x)
        if t is str:
            return _str(x)
        if t is int:
            return int.__repr__(x)
        if x is None:
            return "null"
        if t is bool:
            return "true" if x else "false"
        if t is Decimal:
            return '{"$D":' + _str(str(x)) + "}"
        if t is tuple:
            return self._immutable(x, self._tuple)
        if t is dict:
            self._mutable = True
            return self._mapping(x)
        kind = self._classes.get(t)
        if kind is None:
            kind = self._classes[t] = self._kind(t)
        return kind(x)  # type: ignore[no-any-return]

    def _kind(self, t: type) -> Any:
        """How to write a value of type ``t`` (decided once per type, in ``_enc``'s order)."""
        if dataclasses.is_dataclass(t):
            names = _fields(t)
            head = '{"$C":' + _str(_name(t)) + ',"f":{'
            keys = [_str(n) + ":" for n in names]

            def fields(x: Any) -> str:
                return (
                    head
                    + ",".join(
                        [k + self._write(getattr(x, n)) for k, n in zip(keys, names, strict=True)]
                    )
                    + "}}"
                )

            if t.__dataclass_params__.frozen:  # type: ignore[attr-defined]  # every dataclass has it
                return lambda x: self._immutable(x, fields)

            def unfrozen(x: Any) -> str:
                self._mutable = True
                return fields(x)

            return unfrozen
        if issubclass(t, enum.Enum):
            return self._fallback_immutable
        if issubclass(t, RateHistory):
            return lambda x: self._immutable(x, self._tuple)
        if issubclass(t, AppliedIds):
            return lambda x: self._immutable(x, self._ids)
        if issubclass(t, frozenset):
            return lambda x: self._immutable(x, self._ids)
        return self._fallback

    def _immutable(self, x: Any, write: Any) -> str:
        """``write(x)``, kept for ``x`` when nothing under it is mutable."""
        text = self._get(x)
        if text is not None:
            return text
        outer, self._mutable = self._mutable, False
        text = write(x)
        if self._mutable:
            self._mutable = True
        else:
            self._put(x, text)
            self._mutable = outer
        return text  # type: ignore[no-any-return]

    def _tuple(self, x: Any) -> str:
        return '{"$T":[' + ",".join([self._write(v) for v in x]) + "]}"

    def _mapping(self, x: Any) -> str:
        w = self._write
        return '{"$M":[' + ",".join(["[" + w(k) + "," + w(v) + "]" for k, v in x.items()]) + "]}"

    def _ids(self, x: Any) -> str:
        """A set of ids (``AppliedIds``, a frozenset of str) as ``_enc`` writes it; any other
        frozenset through ``_enc`` (its order is that of the encoded values)."""
        items = sorted(x) if all(type(v) is str for v in x) else None
        if items is None:
            return self._fallback(x)
        return '{"$F":[' + ",".join([_str(v) for v in items]) + "]}"

    def _fallback(self, x: Any) -> str:
        self._mutable = True  # not known to be immutable: never kept
        return _json(_enc(x))

    def _fallback_immutable(self, x: Any) -> str:
        return _json(_enc(x))


def decode_snapshot(blob: bytes) -> tuple[str, Any, dict[str, int], int | None]:
    """``(asset, state, applied, jump)`` from a snapshot of any readable version.

    Raises :class:`SnapshotVersionError` for an unknown format, a version newer than this
    code's, or a state layout it cannot map (see the module docstring)."""
    if blob[:1] == b"\x80":  # version 1: a pickled streams.worker.Snapshot (our own topic)
        snap = pickle.loads(blob)  # noqa: S301
        return snap.asset, snap.state, dict(snap.applied), getattr(snap, "jump", None)
    if not blob.startswith(MAGIC):
        raise SnapshotVersionError(f"not a fundarb snapshot (starts {blob[:8]!r})")
    doc = json.loads(blob[len(MAGIC) :])
    version = doc.get("version")
    if doc.get("format") != FORMAT or not isinstance(version, int):
        raise SnapshotVersionError("not a fundarb snapshot (no format/version)")
    if version > STATE_VERSION:
        raise SnapshotVersionError(
            f"snapshot of state version {version} is newer than this worker's "
            f"{STATE_VERSION}: run the newer worker, or bump the App version to rebuild by replay"
        )
    while version < STATE_VERSION:
        up = UPCASTERS.get(version)
        if up is None:
            raise SnapshotVersionError(
                f"no upcaster from snapshot state version {version} to {version + 1}"
            )
        doc, version = up(doc), version + 1
    return doc["asset"], _dec(doc["state"]), dict(doc["applied"]), doc["jump"]
