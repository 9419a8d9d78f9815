"""Kafka I/O shared by producers, consumers and agents: topic admin, typed produce, and a
consume loop whose bad records go to the dead-letter topic (DESIGN §10).

Everything here speaks events (:mod:`schemas.events`) through the serializer; nothing here
decides anything.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from infra.settings import Settings
from schemas.catalog import DEADLETTER, TOPICS, TopicSpec, topic_for
from schemas.envelope import IdNamespace, dead_letter
from schemas.events import Event, EventRejected
from schemas.serde import DecodeError, Serializer
from schemas.types import MAX_MS, MIN_MS

log = logging.getLogger(__name__)


async def start_consumer(consumer: AIOKafkaConsumer) -> None:
    """Start a consumer; on failure close it before re-raising (no dangling client)."""
    try:
        await consumer.start()
    except Exception:
        await consumer.stop()
        raise


class MissingTopicError(RuntimeError):
    """A topic the caller needs does not exist on the cluster."""


async def topic_partitions(bootstrap: str, topics: Sequence[str]) -> dict[str, list[int]]:
    """Partition numbers of each topic, from the cluster itself (a consumer's metadata only
    covers topics it already follows).

    Raises
    ------
    MissingTopicError
        A topic does not exist.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    found = {
        d["topic"]: sorted(p["partition"] for p in d["partitions"])
        for d in described
        if not d.get("error_code") and d["partitions"]
    }
    missing = [t for t in topics if t not in found]
    if missing:
        raise MissingTopicError(f"topics not found on {bootstrap}: {', '.join(missing)}")
    return found


FETCH_WAIT_MS = 20  # readers that switch partitions (read_topics, the backtest's merge)


async def read_topics(bootstrap: str, topics: Sequence[str]) -> AsyncIterator[tuple[str, int, Any]]:
    """Every record of ``topics`` up to their current end, as (topic, partition, record), in
    (topic as given, partition, offset) order: the stable order digests and dumps need.

    Raises
    ------
    MissingTopicError
        A topic does not exist.
    """
    partitions = await topic_partitions(bootstrap, topics)
    # one partition at a time: a short fetch wait, or every switch of assignment waits out the
    # previous partition's long poll (fetch_max_wait_ms, 500 ms by default) with nothing to read
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=FETCH_WAIT_MS
    )
    await start_consumer(consumer)
    try:
        for topic in topics:
            for p in partitions[topic]:
                tp = TopicPartition(topic, p)
                consumer.assign([tp])
                await consumer.seek_to_beginning(tp)
                end = (await consumer.end_offsets([tp]))[tp]
                pos = 0
                while pos < end:
                    batch = await consumer.getmany(tp, timeout_ms=1000)
                    for record in batch.get(tp, []):
                        yield topic, p, record
                        pos = record.offset + 1
    finally:
        await consumer.stop()


class TopicMismatchError(RuntimeError):
    """An existing topic differs from the catalog (e.g. partition count)."""


# ---- admin ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TopicState:
    name: str
    spec: TopicSpec
    exists: bool
    partitions: int | None
    configs: dict[str, str]


async def _admin(settings: Settings) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, request_timeout_ms=15000)
    await admin.start()
    return admin


async def create_topics(
    settings: Settings, specs: Sequence[TopicSpec] = TOPICS, replication_factor: int = 1
) -> list[str]:
    """Create the catalog's topics under the run's prefix; existing ones are left alone.

    Returns the full names created now.

    Raises
    ------
    TopicMismatchError
        An existing topic has another partition count than the catalog (co-partitioning
        would silently break: one asset's events on different workers).
    """
    admin = await _admin(settings)
    try:
        existing = set(await admin.list_topics())
        wanted = [s for s in specs if settings.topic(s.name) not in existing]
        if wanted:
            # a concurrent creator may win the race: same specs, fine
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            settings.topic(s.name),
                            s.partitions,
                            replication_factor,
                            topic_configs=s.configs(),
                        )
                        for s in wanted
                    ]
                )
        await _check_partitions(admin, settings, specs)
        return [settings.topic(s.name) for s in wanted]
    finally:
        await admin.close()


async def _partition_counts(
    admin: AIOKafkaAdminClient, names: list[str], timeout_s: float = 15.0
) -> dict[str, int]:
    """Partition count per topic, waiting until the broker's metadata shows every one
    (a just-created topic can be missing from metadata for a moment)."""
    import asyncio

    deadline = time.monotonic() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        # ready = every partition has an elected leader (producing earlier gets retried)
        counts = {
            d["topic"]: len(d["partitions"])
            for d in described
            if not d.get("error_code")
            and d["partitions"]
            and all(p.get("leader", -1) >= 0 for p in d["partitions"])
        }
        if len(counts) == len(names) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.2)


async def _check_partitions(
    admin: AIOKafkaAdminClient, settings: Settings, specs: Sequence[TopicSpec]
) -> None:
    counts = await _partition_counts(admin, [settings.topic(s.name) for s in specs])
    for spec in specs:
        got = counts.get(settings.topic(spec.name))
        if got is not None and got != spec.partitions:
            raise TopicMismatchError(
                f"topic {settings.topic(spec.name)} has {got} partitions, the catalog says "
                f"{spec.partitions}; co-partitioned topics must match (recreate it or use a new "
                "topic prefix)"
            )


