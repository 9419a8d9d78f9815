"""Events built without pydantic's validation, from values fundarb already holds (issue 18).

``trusted(model, fields)`` returns what ``model(**fields)`` returns — the same type, ``==``,
the same Decimal digits and exponents, field order, fields set and Avro bytes — at a third of
the cost, for the events the engine, the strategies, the executor and the paper venue derive
from validated inputs and their own arithmetic (building a validated event was ~12 % of the
fold, and its settlement events ~9 % of the paper venue's share: ``docs/performance.md``).

What it still checks, each with the model's own code (read from the model once per type):

* every Decimal field through its own validator: :func:`~schemas.types.canonical_decimal`
  (plain notation, at most 40 places, finite, ``|x| < 10^15``) and the field's ``> 0``,
  ``≥ 0`` or ``|rate| ≤ 1`` rule — computed amounts are exactly what can break those;
* every ms timestamp's range (``Millis``: an input's time plus a latency can leave it);
* every length bound (ids ≤ 128, client order ids ≤ 64, codes ≤ 32, text ≤ 2000, 1–4 legs)
  and numeric bound (``revision``/``step``/``leg`` ≥ 0, an interval ≤ 168 h);
* the model's own ``after`` validators (cross-field rules: a crossed book, a market type that
  does not match its symbol, a limit order without a price, a spot short without margin);
* ``schema_version`` is the type's current one, set as the envelope's ``before`` validator
  sets it (so the fields set are those of the validated event).

What it does not check, so the caller must guarantee it (the reason it is *trusted*):

* types: Decimals are ``Decimal`` (or ``int``/``str``, which the Decimal validators convert),
  times and counters ``int``, flags ``bool``, enum fields enum members, nested models
  instances (validated or built here), no float anywhere;
* syntax of copied identifiers: ``venue`` (:func:`~schemas.types.check_venue`), ``instrument``
  and symbols (:func:`~schemas.types.check_symbol`, :func:`~schemas.types.check_instrument`)
  and the event id's UUID pattern — callers copy these from validated events (or take an
  asset code with :func:`~schemas.types.base_asset` of a validated symbol) and build ids with
  :meth:`schemas.envelope.IdNamespace.id`, whose output is a canonical lowercase UUID.

A missing required field or an unknown one raises ``ValueError`` as the validated constructor
would (with ``extra="forbid"``); a failed check raises the ``ValueError`` of the model's own
validator (``pydantic.ValidationError`` is a ``ValueError`` too, so callers that caught the
validation error still catch it). A model whose own ``before`` validators rewrite their input
(``EventRejected``) or which uses a constraint not listed above cannot be built here
(``TypeError`` on first use): it must go through its validated constructor.

Proved equal to the validated constructor on generated events and on every output of a run:
``tests/unit/test_trusted_outputs.py``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import annotated_types as at
from pydantic import AfterValidator, BaseModel, BeforeValidator, PlainSerializer, Strict
from pydantic.types import StringConstraints

from schemas.types import check_instrument, check_symbol, check_venue

M = TypeVar("M", bound=BaseModel)

#: Syntax checks of identifiers the callers copy from validated events (module docstring).
_COPIED_SYNTAX = frozenset({check_venue, check_symbol, check_instrument})
#: The envelope's own validators, satisfied by construction (``schema_version`` set here).
_ENVELOPE_VALIDATORS = frozenset({"_current_version", "_version_is_current"})
_REQUIRED = object()

#: What ``model_construct`` does to an instance, as names a generated builder's code uses: a
#: bare instance and its four slots set through their descriptors (``set_dict(obj, values)``,
#: ``set_fields(obj, names)``, ``set_extra(obj, None)``, ``set_private(obj, None)``). The one
#: place that knows pydantic's slots; :func:`assemble`, the builders here and
#: ``schemas.serde``'s trusted decoders use it.
SLOT_SETTERS: dict[str, Callable[..., Any]] = {
    "new": object.__new__,
    "set_dict": BaseModel.__dict__["__dict__"].__set__,
    "set_fields": BaseModel.__dict__["__pydantic_fields_set__"].__set__,
    "set_extra": BaseModel.__dict__["__pydantic_extra__"].__set__,
    "set_private": BaseModel.__dict__["__pydantic_private__"].__set__,
}
_new = SLOT_SETTERS["new"]
_set_dict = SLOT_SETTERS["set_dict"]
_set_fields = SLOT_SETTERS["set_fields"]
_set_extra = SLOT_SETTERS["set_extra"]
_set_private = SLOT_SETTERS["set_private"]


def assemble(model: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """``model.model_construct(**values)`` for ``values`` naming every field of ``model`` in
    its declaration order, with no defaults to fill, no extras and no private attributes: the
    same ``__dict__`` (``values`` itself, same order), fields set, extra and private slots,
    without pydantic's per-field lookups. Nothing is checked."""
    obj = _new(model)
    _set_dict(obj, values)
    _set_fields(obj, fields_set)
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj  # type: ignore[no-any-return]  # object.__new__(model) is a ``model``


