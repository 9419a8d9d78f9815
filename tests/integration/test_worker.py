"""The Faust worker on the real broker: entry + hedge, determinism, recovery after kill -9."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from infra.kafka_io import create_topics
from infra.settings import Settings
from producers.paper import PaperConfig, run_paper_venue
from schemas import events as ev
from tests import stubs
from tests.market import T0, H, funding, ticker, two_venue_history
from tests.worker_proc import WorkerProc, answer, events, publish, records, wait_for


def _positions(evs: list[ev.Event]) -> dict[tuple[str, str], ev.PositionChanged]:
    last: dict[tuple[str, str], ev.PositionChanged] = {}
    for e in evs:
        if isinstance(e, ev.PositionChanged):
            last[(e.venue, e.instrument)] = e
    return last


async def _hedged(settings: Settings) -> dict[tuple[str, str], ev.PositionChanged] | None:
    legs = _positions(await events(settings, "derived.positions"))
    if len(legs) == 2 and all(p.qty != 0 for p in legs.values()):
        return legs
    return None


def test_scripted_two_venue_entry_is_hedged_to_zero_delta_with_paper_fills(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    """Binance pays more than Bybit: short Binance, long Bybit; the paper venue fills leg one,
    the worker hedges from the executed quantity, the hedge fills: net delta 0."""

    async def run() -> None:
        await create_topics(kafka_settings)
        await publish(kafka_settings, two_venue_history(n=2))
        worker = WorkerProc(kafka_settings, tmp_path / "w")
        worker.start()
        # the paper venue stops after this long without a record: it must outlast the worker's
        # start (Faust import, group join, recovery: over 8 s on a loaded box, and the command
        # then came after the venue had gone)
        paper = asyncio.create_task(
            run_paper_venue(kafka_settings, PaperConfig(latency_ms=50), drain_ms=30000)
        )
        try:
            legs = await wait_for(lambda: _hedged(kafka_settings), 90, "a hedged position")
            await asyncio.to_thread(worker.wait_idle)
        finally:
            worker.stop()
            await paper
        intents = await events(kafka_settings, "strategy.intents")
        commands = await events(kafka_settings, "orders.commands")
        fills = await events(kafka_settings, "acct.fills")
        (intent,) = intents
        assert isinstance(intent, ev.TargetPositionSet)
        targets = {leg.venue: leg.target_qty for leg in intent.legs}
        assert targets["binance"] < 0 < targets["bybit"]
        places = [c for c in commands if isinstance(c, ev.PlaceOrder)]
        assert [p.is_hedge for p in places] == [False, True]
        first_fill = next(f for f in fills if f.client_order_id == places[0].client_order_id)
        assert places[1].qty == first_fill.qty  # hedge sized from the executed quantity
        assert places[1].venue != places[0].venue
        assert places[1].event_time == first_fill.event_time  # reacts on the fill's event time
        assert sum((p.qty for p in legs.values()), Decimal(0)) == 0
        final = [p for p in legs.values() if p.net_delta_base is not None]
        assert final and all(p.net_delta_base == 0 for p in final[-1:])

    asyncio.run(run())


def _market(assets: tuple[str, ...] = ("BTC", "ETH", "SOL"), rounds: int = 4) -> list[ev.Event]:
    """Several assets, venues and rates that cross: entries, a flip, ties on event time."""
    out: list[ev.Event] = []
    for i in range(rounds):
        t = T0 + i * 8 * H
        for k, asset in enumerate(assets):
            hi, lo = ("0.0003", "0.00005") if (i + k) % 3 else ("0.00005", "0.0003")
            out += [
                funding("binance", hi, t, asset=asset),
                funding("bybit", lo, t, asset=asset),
                funding("okx", "0.0001", t, asset=asset),
            ]
            for venue in ("binance", "bybit", "okx"):
                out.append(ticker(venue, "99.99", "100.01", t, asset=asset))
                out.append(ticker(venue, "99.98", "100.02", t + 30_000, asset=asset))
    return out


async def _contents(settings: Settings) -> list[tuple[str, int, bytes | None, bytes, int]]:
    return [
        (topic, p, r.key, r.value, r.timestamp)
        for topic, p, r in await records(settings, "strategy.intents", "orders.commands")
    ]


def test_same_inputs_into_fresh_prefixes_give_byte_identical_intents_and_commands(
    kafka_broker: object, tmp_path: Path
) -> None:
    """Same topic contents, written in different interleavings (funding first / tickers
    first): the sequencer makes the decision order a function of the contents only."""
    bootstrap = kafka_broker.bootstrap  # type: ignore[attr-defined]
    market = _market()
    fund = [e for e in market if isinstance(e, ev.FundingRateObserved)]
    tick = [e for e in market if isinstance(e, ev.TickerObserved)]
    bad = stubs.ticker_observed(event_time=T0 + 1)  # a valid event on the wrong topic

    async def run(
        tag: str, order: list[list[ev.Event]]
    ) -> list[tuple[str, int, bytes | None, bytes, int]]:
        settings = Settings(bootstrap_servers=bootstrap, topic_prefix=f"t-det-{tag}-{id(order)}.")
        await create_topics(settings)
        for batch in order:
            await publish(settings, batch)
        await _wrong_topic(settings, bad)
        worker = WorkerProc(settings, tmp_path / tag)
        worker.start()
        try:
            st = await asyncio.to_thread(worker.wait_idle, len(market))
        finally:
            worker.stop()
        assert st["dead_lettered"] == 1  # the hostile record, and the worker carried on
        dead = await events(settings, "deadletter")
        assert [d.error_type for d in dead] == ["wrong_topic"]  # type: ignore[attr-defined]
        return await _contents(settings)

    async def both() -> None:
        a = await run("a", [fund, tick])
        b = await run("b", [tick, fund])
        assert a == b
        kinds = Counter(Serializer_name(v) for _, _, _, v, _ in a)
        assert kinds["TargetPositionSet"] >= 2 and kinds["PlaceOrder"] >= 2, kinds

    asyncio.run(both())


def Serializer_name(value: bytes) -> str:
    from schemas.serde import Serializer

    return type(Serializer().decode(value)).__name__


async def _wrong_topic(settings: Settings, event: ev.Event) -> None:
    from infra.kafka_io import EventProducer

    async with EventProducer(settings) as producer:
        fut = await producer.send(event, topic=settings.topic("md.funding"))
        await fut


class VenueDouble:
    """Answers every new PlaceOrder with an acceptance and a full fill at 100 (once per client
    order id, like a venue that rejects duplicates); ``before_answer`` can kill the worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.answered: set[str] = set()
        self.seen: Counter[str] = Counter()

    async def step(self, before_answer: object = None) -> list[ev.PlaceOrder]:
        new = []
        for e in await events(self.settings, "orders.commands"):
            if isinstance(e, ev.PlaceOrder) and e.client_order_id not in self.answered:
                new.append(e)
                self.answered.add(e.client_order_id)
        for cmd in new:
            if before_answer is not None:
                before_answer(cmd)  # type: ignore[operator]
            await publish(self.settings, answer(cmd, Decimal("100")))
        return new


