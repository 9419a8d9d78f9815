"""The audit sink: every event of a run's topics into ClickHouse (DESIGN §8, CONVENTIONS §9).

One raw table with every record (``events_raw``: coordinates, key, type, envelope, payload as
JSON) and typed tables per event family, all ``ReplacingMergeTree`` ordered by
(run, topic, partition, offset) where ``run`` is the topic prefix, so a redelivered
batch replaces itself and runs never collide. The loop batches rows (at
most ``max_rows`` or ``max_ms`` of wall time, whichever first), writes them through the store
(Arrow inserts), and only then commits the consumer offsets: a crash between write and commit
redelivers, and the dedup key absorbs it.

DDL lives in ``infra/sql/NNN_*.sql`` and is applied once per version (``schema_migrations``).
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

import base64
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from decimal import Context, Decimal
from enum import Enum
from importlib import resources
from typing import Any

import pyarrow as pa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from infra.clickhouse import ClickHouseStore, open_store
from infra.settings import Settings
from schemas import events as ev
from schemas.catalog import DEADLETTER, TOPICS
from schemas.serde import DecodeError, Serializer
from schemas.types import MAX_TEXT_CHARS

log = logging.getLogger(__name__)

DEC = pa.decimal128(38, 18)
TS = pa.timestamp("ms", tz="UTC")
Q18 = Decimal("1e-18")


# ---- DDL -----------------------------------------------------------------------------------
def apply_ddl(store: ClickHouseStore) -> list[str]:
    """Apply the versioned DDL files not yet applied; returns the versions applied now."""
    store.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version String, applied_at DateTime64(3, 'UTC') "
        "DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = {r[0] for r in store.query("SELECT version FROM schema_migrations FINAL").rows}
    applied = []
    files = sorted(
        p for p in resources.files("infra").joinpath("sql").iterdir() if p.name.endswith(".sql")
    )
    for f in files:
        version = f.name.split("_", 1)[0]
        if version in done:
            continue
        for statement in _statements(f.read_text(encoding="utf-8")):
            store.execute(statement)
        store.insert_arrow("schema_migrations", pa.table({"version": [version]}))
        applied.append(version)
    return applied


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
    """The event as JSON (decimals as strings, bytes base64), keys sorted."""
    return json.dumps({k: _plain(v) for k, v in event.__dict__.items()}, sort_keys=True)


Row = dict[str, Any]


def _market(e: ev.Event) -> Row:
    """The envelope columns every per-market typed table shares."""
    return {
        "event_id": e.event_id,
        "event_time": e.event_time,
        "venue": e.venue,
        "instrument": e.instrument,
    }


def _typed(event: ev.Event) -> tuple[str, Row] | None:
    """(table, row) for the typed table of an event family, or None."""
    e = event
    if isinstance(e, ev.FundingRateObserved):
        return "funding_observations", {
            **_market(e),
            "funding_rate": _dec(e.funding_rate),
            "funding_interval_h": e.funding_interval_h,
            "funding_time": e.funding_time,
            "next_funding_time": e.next_funding_time,
            "predicted_rate": _dec(e.predicted_rate),
            "mark_price": _dec(e.mark_price),
            "settled": e.settled,
        }
    if isinstance(e, ev.TickerObserved):
        return "tickers", {
            **_market(e),
            "bid": _dec(e.bid),
            "ask": _dec(e.ask),
            "mark_price": _dec(e.mark_price),
            "quote_volume_24h": _dec(e.quote_volume_24h),
        }
    if isinstance(e, ev.FillExecuted):
        return "fills", {
            **_market(e),
            "correlation_id": e.correlation_id,
            "causation_id": e.causation_id,
            "fill_id": e.fill_id,
            "order_id": e.order_id,
            "client_order_id": e.client_order_id,
            "side": e.side.value,
            "qty": _dec(e.qty),
            "price": _dec(e.price),
            "fee": _dec(e.fee),
            "fee_currency": e.fee_currency,
            "liquidity": e.liquidity.value,
            "is_hedge": e.is_hedge,
        }
    if isinstance(e, ev.FundingPaid):
        return "funding_payments", {
            **_market(e),
            "correlation_id": e.correlation_id,
            "funding_time": e.funding_time,
            "position_qty": _dec(e.position_qty),
            "funding_rate": _dec(e.funding_rate),
            "mark_price": _dec(e.mark_price),
            "amount": _dec(e.amount),
            "amount_currency": e.amount_currency,
        }
    if isinstance(
        e,
        ev.PlaceOrder
        | ev.CancelOrder
        | ev.OrderAccepted
        | ev.OrderRejected
        | ev.OrderCanceled
        | ev.OrderExpired,
    ):
        place = e if isinstance(e, ev.PlaceOrder) else None
        reason = getattr(e, "reject_reason", None)
        return "orders", {
            "event_type": type(e).__name__,
            "event_id": e.event_id,
            "event_time": e.event_time,
            "venue": e.venue,
            "instrument": e.instrument,
            "correlation_id": e.correlation_id,
            "causation_id": e.causation_id,
            "client_order_id": e.client_order_id,
            "side": place.side.value if place else None,
            "qty": _dec(place.qty) if place else None,
            "limit_price": _dec(place.limit_price) if place else None,
            "time_in_force": place.time_in_force.value if place else None,
            "is_hedge": place.is_hedge if place else None,
            "reason": reason.value if reason else getattr(e, "detail", None) or None,
            "filled_qty": _dec(getattr(e, "filled_qty", None)),
        }
    if isinstance(e, ev.TargetPositionSet | ev.ExitRequested):
        target = e if isinstance(e, ev.TargetPositionSet) else None
        return "intents", {
            "event_type": type(e).__name__,
            "event_id": e.event_id,
            "event_time": e.event_time,
            "instrument": e.instrument,
            "correlation_id": e.correlation_id,
            "causation_id": e.causation_id,
            "arb_id": e.arb_id,
            "revision": e.revision,
            "target_notional_usd": _dec(target.target_notional_usd) if target else None,
            "expected_apr": _dec(target.expected_apr) if target else None,
            "exit_reason": None if target else e.exit_reason.value,  # type: ignore[union-attr]
            "legs": json.dumps(_plain(target.legs)) if target else "[]",
        }
    if isinstance(e, ev.BreakerTripped | ev.BreakerReset):
        return "breakers", {
            "event_type": type(e).__name__,
            "event_id": e.event_id,
            "event_time": e.event_time,
            "instrument": e.instrument,
            "breaker": e.breaker.value,
            "action": e.action.value if isinstance(e, ev.BreakerTripped) else None,
            "detail": e.detail,
        }
    if isinstance(e, ev.AlertRaised):
        return "alerts", {
            "event_id": e.event_id,
            "event_time": e.event_time,
            "rule": e.rule,
            "severity": e.severity.value,
            "message": e.message,
            "dedup_key": e.dedup_key,
        }
    if isinstance(e, ev.PositionChanged):
        return "positions", {
            **_market(e),
            "correlation_id": e.correlation_id,
            "qty": _dec(e.qty),
            "realised_pnl_usd": _dec(e.realised_pnl_usd),
            "fees_usd": _dec(e.fees_usd),
            "funding_usd": _dec(e.funding_usd),
            "net_delta_usd": _dec(e.net_delta_usd),
        }
    return None


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
}


def to_arrow(rows: list[Row]) -> pa.Table:
    """Rows → an Arrow table with ClickHouse-friendly types (decimals, ms UTC timestamps)."""
    columns: dict[str, pa.Array] = {}
    for name in rows[0]:
        values = [r[name] for r in rows]
        if name in _TIME_COLUMNS:
            columns[name] = pa.array(values, TS)
        elif name in _DEC_COLUMNS:
            columns[name] = pa.array(values, DEC)
        elif name in ("partition",):
            columns[name] = pa.array(values, pa.uint16())
        elif name in ("offset",):
            columns[name] = pa.array(values, pa.uint64())
        elif name in ("revision",):
            columns[name] = pa.array(values, pa.uint32())
        elif name in ("funding_interval_h",):
            columns[name] = pa.array(values, pa.uint16())
        else:
            columns[name] = pa.array(values)
    return pa.table(columns)


def run_name(prefix: str) -> str:
    """The ``run`` column: the topic prefix without its trailing dot (``default`` if none)."""
    return prefix.rstrip(".") or "default"


class AuditBatch:
    """Rows per table for one batch, built from consumer records."""

    def __init__(self, serializer: Serializer, prefix: str) -> None:
        self.serializer = serializer
        self.prefix = prefix
        self.run = run_name(prefix)
        self.tables: dict[str, list[Row]] = defaultdict(list)
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

    def _append(self, table: str, row: Row, record: Any) -> None:
        self.tables[table].append(row)
        self.sources[table].append(record)

    def add(self, record: Any) -> None:
        topic = (
            record.topic[len(self.prefix) :]
            if record.topic.startswith(self.prefix)
            else record.topic
        )
        where = {
            "run": self.run,
            "topic": topic,
            "partition": record.partition,
            "offset": record.offset,
        }
        key = record.key.decode(errors="replace") if isinstance(record.key, bytes) else ""
        try:
            event = self.serializer.decode(record.value)
            raw = {
                **where,
                "key": key,
                "event_type": type(event).__name__,
                "event_id": event.event_id,
                "event_time": event.event_time,
                "ingest_time": event.ingest_time,
                "venue": event.venue,
                "instrument": event.instrument,
                "correlation_id": event.correlation_id,
                "causation_id": event.causation_id,
                "payload": payload_json(event),
            }
            typed = _typed(event)
        except DecodeError as exc:  # its topic's processor dead-letters it (module docstring)
            self._undecodable(record, where, key, exc, dead_letter=False)
            return
        except Exception as exc:  # one record's values must not stop the sink
            # decoded but not convertible (e.g. beyond Decimal(38, 18)): keep it, dead-letter it
            self._undecodable(
                record, where, key, DecodeError("audit_convert", f"{type(exc).__name__}: {exc}")
            )
            return
        self._append("events_raw", raw, record)
        if typed is not None:
            table, row = typed
            self._append(table, {**where, **row}, record)
        self.count += 1

    def _undecodable(
        self, record: Any, where: Row, key: str, exc: DecodeError, *, dead_letter: bool = True
    ) -> None:
        self._append(
            "events_raw",
            {
                **where,
                "key": key,
                "event_type": "Undecodable",
                "event_id": "",
                "event_time": record.timestamp if record.timestamp > 0 else 0,
                "ingest_time": 0,
                "venue": "",
                "instrument": "",
                "correlation_id": None,
                "causation_id": None,
                "payload": json.dumps(
                    {
                        "error": str(exc)[:MAX_TEXT_CHARS],
                        "raw_base64": base64.b64encode(record.value or b"").decode(),
                    }
                ),
            },
            record,
        )
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
                self._insert(store, table, rows, self.sources[table])
        written = self.count
        self.tables.clear()
        self.sources.clear()
        self.count = 0
        return written

    def _insert(self, store: ClickHouseStore, table: str, rows: list[Row], sources: list) -> None:
        try:
            store.insert_arrow(table, to_arrow(rows))
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
        self._insert(store, table, rows[:mid], sources[:mid])
        self._insert(store, table, rows[mid:], sources[mid:])


@retry(
    retry=retry_if_exception(lambda e: isinstance(e, KafkaError) and e.retriable),
    stop=stop_after_attempt(8),
    wait=wait_exponential(multiplier=0.2, max=5),
    reraise=True,
)
async def _commit(consumer: AIOKafkaConsumer) -> None:
    # a fresh broker's group coordinator may still be loading: retriable, so retry
    await consumer.commit()


async def _dead_letter(batch: AuditBatch, dead_letters: Any) -> None:
    """Send the batch's rejected records to the dead-letter topic and wait for the broker."""
    if not batch.rejected:
        return
    for record, error in batch.rejected.values():
        await dead_letters.reject(record, error)
    batch.rejected.clear()
    await dead_letters.producer.flush()  # delivered before the offsets are committed


