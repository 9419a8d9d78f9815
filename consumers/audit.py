"""The audit sink: every event of a run's topics into ClickHouse (DESIGN §8, CONVENTIONS §9).

One raw table with every record (``events_raw``: coordinates, key, type, envelope, payload as
JSON) and typed tables per event family, all ``ReplacingMergeTree`` ordered by
(run, topic, partition, offset) where ``run`` is the topic prefix, so a redelivered
batch replaces itself and runs never collide. The loop batches rows (at most ``max_rows``
or, live, ``max_ms`` of wall time, whichever first), writes them through the store
(Arrow inserts), and only then commits the consumer offsets: a crash between write and commit
redelivers, and the dedup key absorbs it.

DDL lives in ``infra/sql/NNN_*.sql`` and is applied once per version (``schema_migrations``).
Rows are built straight from the Avro records, without pydantic events, per topic partition
(:class:`AuditBatch`); decimals are converted once, within the decoder's bounds (a value beyond
them is a record the validated decode refuses, handled as one that does not decode).
Records that do not decode, or whose values cannot be converted to their columns, are kept in
``events_raw`` as ``Undecodable`` with the reason and the bytes (base64). A record that does not
decode is dead-lettered by the consumer that processes its topic (the worker, the paper venue,
the risk agent), not again here, so each bad input has exactly one dead letter; what only the
audit fails at (a decoded value its column cannot hold, a row the store refuses) is
dead-lettered here, alone, while the rest of its batch is inserted. One bad record never stops
the sink (a store that is down still does: its offsets stay uncommitted and a restart
redelivers).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import time
import types
import typing
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Context, Decimal
from enum import Enum
from importlib import resources
from typing import Any

import pyarrow as pa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from infra.clickhouse import ClickHouseStore, open_store
from infra.settings import Settings
from schemas import events as ev
from schemas.catalog import DEADLETTER, TOPICS
from schemas.serde import DecodeError, Serializer, rewrites_its_input, to_record
from schemas.types import (
    MAX_ABS_FUNDING_RATE,
    MAX_DECIMAL_CHARS,
    MAX_MAGNITUDE,
    MAX_MS,
    MAX_TEXT_CHARS,
    MIN_MS,
    Dec,
    FundingRate,
    Millis,
    MillisOrZero,
    NonNegativeDec,
    PositiveDec,
    canonical_decimal,
    check_ms,
)

log = logging.getLogger(__name__)

DEC = pa.decimal128(38, 18)
TS = pa.timestamp("ms", tz="UTC")
Q18 = Decimal("1e-18")


# ---- DDL -----------------------------------------------------------------------------------
def apply_ddl(store: ClickHouseStore) -> list[str]:
    """Apply the versioned DDL files not yet applied; returns the versions applied now.

    A file's version is its name up to the first ``_`` (``004_….sql`` → ``004``). Raises
    ``ValueError`` when two files share a version: the second would be skipped silently as
    "already applied" (two branches each adding their own ``004``)."""
    store.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version String, applied_at DateTime64(3, 'UTC') "
        "DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = {r[0] for r in store.query("SELECT version FROM schema_migrations FINAL").rows}
    applied = []
    files = sorted(
        (p for p in resources.files("infra").joinpath("sql").iterdir() if p.name.endswith(".sql")),
        key=lambda p: p.name,
    )
    clash = ddl_version_clashes([f.name for f in files])
    if clash:
        raise ValueError(f"DDL files share a version: {', '.join(clash)} (renumber one)")
    for f in files:
        version = f.name.split("_", 1)[0]
        if version in done:
            continue
        for statement in _statements(f.read_text(encoding="utf-8")):
            store.execute(statement)
        store.insert_arrow("schema_migrations", pa.table({"version": [version]}))
        applied.append(version)
    return applied


def ddl_version_clashes(names: list[str]) -> list[str]:
    """The DDL file names whose version (name up to the first ``_``) another file has too."""
    by_version: dict[str, list[str]] = {}
    for name in names:
        by_version.setdefault(name.split("_", 1)[0], []).append(name)
    return sorted(n for group in by_version.values() if len(group) > 1 for n in group)


def _statements(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


# ---- rows ----------------------------------------------------------------------------------
_CH = Context(prec=38)  # Decimal(38, 18): 20 integer digits, 18 decimals


def _dec(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Q18, context=_CH)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "model_dump"):
        return {k: _plain(v) for k, v in value.__dict__.items()}
    return value


def payload_json(event: ev.Event) -> str:
    """The event as JSON (decimals as strings, bytes base64), keys sorted.

    The sink writes the same text from the Avro record (:func:`record_payload`): an Avro
    record already holds decimals as their wire strings, enums as their symbols and nested
    records as dicts."""
    return json.dumps({k: _plain(v) for k, v in event.__dict__.items()}, sort_keys=True)


Row = dict[str, Any]

# The columns of each table, in order. A row is a tuple in this order; a table's rows become
# Arrow columns only when the batch is written (one transposition per table and batch).
WHERE = ("run", "topic", "partition", "offset")
RAW_COLUMNS = (
    *WHERE,
    "key",
    "event_type",
    "event_id",
    "event_time",
    "ingest_time",
    "venue",
    "instrument",
    "correlation_id",
    "causation_id",
    "payload",
)
_MARKET = ("event_id", "event_time", "venue", "instrument")
Rec = dict[str, Any]
#: an event type's typed row, from its Avro record (decimals already converted by its plan)
RowBuilder = Callable[[Rec], tuple[Any, ...]]


@dataclass(frozen=True)
class AuditTable:
    """A typed audit table: its ``columns`` after (run, topic, partition, offset), in the order
    of its ``CREATE TABLE`` in ``infra/sql/<ddl>`` (tests/unit/test_audit_registry.py checks
    the two agree, and that every event type has a row builder)."""

    name: str
    ddl: str
    columns: tuple[str, ...]


#: table name → table; event type name → (table, row builder). Filled by :func:`audit_rows`.
AUDIT_TABLES: dict[str, AuditTable] = {}
AUDIT_ROWS: dict[str, tuple[AuditTable, RowBuilder]] = {}


def audit_rows(
    table: AuditTable, *event_types: type[ev.Event]
) -> Callable[[Callable[[str, Rec], tuple[Any, ...]]], Callable[[str, Rec], tuple[Any, ...]]]:
    """Register ``build(event_type_name, record) -> row`` as the typed row of ``event_types``
    in ``table`` (one event type has one typed table)."""

    def register(
        build: Callable[[str, Rec], tuple[Any, ...]],
    ) -> Callable[[str, Rec], tuple[Any, ...]]:
        AUDIT_TABLES[table.name] = table
        for t in event_types:
            name = t.__name__
            if name in AUDIT_ROWS:
                raise ValueError(f"{name} already has an audit row ({AUDIT_ROWS[name][0].name})")
            AUDIT_ROWS[name] = (table, functools.partial(build, name))
        return build

    return register


def _market(r: Rec) -> tuple[Any, ...]:
    return (r["event_id"], r["event_time"], r["venue"], r["instrument"])


FUNDING_OBSERVATIONS = AuditTable(
    "funding_observations",
    "001_audit.sql",
    (
        *_MARKET,
        "funding_rate",
        "funding_interval_h",
        "funding_time",
        "next_funding_time",
        "predicted_rate",
        "mark_price",
        "settled",
    ),
)


@audit_rows(FUNDING_OBSERVATIONS, ev.FundingRateObserved)
def _funding_row(_: str, r: Rec) -> tuple[Any, ...]:
    return (
        *_market(r),
        r["funding_rate"],
        r["funding_interval_h"],
        r["funding_time"],
        r["next_funding_time"],
        r["predicted_rate"],
        r["mark_price"],
        r["settled"],
    )


TICKERS = AuditTable(
    "tickers", "001_audit.sql", (*_MARKET, "bid", "ask", "mark_price", "quote_volume_24h")
)


@audit_rows(TICKERS, ev.TickerObserved)
def _ticker_row(_: str, r: Rec) -> tuple[Any, ...]:
    return (*_market(r), r["bid"], r["ask"], r["mark_price"], r["quote_volume_24h"])


FILLS = AuditTable(
    "fills",
    "001_audit.sql",
    (
        *_MARKET,
        "correlation_id",
        "causation_id",
        "fill_id",
        "order_id",
        "client_order_id",
        "side",
        "qty",
        "price",
        "fee",
        "fee_currency",
        "liquidity",
        "is_hedge",
    ),
)


@audit_rows(FILLS, ev.FillExecuted)
def _fill_row(_: str, r: Rec) -> tuple[Any, ...]:
    return (
        *_market(r),
        r["correlation_id"],
        r["causation_id"],
        r["fill_id"],
        r["order_id"],
        r["client_order_id"],
        r["side"],
        r["qty"],
        r["price"],
        r["fee"],
        r["fee_currency"],
        r["liquidity"],
        r["is_hedge"],
    )


FUNDING_PAYMENTS = AuditTable(
    "funding_payments",
    "001_audit.sql",
    (
        *_MARKET,
        "correlation_id",
        "funding_time",
        "position_qty",
        "funding_rate",
        "mark_price",
        "amount",
        "amount_currency",
    ),
)


@audit_rows(FUNDING_PAYMENTS, ev.FundingPaid)
def _payment_row(_: str, r: Rec) -> tuple[Any, ...]:
    return (
        *_market(r),
        r["correlation_id"],
        r["funding_time"],
        r["position_qty"],
        r["funding_rate"],
        r["mark_price"],
        r["amount"],
        r["amount_currency"],
    )


ORDERS = AuditTable(
    "orders",
    "001_audit.sql",
    (
        "event_type",
        "event_id",
        "event_time",
        "venue",
        "instrument",
        "correlation_id",
        "causation_id",
        "client_order_id",
        "side",
        "qty",
        "limit_price",
        "time_in_force",
        "is_hedge",
        "reason",
        "filled_qty",
    ),
)


@audit_rows(
    ORDERS,
    ev.PlaceOrder,
    ev.CancelOrder,
    ev.OrderAccepted,
    ev.OrderRejected,
    ev.OrderCanceled,
    ev.OrderExpired,
)
def _order_row(name: str, r: Rec) -> tuple[Any, ...]:
    place = name == "PlaceOrder"
    return (
        name,
        r["event_id"],
        r["event_time"],
        r["venue"],
        r["instrument"],
        r["correlation_id"],
        r["causation_id"],
        r["client_order_id"],
        r["side"] if place else None,
        r["qty"] if place else None,
        r["limit_price"] if place else None,
        r["time_in_force"] if place else None,
        r["is_hedge"] if place else None,
        r.get("reject_reason") or r.get("detail") or None,
        r.get("filled_qty"),
    )


INTENTS = AuditTable(
    "intents",
    "001_audit.sql",
    (
        "event_type",
        "event_id",
        "event_time",
        "instrument",
        "correlation_id",
        "causation_id",
        "arb_id",
        "revision",
        "target_notional_usd",
        "expected_apr",
        "exit_reason",
        "legs",
    ),
)


@audit_rows(INTENTS, ev.TargetPositionSet, ev.ExitRequested)
def _intent_row(name: str, r: Rec) -> tuple[Any, ...]:
    target = name == "TargetPositionSet"
    return (
        name,
        r["event_id"],
        r["event_time"],
        r["instrument"],
        r["correlation_id"],
        r["causation_id"],
        r["arb_id"],
        r["revision"],
        r["target_notional_usd"] if target else None,
        r["expected_apr"] if target else None,
        None if target else r["exit_reason"],
        json.dumps(r["legs"]) if target else "[]",
    )


BREAKERS = AuditTable(
    "breakers",
    "001_audit.sql",
    ("event_type", "event_id", "event_time", "instrument", "breaker", "action", "detail"),
)


@audit_rows(BREAKERS, ev.BreakerTripped, ev.BreakerReset)
def _breaker_row(name: str, r: Rec) -> tuple[Any, ...]:
    return (
        name,
        r["event_id"],
        r["event_time"],
        r["instrument"],
        r["breaker"],
        r["action"] if name == "BreakerTripped" else None,
        r["detail"],
    )


ALERTS = AuditTable(
    "alerts",
    "001_audit.sql",
    ("event_id", "event_time", "rule", "severity", "message", "dedup_key"),
)


@audit_rows(ALERTS, ev.AlertRaised)
def _alert_row(_: str, r: Rec) -> tuple[Any, ...]:
    return (r["event_id"], r["event_time"], r["rule"], r["severity"], r["message"], r["dedup_key"])


POSITIONS = AuditTable(
    "positions",
    "001_audit.sql",
    (
        *_MARKET,
        "correlation_id",
        "qty",
        "realised_pnl_usd",
        "fees_usd",
        "funding_usd",
        "net_delta_usd",
    ),
)


@audit_rows(POSITIONS, ev.PositionChanged)
def _position_row(_: str, r: Rec) -> tuple[Any, ...]:
    return (
        *_market(r),
        r["correlation_id"],
        r["qty"],
        r["realised_pnl_usd"],
        r["fees_usd"],
        r["funding_usd"],
        r["net_delta_usd"],
    )


BALANCES = AuditTable(
    "balances",
    "004_audit_balances_spreads_dead_letters.sql",
    (
        *_MARKET,
        "correlation_id",
        "currency",
        "total",
        "free",
        "used",
        "equity_usd",
        "margin_ratio",
        "position_qty",
        "liquidation_price",
    ),
)


@audit_rows(BALANCES, ev.BalanceObserved)
def _balance_row(_: str, r: Rec) -> tuple[Any, ...]:
    return (
        *_market(r),
        r["correlation_id"],
        r["currency"],
        r["total"],
        r["free"],
        r["used"],
        r["equity_usd"],
        r["margin_ratio"],
        r["position_qty"],
        r["liquidation_price"],
    )


SPREADS = AuditTable(
    "spreads",
    "004_audit_balances_spreads_dead_letters.sql",
    (
        "event_id",
        "event_time",
        "instrument",
        "causation_id",
        "long_venue",
        "long_instrument",
        "short_venue",
        "short_instrument",
        "spread_apr",
        "net_edge_apr",
        "break_even_h",
        "blocked_reason",
    ),
)


@audit_rows(SPREADS, ev.SpreadUpdated)
def _spread_row(_: str, r: Rec) -> tuple[Any, ...]:
    return (
        r["event_id"],
        r["event_time"],
        r["instrument"],
        r["causation_id"],
        r["long_venue"],
        r["long_instrument"],
        r["short_venue"],
        r["short_instrument"],
        r["spread_apr"],
        r["net_edge_apr"],
        r["break_even_h"],
        r["blocked_reason"],
    )


DEAD_LETTERS = AuditTable(
    "dead_letters",
    "004_audit_balances_spreads_dead_letters.sql",
    (
        *_MARKET,
        "causation_id",
        "source_topic",
        "source_partition",
        "source_offset",
        "error_type",
        "reason",
        "raw_size",
        "raw_sha256",
    ),
)


@audit_rows(DEAD_LETTERS, ev.EventRejected)
def _dead_letter_row(_: str, r: Rec) -> tuple[Any, ...]:
    return (
        *_market(r),
        r["causation_id"],
        r["source_topic"],
        r["source_partition"],
        r["source_offset"],
        r["error_type"],
        r["reason"],
        r["raw_size"],
        r["raw_sha256"],
    )


#: the columns of each typed table, in order (a row is a tuple in this order)
TYPED_COLUMNS: dict[str, tuple[str, ...]] = {t.name: t.columns for t in AUDIT_TABLES.values()}


class _Refused(ValueError):
    """A value outside the decoder's bounds (the record is kept raw, not dead-lettered)."""