@pytest.mark.parametrize(
    ("crash", "store"),
    [
        ("kill-between-fill-and-hedge", "memory://"),
        ("crash-after-hedge-sent", "memory://"),
        ("crash-after-hedge-sent", "rocksdb://"),
    ],
)
def test_kill_9_during_entry_and_restart_hedges_exactly_once(
    kafka_settings: Settings, tmp_path: Path, crash: str, store: str
) -> None:
    """Leg one is placed; the worker dies (SIGKILL before the fill arrives, or a hard exit right
    after the hedge went out and before anything was acked); a new worker restores the tables
    from their changelogs: one hedge per client order id, net delta zero."""

    async def run() -> None:
        await create_topics(kafka_settings)
        history = two_venue_history(n=2)
        await publish(kafka_settings, history)
        worker = WorkerProc(kafka_settings, tmp_path / "w", {"FUNDARB_TABLE_STORE": store})
        venue = VenueDouble(kafka_settings)
        if crash == "kill-between-fill-and-hedge":
            worker.start()
            first = await wait_for(lambda: _places(kafka_settings), 90, "leg one")
            assert len(first) == 1 and not first[0].is_hedge
            await asyncio.to_thread(worker.wait_idle, len(history))
            # the venue fills leg one while the worker is dead
            await venue.step(before_answer=lambda cmd: worker.kill())
        else:
            # records folded before the crash: 12 market events, then the fill's two records
            # (accepted, fill) → the fill is #14; its hedge is sent, then os._exit
            worker.start(FUNDARB_CRASH_AFTER_RECORDS=str(len(history) + 2))
            await wait_for(lambda: _places(kafka_settings), 90, "leg one")
            await venue.step()
            await asyncio.to_thread(worker.proc.wait, 60)  # type: ignore[union-attr]
            assert worker.proc.returncode == 137  # type: ignore[union-attr]
        worker.start()
        hedges = await wait_for(lambda: _places(kafka_settings, hedge=True), 90, "the hedge")
        await venue.step()  # fill the hedge
        await wait_for(lambda: _hedged(kafka_settings), 150, "a hedged position", log=worker.log)
        # the status file is written every second: wait for one written after the hedge's fill
        # was folded (an earlier one may still say idle with leg one alone)
        st = await asyncio.to_thread(
            worker.wait,
            lambda s: s["idle"] and Decimal(s["net_delta_usd"]) == 0,
            90,
            "an idle status with the hedge folded",
        )
        worker.stop()

        places = [
            e
            for e in await events(kafka_settings, "orders.commands")
            if isinstance(e, ev.PlaceOrder)
        ]
        by_cid: dict[str, set[str]] = {}
        for p in places:
            by_cid.setdefault(p.client_order_id, set()).add(p.model_dump_json())
        # a re-sent command is byte-identical (a duplicate the venue drops), never a new order
        assert all(len(v) == 1 for v in by_cid.values()), by_cid
        hedge_cids = {p.client_order_id for p in places if p.is_hedge}
        assert len(hedge_cids) == 1 and len(hedges) >= 1
        assert len(by_cid) == 2  # leg one and its hedge, nothing else
        legs = _positions(await events(kafka_settings, "derived.positions"))
        assert sum((p.qty for p in legs.values()), Decimal(0)) == 0
        assert st["open_arbs"] == 1 and Decimal(st["net_delta_usd"]) == 0
        # the crash left the fill unacked: it was folded again and the hedge re-sent, identical
        sends = Counter(p.client_order_id for p in places)[next(iter(hedge_cids))]
        assert sends == (2 if crash == "crash-after-hedge-sent" else 1)

    asyncio.run(run())


async def _places(settings: Settings, hedge: bool = False) -> list[ev.PlaceOrder]:
    return [
        e
        for e in await events(settings, "orders.commands")
        if isinstance(e, ev.PlaceOrder) and e.is_hedge == hedge
    ]


def test_worker_refuses_topics_whose_partition_counts_differ(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    async def make() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_settings.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(kafka_settings.topic("md.tickers"), 2, 1)])
        finally:
            await admin.close()

    asyncio.run(make())
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker", "--prefix", kafka_settings.topic_prefix],
        env={
            **__import__("os").environ,
            "FUNDARB_BOOTSTRAP": kafka_settings.bootstrap,
            "FUNDARB_STATE_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 1
    said = " ".join((proc.stderr + proc.stdout).split())  # the console wraps long lines
    assert "md.tickers has 2 partitions, the catalog says 4" in said
    assert "Traceback" not in proc.stderr
