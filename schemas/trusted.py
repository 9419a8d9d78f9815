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

import operator
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

_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__

Check = Callable[[Any], Any]


class _Plan:
    """How to build one model: its fields in order with their default (or ``_REQUIRED``),
    whether ``None`` is allowed, and the checks of a given value; its ``after`` validators."""

    __slots__ = ("after", "fields", "names", "version")

    def __init__(
        self,
        fields: tuple[tuple[str, object, bool, tuple[Check, ...]], ...],
        after: tuple[Check, ...],
        version: int | None,
    ) -> None:
        self.fields = fields
        self.names = frozenset(name for name, *_ in fields)
        self.after = after
        self.version = version


_PLANS: dict[type[BaseModel], _Plan] = {}


def trusted(model: type[M], fields: dict[str, Any]) -> M:
    """``model(**fields)`` without pydantic's validation (see the module docstring for what is
    still checked and what the caller guarantees). ``fields`` is not modified.

    Raises ``ValueError`` where a kept check fails, a required field is missing or an unknown
    one is given; ``TypeError`` for a model that cannot be built this way.
    """
    plan = _PLANS.get(model)
    if plan is None:
        plan = _PLANS[model] = _plan(model)
    values: dict[str, Any] = {}
    given = 0
    for name, default, optional, checks in plan.fields:
        if name in fields:
            value = fields[name]
            given += 1
            if value is not None or not optional:
                for check in checks:
                    value = check(value)
            values[name] = value
        elif default is _REQUIRED:
            raise ValueError(f"{model.__name__}.{name}: field required")
        else:
            values[name] = default
    if given != len(fields):
        unknown = sorted(set(fields) - plan.names)
        raise ValueError(f"{model.__name__}: unknown fields {unknown} (extra fields are forbidden)")
    fields_set = set(fields)
    if plan.version is not None:
        # the envelope's validators: a missing version is the current one, another refused
        version = fields.get("schema_version", plan.version)
        if version != plan.version:
            raise ValueError(
                f"{model.__name__} schema_version {version} is not the current {plan.version}: "
                "old versions must be upcast first"
            )
        values["schema_version"] = version
        fields_set.add("schema_version")
    obj = _new(model)
    _set_dict(obj, values)
    _set_fields(obj, fields_set)
    _set_extra(obj, None)
    _set_private(obj, None)
    for validator in plan.after:
        validator(obj)
    return obj


def _plan(model: type[BaseModel]) -> _Plan:
    decorators = model.__pydantic_decorators__
    if decorators.field_validators or decorators.validators or decorators.root_validators:
        raise TypeError(f"{model.__name__} has field validators: build it validated")
    after: list[Check] = []
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
        return [] if item.func in _COPIED_SYNTAX else [item.func]  # type: ignore[list-item]
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
    if isinstance(item, at.Ge | at.Gt | at.Le | at.Lt):
        return [_bound(where, item)]
    raise TypeError(f"{where}: constraint {item!r} is not one trusted() checks: build it validated")


def _lengths(where: str, low: int | None, high: int | None) -> list[Check]:
    lo = 0 if low is None else low
    hi = high

    def length(value: Any) -> Any:
        n = len(value)
        if n < lo or (hi is not None and n > hi):
            raise ValueError(f"{where}: length {n} outside [{lo}, {hi}]")
        return value

    return [] if lo == 0 and hi is None else [length]


def _bound(where: str, item: at.Ge | at.Gt | at.Le | at.Lt) -> Check:
    op: Callable[[Any, Any], bool]
    limit: Any
    if isinstance(item, at.Ge):
        op, limit = operator.ge, item.ge
    elif isinstance(item, at.Gt):
        op, limit = operator.gt, item.gt
    elif isinstance(item, at.Le):
        op, limit = operator.le, item.le
    else:
        op, limit = operator.lt, item.lt

    def bound(value: Any) -> Any:
        if not op(value, limit):
            raise ValueError(f"{where}: {value} breaks {item}")
        return value

    return bound