class Check(typing.NamedTuple):
    """One kept check of a field: ``func`` alone is a validator of the model's (``v =
    func(v)``); with ``test`` (an expression of ``{v}``), ``func`` raises when it is false."""

    func: Callable[[Any], Any]
    test: str | None = None


class _Plan:
    """How to build one model: its fields in order with their default (or ``_REQUIRED``),
    whether ``None`` is allowed, and the checks of a given value; its ``after`` validators."""

    __slots__ = ("after", "fields", "version")

    def __init__(
        self,
        fields: tuple[tuple[str, object, bool, tuple[Check, ...]], ...],
        after: tuple[Callable[[Any], Any], ...],
        version: int | None,
    ) -> None:
        self.fields = fields
        self.after = after
        self.version = version


_BUILDERS: dict[type[BaseModel], Callable[[dict[str, Any]], Any]] = {}


def trusted(model: type[M], fields: dict[str, Any]) -> M:
    """``model(**fields)`` without pydantic's validation (see the module docstring for what is
    still checked and what the caller guarantees). ``fields`` is not modified.

    Raises ``ValueError`` where a kept check fails, a required field is missing or an unknown
    one is given; ``TypeError`` for a model that cannot be built this way.
    """
    build = _BUILDERS.get(model)
    if build is None:
        build = _BUILDERS[model] = _compile(model, _plan(model))
    return build(fields)  # type: ignore[no-any-return]  # the builder makes a ``model``


def make(model: type[M], /, **fields: Any) -> M:
    """``make(Model, **kw)`` is ``trusted(Model, kw)``: the drop-in for a constructor call
    ``Model(**kw)`` (same caller guarantees, same checks)."""
    return trusted(model, fields)


def _compile(model: type[BaseModel], plan: _Plan) -> Callable[[dict[str, Any]], Any]:
    """The builder of ``model``, generated once as straight-line code (one statement per field
    and check, the slots set through their descriptors), as ``schemas.serde`` builds its
    trusted decoders: a loop over fields and checks cost as much as the checks themselves."""
    env: dict[str, Any] = {
        "model": model,
        **SLOT_SETTERS,
        "failed": _failed,
        "VERSION": plan.version,
    }
    required = sum(1 for _, default, _, _ in plan.fields if default is _REQUIRED)
    lines = ["def build(f):", "    try:"]
    for i, (name, default, _, _) in enumerate(plan.fields):
        if default is _REQUIRED:
            lines.append(f"        v{i} = f[{name!r}]")
    lines += ["    except KeyError:", "        failed(model, f)", f"    n = {required}"]
    for i, (name, default, optional, checks) in enumerate(plan.fields):
        indent = "    "
        if default is not _REQUIRED:
            env[f"d{i}"] = default
            lines += [f"    if {name!r} in f:", f"        v{i} = f[{name!r}]", "        n += 1"]
            indent = "        "
        if name == "schema_version" and plan.version is not None:
            # the envelope's validators: a missing version is the current one, another refused
            lines.append(f"{indent}if v{i} != VERSION: failed(model, f)")
            lines += ["    else:", f"        v{i} = VERSION"]
            continue
        if checks:
            body = indent
            if optional:
                lines.append(f"{indent}if v{i} is not None:")
                body = indent + "    "
            for j, check in enumerate(checks):
                env[f"c{i}_{j}"] = check.func
                if check.test is None:
                    lines.append(f"{body}v{i} = c{i}_{j}(v{i})")
                else:
                    test = check.test.format(v=f"v{i}")
                    lines.append(f"{body}if not ({test}): c{i}_{j}(v{i})")
        if default is not _REQUIRED:
            lines += ["    else:", f"        v{i} = d{i}"]
    lines += ["    if n != len(f):", "        failed(model, f)"]
    values = ", ".join(f"{name!r}: v{i}" for i, (name, *_) in enumerate(plan.fields))
    lines += [
        "    obj = new(model)",
        f"    set_dict(obj, {{{values}}})",
        "    fs = set(f)",
    ]
    if plan.version is not None:
        lines.append("    fs.add('schema_version')")
    lines += ["    set_fields(obj, fs)", "    set_extra(obj, None)", "    set_private(obj, None)"]
    for k, validator in enumerate(plan.after):
        env[f"a{k}"] = validator
        lines.append(f"    a{k}(obj)")
    lines.append("    return obj")
    exec("\n".join(lines), env)  # noqa: S102  # generated from the model's own field names
    return env["build"]  # type: ignore[no-any-return]  # exec'd code: its type is the builder's


