"""The alert consumer's global event-time merge (consumers/ordering.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.ordering import EventTimeMerge

TOPICS = ["md.tickers", "derived.positions"]


def test_a_topic_read_ahead_waits_for_the_one_behind() -> None:
    m: EventTimeMerge[str] = EventTimeMerge(TOPICS)
    parts = [("md.tickers", 0), ("derived.positions", 0)]
    ends = {("md.tickers", 0): 3, ("derived.positions", 0): 2}
    pos = {("md.tickers", 0): 0, ("derived.positions", 0): 0}

    def caught_up(p: tuple[str, int]) -> bool:
        return pos[p] >= ends[p]

    # the small topic arrives whole first, as a consumer fetches it
    m.push("derived.positions", 0, 0, 150, "pos@150")
    m.push("derived.positions", 0, 1, 250, "pos@250")
    pos[("derived.positions", 0)] = 2
    assert list(m.release(parts, caught_up)) == []  # the tickers are behind: nothing goes
    m.push("md.tickers", 0, 0, 100, "tick@100")
    pos[("md.tickers", 0)] = 1
    assert list(m.release(parts, caught_up)) == ["tick@100"]  # the next ticker may be < 150
    m.push("md.tickers", 0, 1, 150, "tick@150")
    m.push("md.tickers", 0, 2, 300, "tick@300")
    pos[("md.tickers", 0)] = 3
    # a tie goes to the market topic (listed first): a position is marked with its time's mark
    assert list(m.release(parts, caught_up)) == ["tick@150", "pos@150", "pos@250", "tick@300"]
    assert m.size == 0


def test_an_idle_caught_up_partition_does_not_hold_the_others() -> None:
    m: EventTimeMerge[int] = EventTimeMerge(TOPICS)
    m.push("md.tickers", 1, 0, 5, 5)
    parts = [("md.tickers", 0), ("md.tickers", 1), ("derived.positions", 0)]
    assert list(m.release(parts, lambda p: p != ("md.tickers", 1))) == [5]


def test_offsets_must_move_forward_and_topics_be_known() -> None:
    m: EventTimeMerge[int] = EventTimeMerge(TOPICS)
    m.push("md.tickers", 0, 3, 1, 1)
    with pytest.raises(ValueError, match="offset 3 after 3"):
        m.push("md.tickers", 0, 3, 2, 2)
    with pytest.raises(ValueError, match="not an input"):
        m.push("alerts", 0, 0, 1, 1)


@given(
    st.lists(
        st.tuples(st.sampled_from(TOPICS), st.integers(0, 2), st.integers(0, 50)), max_size=60
    ),
    st.randoms(use_true_random=False),
)
def test_any_arrival_order_releases_the_same_event_time_order(records, rnd) -> None:  # type: ignore[no-untyped-def]
    """Whatever order partitions are fetched in, the released order is the sort by
    (event time, topic rank, partition, offset), when each partition's times only rise."""
    by_part: dict[tuple[str, int], list[int]] = {}
    for topic, partition, t in records:
        by_part.setdefault((topic, partition), []).append(t)
    items = []
    for (topic, partition), times in by_part.items():
        for offset, t in enumerate(sorted(times)):
            items.append((topic, partition, offset, t))
    expected = sorted(items, key=lambda i: (i[3], TOPICS.index(i[0]), i[1], i[2]))
    arrival = [list(v) for v in ({p: [i for i in items if i[:2] == p] for p in by_part}.values())]
    m: EventTimeMerge[tuple[str, int, int, int]] = EventTimeMerge(TOPICS)
    ends = {p: len(v) for p, v in by_part.items()}
    pos = dict.fromkeys(by_part, 0)
    got: list[tuple[str, int, int, int]] = []
    while any(arrival):
        queue = rnd.choice([a for a in arrival if a])
        item = queue.pop(0)
        m.push(*item, item)
        pos[item[:2]] += 1
        got += m.release(list(by_part), lambda p: pos[p] >= ends[p])
    got += m.flush()
    assert got == expected
