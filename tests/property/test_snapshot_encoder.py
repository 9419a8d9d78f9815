"""``SnapshotEncoder`` (issue 18: the worker's snapshots without re-writing their unchanged
parts) writes exactly the bytes of ``encode_snapshot`` (``json.dumps`` of the ``_enc`` tree),
for values of every shape the codec knows, again and again with one encoder while the
mutable parts change in place, and on the engine's own states along a simulation."""

from __future__ import annotations

import dataclasses
import enum
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from projections import engine as eng
from projections.board import RateHistory
from projections.positions import AppliedIds
from streams import snapshot_codec as codec
from streams.simulation import Simulation
from tests.unit.test_simulation import CFG, stale_quote_history


class Colour(enum.Enum):
    red = "r"
    blue = 2


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: Any
    b: Any = None


@dataclasses.dataclass(slots=True)
class Slots:  # the fold's slots classes: read-only by convention, not frozen
    a: Any
    b: Any = None


# strings with escapes and non-ASCII (json.dumps writes \uXXXX), ints beyond 64 bits
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=8),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).map(Decimal),
    st.sampled_from(list(Colour)),
)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.tuples(inner, inner),
        st.lists(inner, max_size=3).map(tuple),
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=3), inner, max_size=3),
        st.dictionaries(st.tuples(st.text(max_size=2), st.integers(0, 9)), inner, max_size=2),
        st.builds(Frozen, inner, inner),
        st.builds(Slots, inner, inner),
        st.frozensets(st.text(max_size=4), max_size=4),
        st.frozensets(st.integers(-5, 5), max_size=3),  # not all str: _enc's other order
        st.sets(st.text(max_size=3), max_size=3),
        st.lists(st.text(max_size=4), max_size=4).map(AppliedIds),
        st.lists(
            st.tuples(st.integers(0, 10**13), st.decimals(allow_nan=False, allow_infinity=False)),
            max_size=4,
        ).map(RateHistory),
    )


values = st.recursive(scalars, _containers, max_leaves=25)


def _mutate(x: Any, stamp: int) -> bool:
    """Change the first mutable container found under ``x`` in place; True if one was."""
    if isinstance(x, dict):
        x[f"new{stamp}"] = stamp
        return True
    if isinstance(x, list):
        x.append(stamp)
        return True
    if isinstance(x, set):
        x.add(f"s{stamp}")
        return True
    if isinstance(x, Slots):
        x.b = (stamp, x.b)
        return True
    children: list[Any] = []
    if isinstance(x, tuple):
        children = list(x)
    elif isinstance(x, Frozen):
        children = [x.a, x.b]
    return any(_mutate(c, stamp) for c in children)


@settings(max_examples=300, deadline=None)
@given(value=values, applied=st.dictionaries(st.text(max_size=6), st.integers(0, 99)))
def test_the_encoder_writes_the_bytes_of_encode_snapshot(value: Any, applied: Any) -> None:
    encoder = codec.SnapshotEncoder()
    want = codec.encode_snapshot("BTC", value, applied, None)
    assert encoder.encode("BTC", value, applied, None) == want
    assert encoder.encode("BTC", value, applied, 7) == codec.encode_snapshot(
        "BTC", value, applied, 7
    )  # warm: the kept parts give the same text


@settings(max_examples=300, deadline=None)
@given(value=values, rounds=st.integers(1, 3))
def test_a_part_changed_in_place_is_written_again(value: Any, rounds: int) -> None:
    """Nothing mutable is kept: after an in-place change under any container (a tuple or a
    frozen dataclass holding a dict, a slots class), the next encoding shows it."""
    encoder = codec.SnapshotEncoder()
    encoder.encode("ETH", value, {}, None)
    for stamp in range(rounds):
        _mutate(value, stamp)
        assert encoder.encode("ETH", value, {}, None) == codec.encode_snapshot(
            "ETH", value, {}, None
        )


def test_the_kept_text_is_bounded_by_two_generations() -> None:
    encoder = codec.SnapshotEncoder(limit=8)
    for i in range(50):
        value = tuple((j, Decimal(i + j)) for j in range(5))
        assert encoder.encode("X", value, {}, None) == codec.encode_snapshot("X", value, {}, None)
        assert len(encoder._new) <= 8 and len(encoder._old) <= 8


def test_one_encoder_along_a_simulation_writes_every_slice_as_encode_snapshot_does() -> None:
    """The engine's states as the worker encodes them: one encoder for every flush, states
    that share their unchanged parts with the previous ones."""
    sim = Simulation(CFG)
    encoder = codec.SnapshotEncoder()
    compared = 0

    def compare(stamp: int) -> None:
        nonlocal compared
        for asset in sorted(eng.assets_of(sim.state)):
            piece = eng.slice_for(sim.state, asset)
            applied = {"md.tickers/0": stamp}
            got = encoder.encode(asset, piece, applied, None)
            assert got == codec.encode_snapshot(asset, piece, applied, None)
            assert codec.decode_snapshot(got)[1] == piece
            compared += 1

    events = stale_quote_history()
    for i, e in enumerate(events):
        sim.feed(e)
        compare(i)
    sim.finish()
    compare(len(events))
    assert compared >= 5 and sim.state.strategy.arbs and sim.state.execs
