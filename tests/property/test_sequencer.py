"""The sequencer's release order depends on topic contents only, never on arrival order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sequencer import Sequencer

TOPICS = ("orders.events", "acct.fills", "md.funding", "md.tickers")

# per topic: a non-decreasing run of event times (one topic partition's contents)
topic_contents = st.lists(st.integers(min_value=0, max_value=50), max_size=25).map(sorted)


def _records(contents: list[list[int]]) -> list[tuple[str, int, int]]:
    return [(TOPICS[i], off, t) for i, times in enumerate(contents) for off, t in enumerate(times)]


def _run(records: list[tuple[str, int, int]], order: list[int]) -> list[tuple[str, int]]:
    """Feed in an arrival order that keeps each topic's offsets in order; every topic becomes
    caught up once all its records were pushed."""
    seq: Sequencer[tuple[str, int]] = Sequencer(TOPICS)
    pushed = {t: 0 for t in TOPICS}
    total = {t: sum(1 for r in records if r[0] == t) for t in TOPICS}
    queues = {t: [r for r in records if r[0] == t] for t in TOPICS}
    out: list[tuple[str, int]] = []
    for t in order:
        topic = TOPICS[t]
        if pushed[topic] == total[topic]:
            continue
        _, off, time = queues[topic][pushed[topic]]
        seq.push(topic, 0, off, time, (topic, off))
        pushed[topic] += 1
        out += seq.release(lambda topic, _p: pushed[topic] == total[topic])
    for topic in TOPICS:  # whatever is left arrives last
        while pushed[topic] < total[topic]:
            _, off, time = queues[topic][pushed[topic]]
            seq.push(topic, 0, off, time, (topic, off))
            pushed[topic] += 1
            out += seq.release(lambda topic, _p: pushed[topic] == total[topic])
    assert seq.size == 0
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(topic_contents, min_size=4, max_size=4), st.randoms(use_true_random=False))
def test_any_interleaving_releases_the_same_event_time_order(contents, rnd) -> None:
    records = _records(contents)
    arrivals = [rnd.randrange(len(TOPICS)) for _ in range(4 * len(records) + 1)]
    reference = _run(records, [])  # topic by topic
    shuffled = _run(records, arrivals)
    assert shuffled == reference
    # and the order is (event_time, topic rank, offset)
    times = {(t, off): time for t, off, time in records}
    keys = [(times[r], TOPICS.index(r[0]), r[1]) for r in reference]
    assert keys == sorted(keys) and len(keys) == len(records)


def test_a_topic_that_is_behind_holds_the_others_back() -> None:
    seq: Sequencer[str] = Sequencer(("acct.fills", "md.tickers"))
    seq.push("md.tickers", 2, 0, 100, "tick@100")
    assert list(seq.release(lambda topic, p: False)) == []
    assert seq.pending_partitions() == [2]
    # fills caught up: the tick may go
    assert list(seq.release(lambda topic, p: topic == "acct.fills")) == ["tick@100"]


def test_offsets_must_not_go_backwards_and_unknown_topics_are_refused() -> None:
    seq: Sequencer[str] = Sequencer(("md.tickers",))
    seq.push("md.tickers", 0, 5, 1, "a")
    with pytest.raises(ValueError, match="offset 5 after 5"):
        seq.push("md.tickers", 0, 5, 1, "b")
    with pytest.raises(ValueError, match="not an input"):
        seq.push("md.funding", 0, 0, 1, "c")
    assert seq.drop([0]) == 1 and seq.size == 0


def test_partitions_are_independent() -> None:
    seq: Sequencer[str] = Sequencer(("md.funding", "md.tickers"))
    seq.push("md.tickers", 0, 0, 10, "p0")
    seq.push("md.tickers", 1, 0, 5, "p1")
    # partition 0's funding is behind; partition 1's is caught up
    out = list(seq.release(lambda topic, p: p == 1 or topic == "md.tickers"))
    assert out == ["p1"]
