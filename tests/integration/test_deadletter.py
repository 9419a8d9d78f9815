"""10,000 hostile records through the real broker: each lands on the dead-letter topic with a
reason, the consumer never crashes, and every valid record around them is delivered."""

import asyncio
import copy
import io
import random
import struct
from collections import Counter

import fastavro
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from infra.kafka_io import DeadLetters, EventProducer, consume_events, create_topics
from infra.settings import Settings
from schemas.avro import load_avsc
from schemas.events import EventRejected, FundingRateObserved
from schemas.serde import Serializer, to_record
from tests import stubs

HOSTILE = 10_000
VALID = 500
ser = Serializer()


def _frame(type_name: str, record: dict, schema: dict | None = None) -> bytes:
    schema_id = ser.registry.id_for(type_name, 1)
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(
        buf, fastavro.parse_schema(schema or load_avsc(type_name, 1)), record
    )
    return buf.getvalue()


def hostile_records(rng: random.Random) -> list[tuple[str, bytes | None]]:
    funding = to_record(stubs.funding_observed())
    fill = to_record(stubs.fill_executed())
    good = ser.encode(stubs.funding_observed())
    side_plus = copy.deepcopy(load_avsc("FillExecuted", 1))
    for field in side_plus["fields"]:
        if field["name"] == "side":
            field["type"]["symbols"].append("short")
    makers = {
        "random_bytes": lambda: bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64))),
        "truncated": lambda: good[: rng.randint(1, len(good) - 1)],
        "wrong_schema_id": lambda: struct.pack(">bI", 0, rng.randint(10_000, 2**31)) + good[5:],
        "nan": lambda: _frame(
            "FundingRateObserved",
            {**funding, "funding_rate": rng.choice(["NaN", "Infinity", "-inf"])},
        ),
        "negative_price": lambda: _frame(
            "FundingRateObserved", {**funding, "mark_price": "-" + str(rng.randint(1, 10**5))}
        ),
        "seconds_timestamp": lambda: _frame(
            "FundingRateObserved",
            {**funding, "event_time": rng.randint(1_600_000_000, 1_800_000_000)},
        ),
        "unknown_enum": lambda: _frame("FillExecuted", {**fill, "side": "short"}, side_plus),
        "tombstone": lambda: None,
    }
    kinds = list(makers)
    return [(kind, makers[kind]()) for kind in (kinds[i % len(kinds)] for i in range(HOSTILE))]


