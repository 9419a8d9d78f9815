"""``fundarb backtest``: recorded data → Kafka → the engine and paper venue → Kafka → report.

Steps: start the local broker if none is configured (stopped again afterwards); create the run's
topics under a fresh prefix; replay the data (:mod:`producers.replay`); read the market topics
back in event-time order; run them through :class:`streams.simulation.Simulation` (the live
engine with the paper venue in-process, so the run is deterministic); publish every event the
run produces to its topic; compute the summary and the report; audit every topic of the run to
ClickHouse when asked.

Money in the summary is exact: ``total_pnl_usd = funding_pnl_usd + price_pnl_usd − fees_usd −
borrow_usd`` (Decimal, written as strings). ``output_digest`` is a SHA-256 over the run's
``strategy.intents``, ``orders.commands`` and ``acct.fills`` record values, read back from Kafka
in (topic, partition, offset) order: the same inputs and config give the same digest.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import json
import multiprocessing
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel, ConfigDict, PlainSerializer

from infra import kafka_local
from infra.kafka_io import EventProducer, create_topics, read_topics, topic_partitions
from infra.settings import Settings
from producers import history
from producers.paper import PaperConfig
from producers.replay import (
    PRODUCER_SETTINGS,
    BatchPublisher,
    ReplayReport,
    Segment,
    replay_process,
)
from projections import engine as eng
from projections.board import quote_pair
from projections.funding import MS_PER_HOUR
from schemas.config import StrategyConfig
from schemas.events import (
    Event,
    FillExecuted,
    FundingRateObserved,
    TickerObserved,
)
from schemas.serde import Serializer
from schemas.types import base_asset
from streams.simulation import Simulation

if TYPE_CHECKING:
    from consumers.audit import AuditResult

DIGEST_TOPICS = ("strategy.intents", "orders.commands", "acct.fills")
MARKET_TOPICS = ("md.tickers", "md.funding")


@dataclass
class BacktestOptions:
    """What to run. ``run_id`` names the output; the topic prefix is always fresh."""

    paths: list[Path]
    window: history.Window
    out_dir: Path
    run_id: str
    config: StrategyConfig = field(default_factory=StrategyConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)
    reference_prices: dict[str, str] = field(default_factory=dict)
    half_spread: Decimal = Decimal("0.0001")
    audit: bool = True
    config_path: Path | None = None  # the strategy file the config came from (for the record)


#: money as summary.json writes it (``format(x, "f")``), read back and written out digit for
#: digit: not schemas.types.Dec, which canonicalises (``0.00000000`` would print as ``0``)
SummaryMoney = Annotated[
    Decimal, PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json")
]


class BacktestSummary(BaseModel):
    """What :func:`run_backtest` returns: ``summary.json`` with its headline typed (money
    exact, ``total = funding + price − fees − borrow``); every other key of the file
    (``window``, ``arbs_closed``, ``data_quality``, ``cost_attribution``, ``inputs``, …) is
    kept as is in ``model_extra``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    run: str  # the topic prefix without its dot: the `run` column of the audit tables
    run_id: str
    events_in: int  # replayed to the market topics
    events_consumed: int  # read back and simulated
    intents: int
    orders: int
    fills: int
    arbs_opened: int
    total_pnl_usd: SummaryMoney
    funding_pnl_usd: SummaryMoney
    price_pnl_usd: SummaryMoney
    fees_usd: SummaryMoney
    borrow_usd: SummaryMoney
    apr_on_capital: SummaryMoney  # a fraction per year
    wall_seconds: float
    events_per_second: float
    output_digest: str  # SHA-256 hex over the run's decisions (module docstring)
    digest_records: dict[str, int]  # records per topic the digest covers

    #: the one JSON line ``fundarb backtest`` prints, in this order
    HEADLINE: ClassVar[tuple[str, ...]] = (
        "run",
        "events_in",
        "intents",
        "orders",
        "fills",
        "arbs_opened",
        "total_pnl_usd",
        "funding_pnl_usd",
        "price_pnl_usd",
        "fees_usd",
        "apr_on_capital",
        "wall_seconds",
        "events_per_second",
        "output_digest",
    )

    def headline(self) -> dict[str, Any]:
        """The :attr:`HEADLINE` fields, JSON-ready (money as exact plain-notation strings)."""
        data = self.model_dump(mode="json", include=set(self.HEADLINE))
        return {k: data[k] for k in self.HEADLINE}


