"""Worker snapshots: versioned JSON by shape, no pickle; the previous version (pickle) still
restores; an incompatible layout or a newer version is refused with a clear message."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from projections import engine as eng
from projections.strategies.base import Breakers
from schemas.config import StrategyConfig
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
    doc["state"]["f"]["strategies"]["$M"][0][1]["f"]["retired_field"] = 1
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


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots"


def test_a_version_2_snapshot_written_before_plug_ins_restores_as_the_funding_arbs_state() -> None:
    """``v2_BTC.snap`` was written by the worker of commit 4977df0 (one ``strategy`` field,
    classes in ``projections.strategy``); version 3 keys strategy states by id."""
    blob = (FIXTURES / "v2_BTC.snap").read_bytes()
    assert json.loads(blob[len(codec.MAGIC) :])["version"] == 2
    asset, got, applied, jump = codec.decode_snapshot(blob)
    assert (asset, applied, jump) == ("BTC", {"md.tickers/0": 7}, None)
    assert list(got.strategies) == ["funding_arb"]
    plans = list(got.strategy.arbs.values())
    assert len(plans) == 1 and plans[0].asset == "BTC" and plans[0].arb_id.startswith("BTC-")
    assert isinstance(got.breakers, Breakers)
    assert got.books["BTC"].legs and got.execs["BTC"].arbs  # the rest came through untouched
    again = codec.encode_snapshot(asset, got, applied, jump)
    assert json.loads(again[len(codec.MAGIC) :])["version"] == codec.STATE_VERSION == 3
    assert codec.decode_snapshot(again)[1] == got


def _fold_digest(state: eng.EngineState, events: list[Any]) -> tuple[int, str]:
    """Outputs of folding ``events`` (market events, batched per event time) onto ``state``:
    their count and the SHA-256 of their JSON, as ``fixtures/snapshots/mkfix`` recorded."""
    import hashlib

    digest, n, batch = hashlib.sha256(), 0, []

    def fold(st: eng.EngineState, batch: list[Any]) -> eng.EngineState:
        nonlocal n
        st, outs, refused = eng.fold_market(st, batch, StrategyConfig())
        assert not refused
        for o in outs:
            digest.update(o.model_dump_json().encode())
            n += 1
        return st

    for e in events:
        if batch and batch[0].event_time != e.event_time:
            state, batch = fold(state, batch), []
        batch.append(e)
    fold(state, batch)
    return n, digest.hexdigest()


@pytest.mark.parametrize("kind", ["v1", "v3"])
def test_snapshots_written_with_frozen_feeds_fold_on_to_the_outputs_that_code_emitted(
    kind: str,
) -> None:
    """``v1_*.pickle`` (pickled ``Snapshot``) and ``v3_*.snap`` (JSON) were written by commit
    8eb7d35, whose ``FundingFeed``/``TickerFeed`` were frozen dataclasses (now slots classes,
    issue 18), 20,000 events into the bundled window; ``fold_after_v1_v3.json`` holds the
    count and digest of what that commit's engine emitted folding the next BTC and ETH market
    events onto them. Restored here, they emit the same bytes."""
    from producers import history as h
    from projections import board as bd
    from streams.cli import DEFAULT_DATA

    want = json.loads((FIXTURES / "fold_after_v1_v3.json").read_text())
    slices = []
    for asset in ("BTC", "ETH"):
        name = f"v1_{asset}.pickle" if kind == "v1" else f"v3_{asset}.snap"
        got_asset, piece, _, _ = codec.decode_snapshot((FIXTURES / name).read_bytes())
        assert got_asset == asset
        feeds = [*piece.boards[asset].funding.values(), *piece.boards[asset].tickers.values()]
        assert feeds and all(type(f) in (bd.FundingFeed, bd.TickerFeed) for f in feeds)
        assert not hasattr(feeds[0], "__dict__")  # the slots classes, not the old layout
        slices.append(piece)
    market = list(
        h.merged(
            h.plan(
                list(DEFAULT_DATA), h.Window(0, 2**62), reference_prices={"hyperliquid": "binance"}
            )
        )
    )
    cut = want["cut"]
    rest = [e for e in market[cut : cut + 6000] if e.instrument.split("/")[0] in ("BTC", "ETH")]
    assert len(rest) == want["events"]
    assert _fold_digest(eng.merge(slices), rest) == (want["outputs"], want["digest"])
