"""The id scheme, the envelope helper and the dead-letter builder (schemas/envelope.py)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as hs

from schemas.envelope import IdNamespace, dead_letter, envelope, uuid5_str
from schemas.events import EventRejected, SpreadUpdated

# Written out here, not read from the code: a namespace that changes changes every id of its
# family (and the demo's output_digest). These are the values each module used before the enum.
PINNED = {
    "COMMAND": "7a1f0e4c-3b2d-4f6a-8e9c-1d2b3a4c5e6f",
    "DERIVED": "4d8e2f1a-7b3c-4a5d-9e6f-8a7b6c5d4e3f",
    "REJECT": "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
    "INTENT": "3e9d6b1a-2c4f-4e8a-b7d5-9f0a1c2e3d4b",
    "RISK": "2b7c9d1e-3f4a-4b5c-8d6e-7f8091a2b3c4",
    "ALERT": "1e5f3a7b-9c2d-4e8f-a6b4-3c2d1e0f9a8b",
    "REPLAY_REJECT": "6f2d8a1b-4c3e-4f5a-9b8c-7d6e5f4a3b2c",
    "LIVE": "8d3c1f2e-6b4a-4e5d-9c7b-0a1f2e3d4c5b",
    "REPLAY": "9b3c4e2a-1d5f-4a6b-8c7d-0e1f2a3b4c5d",
    "CONNECTOR": "0c7d2e4f-9b1a-4f3e-8c5d-6a7b8c9d0e1f",
    "GATEWAY": "5e1f0c2d-7a3b-4c9d-8e6f-2a1b3c4d5e6f",
    "PAPER": "2b7e9c4d-5a1f-4e3b-8d6c-1f0e9a8b7c6d",
    "GRID": "5f2a7c3e-9d1b-4e6f-a8c0-2b4d6e8f0a1c",
    "DEADLETTER": "0c6a3d52-6f7e-4a0b-9f1d-2b8e7c4a5d11",
}


def test_every_namespace_is_pinned() -> None:
    assert {ns.name: str(ns.value) for ns in IdNamespace} == PINNED


def test_a_known_id() -> None:
    # computed once with the standard library: uuid.uuid5(UUID(COMMAND), "place/c1")
    assert IdNamespace.COMMAND.id("place", "c1") == str(
        uuid.uuid5(uuid.UUID(PINNED["COMMAND"]), "place/c1")
    )
    assert IdNamespace.GATEWAY.id("okx", "c1", "fill", sep="|") == str(
        uuid.uuid5(uuid.UUID(PINNED["GATEWAY"]), "okx|c1|fill")
    )


@given(hs.sampled_from(list(IdNamespace)), hs.lists(hs.text() | hs.integers(), min_size=1))
def test_ids_are_the_standard_uuid5(ns: IdNamespace, parts: list[object]) -> None:
    name = "/".join(map(str, parts))
    assert ns.id(*parts) == str(uuid.uuid5(ns.value, name))
    assert uuid5_str(ns.value, name) == str(uuid.uuid5(ns.value, name))


def test_envelope_defaults_ingest_time_to_event_time() -> None:
    env = envelope("e1", 5, "okx", "BTC", "c")
    assert env == {
        "event_id": "e1",
        "event_time": 5,
        "ingest_time": 5,
        "venue": "okx",
        "instrument": "BTC",
        "correlation_id": None,
        "causation_id": "c",
    }
    assert envelope("e1", 5, "okx", "BTC", ingest_time=9)["ingest_time"] == 9


def test_envelope_feeds_an_event_constructor() -> None:
    event_id = IdNamespace.DERIVED.id("spread", "BTC", 1_700_000_000_000, "cause")
    e = SpreadUpdated(
        **envelope(event_id, 1_700_000_000_000, "fundarb", "BTC"),
        long_venue="okx",
        long_instrument="BTC/USDT:USDT",
        short_venue="bybit",
        short_instrument="BTC/USDT:USDT",
        long_rate_h=0,
        short_rate_h=0,
        spread_h=0,
        spread_apr=0,
        net_edge_apr=0,
    )
    assert (e.event_id, e.event_time, e.ingest_time) == (event_id, 1_700_000_000_000, e.event_time)


def test_dead_letter_always_builds() -> None:
    raw = b"x" * 100_000
    dead = dead_letter(
        IdNamespace.DEADLETTER.id("t", 0, 7),
        at=1_700_000_000_000,
        asset="BTC-USDT/é" * 10,
        source="t" * 1000,
        raw_value=raw,
        error_type="e" * 1000,
        reason="r" * 10_000,
        offset=7,
    )
    assert isinstance(dead, EventRejected)
    assert dead.instrument == "UNKNOWN"
    assert dead.raw_size == 100_000 and len(dead.raw_value) < 100_000
    assert dead.venue == "fundarb" and dead.ingest_time == dead.event_time
    assert dead.source_offset == 7 and dead.causation_id is None
    assert (
        dead_letter(
            "0c6a3d52-6f7e-4a0b-9f1d-2b8e7c4a5d11",
            at=1_700_000_000_000,
            asset="ETH",
            source="s",
            raw_value=b"",
            error_type="e",
            reason="r",
        ).instrument
        == "ETH"
    )
