"""Poison records for every engine input topic: the kinds a venue glitch, a bad data file, a
foreign producer or an attacker can put on a topic (issue: no single record may stop the
pipeline). Used by the hostile-input suite against the real worker and audit sink and by the
property test over the worker's record handling.

Each poison is a :class:`Poison`: the catalog topic, the key and the value bytes (``None`` for
a tombstone), its kind, and the broker timestamp to produce it with (``None``: now). Every one
must be dead-lettered exactly once by the consumer that processes its topic.
"""

from __future__ import annotations

import copy
import io
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import fastavro

from schemas import events as ev
from schemas.avro import load_avsc
from schemas.serde import Serializer, to_record
from tests import stubs

SER = Serializer()
FAR_FUTURE_MS = 4_070_908_800_000  # 2099-01-01 UTC
FAR_PAST_MS = 631_152_000_000  # 1990-01-01 UTC: before any venue, below the decoder's bound
HUGE_TEXT = 600_000  # characters: under the broker's 1 MiB message limit, far over any id


@dataclass(frozen=True)
class Poison:
    topic: str  # catalog name, e.g. "md.tickers"
    kind: str
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None  # broker timestamp; None = the producer's now


def templates(t: int) -> dict[str, ev.Event]:
    """One valid BTC event per engine input topic, at event time ``t``."""
    env = {"event_time": t, "ingest_time": t}
    return {
        "md.tickers": stubs.ticker_observed(**env),
        "md.funding": stubs.funding_observed(**env, funding_time=t),
        "orders.events": stubs.order_expired(**env),
        "acct.fills": stubs.fill_executed(**env),
        "acct.funding": stubs.funding_paid(**env),
        "risk.events": stubs.breaker_tripped(
            **env, instrument="BTC", value=Decimal("3"), threshold=Decimal("5")
        ),
    }


def _frame(type_name: str, record: dict[str, Any], schema: dict[str, Any] | None = None) -> bytes:
    """Confluent framing + Avro, bypassing every model check (what a foreign producer sends)."""
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, SER.registry.id_for(type_name, 1)))
    fastavro.schemaless_writer(
        buf, fastavro.parse_schema(schema or load_avsc(type_name, 1)), record
    )
    return buf.getvalue()


def _decimal_field(record: dict[str, Any]) -> str:
    for name in ("funding_rate", "bid", "price", "qty", "amount", "filled_qty", "value"):
        if isinstance(record.get(name), str):
            return name
    raise AssertionError(f"no decimal field in {sorted(record)}")


def _text_field(record: dict[str, Any]) -> str:
    for name in ("fill_id", "client_order_id", "order_id", "detail", "funding_id"):
        if isinstance(record.get(name), str):
            return name
    return "correlation_id"


def _enum_schema(type_name: str, field_name: str, extra: str) -> dict[str, Any]:
    schema = copy.deepcopy(load_avsc(type_name, 1))
    for f in schema["fields"]:
        ftype = f["type"]
        if f["name"] == field_name and isinstance(ftype, dict) and ftype.get("type") == "enum":
            ftype["symbols"].append(extra)
            return schema
    raise AssertionError(f"{type_name}.{field_name} is not an enum")


def poisons(topic: str, template: ev.Event, rng: random.Random) -> list[Poison]:
    """Every poison kind for ``topic``, built from its valid ``template`` (key BTC)."""
    name = type(template).__name__
    rec = to_record(template)
    good = SER.encode(template)
    dec, text = _decimal_field(rec), _text_field(rec)
    key = template.key.encode()

    def framed(**changes: Any) -> bytes:
        return _frame(name, {**rec, **changes})

    makers: dict[str, Callable[[], tuple[bytes | None, bytes | None, int | None]]] = {
        "random_bytes": lambda: (
            key,
            bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64))),
            None,
        ),
        "truncated": lambda: (key, good[: rng.randint(1, len(good) - 1)], None),
        "unknown_schema_id": lambda: (
            key,
            struct.pack(">bI", 0, rng.randint(10_000, 2**31 - 1)) + good[5:],
            None,
        ),
        "tombstone": lambda: (key, None, None),
        "nan": lambda: (key, framed(**{dec: rng.choice(["NaN", "Infinity", "-inf"])}), None),
        "negative_price": lambda: (key, framed(**{dec: "-" + str(rng.randint(1, 10**5))}), None),
        "seconds_for_ms": lambda: (key, framed(event_time=template.event_time // 1000), None),
        "far_past": lambda: (key, framed(event_time=FAR_PAST_MS, ingest_time=FAR_PAST_MS), None),
        "huge_exponent": lambda: (key, framed(**{dec: "1E+400000"}), None),
        "huge_digits": lambda: (key, framed(**{dec: "1E+100000000"}), None),
        "huge_value": lambda: (key, framed(**{dec: "1E+25"}), None),
        "huge_string": lambda: (key, framed(**{text: "x" * HUGE_TEXT}), None),
        # valid to the decoder; the worker refuses them before any fold
        "far_future": lambda: (
            key,
            SER.encode(
                template.model_copy(
                    update={"event_time": FAR_FUTURE_MS, "ingest_time": FAR_FUTURE_MS}
                )
            ),
            None,
        ),
        "wrong_key": lambda: (b"ETH", good, None),
        "empty_key": lambda: (b"", good, None),
    }
    if name == "BreakerTripped":
        del makers["negative_price"]  # a breaker's measured value may be negative
    if name == "FillExecuted":
        schema = _enum_schema(name, "side", "short")
        makers["unknown_enum"] = lambda: (key, _frame(name, {**rec, "side": "short"}, schema), None)
    out = []
    for kind, make in makers.items():
        k, value, ts = make()
        out.append(Poison(topic, kind, k, value, ts))
    return out


def all_poisons(t: int, seed: int = 20251203) -> list[Poison]:
    """Every kind on every engine input topic, templates at event time ``t``."""
    rng = random.Random(seed)
    return [p for topic, tpl in templates(t).items() for p in poisons(topic, tpl, rng)]