async def describe_topics(
    settings: Settings, specs: Sequence[TopicSpec] = TOPICS
) -> list[TopicState]:
    """The catalog's topics as they are on the cluster (missing ones say so)."""
    admin = await _admin(settings)
    try:
        names = [settings.topic(s.name) for s in specs]
        existing = set(await admin.list_topics())
        present = [n for n in names if n in existing]
        partitions: dict[str, int] = {}
        configs: dict[str, dict[str, str]] = {}
        if present:
            for d in await admin.describe_topics(present):
                partitions[d["topic"]] = len(d["partitions"])
            responses = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, n) for n in present]
            )
            for response in responses:
                for resource in response.resources:
                    name = resource[3]
                    configs[name] = {
                        entry[0]: entry[1]
                        for entry in resource[4]
                        if entry[0] in ("cleanup.policy", "retention.ms")
                    }
        return [
            TopicState(
                settings.topic(s.name),
                s,
                settings.topic(s.name) in existing,
                partitions.get(settings.topic(s.name)),
                configs.get(settings.topic(s.name), {}),
            )
            for s in specs
        ]
    finally:
        await admin.close()


# ---- produce -------------------------------------------------------------------------------
class EventProducer:
    """Publish typed events to their catalog topic, keyed by ``event.key``.

    Use as ``async with EventProducer(settings) as p: await p.send(event)``.
    ``acks=all`` and idempotence on: a retried send is not duplicated by the broker.
    """

    def __init__(
        self, settings: Settings, serializer: Serializer | None = None, **producer_kwargs: Any
    ) -> None:
        self.settings = settings
        self.serializer = serializer or Serializer()
        kwargs: dict[str, Any] = {"acks": "all", "enable_idempotence": True, "linger_ms": 5}
        kwargs.update(producer_kwargs)
        self.producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, **kwargs)

    async def __aenter__(self) -> EventProducer:
        try:
            await self.producer.start()
        except Exception:
            await self.producer.stop()  # a failed start leaves the client open otherwise
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    def topic(self, event: Event) -> str:
        return self.settings.topic(topic_for(type(event)).name)

    async def send(self, event: Event, topic: str | None = None) -> Any:
        """Queue one event; returns the delivery future (await it for the record metadata)."""
        return await self.producer.send(
            topic or self.topic(event),
            value=self.serializer.encode(event),
            key=event.key.encode(),
            timestamp_ms=event.event_time,
        )

    async def send_many(self, events: Iterable[Event]) -> None:
        """Send events in order and wait until all are acknowledged."""
        futures = [await self.send(e) for e in events]
        for fut in futures:
            await fut

    async def flush(self) -> None:
        await self.producer.flush()


# ---- consume with dead letters -------------------------------------------------------------
def rejected_event(record: Any, error: DecodeError, ingest_time_ms: int) -> EventRejected:
    """The dead letter for a consumer record that failed decoding or validation.

    ``event_id`` is derived from (topic, partition, offset), so re-processing the same record
    yields the same dead letter (replays stay deterministic). ``event_time`` is the record's
    broker timestamp when plausible.
    """
    key = record.key if isinstance(record.key, bytes) else None
    ts = record.timestamp if isinstance(record.timestamp, int) else 0
    return dead_letter(
        IdNamespace.DEADLETTER.id(record.topic, record.partition, record.offset),
        at=ts if MIN_MS <= ts <= MAX_MS else ingest_time_ms,
        ingest_time=ingest_time_ms,
        asset=key.decode("ascii", "replace") if key else "",
        source=record.topic,
        partition=record.partition,
        offset=record.offset,
        raw_key=key,
        raw_value=record.value if isinstance(record.value, bytes) else b"",
        error_type=error.error_type,
        reason=error.reason,
    )


class DeadLetters:
    """Sends rejected records to the run's dead-letter topic; never raises on bad input."""

    def __init__(self, producer: EventProducer) -> None:
        self.producer = producer
        self.topic = producer.settings.topic(DEADLETTER)
        self.count = 0

    async def reject(self, record: Any, error: DecodeError) -> EventRejected:
        dead = rejected_event(record, error, int(time.time() * 1000))
        await self.producer.send(dead, topic=self.topic)
        self.count += 1
        log.warning(
            "dead-lettered %s/%s@%s: %s", record.topic, record.partition, record.offset, error
        )
        return dead

    async def decode(self, record: Any, serializer: Serializer) -> Event | None:
        """``record``'s event, or ``None`` once a bad record (a tombstone included) has been
        dead-lettered with its reason."""
        try:
            if not isinstance(record.value, bytes):
                raise DecodeError("empty", "record has no value (tombstone)")
            return serializer.decode(record.value)
        except DecodeError as exc:
            await self.reject(record, exc)
            return None


async def consume_events(
    consumer: AIOKafkaConsumer,
    serializer: Serializer,
    dead_letters: DeadLetters,
    *,
    idle_timeout_ms: int | None = None,
    batch_timeout_ms: int = 200,
    first_record_timeout_ms: int = 30_000,
) -> AsyncIterator[tuple[Any, Event]]:
    """Yield ``(record, event)`` for each valid record; bad ones go to the dead-letter topic.

    Stops after ``idle_timeout_ms`` without records when given (drains, tests), counted from
    the first record; before any record it waits up to ``first_record_timeout_ms`` (joining a
    consumer group on a busy broker takes seconds). Without it, runs until cancelled.
    """
    idle_ms = 0
    seen_any = False
    while True:
        batch = await consumer.getmany(timeout_ms=batch_timeout_ms)
        if not batch:
            idle_ms += batch_timeout_ms
            if idle_timeout_ms is not None:
                limit = (
                    idle_timeout_ms if seen_any else max(idle_timeout_ms, first_record_timeout_ms)
                )
                if idle_ms >= limit:
                    return
            continue
        idle_ms = 0
        seen_any = True
        for tp in sorted(batch, key=lambda t: (t.topic, t.partition)):
            for record in batch[tp]:
                event = await dead_letters.decode(record, serializer)
                if event is not None:
                    yield record, event
