"""Dead letters always fit the broker's message size: raw bytes are cut to RAW_KEEP_BYTES with
the full value's size and SHA-256 kept (schemas/events.py EventRejected)."""

import hashlib
from types import SimpleNamespace

from infra.kafka_io import rejected_event
from schemas import events as ev
from schemas.serde import DecodeError, Serializer
from tests import stubs

BIG = b"\x00\x00\x00\x00\x01" + bytes(range(256)) * 4096  # ~1 MB


def test_a_dead_letter_of_a_1_mb_record_keeps_8_kib_and_the_digest() -> None:
    record = SimpleNamespace(
        topic="t.md.funding", partition=0, offset=7, key=b"K" * 100_000, value=BIG, timestamp=0
    )
    dead = rejected_event(record, DecodeError("invalid", "venue: bad " * 1000), stubs.T0)
    assert dead.raw_value == BIG[: ev.RAW_KEEP_BYTES]
    assert dead.raw_size == len(BIG)
    assert dead.raw_sha256 == hashlib.sha256(BIG).hexdigest()
    assert dead.raw_key is not None and len(dead.raw_key) == ev.RAW_KEEP_BYTES
    assert len(Serializer().encode(dead)) < 64 * 1024  # far below the broker's 1 MiB


def test_any_producer_of_dead_letters_gets_them_cut_at_construction() -> None:
    # the replay and the venue connectors build EventRejected themselves
    dead = stubs.event_rejected(raw_value=BIG, reason="x" * 10_000, source_topic="s" * 5000)
    assert len(dead.raw_value) == ev.RAW_KEEP_BYTES and dead.raw_size == len(BIG)
    assert len(dead.reason) <= 2000 and len(dead.source_topic) <= 256
    back = Serializer().decode(Serializer().encode(dead))
    assert back == dead


def test_a_small_dead_letter_is_kept_whole_with_its_digest() -> None:
    dead = stubs.event_rejected()
    assert dead.raw_value == b"\x00\x00\x00\x00\x01\xff" and dead.raw_size == 6
    assert dead.raw_sha256 == hashlib.sha256(b"\x00\x00\x00\x00\x01\xff").hexdigest()
