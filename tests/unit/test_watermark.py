"""The backtest clock's pure rules (streams/watermark.py): what the worker may fold when, what
the venue may take when, and the watermarks they tell each other."""

from __future__ import annotations

import json

import pytest

from streams.watermark import DONE, GatedMerge, Heartbeat, VenueGate, covers, seq_of

TICKS = ("p.md.tickers", 0)
FUNDING = ("p.md.funding", 0)
FILLS = ("p.acct.fills", 0)
EVENTS = ("p.orders.events", 0)


def _merge() -> GatedMerge:
    return GatedMerge([TICKS, FUNDING])


def _venue(time: int, pending: int = DONE, **kw: object) -> Heartbeat:
    return Heartbeat("venue", "paper", time, pending, **kw)  # type: ignore[arg-type]


def test_heartbeat_round_trips_and_refuses_other_records() -> None:
    hb = Heartbeat("worker", "w", 5, 5, {"t/0": 3}, {})
    assert Heartbeat.decode(hb.encode()) == hb
    with pytest.raises(ValueError):
        Heartbeat.decode(b'{"role": "other"}')


def test_seq_header_from_pairs_or_mapping() -> None:
    assert seq_of([("x", b"1"), ("fundarb-seq", b"42")]) == 42
    assert seq_of({"fundarb-seq": b"7"}) == 7
    assert seq_of(None) is None and seq_of([]) is None


def test_covers_needs_every_partition_consumed() -> None:
    assert covers({"a/0": 3, "a/1": 1}, {"a/0": 3})
    assert not covers({"a/0": 2}, {"a/0": 3})
    assert not covers({}, {"a/1": 1})


def test_market_waits_for_the_venue_and_folds_one_batch_per_time() -> None:
    m = _merge()
    m.push_market(TICKS, 0, 100, (0, "bybit", "X"), "t100-bybit")
    m.push_market(TICKS, 1, 100, (0, "binance", "X"), "t100-binance")
    m.push_market(FUNDING, 0, 100, (1, "binance", "X"), "f100")
    m.push_market(TICKS, 2, 200, (0, "binance", "X"), "t200")
    caught = {FUNDING}.__contains__
    assert list(m.release(caught)) == []  # no venue heartbeat yet
    m.on_heartbeat(_venue(99))
    m.refresh({})
    assert list(m.release(caught)) == []  # answers before 100 may still come
    m.on_heartbeat(_venue(100))
    m.refresh({})
    # the replay's order at equal time: tickers before funding, then venue, instrument
    assert list(m.release(caught)) == [("market", ["t100-binance", "t100-bybit", "f100"])]
    # t200 is the ticker partition's last record and it is not caught up: more at 200 may come
    m.on_heartbeat(_venue(300))
    m.refresh({})
    assert list(m.release(caught)) == []
    assert list(m.release(lambda tp: True)) == [("market", ["t200"])]


def test_answers_go_by_time_then_the_venues_sequence_and_need_v_past_their_time() -> None:
    m = _merge()
    m.push_answer(FILLS, 0, 150, 2, "fill")
    m.push_answer(EVENTS, 0, 150, 1, "accepted")
    m.push_market(TICKS, 0, 150, (0, "bybit", "X"), "t150")
    m.on_heartbeat(_venue(150, offsets={"p.acct.fills/0": 1, "p.orders.events/0": 1}))
    m.refresh({})  # answers not consumed up to the heartbeat's offsets: it does not count
    assert m.venue is None
    m.refresh({FILLS: 1, EVENTS: 1})
    done = lambda tp: True  # noqa: E731
    # market at 150 first; answers stamped 150 need V > 150
    assert list(m.release(done)) == [("market", ["t150"])]
    m.on_heartbeat(_venue(151))
    m.refresh({FILLS: 1, EVENTS: 1})
    assert list(m.release(done)) == [("answer", "accepted"), ("answer", "fill")]


def test_worker_watermark_uses_the_venues_pending_only_when_it_saw_every_command() -> None:
    m = _merge()
    assert m.watermark(lambda tp: True, {}) is None  # nothing from the venue yet
    m.push_market(TICKS, 0, 3600, (0, "bybit", "X"), "next hour")
    m.on_heartbeat(_venue(150, 3600, consumed={"p.orders.commands/0": 2}))
    m.refresh({})
    done = lambda tp: True  # noqa: E731
    # the venue had every command when it wrote: nothing before the next hour can come
    assert m.watermark(done, {"p.orders.commands/0": 2}) == 3600
    # a command it had not seen yet may be answered at V: the bound is V
    assert m.watermark(done, {"p.orders.commands/0": 3}) == 150
    # a market partition with nothing buffered and not caught up bounds by its last time
    assert m.watermark(lambda tp: tp != FUNDING, {}) == 0


