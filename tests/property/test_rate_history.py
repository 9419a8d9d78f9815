"""``board.RateHistory`` (issue 18: a feed's settled-rate window shared between the feeds that
extend one another) equals the tuple ``(*rates, point)[-limit:]`` it replaced, for every
version ever made, after random appends that also extend older versions (a board reverted
by ``fold_market`` and folded on differently), and pickles and encodes as that tuple."""

from __future__ import annotations

import pickle
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from projections import board as bd
from streams import snapshot_codec as codec

# (which earlier version to extend: an index from the newest back, the rate in 1e-5)
steps = st.lists(
    st.tuples(st.integers(min_value=0, max_value=6), st.integers(-50, 50)), max_size=120
)


@settings(max_examples=150, deadline=None)
@given(steps=steps, limit=st.integers(min_value=1, max_value=9), start=st.integers(0, 12))
def test_every_version_equals_the_tuple_it_replaced(
    steps: list[tuple[int, int]], limit: int, start: int
) -> None:
    first = tuple((t, Decimal(t)) for t in range(start))[-limit:]
    # each version: (the RateHistory or restored tuple, the tuple the old code held)
    versions: list[tuple[object, tuple[tuple[int, Decimal], ...]]] = [(first, first)]
    t = start
    for back, rate in steps:
        base, expected = versions[max(0, len(versions) - 1 - back)]
        t += 1
        point = (t, Decimal(rate) / 100_000)
        got = bd.RateHistory.appended(base, point, limit)  # type: ignore[arg-type]
        want = (*expected, point)[-limit:]
        versions.append((got, want))
        for v, w in versions:  # no append changed an older version
            assert v == w and tuple(v) == w and len(v) == len(w)  # type: ignore[arg-type]
            if w:
                assert v[-1] == w[-1] and v[0] == w[0]  # type: ignore[index]
    for v, w in versions:
        if isinstance(v, bd.RateHistory):
            assert v[1:] == w[1:] and list(reversed(v)) == list(reversed(w))
            assert (
                pickle.loads(pickle.dumps(v)) == w and type(pickle.loads(pickle.dumps(v))) is tuple
            )
            assert codec._enc(v) == codec._enc(w)


def test_the_shared_list_is_compacted_so_memory_stays_flat() -> None:
    h: object = ()
    for t in range(10_000):
        h = bd.RateHistory.appended(h, (t, Decimal(t)), 5)  # type: ignore[arg-type]
    assert isinstance(h, bd.RateHistory) and tuple(h) == tuple(
        (t, Decimal(t)) for t in range(9_995, 10_000)
    )
    assert len(h._log) <= 4 * 5