_BOUND = MAX_MAGNITUDE
_FUNDING_BOUND = MAX_ABS_FUNDING_RATE


def _column_decimal(value: str, kind: str) -> Decimal:
    """A decimal wire string → the Decimal(38, 18) column value, within the decoder's bounds.

    The bounds are those of ``schemas.types`` (``canonical_decimal``: at most 64 characters,
    an exponent within ±30, finite, |value| < 10^15; ``> 0`` for prices and quantities,
    ``>= 0`` where non-negative, |rate| <= 1 for funding rates), checked on the text first
    as there. Plain strings (what fundarb writes) take the fast path; anything else goes
    through ``canonical_decimal`` itself.
    """
    if len(value) <= MAX_DECIMAL_CHARS and "E" not in value and "e" not in value:
        try:
            dec = Decimal(value)
        except ArithmeticError:
            raise _Refused(f"{value!r} is not a decimal number") from None
        if not dec.is_finite() or not -_BOUND < dec < _BOUND:
            dec = canonical_decimal(value)  # raises with the decoder's own message
    else:
        dec = canonical_decimal(value)
    if kind == "pos" and dec <= 0:
        raise _Refused(f"must be > 0, got {dec}")
    if kind == "nonneg" and dec < 0:
        raise _Refused(f"must be >= 0, got {dec}")
    if kind == "funding" and not -_FUNDING_BOUND <= dec <= _FUNDING_BOUND:
        raise _Refused(f"funding rate {dec} is beyond ±{_FUNDING_BOUND} per interval")
    dot = value.find(".")
    if dot >= 0 and len(value) - dot - 1 > 18:
        return dec.quantize(Q18, context=_CH)
    return dec