def test_venue_gate_takes_market_up_to_w_plus_latency_and_commands_strictly_before() -> None:
    gate = VenueGate(latency_ms=50, partitions=1, start=1000)
    assert gate.w == 1000  # no command can be stamped before the first market event
    assert gate.may_take_market(1050) and not gate.may_take_market(1051)
    assert gate.may_take_command(1049) and not gate.may_take_command(1050)
    gate.on_heartbeat(Heartbeat("worker", "w", 2000, 2000, {"p.orders.commands/0": 1}, {}))
    gate.refresh({})
    assert gate.w == 1000  # its commands are not consumed yet
    gate.refresh({"p.orders.commands/0": 1})
    assert gate.w == 2000
    gate.on_heartbeat(Heartbeat("worker", "w", DONE, DONE, {}, {}))
    gate.refresh({"p.orders.commands/0": 1})
    assert gate.w == DONE


def test_venue_gate_takes_the_minimum_over_every_partitions_newest_claim() -> None:
    """Two workers, two partitions each: W is the smallest claim, and only once every partition
    has one; a partition that moves keeps the newest claim made for it, whoever made it."""
    gate = VenueGate(latency_ms=50, partitions=4, start=1000)
    gate.on_heartbeat(Heartbeat("worker", "a", 3000, 3000, {}, {}, [0, 1]))
    gate.refresh({})
    assert gate.w == 1000  # partitions 2 and 3 have no claim yet
    gate.on_heartbeat(Heartbeat("worker", "b", 2000, 2000, {}, {}, [2, 3]))
    gate.refresh({})
    assert gate.w == 2000
    # b died; a took partitions 2 and 3 over and claims them (lower: it re-folds from the
    # last commit; b's claim was true of the same deterministic commands)
    gate.on_heartbeat(Heartbeat("worker", "a", 1500, 1500, {}, {}, [0, 1, 2, 3]))
    gate.refresh({})
    assert gate.w == 1500
    # a heartbeat whose commands are not consumed holds back the later ones of its member
    gate.on_heartbeat(Heartbeat("worker", "a", 4000, 4000, {"p.orders.commands/2": 5}, {}, [2]))
    gate.on_heartbeat(Heartbeat("worker", "a", 5000, 5000, {}, {}, [0, 1, 2, 3]))
    gate.refresh({"p.orders.commands/2": 4})
    assert gate.w == 1500
    gate.refresh({"p.orders.commands/2": 5})
    assert gate.w == 5000


def test_order_header_round_trips_as_tuples() -> None:
    from streams.watermark import ORDER_HEADER, order_of

    key = [1000, 0, [0, "binance", "BTC/USDT:USDT", 2, 7], 1]
    assert order_of([(ORDER_HEADER, json.dumps(key).encode())]) == (
        1000,
        0,
        (0, "binance", "BTC/USDT:USDT", 2, 7),
        1,
    )
    assert order_of([]) is None and order_of([("other", b"1")]) is None


def test_a_redelivered_record_is_held_once() -> None:
    m = GatedMerge([("p.md.tickers", 0)])
    assert m.push_market(("p.md.tickers", 0), 3, 1000, (0, "v", "i"), "x")
    assert not m.push_market(("p.md.tickers", 0), 3, 1000, (0, "v", "i"), "x")
    assert m.push_answer(("p.orders.events", 0), 1, 900, 1, "a")
    assert not m.push_answer(("p.orders.events", 0), 1, 900, 1, "a")
    assert m.size == 2


def test_a_worker_waits_only_for_the_venues_answers_on_its_own_partitions() -> None:
    m = GatedMerge([("p.md.tickers", 1)])  # this worker owns partition 1 only
    m.on_heartbeat(_venue(500, offsets={"p.acct.fills/0": 4, "p.acct.fills/1": 2}))
    m.refresh({("p.acct.fills", 1): 1})
    assert m.venue is None  # its own answer at offset 1 is not in yet
    m.refresh({("p.acct.fills", 1): 2})
    assert m.venue is not None and m.venue.time == 500  # partition 0's are another's


def test_after_a_rebalance_no_answer_is_overtaken_by_a_market_record_fetched_again_first() -> None:
    # the venue's V = 500 counted once the fill (offset 0, stamped 100) was consumed; then a
    # rebalance rewinds: the market record at 200 is fetched again before the fill
    m = _merge()
    m.on_heartbeat(_venue(500, offsets={"p.acct.fills/0": 1}))
    m.refresh({FILLS: 1})
    assert m.venue is not None and m.venue.time == 500
    m = m.reassigned([TICKS, FUNDING])
    done = lambda tp: True  # noqa: E731
    m.push_market(TICKS, 0, 200, (0, "bybit", "X"), "t200")
    m.refresh({TICKS: 1})
    assert m.venue is None and list(m.release(done)) == []  # the fill may still come
    m.push_answer(FILLS, 0, 100, 1, "fill")
    m.refresh({TICKS: 1, FILLS: 1})
    assert list(m.release(done)) == [("answer", "fill"), ("market", ["t200"])]


def test_a_reassigned_merge_keeps_the_heartbeats_still_waiting_in_order() -> None:
    m = _merge()
    m.on_heartbeat(_venue(100))
    m.refresh({})
    m.on_heartbeat(_venue(200, offsets={"p.acct.fills/0": 2}))
    m.refresh({FILLS: 1})  # the second one waits for the fill at offset 1
    m = m.reassigned([TICKS])
    assert m.venue is None and [h.time for h in m.heartbeats] == [100, 200]
    m.refresh({FILLS: 2})
    assert m.venue is not None and m.venue.time == 200 and not m.held and not m.size