@dataclass
class Progress:
    """Callbacks for a progress display (simulated time, events/s, open arbs)."""

    on_phase: Callable[[str], None] = lambda _phase: None
    on_tick: Callable[[int, int, int], None] = lambda _events, _sim_time, _open: None


# ---- reading the market topics back in event-time order ------------------------------------
def _order_key(event: Event, partition: int, offset: int) -> tuple[Any, ...]:
    rank = 0 if isinstance(event, TickerObserved) else 1  # the replay's own tie rule
    return (event.event_time, rank, event.venue, event.instrument, partition, offset)


async def _once(ends: Segment) -> AsyncIterator[Segment]:
    yield ends


async def ordered_market_events(
    settings: Settings, serializer: Serializer, segments: AsyncIterator[Segment] | None = None
) -> AsyncIterator[Event]:
    """Every event of the run's market topics, merged across partitions in event-time order.

    Each partition is already in that order (the replay publishes in it), so a k-way merge of
    the partition heads restores the replay's global order. Reads in batches (memory stays
    flat), up to the end offsets seen at start, or, with ``segments`` (a replay that is still
    running, :func:`producers.replay.replay`'s ``on_segment``), segment by segment: each
    segment's records are merged and yielded as soon as the replay says they are all
    published. Segments are cut between two event times, so the concatenation is the order
    of one merge over everything.

    The records are decoded without re-validation (``Serializer.decode_trusted``): the topics
    are the run's own, under a fresh prefix, written only by this run's replay from events
    its parser validated (the edge, ``producers.history``).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap, enable_auto_commit=False, max_poll_records=2000
    )
    await consumer.start()
    try:
        parts = await topic_partitions(
            settings.bootstrap, [settings.topic(n) for n in MARKET_TOPICS]
        )
        tps = [TopicPartition(t, p) for t, ps in sorted(parts.items()) for p in ps]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        if segments is None:
            ends = await consumer.end_offsets(tps)
            segments = _once({(tp.topic, tp.partition): end for tp, end in ends.items()})
        buffers: dict[TopicPartition, deque[tuple[int, Event]]] = {tp: deque() for tp in tps}
        position = {tp: 0 for tp in tps}
        decode = serializer.decode_trusted

        async def head(tp: TopicPartition, end: int) -> tuple[int, Event] | None:
            buffer = buffers[tp]
            while not buffer and position[tp] < end:
                consumer.pause(*[t for t in tps if t != tp])
                consumer.resume(tp)
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=2000)
                for record in batch.get(tp, []):
                    position[tp] = record.offset + 1
                    buffer.append((record.offset, decode(record.value)))
            if buffer and buffer[0][0] < end:
                return buffer[0]
            return None

        seq = 0
        async for segment in segments:
            limit = {tp: segment.get((tp.topic, tp.partition), 0) for tp in tps}
            heap: list[tuple[tuple[Any, ...], int, TopicPartition]] = []
            for tp in tps:
                first = await head(tp, limit[tp])
                if first is not None:
                    heapq.heappush(heap, (_order_key(first[1], tp.partition, first[0]), seq, tp))
                    seq += 1
            while heap:
                _, _, tp = heapq.heappop(heap)
                _, event = buffers[tp].popleft()
                yield event
                nxt = await head(tp, limit[tp])
                if nxt is not None:
                    heapq.heappush(heap, (_order_key(nxt[1], tp.partition, nxt[0]), seq, tp))
                    seq += 1
    finally:
        await consumer.stop()


class ReplayFailed(RuntimeError):
    """The replay process failed (its message) or died without a word."""


class ReplayProcess:
    """The backtest's replay in a second process (:func:`producers.replay.replay_process`).

    ``segments()`` yields the replay's published segments as they come (for
    :func:`ordered_market_events`); :attr:`report` is the replay's report once it is done.
    The child is a ``spawn`` process (no state forked from the broker client or the event
    loop of this one); it is terminated if the reader stops early.
    """

    def __init__(self, settings: Settings, opts: BacktestOptions) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=replay_process,
            args=(
                child,
                settings,
                list(opts.paths),
                opts.window,
                opts.half_spread,
                dict(opts.reference_prices),
            ),
            name="fundarb-replay",
            daemon=True,
        )
        self._proc.start()
        child.close()
        self.report: ReplayReport | None = None

    async def segments(self) -> AsyncIterator[Segment]:
        while True:
            try:
                kind, payload = await asyncio.to_thread(self._conn.recv)
            except EOFError:
                raise ReplayFailed(
                    f"the replay process ended (exit code {self._proc.exitcode}) without a report"
                ) from None
            if kind == "segment":
                yield payload
            elif kind == "done":
                self.report = payload
                return
            else:
                raise ReplayFailed(f"replay failed: {payload}")

    def close(self) -> None:
        if self._proc.is_alive():
            self._proc.join(timeout=10 if self.report is not None else 0)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=10)
        self._conn.close()


async def output_digest(settings: Settings) -> tuple[str, Counter[str]]:
    """SHA-256 of the digest topics' record values in (topic, partition, offset) order.

    A record byte-identical to an earlier one of its topic partition is left out: a worker
    that restarted (or took over a partition) re-sends the outputs it cannot know were
    delivered, with the same ids and bytes (at least once, idempotent; docs/reliability.md),
    and consumers drop them. Without a restart there is no such record."""
    digest = hashlib.sha256()
    counts: Counter[str] = Counter()
    names = {settings.topic(n): n for n in DIGEST_TOPICS}
    seen: set[tuple[str, int, bytes]] = set()
    async for topic, partition, record in read_topics(settings.bootstrap, list(names)):
        key = (topic, partition, hashlib.sha256(record.value).digest())
        if key in seen:
            continue
        seen.add(key)
        digest.update(f"{names[topic]}|{partition}|".encode() + record.value)
        counts[names[topic]] += 1
    return digest.hexdigest(), counts


# ---- the run -------------------------------------------------------------------------------
@dataclass
class Recorder:
    """Collects what the summary and report need while the run goes (hourly samples)."""

    equity: list[dict[str, Any]] = field(default_factory=list)
    spreads: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    #: per venue: fills, traded volume (qty × price, USD) and fees (fee currency as reported)
    venues: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_hour: int = -1
    #: per arb: what its fills paid over the mid of the quote they filled against (USD;
    #: half-spread + slippage + impact: buys (price − mid) × qty, sells (mid − price) × qty)
    exec_cost: dict[str, Decimal] = field(default_factory=dict)
    #: settled funding the run saw per (venue, instrument): (funding_time, rate), ascending
    settlements: dict[tuple[str, str], list[tuple[int, Decimal]]] = field(default_factory=dict)

    def fill_cost(self, fill: FillExecuted, sim: Simulation) -> None:
        """Attribute a fill's cost over the mid of the quote the paper venue filled it against
        (its own last quote, or the stand-in of :mod:`projections.stand_in` once that is older
        than the ticker TTL: measured against a stale quote, a leg of a quiet venue showed the
        market's move since as cost, 549.42 instead of 176.41 USD on the demo) to its arb."""
        key = (fill.venue, fill.instrument)
        if fill.correlation_id is None or key not in sim.venue.quotes:
            return
        quote = sim.venue.fill_quote(key, fill.event_time)
        over = (fill.price - (quote.bid + quote.ask) / 2) * fill.qty
        cost = over if fill.side.value == "buy" else -over
        self.exec_cost[fill.correlation_id] = (
            self.exec_cost.get(fill.correlation_id, Decimal(0)) + cost
        )

    def market(self, event: Event) -> None:
        """Keep a settled funding rate (the forecast accuracy is measured on them)."""
        if isinstance(event, FundingRateObserved) and event.settled:
            pts = self.settlements.setdefault((event.venue, event.instrument), [])
            if not pts or event.funding_time > pts[-1][0]:
                pts.append((event.funding_time, event.funding_rate))

    def observe(self, event: Event) -> None:
        """Count an output event of the run; fills also add to their venue's volume."""
        self.counts[type(event).__name__] += 1
        if isinstance(event, FillExecuted):
            v = self.venues.setdefault(
                event.venue, {"fills": 0, "volume_usd": Decimal(0), "fees": Decimal(0)}
            )
            v["fills"] += 1
            v["volume_usd"] += event.qty * event.price
            v["fees"] += (
                event.fee
                if event.fee_currency.upper() != base_asset(event.instrument).upper()
                else event.fee * event.price
            )

    def before(self, sim: Simulation, next_time: int) -> None:
        """Sample once per hour, just before time advances: every event of the previous
        timestamp is folded by then (mid-timestamp states mix old and new marks)."""
        hour = next_time // MS_PER_HOUR
        if hour != self.last_hour and sim.state.now:
            self.last_hour = hour
            sim.advance_to(next_time)  # answers already due (e.g. a hedge fill) come first
            self.sample(sim, sim.state.now)

    def sample(self, sim: Simulation, now: int) -> None:
        pnl = eng.pnl(sim.state)
        self.equity.append(
            {
                "time": now,
                "funding": pnl.funding,
                "price": pnl.price,
                "fees": pnl.fees,
                "borrow": pnl.borrow,
                "total": pnl.total,
                "net_delta_usd": eng.net_delta_usd(sim.state),
                "open_arbs": len(sim.state.strategy.live()),
                # capital in use: the notional of every live arb's legs (both legs)
                "deployed_usd": sum(
                    (2 * a.notional_usd for a in sim.state.strategy.live()), Decimal(0)
                ),
            }
        )
        for plan in sim.state.strategy.live():
            board = sim.state.boards.get(plan.asset)
            if board is None:
                continue
            q = quote_pair(board, plan.long, plan.short, sim.config, now)
            if not q.blocked:
                self.spreads.setdefault(plan.arb_id, []).append((now, float(q.spread_apr)))


#: feed TTLs are at least this many candle intervals of the data (a ticker is up to one
#: interval old between candles; half an interval more absorbs a late or missing bar)
TTL_CANDLE_INTERVALS = Decimal("1.5")


@dataclass
class Prepared:
    """A backtest's inputs checked before any broker starts: the replay plan, the strategy
    config with feed TTLs fitted to the data's candle interval, and the notes to show."""

    plan: history.ReplayPlan
    config: StrategyConfig
    notes: list[str]
    feed_ttls: dict[str, Any]


def fit_ttls(config: StrategyConfig, candle_ms: int) -> tuple[StrategyConfig, list[str]]:
    """Raise ``feeds.ticker_ttl_ms`` and ``risk.stale_feed_ms`` to ≥ 1.5 × ``candle_ms``.

    ``candle_ms``: the coarsest candle interval of the replayed prices (ms; 0 = unknown, no
    change). With 8 h candles a 2 h ticker TTL marks every pair stale between bars and the
    stale-feed breaker closes each arb right after it opens; the TTLs must follow the data's
    own cadence. Never lowers a configured value. Returns the config and one note per raise.
    """
    floor = int(candle_ms * TTL_CANDLE_INTERVALS)
    notes: list[str] = []
    feeds, risk = config.feeds, config.risk
    if floor > feeds.ticker_ttl_ms:
        notes.append(
            f"feeds.ticker_ttl_ms raised from {feeds.ticker_ttl_ms} to {floor} "
            f"({TTL_CANDLE_INTERVALS} × the data's {candle_ms // MS_PER_HOUR} h candles)"
        )
        feeds = feeds.model_copy(update={"ticker_ttl_ms": floor})
    if floor > risk.stale_feed_ms:
        notes.append(
            f"risk.stale_feed_ms raised from {risk.stale_feed_ms} to {floor} "
            f"({TTL_CANDLE_INTERVALS} × the data's {candle_ms // MS_PER_HOUR} h candles)"
        )
        risk = risk.model_copy(update={"stale_feed_ms": floor})
    if not notes:
        return config, notes
    return config.model_copy(update={"feeds": feeds, "risk": risk}), notes


def prepare(opts: BacktestOptions) -> Prepared:
    """Index the data, check the selection and fit the feed TTLs; no broker, no Kafka.

    Raises
    ------
    history.HistoryError
        The data cannot be replayed as asked: missing file, nothing selected, only inverse
        contracts, no prices, a traded venue without fees in the config (one-line message).
    """
    plan = history.plan(
        opts.paths,
        opts.window,
        half_spread=opts.half_spread,
        reference_prices=opts.reference_prices,
    )
    try:  # every venue the data trades needs a fee entry: unknown fees would overstate edges
        opts.config.fees.require(sorted({r.venue for r in plan.runs if r.kind == "funding"}))
    except ValueError as exc:
        raise history.HistoryError(str(exc)) from None
    candle_ms = history.candle_interval_ms(plan)
    config, ttl_notes = fit_ttls(opts.config, candle_ms)
    feed_ttls = {
        "candle_interval_ms": candle_ms,
        "ticker_ttl_ms": config.feeds.ticker_ttl_ms,
        "stale_feed_ms": config.risk.stale_feed_ms,
        "raised": ttl_notes,
    }
    return Prepared(plan, config, list(plan.notes) + ttl_notes, feed_ttls)


async def _run(
    settings: Settings, opts: BacktestOptions, progress: Progress, prepared: Prepared
) -> dict[str, Any]:
    wall_start = time.perf_counter()
    await create_topics(settings)
    # the replay runs in a second process; the simulation folds each segment it has published
    progress.on_phase("replay + simulate")
    replayer = ReplayProcess(settings, opts)
    try:
        return await _simulate(settings, opts, progress, prepared, replayer, wall_start)
    finally:
        replayer.close()


async def _simulate(
    settings: Settings,
    opts: BacktestOptions,
    progress: Progress,
    prepared: Prepared,
    replayer: ReplayProcess,
    wall_start: float,
) -> dict[str, Any]:
    ser = Serializer()
    recorder = Recorder()
    # outputs go out in record batches per partition (send_batch), in the order the run
    # produced them: the same records on every partition as one send per event, fewer calls
    async with EventProducer(settings, serializer=ser, **PRODUCER_SETTINGS) as out:
        publisher = BatchPublisher(out.producer)
        encode = ser.encode

        async def publish(events: list[Event]) -> None:
            for e in events:
                await publisher.add(out.topic(e), e.key.encode(), encode(e), e.event_time)

        pending: list[Event] = []

        def collect(event: Event) -> None:
            pending.append(event)
            recorder.observe(event)
            if isinstance(event, FillExecuted):
                recorder.fill_cost(event, sim)

        sim = Simulation(prepared.config, opts.paper, on_output=collect)
        assets: set[str] = set()
        venues: set[str] = set()
        n = 0
        async for event in ordered_market_events(settings, ser, replayer.segments()):
            recorder.before(sim, event.event_time)
            recorder.market(event)
            sim.feed(event)
            assets.add(event.key)
            venues.add(event.venue)
            if pending:
                await publish(pending)
                pending.clear()
            n += 1
            if n % 2000 == 0:
                progress.on_tick(n, event.event_time, len(sim.state.strategy.live()))
        sim.finish()
        await publish(pending)
        await publisher.flush()
    if sim.state.now:
        recorder.sample(sim, sim.state.now)  # the final state
    progress.on_phase("digest")
    digest, digest_counts = await output_digest(settings)
    wall = time.perf_counter() - wall_start
    report = replayer.report
    if report is None:  # the merge read every segment, so the replay said it is done
        raise ReplayFailed("the replay process gave no report")
    summary = build_summary(
        opts, sim, recorder, report.events, n, digest, wall, sorted(assets), sorted(venues)
    )
    summary["data_quality"] = {
        "rejected_rows": report.rejected,
        "notes": report.notes,
        "series_with_findings": [q for q in report.quality if history.has_findings(q)],
    }
    summary["data_quality"]["notes"] += prepared.feed_ttls["raised"]
    summary["feed_ttls"] = prepared.feed_ttls  # what the run used, and why when raised
    from consumers.report import forecast_accuracy

    # the forecast the config describes, judged on every cross-venue pair of the run
    summary["forecast_accuracy"] = {
        "params": {k: str(v) for k, v in prepared.config.forecast.model_dump().items()},
        **forecast_accuracy(recorder.settlements, prepared.config.forecast),
    }
    summary["cost_attribution"] = cost_attribution(arb_rows(sim, recorder))
    summary["topic_prefix"] = settings.topic_prefix
    summary["digest_records"] = dict(sorted(digest_counts.items()))  # what the digest covers
    return {"summary": summary, "sim": sim, "recorder": recorder}


def _money(x: Decimal) -> str:
    return format(x, "f")


def build_summary(
    opts: BacktestOptions,
    sim: Simulation,
    rec: Recorder,
    events_in: int,
    consumed: int,
    digest: str,
    wall: float,
    assets: list[str],
    venues: list[str],
) -> dict[str, Any]:
    """The summary.json content (money as exact decimal strings; see module docstring)."""
    pnl = eng.pnl(sim.state)
    arbs = list(sim.state.strategy.arbs.values())
    closed = Counter(outcome(a) for a in arbs if a.status == "closed")
    totals = [s["total"] for s in rec.equity] or [Decimal(0)]
    peak, drawdown = Decimal("-Infinity"), Decimal(0)
    for value in totals:
        peak = max(peak, value)
        drawdown = max(drawdown, peak - value)
    capital = opts.config.capital_usd
    start = (
        opts.window.start if opts.window.start > 0 else (rec.equity[0]["time"] if rec.equity else 0)
    )
    end = min(opts.window.end, sim.state.now) if sim.state.now else start
    hours = Decimal(max(end - start, 1)) / MS_PER_HOUR
    ret = pnl.total / capital
    return {
        "run_id": opts.run_id,
        "window": {"from": start, "to": end},
        "assets": assets,
        "venues": venues,
        "events_in": events_in,
        "events_consumed": consumed,
        "intents": rec.counts["TargetPositionSet"] + rec.counts["ExitRequested"],
        "orders": rec.counts["PlaceOrder"],
        "cancels": rec.counts["CancelOrder"],
        "fills": rec.counts["FillExecuted"],
        "funding_payments": rec.counts["FundingPaid"],
        "dead_letters": len(sim.rejected),
        "arbs_opened": sum(1 for a in arbs if a.status != "entering" or a.qty > 0),
        "arbs_open_at_end": sum(1 for a in arbs if a.status in ("open", "entering", "exiting")),
        "arbs_closed": dict(sorted(closed.items())),
        "total_pnl_usd": _money(pnl.total),
        "funding_pnl_usd": _money(pnl.funding),
        "price_pnl_usd": _money(pnl.price),
        "fees_usd": _money(pnl.fees),
        "borrow_usd": _money(pnl.borrow),
        "max_drawdown_usd": _money(drawdown),
        "max_net_delta_usd": _money(
            max((abs(s["net_delta_usd"]) for s in rec.equity), default=Decimal(0))
        ),
        "capital_usd": _money(capital),
        "return_on_capital": _money(ret.quantize(Decimal("1e-8"))),
        "apr_on_capital": _money((ret * 8760 / hours).quantize(Decimal("1e-8"))),
        "wall_seconds": round(wall, 2),
        "events_per_second": round(consumed / wall, 1) if wall else 0.0,
        "output_digest": digest,
    }


def outcome(plan: Any) -> str:
    """An arb's outcome as the summary counts it: its status while live; once closed, its exit
    reason, or ``entry_failed`` for an arb closed without one (its entry never completed)."""
    if plan.status != "closed":
        return str(plan.status)
    return plan.exit_reason.value if plan.exit_reason else "entry_failed"


def arb_rows(sim: Simulation, rec: Recorder | None = None) -> list[dict[str, Any]]:
    """One row per arb for the report: pair, entry/exit, outcome and exact money parts.

    Money (``notional_usd``, ``funding_usd``, ``price_pnl_usd``, ``fees_usd``, ``borrow_usd``,
    ``total_usd``) is ``Decimal``; ``total = funding + price − fees − borrow`` exactly.
    ``outcome`` is what ``summary.json`` counts the arb as (``arbs_closed`` keys, or the live
    status); ``status`` is the strategy's own (``closed`` for an ``entry_failed`` arb too).
    """
    rows = []
    zero = Decimal(0)
    for plan in sorted(sim.state.strategy.arbs.values(), key=lambda a: a.opened_at):
        book = sim.state.books.get(plan.asset)
        pnl = book.arb_pnl(plan.arb_id) if book else None
        rows.append(
            {
                "arb_id": plan.arb_id,
                "asset": plan.asset,
                "long": f"{plan.long[0]} {plan.long[1]}",
                "short": f"{plan.short[0]} {plan.short[1]}",
                "opened_at": plan.opened_at,
                "closed_at": plan.closed_at or None,
                "status": plan.status,
                "outcome": outcome(plan),
                "exit_reason": plan.exit_reason.value if plan.exit_reason else "",
                "switches": plan.switches,  # re-targets that kept a shared leg
                "entry_spread_apr": plan.entry_spread_apr,
                "qty": plan.qty,
                "notional_usd": plan.notional_usd,
                "funding_usd": pnl.funding if pnl else zero,
                "price_pnl_usd": pnl.price if pnl else zero,
                "fees_usd": pnl.fees if pnl else zero,
                "borrow_usd": pnl.borrow if pnl else zero,
                "total_usd": pnl.total if pnl else zero,
                # part of price_pnl_usd: paid over the mid when filling (Recorder.exec_cost)
                "spread_slippage_usd": rec.exec_cost.get(plan.arb_id, zero) if rec else zero,
            }
        )
    return rows


def cost_attribution(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Run totals of the per-arb cost attribution (``summary.json`` ``cost_attribution``).

    ``closed_trades``: arbs closed with an exit reason (their entry filled; an arb that
    switched keeping a shared leg is one trade); ``switches_keeping_a_leg``: those switches;
    ``funding_covered_fees``: of those, how many earned at least their fees in funding;
    ``spread_slippage_usd``: paid over the mid by every fill (a part of price PnL);
    ``failed_entry_churn_usd``: the total PnL of arbs whose entry never completed
    (``entry_failed``: a leg filled and was unwound, fees and price paid for nothing).
    """
    zero = Decimal(0)
    closed = [r for r in rows if r["status"] == "closed" and r["outcome"] != "entry_failed"]
    covered = sum(1 for r in closed if r["funding_usd"] >= r["fees_usd"])
    return {
        "closed_trades": len(closed),
        "switches_keeping_a_leg": sum(r.get("switches", 0) for r in rows),
        "funding_covered_fees": covered,
        "funding_covered_fees_share": _money(
            (Decimal(covered) / len(closed)).quantize(Decimal("1e-6"))
        )
        if closed
        else None,
        "funding_usd": _money(sum((r["funding_usd"] for r in rows), zero)),
        "fees_usd": _money(sum((r["fees_usd"] for r in rows), zero)),
        "spread_slippage_usd": _money(sum((r["spread_slippage_usd"] for r in rows), zero)),
        "price_pnl_usd": _money(sum((r["price_pnl_usd"] for r in rows), zero)),
        "failed_entry_churn_usd": _money(
            sum((r["total_usd"] for r in rows if r["outcome"] == "entry_failed"), zero)
        ),
    }


def report_data(sim: Simulation, rec: Recorder) -> dict[str, Any]:
    """Everything the report is drawn from besides the summary (``report_data.json``):
    the hourly equity samples, the arbs, each arb's spread samples and per-venue fills."""
    return {
        "equity": rec.equity,
        "arbs": arb_rows(sim, rec),
        "spreads": rec.spreads,
        "venues": rec.venues,
    }


def _file_entries(paths: list[Path]) -> list[dict[str, Any]]:
    files: list[Path] = []
    for p in paths:
        files += sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
    out = []
    for f in files:
        h = hashlib.sha256()
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        out.append({"path": str(f), "bytes": f.stat().st_size, "sha256": h.hexdigest()})
    return out


def run_inputs(opts: BacktestOptions, prepared: Prepared) -> dict[str, Any]:
    """The exact inputs of a run: data files (size, SHA-256), selection, reference prices,
    the strategy file and the strategy config in force (after the feed-TTL fit)."""
    w = opts.window
    return {
        "data_files": _file_entries(opts.paths),
        "window_requested": {"from": w.start, "to": w.end},
        "assets_filter": sorted(w.assets) if w.assets else None,
        "venues_filter": sorted(w.venues) if w.venues else None,
        "reference_prices": dict(sorted(opts.reference_prices.items())),
        "half_spread": _money(opts.half_spread),
        "strategy_file": str(opts.config_path) if opts.config_path else None,
        "strategy": prepared.config.model_dump(mode="json"),
        "paper_venue": {  # fees: the strategy's table above
            k: _money(v) if isinstance(v, Decimal) else v
            for k, v in vars(opts.paper).items()
            if k not in ("fees", "faults", "max_quote_age_ms")  # = the strategy's ticker TTL
        },
    }


def _jsonable(x: Any) -> Any:
    if isinstance(x, Decimal):
        return _money(x)
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x


def run_backtest(
    settings: Settings,
    opts: BacktestOptions,
    progress: Progress | None = None,
    prepared: Prepared | None = None,
) -> BacktestSummary:
    """Run a backtest end to end; writes ``summary.json`` and ``report.html`` to ``out_dir``
    and returns the summary.

    The data is checked first (:func:`prepare`, unless ``prepared`` is given), so a selection
    that cannot run fails before any broker starts. Then starts (and afterwards stops) the
    local broker when no cluster is configured and none runs.

    Raises
    ------
    history.HistoryError
        The data cannot be replayed as asked (clear message).
    kafka_local.BrokerError
        No broker could be started.
    """
    progress = progress or Progress()
    prepared = prepared or prepare(opts)
    with kafka_local.broker_for(settings, lambda: progress.on_phase("starting the local broker")):
        result = asyncio.run(_run(settings, opts, progress, prepared))
        if opts.audit:
            progress.on_phase("audit to ClickHouse")
            # summary.json's audit table: the counts (crashed only when it did)
            result["summary"]["audit"] = audit_run(settings).model_dump(exclude_defaults=True)
    progress.on_phase("writing the report")
    result["summary"]["run"] = settings.topic_prefix.rstrip(".")  # its one name (SQL `run`)
    result["summary"]["inputs"] = run_inputs(opts, prepared)
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    (opts.out_dir / "summary.json").write_text(json.dumps(result["summary"], indent=2) + "\n")
    data = _jsonable(report_data(result["sim"], result["recorder"]))
    (opts.out_dir / "report_data.json").write_text(json.dumps(data) + "\n")
    from consumers.report import write_report

    write_report(opts.out_dir, result["summary"], data)
    return BacktestSummary.model_validate(result["summary"])


def audit_run(settings: Settings) -> AuditResult:
    """Consume every topic of the run into the ClickHouse store (see consumers.audit) and
    record it as the latest run audited (``fundarb sql --run latest``)."""
    from consumers.audit import audit_topics
    from infra.clickhouse import open_store
    from infra.runs import record_run

    store = open_store(settings)
    try:
        result = asyncio.run(audit_topics(settings, drain=True, store=store))
        record_run(store, settings.topic_prefix, result.records)
    finally:
        store.close()
    return result


def default_run_id(opts: BacktestOptions) -> str:
    """A readable id: bt-<from>-<to>-<hash of data files, window and config>."""
    h = hashlib.sha256()
    for p in sorted(str(x) for x in opts.paths):
        h.update(p.encode())
    h.update(repr((opts.window, sorted(opts.reference_prices.items()))).encode())
    h.update(opts.config.model_dump_json().encode())
    return f"bt-{h.hexdigest()[:10]}"


def fresh_prefix(run_id: str) -> str:
    return f"{run_id}-{uuid.uuid4().hex[:6]}."
