"""The replay producer on the real broker with the bundled real data."""

import asyncio
import csv
import gzip
import subprocess
import sys
from collections import Counter
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from infra.kafka_io import create_topics
from infra.settings import Settings
from producers import history as h
from producers.replay import replay
from schemas.serde import Serializer

REPO = Path(__file__).resolve().parents[2]
FUNDING = REPO / "data" / "funding" / "finm33150_2025-12-03_2026-03-07.csv.gz"
PRICES = REPO / "data" / "prices" / "finm33150_perp_ohlcv_1h_2025-12-02_2026-03-07.csv.gz"
START, END = 1764720000000, 1772928000000  # the bundled window
VENUES = frozenset(
    {"binance", "bybit", "okx", "kraken", "dydx", "lighter"}
)  # hyperliquid: no prices


def expected_counts() -> Counter[tuple[str, str, str]]:
    """Rows per series read straight from the files (duplicates by time removed)."""
    want: Counter[tuple[str, str, str]] = Counter()
    seen: set[tuple[str, str, str, int]] = set()
    with gzip.open(FUNDING, "rt") as f:
        for row in csv.DictReader(f):
            t = int(row["funding_time_ms"])
            key = ("FundingRateObserved", row["venue"], row["symbol"])
            if row["venue"] in VENUES and START <= t < END and (*key, t) not in seen:
                seen.add((*key, t))
                want[key] += 1
    step = {"1h": 3_600_000}
    with gzip.open(PRICES, "rt") as f:
        for row in csv.DictReader(f):
            t = int(row["open_time_ms"]) + step[row["interval"]]
            key = ("TickerObserved", row["venue"], row["symbol"])
            if row["venue"] in VENUES and START <= t < END and (*key, t) not in seen:
                seen.add((*key, t))
                want[key] += 1
    return want


async def _replay_and_read(settings: Settings) -> tuple[h.ReplayPlan, list, object]:
    await create_topics(settings)
    window = h.Window(START, END, venues=VENUES)
    plan = h.plan([FUNDING, PRICES], window)
    report = await replay(settings, plan, window)
    ser = Serializer()
    consumer = AIOKafkaConsumer(
        settings.topic("md.funding"),
        settings.topic("md.tickers"),
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=5000,
    )
    got = []
    await consumer.start()
    try:
        while len(got) < report.events:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 60)
            for tp, records in batch.items():
                got += [(tp.topic, tp.partition, r.key, ser.decode(r.value)) for r in records]
    finally:
        await consumer.stop()
    return plan, got, report


def test_bundled_window_is_published_exactly_once_in_event_time_order(
    kafka_settings: Settings,
) -> None:
    _, got, report = asyncio.run(_replay_and_read(kafka_settings))

    counts = Counter((type(e).__name__, e.venue, e.instrument) for *_, e in got)
    assert counts == expected_counts()
    assert len({e.event_id for *_, e in got}) == len(got)  # exactly once
    assert report.events == len(got) and report.rejected == 0  # type: ignore[attr-defined]
    by_partition: dict[tuple[str, int], list[int]] = {}
    for topic, partition, key, e in got:
        assert key == e.key.encode()  # keyed by base asset
        by_partition.setdefault((topic, partition), []).append(e.event_time)
    for times in by_partition.values():
        assert times == sorted(times)


def _peak_rss_mb(end: int) -> float:
    code = (
        "import resource, sys; from pathlib import Path; from producers import history as h;"
        "from schemas.serde import Serializer; s = Serializer();"
        f"w = h.Window({START}, {end}, venues=frozenset({sorted(VENUES)!r}));"
        f"p = h.plan([Path({str(FUNDING)!r}), Path({str(PRICES)!r})], w);"
        "n = sum(1 for e in h.merged(p) if s.encode(e));"
        "print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[1])


def test_memory_stays_flat_full_data_against_a_tenth() -> None:
    tenth = START + (END - START) // 10
    assert _peak_rss_mb(END) <= 1.5 * _peak_rss_mb(tenth)


async def _dump_roundtrip(settings: Settings, tmp: Path) -> tuple[list, list]:
    """Replay a small window, dump the topics with the CLI, replay the dump into new topics."""
    await create_topics(settings)
    window = h.Window(
        START,
        START + 2 * 86_400_000,
        assets=frozenset({"BTC"}),
        venues=frozenset({"binance", "bybit"}),
    )
    await replay(settings, h.plan([FUNDING, PRICES], window), window)
    dump = tmp / "run.jsonl.gz"
    env_cli = [
        sys.executable,
        "-m",
        "streams.cli",
        "topics",
        "dump",
        str(dump),
        "--prefix",
        settings.topic_prefix,
    ]
    import os

    proc = subprocess.run(
        env_cli,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "FUNDARB_BOOTSTRAP": settings.bootstrap},
    )
    assert proc.returncode == 0, proc.stderr
    original = [e for e in h.merged(h.plan([FUNDING, PRICES], window))]
    from_dump = [e for e in h.merged(h.plan([dump], h.Window()))]
    return original, from_dump


def test_a_topic_dump_replays_the_same_events(kafka_settings: Settings, tmp_path: Path) -> None:
    original, from_dump = asyncio.run(_dump_roundtrip(kafka_settings, tmp_path))
    assert len(original) > 100
    assert [e.event_id for e in from_dump] == [e.event_id for e in original]
    assert from_dump == original
