"""One id scheme, one envelope helper and one dead-letter builder for every event we build.

Ids: every event id we derive is a ``uuid5`` (RFC 4122 §4.3) of a namespace of
:class:`IdNamespace` and a name built from the event's natural key, so the same input gives
the same id on every replay and a redelivered record deduplicates. Each member's UUID is the
namespace its module used before this enum existed, byte for byte: changing one would change
every id of that family (and the backtest's ``output_digest``); ``tests/unit/test_envelope.py``
pins them.

Envelope: :func:`envelope` returns the envelope fields (``event_id``, ``event_time``,
``ingest_time``, ``venue``, ``instrument``, ``correlation_id``, ``causation_id``) as keyword
arguments for an event's constructor (``FillExecuted(**envelope(id, t, venue, symbol), qty=…)``);
``caused_by`` is the ``event_id`` of the input that caused the event (``causation_id``).

Dead letters: :func:`dead_letter` builds the one :class:`~schemas.events.EventRejected` shape
every refusal uses (replay rows, venue rows, undecodable records, events a fold refused).
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from typing import Any

from schemas.events import EventRejected
from schemas.types import INTERNAL_VENUE


class IdNamespace(enum.Enum):
    """The uuid5 namespaces of our derived event ids (values are fixed forever)."""

    #: ``PlaceOrder`` / ``CancelOrder`` of the executor (``place/<cid>``, ``cancel/<cid>``)
    COMMAND = uuid.UUID("7a1f0e4c-3b2d-4f6a-8e9c-1d2b3a4c5e6f")
    #: the engine's ``SpreadUpdated`` and ``PositionChanged``
    DERIVED = uuid.UUID("4d8e2f1a-7b3c-4a5d-9e6f-8a7b6c5d4e3f")
    #: dead letters of events a fold refused (name: the refused event's id)
    REJECT = uuid.UUID("8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f")
    #: the strategy's ``TargetPositionSet`` / ``ExitRequested``
    INTENT = uuid.UUID("3e9d6b1a-2c4f-4e8a-b7d5-9f0a1c2e3d4b")
    #: ``BreakerTripped`` / ``BreakerReset``
    RISK = uuid.UUID("2b7c9d1e-3f4a-4b5c-8d6e-7f8091a2b3c4")
    #: ``AlertRaised`` (also the webhook ``Idempotency-Key``)
    ALERT = uuid.UUID("1e5f3a7b-9c2d-4e8f-a6b4-3c2d1e0f9a8b")
    #: dead letters of recorded rows the history reader refused (``<source>/<line>``)
    REPLAY_REJECT = uuid.UUID("6f2d8a1b-4c3e-4f5a-9b8c-7d6e5f4a3b2c")
    #: events parsed from live venue payloads (``<venue>|<kind>|<key…>``)
    LIVE = uuid.UUID("8d3c1f2e-6b4a-4e5d-9c7b-0a1f2e3d4c5b")
    #: events built from recorded history files
    REPLAY = uuid.UUID("9b3c4e2a-1d5f-4a6b-8c7d-0e1f2a3b4c5d")
    #: the live connector's own events (dead letters of venue rows, stale-feed breakers)
    CONNECTOR = uuid.UUID("0c7d2e4f-9b1a-4f3e-8c5d-6a7b8c9d0e1f")
    #: order events of the live order gateway (``<venue>|<cid>|<kind>``)
    GATEWAY = uuid.UUID("5e1f0c2d-7a3b-4c9d-8e6f-2a1b3c4d5e6f")
    #: everything the paper venue emits (order events, fills, funding, borrow, balances)
    PAPER = uuid.UUID("2b7e9c4d-5a1f-4e3b-8d6c-1f0e9a8b7c6d")
    #: the grid strategy's ``TargetPositionSet`` (``<strategy id>/<grid id>/<revision>``)
    GRID = uuid.UUID("5f2a7c3e-9d1b-4e6f-a8c0-2b4d6e8f0a1c")
    #: dead letters of consumer records that did not decode (``<topic>/<partition>/<offset>``)
    DEADLETTER = uuid.UUID("0c6a3d52-6f7e-4a0b-9f1d-2b8e7c4a5d11")

    def id(self, *parts: object, sep: str = "/") -> str:
        """The event id for ``parts`` joined by ``sep`` (each part as ``str``).

        Equal to ``str(uuid.uuid5(self.value, sep.join(map(str, parts))))``.
        """
        return uuid5_str(self.value, sep.join(map(str, parts)))


#: namespaces' 16 bytes (``UUID.bytes`` builds them from the UUID's int on every call)
_NAMESPACE_BYTES: dict[uuid.UUID, bytes] = {}
#: the hex digit of the byte holding the RFC 4122 variant (``10xx``) for each digit there
_VARIANT_DIGIT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def uuid5_str(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))`` without building a ``uuid.UUID``: lowercase hex,
    8-4-4-4-12 (RFC 4122 §4.3: SHA-1 of the namespace's 16 bytes and the UTF-8 name, its first
    16 bytes with version 5 and the RFC 4122 variant), at about a third of the cost
    (bench/profile_engine.py: uuid5 + UUID construction was ~5 % of the fold). The version
    and variant are set on the hex digest's digits (the 13th is the version, 5; the 17th's
    two high bits are the variant, ``10``)."""
    ns = _NAMESPACE_BYTES.get(namespace)
    if ns is None:
        ns = namespace.bytes
        if len(_NAMESPACE_BYTES) < 64:  # the id namespaces, a few more at most: bounded
            _NAMESPACE_BYTES[namespace] = ns
    x = hashlib.sha1(ns + name.encode(), usedforsecurity=False).hexdigest()
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT_DIGIT[x[16]]}{x[17:20]}-{x[20:32]}"


