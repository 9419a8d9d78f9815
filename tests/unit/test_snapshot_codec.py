"""Worker snapshots: versioned JSON by shape, no pickle; the previous version (pickle) still
restores; an incompatible layout or a newer version is refused with a clear message."""

from __future__ import annotations

import dataclasses
import json
import pickle
from typing import Any

import pytest

from projections import engine as eng
from streams import snapshot_codec as codec
from streams.simulation import Simulation
from streams.worker import EngineWorker, Snapshot
from tests.unit.test_simulation import CFG, stale_quote_history


def _state() -> eng.EngineState:
    """A state with an open arb: boards, books, executions, plans, risk."""
    sim = Simulation(CFG)
    for e in stale_quote_history():
        sim.feed(e)
    sim.finish()
    assert sim.state.strategy.arbs and sim.state.execs
    return sim.state


def _worker() -> EngineWorker:
    from infra.settings import load_settings

    return EngineWorker(load_settings(topic_prefix="t-"), CFG, send=None, persist=None)


def test_every_asset_slice_round_trips_exactly() -> None:
    state = _state()
    for asset in eng.assets_of(state):
        piece = eng.slice_for(state, asset)
        blob = codec.encode_snapshot(asset, piece, {"md.tickers/0": 7}, 123)
        assert blob.startswith(codec.MAGIC) and b"\x80" not in blob[:1]
        got_asset, got, applied, jump = codec.decode_snapshot(blob)
        assert (got_asset, applied, jump) == (asset, {"md.tickers/0": 7}, 123)
        assert got == piece
        assert codec.encode_snapshot(asset, got, applied, jump) == blob  # byte-stable


def test_a_snapshot_of_the_previous_version_restores_and_is_rewritten_in_the_new_one() -> None:
    """Version 1 was ``pickle.dumps(Snapshot(...))`` (the worker before this codec)."""
    state = _state()
    blobs = [
        pickle.dumps(Snapshot(a, eng.slice_for(state, a), {"acct.fills/0": 3}, None))
        for a in sorted(eng.assets_of(state))
    ]
    w = _worker()
    w.restore(blobs)
    assert w.state == eng.merge([eng.slice_for(state, a) for a in eng.assets_of(state)])
    asset = sorted(eng.assets_of(state))[0]
    assert w.applied[asset] == {"acct.fills/0": 3}
    assert w.snapshot(asset).startswith(codec.MAGIC)  # the next flush writes version 2


def _doc(blob: bytes) -> dict[str, Any]:
    return json.loads(blob[len(codec.MAGIC) :])  # type: ignore[no-any-return]


def _blob(doc: dict[str, Any]) -> bytes:
    return codec.MAGIC + json.dumps(doc).encode()


def test_a_newer_version_or_a_removed_field_is_refused_naming_it() -> None:
    state = _state()
    asset = next(iter(state.strategy.arbs.values())).asset
    doc = _doc(codec.encode_snapshot(asset, eng.slice_for(state, asset), {}, None))
    newer = dict(doc, version=codec.STATE_VERSION + 1)
    with pytest.raises(codec.SnapshotVersionError, match="newer than this worker"):
        codec.decode_snapshot(_blob(newer))
    # a field the code no longer has (a layout written by other code)
    doc["state"]["f"]["strategy"]["f"]["retired_field"] = 1
    with pytest.raises(
        codec.SnapshotVersionError, match="StrategyState has no field retired_field"
    ):
        codec.decode_snapshot(_blob(doc))
    with pytest.raises(codec.SnapshotVersionError, match="not a fundarb snapshot"):
        codec.decode_snapshot(b"garbage")
    outside = _blob(dict(doc, state={"$C": "os:system", "f": {}}))
    with pytest.raises(codec.SnapshotVersionError, match="outside the state's packages"):
        codec.decode_snapshot(outside)


def test_a_field_added_since_takes_its_default_and_an_upcaster_moves_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = _state()
    asset = next(iter(state.strategy.arbs.values())).asset
    piece = eng.slice_for(state, asset)
    doc = _doc(codec.encode_snapshot(asset, piece, {}, None))
    del doc["state"]["f"]["now"]  # EngineState.now has a default: an older layout without it
    _, got, _, _ = codec.decode_snapshot(_blob(doc))
    assert got == dataclasses.replace(piece, now=0)

    # an upcaster from the current version to the next one (renaming a field back)
    doc = _doc(codec.encode_snapshot(asset, piece, {}, None))
    doc["state"]["f"]["clocks_v_old"] = doc["state"]["f"].pop("clocks")

    def up(d: dict[str, Any]) -> dict[str, Any]:
        d["state"]["f"]["clocks"] = d["state"]["f"].pop("clocks_v_old")
        return d

    monkeypatch.setattr(codec, "STATE_VERSION", codec.STATE_VERSION + 1)
    monkeypatch.setitem(codec.UPCASTERS, codec.STATE_VERSION - 1, up)
    _, got, _, _ = codec.decode_snapshot(_blob(doc))
    assert got == piece
