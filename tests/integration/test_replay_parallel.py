"""The replay's batched sender and its encoding children publish exactly what one process
sending event by event publishes (issue 18, item 5): every topic partition holds the same
records (offset, key, value, timestamp, headers) on a slice of the bundled data plus a file
with refused rows (dead letters) and a series split over two files."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bench.common import FILES, START
from infra.kafka_io import EventProducer, create_topics, read_topics
from infra.settings import Settings
from producers import history as h
from producers.replay import (
    Encoders,
    ReplayReport,
    ReplaySource,
    rejected_event,
    replay,
    replay_parallel,
    shares,
)
from schemas.catalog import DEADLETTER

WINDOW = h.Window(START, START + 3 * 86_400_000, venues=frozenset({"binance", "bybit", "okx"}))
TOPICS = ("md.funding", "md.tickers", DEADLETTER)
HOUR = 3_600_000


def _files(tmp_path: Path) -> list[Path]:
    """The bundled files, and one funding series (no prices) over two files with an
    unparsable rate and a row older than its predecessor (both refused: dead letters)."""
    rows = [f"okx,XYZ/USDT:USDT,{START + k * 8 * HOUR},0.0001{k}," for k in range(9)]
    rows.insert(3, f"okx,XYZ/USDT:USDT,{START + 9 * HOUR},not-a-rate,")
    rows.insert(6, f"okx,XYZ/USDT:USDT,{START + 1 * HOUR},0.0002,")
    header = ",".join(h.FUNDING_COLUMNS)
    a, b = tmp_path / "xyz_a.csv", tmp_path / "xyz_b.csv"
    a.write_text("\n".join([header, *rows[:7]]) + "\n")
    b.write_text("\n".join([header, *rows[7:]]) + "\n")
    return [*FILES, a, b]


def _plan(files: list[Path]) -> h.ReplayPlan:
    return h.plan(files, WINDOW, need_prices=False)


async def _single_process_reference(settings: Settings, plan: h.ReplayPlan) -> None:
    """Today's single-process replay before the batched sender: one ``EventProducer.send``
    per merged item (a refused row as its dead letter), acks=all, idempotent."""
    async with EventProducer(settings, linger_ms=20, max_batch_size=256 * 1024) as out:
        for item in h.merged(plan):
            if isinstance(item, h.RejectedRow):
                await out.send(rejected_event(item), topic=settings.topic(DEADLETTER))
            else:
                await out.send(item)
        await out.flush()


async def _contents(settings: Settings) -> list[tuple[Any, ...]]:
    names = {settings.topic(t): t for t in TOPICS}
    return [
        (names[topic], p, r.offset, r.key, r.value, r.timestamp, tuple(r.headers))
        async for topic, p, r in read_topics(settings.bootstrap, list(names))
    ]


def _run(settings: Settings, publish: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    async def go() -> tuple[Any, list[tuple[Any, ...]]]:
        await create_topics(settings)
        result = await publish()
        return result, await _contents(settings)

    return asyncio.run(go())


def _with_prefix(settings: Settings, prefix: str) -> Settings:
    return Settings(
        bootstrap_servers=settings.bootstrap, topic_prefix=settings.topic_prefix + prefix
    )


def test_every_replay_path_publishes_the_same_topic_bytes(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    files = _files(tmp_path)
    ref = _with_prefix(kafka_settings, "ref.")
    _, expected = _run(ref, lambda: _single_process_reference(ref, _plan(files)))
    letters = [r for r in expected if r[0] == DEADLETTER]
    assert len(letters) == 2  # the unparsable rate and the out-of-order row
    assert {r[0] for r in expected} == set(TOPICS)
    assert len({(r[0], r[1]) for r in expected if r[0] == "md.tickers"}) > 1  # partitions

    one = _with_prefix(kafka_settings, "one.")
    report, got = _run(one, lambda: replay(one, _plan(files), WINDOW))
    assert got == expected
    assert report.events == len(expected) - 2 and report.rejected == 2

    for workers, fork in ((1, True), (3, True), (2, False)):
        plan = _plan(files)
        source = ReplaySource(files, WINDOW, Decimal("0.0001"), {}, False, plan.indexed)
        par = _with_prefix(kafka_settings, f"par{workers}{fork}.")
        seen: list[int] = []
        # forked: the children read this plan's streams; spawned: they plan again from source
        encoders = Encoders(par, plan, source, workers, fork=fork)
        assert encoders.forked is fork and len(encoders.children) == workers

        async def publish(
            p: h.ReplayPlan = plan,
            s: ReplaySource = source,
            st: Settings = par,
            w: int = workers,
            on: Callable[[int], None] = seen.append,
            e: Encoders = encoders,
        ) -> ReplayReport:
            return await replay_parallel(st, p, s, workers=w, on_progress=on, encoders=e)

        parallel, got = _run(par, publish)
        assert got == expected, f"workers={workers} fork={fork}"
        _same_report(parallel, report, one, par)
        assert seen and seen[-1] == len(expected)


def _same_report(got: ReplayReport, want: ReplayReport, want_s: Settings, got_s: Settings) -> None:
    assert (got.events, got.rejected, got.first_time, got.last_time) == (
        want.events,
        want.rejected,
        want.first_time,
        want.last_time,
    )
    rename = {got_s.topic(t): want_s.topic(t) for t in TOPICS}
    assert {rename[t]: n for t, n in got.by_topic.items()} == dict(want.by_topic)
    assert dict(got.by_series) == dict(want.by_series)
    assert got.quality == want.quality  # the counters the children filled, merged back
    assert got.notes == want.notes


def test_shares_keep_a_series_together_and_cover_every_stream(tmp_path: Path) -> None:
    plan = _plan(_files(tmp_path))
    for workers in (1, 2, 3, 50):
        got = shares(plan, workers)
        assert sorted(i for s in got for i in s) == list(range(len(plan.streams)))
        owner = {i: w for w, s in enumerate(got) for i in s}
        by_series: dict[int, set[int]] = {}
        for i, (q, _) in enumerate(plan.sources):
            by_series.setdefault(id(q), set()).add(owner[i])
        assert all(len(ws) == 1 for ws in by_series.values())
        assert len(got) == min(workers, len(by_series))
    xyz = [i for i, (q, _) in enumerate(plan.sources) if q.symbol == "XYZ/USDT:USDT"]
    assert len(xyz) == 2  # two files, one series


def test_a_failing_encoding_child_raises_with_its_message(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    from producers.replay import EncodeFailed

    files = _files(tmp_path)
    plan = _plan(files)
    source = ReplaySource(files, WINDOW, Decimal("0.0001"), {}, False, plan.indexed)
    (tmp_path / "xyz_b.csv").unlink()  # the child plans again and cannot read it
    with pytest.raises(EncodeFailed, match=r"xyz_b\.csv"):
        _run(kafka_settings, lambda: replay_parallel(kafka_settings, plan, source, workers=2))


def test_hostile_rows_are_refused_alike_by_the_parallel_replay(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    """The encoders' cheaper row checks (text-proved bounds, candle rows after the window
    counted from their bytes) against the running broker: hostile funding and candle rows
    are dead letters with a reason, exactly as the single-process replay's full checks make
    them, and none of their values reaches a market topic."""
    t = START + HOUR
    bad = ["NaN", "inf", "-Infinity", "1E+400000", "\u0663", "1_0"]
    # each bad value follows a valid row (rows before a series' first valid row are dropped
    # without a dead letter today, on the single-process path too: noted, not changed here)
    good_bad = [v for b in bad for v in ("0.0001", b)]
    funding = [f"okx,XYZ/USDT:USDT,{t + k * 8 * HOUR},{v},100" for k, v in enumerate(good_bad)]
    funding += [
        f"okx,XYZ/USDT:USDT,{t + 60 * 8 * HOUR},0.0001,-5",  # negative mark price
        "okx,XYZ/USDT:USDT,99999999999999999999,0.0001,100",  # far future
        "okx,XYZ/USDT:USDT,-5,0.0001,100",  # before the epoch
    ]
    candles = [
        f"okx,XYZ/USDT:USDT,perp_linear,1h,{t + k * HOUR},1,1,1,{v.replace('0.0001', '1')},10"
        for k, v in enumerate(good_bad)
    ]
    candles.append(f"okx,XYZ/USDT:USDT,perp_linear,1h,{t + 30 * HOUR},1,1,1,{'9' * 400},10")
    f = tmp_path / "hostile_funding.csv"
    f.write_text("\n".join([",".join(h.FUNDING_COLUMNS), *funding]) + "\n")
    c = tmp_path / "hostile_prices.csv"
    c.write_text("\n".join([",".join(h.CANDLE_COLUMNS), *candles]) + "\n")
    files = [*FILES, f, c]

    ref = _with_prefix(kafka_settings, "hostile-ref.")
    _, expected = _run(ref, lambda: _single_process_reference(ref, _plan(files)))
    letters = [r for r in expected if r[0] == DEADLETTER]
    reasons = [r[4].decode("utf-8", "replace") for r in letters]
    for v in ("'NaN' is not finite", "'inf' is not finite", "'-Infinity' is not finite"):
        assert sum(v in x for x in reasons) == 2, v  # the funding row and the candle row
    assert sum("exponent outside" in x for x in reasons) == 2
    assert any("decimal string of 400 characters refused" in x for x in reasons)
    published = b"".join(r[4] for r in expected if r[0] != DEADLETTER)
    for v in ("NaN", "Infinity", "400000", "9" * 40):
        assert v.encode() not in published

    plan = _plan(files)
    source = ReplaySource(files, WINDOW, Decimal("0.0001"), {}, False, plan.indexed)
    par = _with_prefix(kafka_settings, "hostile-par.")

    async def publish() -> ReplayReport:
        return await replay_parallel(par, plan, source, workers=2)

    report, got = _run(par, publish)
    assert got == expected
    assert report.rejected == len(letters)