def envelope(
    event_id: str,
    at: int,
    venue: str,
    instrument: str,
    caused_by: str | None = None,
    correlation_id: str | None = None,
    /,
    *,
    ingest_time: int | None = None,
) -> dict[str, Any]:
    """The envelope fields of an event (``schemas.events`` module docstring), as keywords.

    ``envelope(event_id, at, venue, instrument, caused_by, correlation_id)``, positional (in
    the order of the envelope itself), so a call is one line and reads the same everywhere.
    ``event_id`` comes from :meth:`IdNamespace.id`; ``at`` is the event time (ms UTC: the
    venue's time, or for our own decisions the event time of the input that caused it, never
    the wall clock); ``caused_by`` is the causing event's id (``causation_id``; ``None`` for
    market data); ``correlation_id`` the arb or workflow it belongs to; ``ingest_time``
    defaults to ``at`` (events we derive are seen when they happen). Validation is the event
    constructor's.
    """
    return {
        "event_id": event_id,
        "event_time": at,
        "ingest_time": at if ingest_time is None else ingest_time,
        "venue": venue,
        "instrument": instrument,
        "correlation_id": correlation_id,
        "causation_id": caused_by,
    }


def dead_letter(
    event_id: str,
    *,
    at: int,
    asset: str,
    source: str,
    raw_value: bytes,
    error_type: str,
    reason: str,
    partition: int = 0,
    offset: int = 0,
    raw_key: bytes | None = None,
    venue: str = INTERNAL_VENUE,
    caused_by: str | None = None,
    ingest_time: int | None = None,
) -> EventRejected:
    """The dead letter (:class:`~schemas.events.EventRejected`) of a refused input.

    ``event_id`` derives from the input's coordinates (``IdNamespace.…id(...)``) so a replay
    dead-letters identically; ``at`` is the input's event time (ms UTC) and ``ingest_time``
    (default ``at``) when we saw it; ``asset`` the Kafka key: anything but 1–32 ASCII letters
    or digits becomes ``UNKNOWN`` (a dead letter must never fail to build). ``source`` names
    where the input came from (a topic, ``venue.<id>.<method>``, a file) with ``partition`` /
    ``offset`` (a file's line); ``raw_value`` / ``raw_key`` are its bytes, which
    :class:`~schemas.events.EventRejected` cuts to fit the broker (keeping the full value's
    size and SHA-256), as it cuts ``reason`` and ``error_type``.
    """
    key = asset if asset.isascii() and asset.isalnum() and len(asset) <= 32 else "UNKNOWN"
    return EventRejected(
        **envelope(event_id, at, venue, key, caused_by, ingest_time=ingest_time),
        source_topic=source,
        source_partition=partition,
        source_offset=offset,
        raw_key=raw_key,
        raw_value=raw_value,
        error_type=error_type,
        reason=reason,
    )