async def audit_topics(
    settings: Settings,
    *,
    drain: bool = False,
    max_rows: int = 20_000,
    max_ms: int = 1_000,
    store: ClickHouseStore | None = None,
    stop_after: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Consume every catalog topic of the run (its prefix) into ClickHouse.

    ``drain`` stops once the end offsets seen at start are reached (backtests); otherwise
    the sink runs until cancelled. ``stop_after`` stops after that many records *without
    committing the last batch's offsets* (tests simulate a crash between write and commit).

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
        from infra.kafka_io import DeadLetters, EventProducer, start_consumer, topic_partitions

        producer = EventProducer(settings)
        await producer.__aenter__()
        dead_letters = DeadLetters(producer)
        try:
            await start_consumer(consumer)
        except Exception:
            await producer.__aexit__()
            raise
        total = 0
        try:
            # the run's topics are known from the catalog: assign them, resume where we committed
            parts = await topic_partitions(
                settings.bootstrap, [settings.topic(t.name) for t in TOPICS]
            )
            tps = [TopicPartition(t, p) for t, ps in sorted(parts.items()) for p in ps]
            consumer.assign(tps)
            position: dict[TopicPartition, int] = {}
            firsts = await consumer.beginning_offsets(tps)
            for tp in tps:
                committed = await consumer.committed(tp)
                position[tp] = committed if committed is not None else firsts[tp]
                consumer.seek(tp, position[tp])
            ends = await consumer.end_offsets(tps) if drain else {}
            batch = AuditBatch(serializer, settings.topic_prefix)
            started = time.monotonic()
            while True:
                records = await consumer.getmany(timeout_ms=200, max_records=max_rows)
                for tp in sorted(records, key=lambda t: (t.topic, t.partition)):
                    for record in records[tp]:
                        batch.add(record)
                        position[tp] = record.offset + 1
                due = batch.count >= max_rows or (time.monotonic() - started) * 1000 >= max_ms
                done = drain and all(position[tp] >= end for tp, end in ends.items())
                crash = stop_after is not None and total + batch.count >= stop_after
                if batch.count and (due or done or crash):
                    total += batch.write(store)
                    await _dead_letter(batch, dead_letters)
                    if crash:
                        return {
                            "records": total,
                            "crashed": True,
                            "dead_lettered": dead_letters.count,
                        }
                    await _commit(consumer)  # only after the rows are written
                    if on_batch:
                        on_batch(total)
                    started = time.monotonic()
                if done:
                    break
        finally:
            await consumer.stop()
            await producer.__aexit__()
        rows = store.query("SELECT count() FROM events_raw FINAL").scalar()
        return {
            "records": total,
            "dead_lettered": dead_letters.count,
            "raw_rows": int(rows),
            "database": store.database,
            "backend": store.backend,
        }
    finally:
        if own:
            store.close()