async def _run(settings: Settings) -> tuple[list, list[EventRejected], dict[int, str]]:
    await create_topics(settings)
    topic = settings.topic("md.funding")
    rng = random.Random(20251203)
    hostile = hostile_records(rng)
    valid = [
        stubs.funding_observed(event_id=stubs.eid(f"valid-{i}"), event_time=stubs.T0 + i)
        for i in range(VALID)
    ]
    rng.shuffle(hostile)
    # valid records at random places, in their own order
    slots = set(rng.sample(range(HOSTILE + VALID), VALID))
    valid_iter = iter(("valid", ser.encode(v)) for v in valid)
    hostile_iter = iter(hostile)
    stream = [
        next(valid_iter) if i in slots else next(hostile_iter) for i in range(HOSTILE + VALID)
    ]

    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=20)
    await producer.start()
    kind_at: dict[int, str] = {}
    try:
        futures = [
            (kind, await producer.send(topic, value=value, key=b"BTC", partition=0))
            for kind, value in stream
        ]
        for kind, fut in futures:
            kind_at[(await fut).offset] = kind
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        group_id=f"{settings.topic_prefix}c",
    )
    delivered = []
    async with EventProducer(settings) as out:
        dead = DeadLetters(out)
        await consumer.start()
        try:
            async for record, event in consume_events(consumer, ser, dead, idle_timeout_ms=3000):
                delivered.append((record.offset, event))
        finally:
            await consumer.stop()
        await out.flush()

    dl_consumer = AIOKafkaConsumer(
        settings.topic("deadletter"),
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    letters: list[EventRejected] = []
    await dl_consumer.start()
    try:
        while len(letters) < HOSTILE:
            batch = await asyncio.wait_for(
                dl_consumer.getmany(timeout_ms=1000, max_records=5000), 30
            )
            for records in batch.values():
                letters.extend(ser.decode(r.value) for r in records)  # type: ignore[misc]
    finally:
        await dl_consumer.stop()
    return delivered, letters, kind_at


def test_hostile_records_are_dead_lettered_and_valid_ones_delivered(
    kafka_settings: Settings,
) -> None:
    delivered, letters, kind_at = asyncio.run(_run(kafka_settings))

    assert len(delivered) == VALID
    assert all(kind_at[offset] == "valid" for offset, _ in delivered)
    assert [e.event_time for _, e in delivered] == [stubs.T0 + i for i in range(VALID)]
    assert all(isinstance(e, FundingRateObserved) for _, e in delivered)

    assert len(letters) == HOSTILE
    offsets = [d.source_offset for d in letters]
    assert len(set(offsets)) == HOSTILE
    assert {kind_at[o] for o in offsets} == set(kind_at.values()) - {"valid"}
    assert all(d.reason and d.error_type for d in letters)
    assert all(d.source_topic == kafka_settings.topic("md.funding") for d in letters)

    by_kind = Counter((kind_at[d.source_offset], d.error_type) for d in letters)
    expected_type = {
        "wrong_schema_id": {"unknown_schema_id"},
        "nan": {"invalid"},
        "negative_price": {"invalid"},
        "seconds_timestamp": {"invalid"},
        "unknown_enum": {"avro"},
        "tombstone": {"empty"},
        "truncated": {"truncated", "avro", "unknown_schema_id", "invalid"},
    }
    for (kind, error_type), _ in by_kind.items():
        if kind in expected_type:
            assert error_type in expected_type[kind], (kind, error_type)
    sample = next(d for d in letters if kind_at[d.source_offset] == "seconds_timestamp")
    assert "looks like seconds" in sample.reason
    raw = next(d for d in letters if kind_at[d.source_offset] == "random_bytes")
    assert raw.raw_value and raw.raw_key == b"BTC"


async def _oversized(settings: Settings, raw: bytes) -> tuple[list, list[EventRejected]]:
    await create_topics(settings)
    topic = settings.topic("md.funding")
    good = ser.encode(stubs.funding_observed(event_id=stubs.eid("after-the-big-one")))
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, max_request_size=2**21)
    await producer.start()
    try:
        await (await producer.send(topic, value=raw, key=b"BTC", partition=0))
        await (await producer.send(topic, value=good, key=b"BTC", partition=0))
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        group_id=f"{settings.topic_prefix}big",
        fetch_max_bytes=2**22,
        max_partition_fetch_bytes=2**22,
    )
    delivered = []
    async with EventProducer(settings) as out:
        dead = DeadLetters(out)
        await consumer.start()
        try:
            async for _record, event in consume_events(consumer, ser, dead, idle_timeout_ms=2000):
                delivered.append(event)
        finally:
            await consumer.stop()
        await out.flush()
    dl = AIOKafkaConsumer(
        settings.topic("deadletter"),
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    letters: list[EventRejected] = []
    await dl.start()
    try:
        batch = await dl.getmany(timeout_ms=5000)
        for records in batch.values():
            letters.extend(ser.decode(r.value) for r in records)  # type: ignore[misc]
    finally:
        await dl.stop()
    return delivered, letters


def test_a_1_mb_invalid_record_is_dead_lettered_cut_to_fit_with_its_digest(
    kafka_settings: Settings,
) -> None:
    import hashlib

    # just under the broker's default 1 MiB limit: its dead letter (raw + reason) was over it
    raw = _frame(
        "FundingRateObserved", {**to_record(stubs.funding_observed()), "venue": "X" * 1_048_000}
    )
    delivered, letters = asyncio.run(_oversized(kafka_settings, raw))
    from schemas.events import RAW_KEEP_BYTES

    assert [e.event_id for e in delivered] == [stubs.eid("after-the-big-one")]
    assert len(letters) == 1
    (letter,) = letters
    assert letter.error_type == "invalid" and "venue" in letter.reason
    assert letter.raw_value == raw[:RAW_KEEP_BYTES]
    assert letter.raw_size == len(raw)
    assert letter.raw_sha256 == hashlib.sha256(raw).hexdigest()