def _failed(model: type[BaseModel], fields: dict[str, Any]) -> None:
    """Raise the ``ValueError`` for a missing required field, an unknown field or an old
    ``schema_version`` (the builder's rare path: it names what is wrong)."""
    names = set(model.model_fields)
    missing = [n for n, f in model.model_fields.items() if f.is_required() and n not in fields]
    if missing:
        raise ValueError(f"{model.__name__}: field(s) required: {missing}")
    unknown = sorted(set(fields) - names)
    if unknown:
        raise ValueError(f"{model.__name__}: unknown fields {unknown} (extra fields are forbidden)")
    version = fields.get("schema_version")
    raise ValueError(
        f"{model.__name__} schema_version {version} is not the current "
        f"{getattr(model, 'SCHEMA_VERSION', None)}: old versions must be upcast first"
    )


def _plan(model: type[BaseModel]) -> _Plan:
    decorators = model.__pydantic_decorators__
    if decorators.field_validators or decorators.validators or decorators.root_validators:
        raise TypeError(f"{model.__name__} has field validators: build it validated")
    after: list[Callable[[Any], Any]] = []
    for name, d in decorators.model_validators.items():
        if name in _ENVELOPE_VALIDATORS:
            continue
        if d.info.mode != "after":
            raise TypeError(
                f"{model.__name__}.{name} is a {d.info.mode} validator that may rewrite its "
                "input: build it validated"
            )
        after.append(d.func)
    fields = []
    for name, info in model.model_fields.items():
        optional, metadata = _unwrap(info.annotation, list(info.metadata))
        checks = tuple(c for m in metadata for c in _checks(model, name, m))
        if info.default_factory is not None:
            raise TypeError(f"{model.__name__}.{name} has a default factory: build it validated")
        default = _REQUIRED if info.is_required() else info.default
        fields.append((name, default, optional, checks))
    version = None
    if "schema_version" in model.model_fields:
        version = getattr(model, "SCHEMA_VERSION", None)
        if not isinstance(version, int):
            raise TypeError(f"{model.__name__} has a schema_version but no SCHEMA_VERSION")
    return _Plan(tuple(fields), tuple(after), version)


def _unwrap(annotation: Any, metadata: list[Any]) -> tuple[bool, list[Any]]:
    """(whether ``None`` is allowed, every metadata item) of a field's annotation: pydantic
    keeps the outer ``Annotated``'s items in the field's metadata, but an ``Optional[Annotated
    [...]]`` keeps them in the annotation."""
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) != 1:
            raise TypeError(f"union {annotation}: build it validated")
        annotation = args[0]
    if typing.get_origin(annotation) is typing.Annotated:
        metadata = [*metadata, *annotation.__metadata__]
    return optional, metadata


def _checks(model: type[BaseModel], name: str, item: Any) -> list[Check]:
    where = f"{model.__name__}.{name}"
    if isinstance(item, BeforeValidator | AfterValidator):
        # the Decimal fields' canonical form and bounds, the ms range: the model's own code
        return [] if item.func in _COPIED_SYNTAX else [Check(item.func)]  # type: ignore[arg-type]
    if isinstance(item, Strict | PlainSerializer):
        return []  # a type rule (the caller's) and serialisation, not a value check
    if isinstance(item, StringConstraints):
        extra = (item.strip_whitespace, item.to_upper, item.to_lower, item.strict, item.ascii_only)
        if any(x is not None for x in extra):
            raise TypeError(f"{where}: string constraint {item} rewrites or retypes its input")
        # ``pattern`` is the event id's UUID syntax (module docstring): not re-checked
        return _lengths(where, item.min_length, item.max_length)
    if isinstance(item, at.MinLen):
        return _lengths(where, item.min_length, None)
    if isinstance(item, at.MaxLen):
        return _lengths(where, None, item.max_length)
    for kind, op in ((at.Ge, ">="), (at.Gt, ">"), (at.Le, "<="), (at.Lt, "<")):
        if isinstance(item, kind):
            limit = getattr(item, kind.__name__.lower())
            return [Check(_refuse(where, f"{op} {limit}"), f"{{v}} {op} {limit!r}")]
    raise TypeError(f"{where}: constraint {item!r} is not one trusted() checks: build it validated")


def _lengths(where: str, low: int | None, high: int | None) -> list[Check]:
    lo = 0 if low is None else low
    if lo == 0 and high is None:
        return []
    test = f"{lo} <= len({{v}})" if high is None else f"{lo} <= len({{v}}) <= {high}"
    return [Check(_refuse(where, f"a length within [{lo}, {high}]", length=True), test)]


def _refuse(where: str, rule: str, *, length: bool = False) -> Callable[[Any], Any]:
    """The raiser of a failed bound or length check (the builder's rare path)."""

    def refuse(value: Any) -> Any:
        shown = f"length {len(value)}" if length else repr(value)
        raise ValueError(f"{where}: {shown} is refused (must be {rule})")

    return refuse