def _decimal_kind(annotation: Any) -> str | None:
    if annotation == FundingRate:
        return "funding"
    if annotation == PositiveDec:
        return "pos"
    if annotation == NonNegativeDec:
        return "nonneg"
    if annotation == Dec:
        return "dec"
    return None


class _Plan:
    """How one event type's Avro records become rows, built once from its model.

    ``decimals``: (field, kind) of every decimal field, converted to column values and checked
    against the decoder's bounds; ``millis``: the ms UTC fields and whether 0 is allowed
    (checked against ``MIN_MS``..``MAX_MS``); ``texts``: (field, max length) of the bounded
    strings; ``binary``: the bytes fields (base64 in the payload). The rest of the model's
    invariants (symbol syntax, crossed books, cross-field rules) are the processors' to
    enforce: they decode their topics with validation and dead-letter what fails, and the
    dead letter is audited too.
    """

    def __init__(self, model: type[ev.Event]) -> None:
        hints = typing.get_type_hints(model, include_extras=True)
        self.name = model.__name__
        self.decimals: list[tuple[str, str]] = []
        self.millis: list[tuple[str, bool]] = []
        self.texts: list[tuple[str, int]] = []
        self.binary: list[str] = []
        for field, info in model.model_fields.items():
            annotation = hints[field]
            if typing.get_origin(annotation) in (typing.Union, types.UnionType):
                (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
            kind = _decimal_kind(annotation)
            if kind is not None:
                self.decimals.append((field, kind))
                continue
            if annotation in (Millis, MillisOrZero):
                self.millis.append((field, annotation == MillisOrZero))
                continue
            if annotation is bytes:
                self.binary.append(field)
                continue
            limits = [
                m.max_length for m in typing.get_args(annotation)[1:] if hasattr(m, "max_length")
            ]
            limits += [m.max_length for m in info.metadata if getattr(m, "max_length", None)]
            if limits and limits[0]:
                self.texts.append((field, limits[0]))
        typed = AUDIT_ROWS.get(self.name)
        #: the typed table and row builder (types without one are in ``events_raw`` only)
        self.table: str
        self.row: RowBuilder | None
        self.table, self.row = (typed[0].name, typed[1]) if typed else ("", None)
        #: a model whose own validator rewrites its input (EventRejected fills in a v1 dead
        #: letter's size and digest): its records are validated, as the processors see them
        self.validate = rewrites_its_input(model)

    def payload(self, record: Rec) -> str:
        if self.binary:
            record = dict(record)
            for field in self.binary:
                if record[field] is not None:
                    record[field] = base64.b64encode(record[field]).decode()
        return _JSON(record)

    def convert(self, record: Rec) -> Rec:
        """The record with its decimals as column values; raises :class:`_Refused` (naming
        the field) for a value outside the decoder's bounds."""
        values = dict(record)
        for field, kind in self.decimals:
            value = record[field]
            if value is not None:
                try:
                    values[field] = _column_decimal(value, kind)
                except ValueError as exc:
                    raise _Refused(f"{self.name}: {field}: {exc}") from None
        for field, zero_ok in self.millis:
            t = record[field]
            if not (MIN_MS <= t <= MAX_MS or (zero_ok and t == 0)):
                try:
                    check_ms(t, allow_zero=zero_ok)
                except ValueError as exc:
                    raise _Refused(f"{self.name}: {field}: {exc}") from None
        for field, limit in self.texts:
            text = record[field]
            if text is not None and len(text) > limit:
                raise _Refused(f"{self.name}: {field}: {len(text)} characters, at most {limit}")
        return values


_PLANS: dict[type[ev.Event], _Plan] = {}
#: ``json.dumps(record, sort_keys=True)``'s text; one encoder, and no cycle check (an Avro
#: record is a tree): 4.8 → 3.7 µs CPU per ticker record
_JSON = json.JSONEncoder(sort_keys=True, check_circular=False).encode


def _plan(model: type[ev.Event]) -> _Plan:
    plan = _PLANS.get(model)
    if plan is None:
        plan = _PLANS[model] = _Plan(model)
    return plan


def record_payload(model: type[ev.Event], record: Rec) -> str:
    """``payload_json`` of the event an Avro record of ``model`` decodes to, from the record."""
    return _plan(model).payload(record)


_TIME_COLUMNS = {"event_time", "ingest_time", "funding_time", "next_funding_time"}
_DEC_COLUMNS = {
    "funding_rate",
    "predicted_rate",
    "mark_price",
    "bid",
    "ask",
    "quote_volume_24h",
    "qty",
    "price",
    "fee",
    "position_qty",
    "amount",
    "limit_price",
    "filled_qty",
    "target_notional_usd",
    "expected_apr",
    "realised_pnl_usd",
    "fees_usd",
    "funding_usd",
    "net_delta_usd",
    "total",
    "free",
    "used",
    "equity_usd",
    "margin_ratio",
    "liquidation_price",
    "spread_apr",
    "net_edge_apr",
    "break_even_h",
}


def _arrow_type(name: str) -> pa.DataType | None:
    if name in _TIME_COLUMNS:
        return TS
    if name in _DEC_COLUMNS:
        return DEC
    if name in ("partition", "funding_interval_h"):
        return pa.uint16()
    if name in ("offset", "source_offset", "raw_size"):
        return pa.uint64()
    if name == "source_partition":
        return pa.uint32()
    if name == "revision":
        return pa.uint32()
    return None


def columns_to_arrow(names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> pa.Table:
    """Row tuples (in ``names`` order) → an Arrow table with ClickHouse-friendly types
    (decimals, ms UTC timestamps): one transposition, one array per column."""
    arrays = [
        pa.array(list(values), _arrow_type(name))
        for name, values in zip(names, zip(*rows, strict=True), strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=list(names))


def to_arrow(rows: list[Row]) -> pa.Table:
    """Row dicts → an Arrow table (see :func:`columns_to_arrow`)."""
    names = tuple(rows[0])
    return columns_to_arrow(names, [tuple(r[n] for n in names) for r in rows])


def run_name(prefix: str) -> str:
    """The ``run`` column: the topic prefix without its trailing dot (``default`` if none)."""
    return prefix.rstrip(".") or "default"


class AuditBatch:
    """Rows per table for one batch, built from consumer records.

    Records are read straight from Avro (``Serializer.decode_record``), never built into
    pydantic events: the raw row's envelope and payload and the typed row's columns come from
    the record itself; decimals are converted once, with the decoder's bounds (a value
    outside them is kept raw as ``Undecodable`` and left to its topic's processor, exactly as
    a record the validated decode refuses). Rows are tuples per table, turned into Arrow
    columns when the batch is written.
    """

    def __init__(self, serializer: Serializer, prefix: str) -> None:
        self.serializer = serializer
        self.prefix = prefix
        self.run = run_name(prefix)
        self.tables: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        #: the consumer record of each row, per table (to dead-letter a row the store refuses)
        self.sources: dict[str, list[Any]] = defaultdict(list)
        #: records to dead-letter, with why, keyed by (topic, partition, offset): once each
        self.rejected: dict[tuple[str, int, int], tuple[Any, DecodeError]] = {}
        self.count = 0

    def _reject(self, record: Any, error: DecodeError) -> None:
        # a bad record already on the dead-letter topic is kept in events_raw, not re-sent
        if record.topic != f"{self.prefix}{DEADLETTER}":
            self.rejected.setdefault(
                (record.topic, record.partition, record.offset), (record, error)
            )

    def rows(self, table: str) -> list[Row]:
        """The batch's rows of ``table`` as dicts (column → value), for inspection."""
        names = RAW_COLUMNS if table == "events_raw" else (*WHERE, *TYPED_COLUMNS[table])
        return [dict(zip(names, r, strict=True)) for r in self.tables.get(table, [])]

    def arrow(self, table: str) -> pa.Table:
        """The batch's rows of ``table`` as the Arrow table the store is given."""
        names = RAW_COLUMNS if table == "events_raw" else (*WHERE, *TYPED_COLUMNS[table])
        return columns_to_arrow(names, self.tables[table])

    def add(self, record: Any) -> None:
        """Add one consumer record (see :meth:`add_many`)."""
        self.add_many(record.topic, record.partition, [record])

    def add_many(self, topic: str, partition: int, records: list[Any]) -> None:
        """Add the records of one topic partition, in offset order."""
        name = topic[len(self.prefix) :] if topic.startswith(self.prefix) else topic
        run = self.run
        raw_rows = self.tables["events_raw"]
        raw_sources = self.sources["events_raw"]
        read = self.serializer.decode_record
        for record in records:
            where = (run, name, partition, record.offset)
            key = record.key.decode(errors="replace") if isinstance(record.key, bytes) else ""
            try:
                if not isinstance(record.value, bytes):
                    raise DecodeError("empty", "record has no value (tombstone)")
                model, avro = read(record.value)
                plan = _PLANS.get(model) or _plan(model)
                if plan.validate:  # rare (dead letters): the event as its consumers see it
                    avro = to_record(self.serializer.validate_record(model, avro))
                values = plan.convert(avro)
                raw = (
                    *where,
                    key,
                    plan.name,
                    avro["event_id"],
                    avro["event_time"],
                    avro["ingest_time"],
                    avro["venue"],
                    avro["instrument"],
                    avro["correlation_id"],
                    avro["causation_id"],
                    plan.payload(avro),
                )
                typed = plan.row(values) if plan.row is not None else None
            except DecodeError as exc:  # its topic's processor dead-letters it (module docstring)
                self._undecodable(record, where, key, exc, dead_letter=False)
                continue
            except _Refused as exc:  # the decoder's bounds: the processor refuses it too
                self._undecodable(
                    record, where, key, DecodeError("invalid", str(exc)), dead_letter=False
                )
                continue
            except Exception as exc:  # one record's values must not stop the sink
                # decoded but not convertible: keep it, dead-letter it
                self._undecodable(
                    record, where, key, DecodeError("audit_convert", f"{type(exc).__name__}: {exc}")
                )
                continue
            raw_rows.append(raw)
            raw_sources.append(record)
            if typed is not None:
                self.tables[plan.table].append((*where, *typed))
                self.sources[plan.table].append(record)
            self.count += 1

    def _undecodable(
        self,
        record: Any,
        where: tuple[Any, ...],
        key: str,
        exc: DecodeError,
        *,
        dead_letter: bool = True,
    ) -> None:
        self.tables["events_raw"].append(
            (
                *where,
                key,
                "Undecodable",
                "",
                record.timestamp if record.timestamp > 0 else 0,
                0,
                "",
                "",
                None,
                None,
                json.dumps(
                    {
                        "error": str(exc)[:MAX_TEXT_CHARS],
                        "raw_base64": base64.b64encode(record.value or b"").decode(),
                    }
                ),
            )
        )
        self.sources["events_raw"].append(record)
        if dead_letter:
            self._reject(record, exc)
        self.count += 1

    def write(self, store: ClickHouseStore) -> int:
        """Insert every table's rows; a row that cannot be converted or inserted is dropped
        and its record queued in :attr:`rejected` (the rest is inserted).

        Returns the number of records of the batch. Raises whatever the store raises when it
        does not answer a trivial query either (down, not a bad row): nothing is dead-lettered
        then, and the caller does not commit.
        """
        for table, rows in self.tables.items():
            if rows:
                names = RAW_COLUMNS if table == "events_raw" else (*WHERE, *TYPED_COLUMNS[table])
                self._insert(store, table, names, rows, self.sources[table])
        written = self.count
        self.tables.clear()
        self.sources.clear()
        self.count = 0
        return written

    def _insert(
        self,
        store: ClickHouseStore,
        table: str,
        names: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        sources: list[Any],
    ) -> None:
        try:
            store.insert_arrow(table, columns_to_arrow(names, rows))
            return
        except Exception as exc:  # bisect to the bad rows, unless the store is down
            error = exc
        store.query("SELECT 1")  # raises when the store itself fails: not a row's fault
        if len(rows) == 1:
            reason = f"{table}: {type(error).__name__}: {error}"
            self._reject(sources[0], DecodeError("audit_insert", reason[:MAX_TEXT_CHARS]))
            return
        # halves: a batch with one bad row costs O(log n) inserts, not n
        mid = len(rows) // 2
        self._insert(store, table, names, rows[:mid], sources[:mid])
        self._insert(store, table, names, rows[mid:], sources[mid:])


@retry(
    retry=retry_if_exception(lambda e: isinstance(e, KafkaError) and e.retriable),
    stop=stop_after_attempt(8),
    wait=wait_exponential(multiplier=0.2, max=5),
    reraise=True,
)
async def _commit(consumer: AIOKafkaConsumer) -> None:
    # a fresh broker's group coordinator may still be loading: retriable, so retry
    await consumer.commit()


class _LazyDeadLetters:
    """The run's dead-letter topic, with its producer started on the first dead letter
    (most batches have none: a producer start per sink run was pure overhead)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sender: Any = None  # infra.kafka_io.DeadLetters once started

    @property
    def count(self) -> int:
        return 0 if self.sender is None else int(self.sender.count)

    async def sender_started(self) -> Any:
        if self.sender is None:
            from infra.kafka_io import DeadLetters, EventProducer

            producer = EventProducer(self.settings)
            await producer.__aenter__()
            self.sender = DeadLetters(producer)
        return self.sender

    async def close(self) -> None:
        if self.sender is not None:
            await self.sender.producer.__aexit__()


async def _no_ends() -> dict[TopicPartition, int]:
    return {}


async def _dead_letter(batch: AuditBatch, dead_letters: _LazyDeadLetters) -> None:
    """Send the batch's rejected records to the dead-letter topic and wait for the broker."""
    if not batch.rejected:
        return
    sender = await dead_letters.sender_started()
    for record, error in batch.rejected.values():
        await sender.reject(record, error)
    batch.rejected.clear()
    await sender.producer.flush()  # delivered before the offsets are committed


class AuditResult(BaseModel):
    """What :func:`audit_topics` did: records consumed and dead-lettered now, and the rows
    ``events_raw`` holds across all runs of the store."""

    model_config = ConfigDict(frozen=True)

    records: int  # consumed by this call
    dead_lettered: int  # sent to the run's dead-letter topic by this call
    raw_rows: int | None = None  # events_raw rows, all runs (None: crashed before counting)
    database: str | None = None
    backend: str | None = None  # chdb or server
    crashed: bool = False  # stopped by ``stop_after`` without committing the last batch


async def audit_topics(
    settings: Settings,
    *,
    drain: bool = False,
    max_rows: int = 20_000,
    max_ms: int = 1_000,
    store: ClickHouseStore | None = None,
    stop_after: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> AuditResult:
    """Consume every catalog topic of the run (its prefix) into ClickHouse.

    ``drain`` stops once the end offsets seen at start are reached (backtests); otherwise
    the sink runs until cancelled. A batch is written after ``max_rows`` records or, unless
    draining, ``max_ms`` of wall time, whichever comes first. ``stop_after`` stops after
    that many records *without committing the last batch's offsets* (tests simulate a crash
    between write and commit).

    Records that do not decode are kept raw (``Undecodable``); their topic's processor
    dead-letters them. Records it cannot convert or insert go to the run's dead-letter topic
    (once per record and run, after the batch is written and before its offsets are
    committed; a redelivery after a crash sends the same deterministic dead letter again),
    counted in ``dead_lettered``.
    """
    own = store is None
    store = store or open_store(settings)
    try:
        apply_ddl(store)
        serializer = Serializer()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            group_id=f"fundarb-audit-{run_name(settings.topic_prefix)}",
            enable_auto_commit=False,
            max_poll_records=5000,
        )
        from infra.kafka_io import start_consumer, topic_partitions

        dead_letters = _LazyDeadLetters(settings)
        await start_consumer(consumer)
        total = 0
        try:
            # the run's topics are known from the catalog: assign them, resume where we committed
            parts = await topic_partitions(
                settings.bootstrap, [settings.topic(t.name) for t in TOPICS]
            )
            tps = [TopicPartition(t, p) for t, ps in sorted(parts.items()) for p in ps]
            consumer.assign(tps)
            # resume where we committed, else from the beginning; the lookups run concurrently
            # (one committed() after another cost a round trip per partition, ~46 a run, and
            # awaiting position() waits for the consumer's own refresh: ~0.7 s a run)
            firsts, committed, ends = await asyncio.gather(
                consumer.beginning_offsets(tps),
                asyncio.gather(*(consumer.committed(tp) for tp in tps)),
                consumer.end_offsets(tps) if drain else _no_ends(),
            )
            position: dict[TopicPartition, int] = {}
            for tp, offset in zip(tps, committed, strict=True):
                position[tp] = offset if offset is not None else firsts[tp]
                consumer.seek(tp, position[tp])
            batch = AuditBatch(serializer, settings.topic_prefix)
            started = time.monotonic()
            while True:
                records = await consumer.getmany(timeout_ms=200, max_records=max_rows)
                for tp in sorted(records, key=lambda t: (t.topic, t.partition)):
                    part = records[tp]
                    if not part:
                        continue
                    batch.add_many(tp.topic, tp.partition, part)  # grouped per topic-partition
                    position[tp] = part[-1].offset + 1
                # max_ms bounds a live sink's latency; a drain (nobody reads until it is done)
                # cuts batches by max_rows only: each cut costs an insert per table and a commit
                due = batch.count >= max_rows or (
                    not drain and (time.monotonic() - started) * 1000 >= max_ms
                )
                done = drain and all(position[tp] >= end for tp, end in ends.items())
                crash = stop_after is not None and total + batch.count >= stop_after
                if batch.count and (due or done or crash):
                    total += batch.write(store)
                    await _dead_letter(batch, dead_letters)
                    if crash:
                        return AuditResult(
                            records=total, crashed=True, dead_lettered=dead_letters.count
                        )
                    await _commit(consumer)  # only after the rows are written
                    if on_batch:
                        on_batch(total)
                    started = time.monotonic()
                if done:
                    break
        finally:
            await consumer.stop()
            await dead_letters.close()
        rows = store.query("SELECT count() FROM events_raw FINAL").scalar()
        return AuditResult(
            records=total,
            dead_lettered=dead_letters.count,
            raw_rows=int(rows),
            database=store.database,
            backend=store.backend,
        )
    finally:
        if own:
            store.close()
