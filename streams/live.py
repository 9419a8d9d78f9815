"""``fundarb live``: venue connectors + worker + (paper venue or order gateway) + audit sink.

One process wires the live pipeline (DESIGN §2, §7):

* one :class:`producers.live.connector.VenueConnector` per venue polls funding rates, tickers and
  (live) the account, publishing to ``md.*`` / ``acct.*``; refused rows go to ``deadletter``;
  a stale or failing feed trips ``stale_feed`` on ``risk.events``;
* ``websocket``: venues with a websocket funding channel (:mod:`producers.live.ws_channels`) also
  stream through ccxt.pro (:class:`producers.live.ws.WsFeed`: pushed updates between polls, a
  REST poll and a reconnect with backoff when the stream drops); the poll keeps running;
* the Faust worker (``fundarb worker``, a child process) folds them and emits intents and
  orders;
* ``--paper``: the paper venue answers ``orders.commands`` against the live tickers (a dry run:
  no keys needed, public market data only). Otherwise one
  :class:`producers.live.gateway.OrderGateway` per venue places the orders through ccxt; on start
  it restores its orders from the log and reconciles fills and positions with the venue. A
  venue whose reconciliation fails (unreachable, timing out) does not stop the others: its
  feed is held stale (``stale_feed`` tripped on its assets), its gateway rejects orders, and
  the reconciliation is retried with backoff until it succeeds;
* the audit sink writes every topic to ClickHouse (chDB by default); on chDB this process
  holds the folder (one process per folder), so it also serves read-only queries to
  ``fundarb sql`` on 127.0.0.1 (:mod:`infra.query_endpoint`) until it stops;
* ``metrics_port``: Prometheus ``/metrics`` of this process (connectors, gateway, paper venue)
  on ``127.0.0.1``, and ``worker_metrics_port`` the worker's (:mod:`infra.metrics`);
* a status line every ``status_s``: each feed (ok/STALE, age of the last good poll, events,
  dead letters) and the worker's open arbs, PnL and net delta.

Live trading without ``--paper`` refuses to start while a venue lacks credentials, naming the
environment variables. ``Ctrl-C`` (or ``duration_s``) stops every part.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from infra import metrics
from infra.clickhouse import open_store
from infra.kafka_io import DeadLetters, EventProducer, consume_events, create_topics, start_consumer
from infra.query_endpoint import serve_queries
from infra.runs import record_run
from infra.settings import Settings
from producers.live.connector import VenueConnector, short_error
from producers.live.credentials import VenueCredentials
from producers.live.gateway import OrderGateway
from producers.live.ws import WsFeed
from producers.live.ws_channels import REST_ONLY, ws_channel
from producers.venues import VenueSpec, venue_spec
from schemas.catalog import DEADLETTER
from schemas.events import EventRejected, TickerObserved
from schemas.serde import Serializer

log = logging.getLogger(__name__)
ExchangeFactory = Callable[[VenueSpec, VenueCredentials, bool], Any]


class KafkaUnreachableError(ConnectionError):
    """The configured Kafka cluster does not answer (one line: where, and why)."""


async def start_kafka(settings: Settings) -> None:
    """Create the run's topics, turning a broker that does not answer into one clear error.

    Raises
    ------
    KafkaUnreachableError
        Bootstrap failed (nothing listens, wrong host, TLS/auth refused...).
    """
    from infra.kafka_io import TopicMismatchError

    try:
        await create_topics(settings)
    except TopicMismatchError:
        raise
    except Exception as exc:
        raise KafkaUnreachableError(
            f"cannot reach Kafka at {settings.bootstrap}: {short_error(exc)} (is the broker "
            "up? `fundarb infra status`; unset bootstrap_servers to use the local broker)"
        ) from exc


class MissingCredentialsError(RuntimeError):
    """Live trading was asked for a venue without its credentials (names the variables)."""


class PaperOnlyVenueError(MissingCredentialsError):
    """Live trading was asked for a venue ccxt cannot report fills and funding payments for
    (``VenueSpec.private_trading`` False): it runs with ``--paper`` only."""


@dataclass
class LiveOptions:
    """What to run (units in names)."""

    venues: list[str]
    assets: list[str]
    paper: bool = True
    poll_s: float = 5.0
    stale_after_s: float = 60.0
    status_s: float = 5.0
    duration_s: float | None = None
    strategy_config: Path | None = None
    worker: bool = True
    audit: bool = True
    reconcile_retry_min_s: float = 1.0  # backoff of a failed start-up reconciliation ...
    reconcile_retry_max_s: float = 60.0  # ... up to this between attempts
    metrics_port: int | None = None  # /metrics of this process on 127.0.0.1 (0: any free port)
    websocket: bool = False  # stream funding through ccxt.pro where the venue has a channel
    worker_metrics_port: int | None = None  # /metrics of the worker child on 127.0.0.1


@dataclass
class LiveReport:
    """What a run published, for the summary and tests."""

    events: int = 0
    dead_letters: int = 0
    status_lines: list[str] = field(default_factory=list)
    metrics_port: int | None = None  # the port /metrics was served on


def ccxt_exchange(spec: VenueSpec, creds: VenueCredentials, private: bool) -> Any:
    """The real ccxt async exchange of ``spec``: rate limit on, venue options, credentials
    (only when ``private``)."""
    import ccxt.async_support as ccxt_async

    config: dict[str, Any] = {
        "enableRateLimit": True,  # ccxt spaces requests by the venue's documented weights
        "options": {**spec.options, **(creds.options or {})},
    }
    if private:
        config.update(creds.ccxt_config())
    return getattr(ccxt_async, spec.exchange_id)(config)


def ccxt_pro_exchange(spec: VenueSpec, creds: VenueCredentials, private: bool) -> Any:
    """:func:`ccxt_exchange` as a ``ccxt.pro`` instance (websocket ``watch_*`` and the same
    REST methods: ccxt.pro classes extend the async ones)."""
    import ccxt.pro as ccxt_pro

    config: dict[str, Any] = {
        "enableRateLimit": True,
        "options": {**spec.options, **(creds.options or {})},
    }
    if private:
        config.update(creds.ccxt_config())
    return getattr(ccxt_pro, spec.exchange_id)(config)


def check_credentials(venues: list[str], paper: bool) -> dict[str, VenueCredentials]:
    """Each venue's credentials; without ``paper`` every required variable must be set.

    Raises
    ------
    MissingCredentialsError
        Live trading and some venue lacks credentials (the message lists the variables).
    PaperOnlyVenueError
        Live trading on a venue that trades on paper only (``VenueSpec.private_trading``).
    UnknownVenueError
        A venue without a spec.
    """
    creds = {v: VenueCredentials.for_venue(venue_spec(v).id) for v in venues}
    if not paper:
        paper_only = [v for v in venues if not venue_spec(v).private_trading]
        if paper_only:  # its fills and funding payments would go unseen
            raise PaperOnlyVenueError(
                f"{', '.join(paper_only)}: ccxt cannot report fills and funding payments there "
                "(no fetchMyTrades / fetchFundingHistory); run it with --paper"
            )
        missing = [name for v in venues for name in creds[v].missing(venue_spec(v))]
        if missing:
            raise MissingCredentialsError(
                "live trading needs credentials; set "
                + ", ".join(missing)
                + " (or run with --paper: public data, paper fills, no keys)"
            )
    return creds


def status_line(connectors: list[VenueConnector], worker_status: dict[str, Any] | None) -> str:
    """``HH:MM:SS | binance ok 3s ev=12 dl=0 | bybit STALE 75s … | arbs 1 pnl 1.2 USD delta 0``."""
    feeds = " | ".join(c.summary() for c in connectors)
    if worker_status:
        w = (
            f"arbs {worker_status.get('open_arbs', 0)} "
            f"pnl {worker_status.get('pnl_usd', '0')} USD "
            f"delta {worker_status.get('net_delta_usd', '0')}"
        )
    else:
        w = "worker starting"
    return f"{time.strftime('%H:%M:%S')} | {feeds} | {w}"


def _publisher(
    producer: EventProducer, dead_topic: str, report: LiveReport
) -> Callable[[list[Any]], Any]:
    """An ``emit`` for :class:`producers.live.ws.WsFeed`: events to their topics, refusals to the
    dead-letter topic, counted in ``report``."""

    async def emit(events: list[Any]) -> None:
        for e in events:
            if isinstance(e, EventRejected):
                await producer.send(e, topic=dead_topic)
                report.dead_letters += 1
            else:
                await producer.send(e)
                report.events += 1

    return emit


async def _connector_loop(
    conn: VenueConnector,
    producer: EventProducer,
    dead_topic: str,
    poll_s: float,
    report: LiveReport,
) -> None:
    while True:
        for e in await conn.poll():
            if isinstance(e, EventRejected):
                await producer.send(e, topic=dead_topic)
                report.dead_letters += 1
            else:
                await producer.send(e)
                report.events += 1
        await asyncio.sleep(poll_s)


async def _restore_gateways(settings: Settings, gateways: dict[str, OrderGateway]) -> None:
    """Rebuild each gateway's orders from the log (commands, answers, fills)."""
    from infra.kafka_io import MissingTopicError, read_topics

    names = ["orders.commands", "orders.events", "acct.fills"]
    serializer = Serializer()
    try:
        async for _topic, _p, record in read_topics(
            settings.bootstrap, [settings.topic(n) for n in names]
        ):
            try:
                event = serializer.decode(record.value)
            except Exception:  # noqa: S112 - bad records were dead-lettered when first read
                continue
            gw = gateways.get(getattr(event, "venue", ""))
            if gw is not None:
                gw.restore(event)
    except MissingTopicError:
        return


async def _reconcile(
    conn: VenueConnector, gw: OrderGateway, producer: EventProducer, dead_topic: str
) -> None:
    """One venue's restart reconciliation: publish the fills and positions the log is missing,
    adopt our open orders, then let the gateway trade and the feed recover.

    Raises
    ------
    ccxt.BaseError
        The venue failed to answer (nothing is marked ready then).
    """
    found, opens = await conn.reconcile(
        set(gw.seen_fills), since=None, client_ids=dict(gw.by_order_id)
    )
    for e in found:
        await producer.send(e, topic=dead_topic if isinstance(e, EventRejected) else None)
    gw.adopt(opens)
    gw.ready = True
    conn.release()


async def _reconcile_later(
    conn: VenueConnector,
    gw: OrderGateway,
    producer: EventProducer,
    dead_topic: str,
    opts: LiveOptions,
) -> None:
    """Retry a venue's reconciliation with backoff until it succeeds (or the run stops).

    Only network failures are retried; any other venue error (bad keys, a refused request)
    leaves the venue held stale for this run, with one error line: it needs a person.
    """
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(ccxt.NetworkError),
        wait=wait_exponential(min=opts.reconcile_retry_min_s, max=opts.reconcile_retry_max_s),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                await _reconcile(conn, gw, producer, dead_topic)
    except ccxt.BaseError as exc:
        log.error(
            "%s reconciliation failed for good (%s): venue stays stale, no orders this run",
            conn.spec.id,
            short_error(exc),
        )
        return
    log.warning("%s reconciled: feed released, orders allowed", conn.spec.id)


async def _gateway_loop(
    settings: Settings, gateways: dict[str, OrderGateway], producer: EventProducer, poll_s: float
) -> None:
    from aiokafka import AIOKafkaConsumer

    serializer = Serializer()
    consumer = AIOKafkaConsumer(
        settings.topic("orders.commands"),
        settings.topic("md.tickers"),
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="latest",
        group_id=f"fundarb-gateway-{settings.topic_prefix or 'default'}",
    )
    await start_consumer(consumer)

    async def poll_forever() -> None:
        while True:
            for gw in gateways.values():
                if not gw.ready:
                    continue  # its reconciliation fetches fills once the venue answers
                for e in await gw.poll():
                    await producer.send(e)
            await asyncio.sleep(poll_s)

    poller = asyncio.create_task(poll_forever())
    try:
        async for _record, event in consume_events(consumer, serializer, DeadLetters(producer)):
            gw = gateways.get(getattr(event, "venue", ""))
            if gw is None:
                continue
            if isinstance(event, TickerObserved):
                gw.on_ticker(event)
                continue
            for answer in await gw.handle(event):
                await producer.send(answer)
    finally:
        poller.cancel()
        await consumer.stop()


async def _open_store(settings: Settings) -> Any:
    """The audit store; a folder held for a moment (a `fundarb sql` reading it) is waited
    for, up to 10 s, then :class:`infra.clickhouse.StoreLockedError` names the holder."""
    from tenacity import stop_after_delay, wait_fixed

    from infra.clickhouse import StoreLockedError

    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(StoreLockedError),
        wait=wait_fixed(0.5),
        stop=stop_after_delay(10),
        reraise=True,
    ):
        with attempt:
            return open_store(settings)
    raise AssertionError("unreachable")  # pragma: no cover


def _start_worker(settings: Settings, opts: LiveOptions) -> subprocess.Popen[bytes]:
    logdir = settings.state_dir / "live"
    logdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "streams.cli", "worker", "--prefix", settings.topic_prefix]
    if opts.strategy_config:
        cmd += ["--config", str(opts.strategy_config)]
    env = {**os.environ, "FUNDARB_BOOTSTRAP": settings.bootstrap}
    if opts.worker_metrics_port is not None:
        env["FUNDARB_WORKER_METRICS_PORT"] = str(opts.worker_metrics_port)
    out = (logdir / f"{settings.topic_prefix or 'default'}worker.log").open("ab")
    return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)


def _worker_status(settings: Settings) -> dict[str, Any] | None:
    from streams.worker import status_path

    try:
        status: dict[str, Any] = json.loads(status_path(settings).read_text())
        return status
    except (OSError, ValueError):
        return None


async def run_live(
    settings: Settings,
    opts: LiveOptions,
    *,
    exchange_factory: ExchangeFactory = ccxt_exchange,
    on_status: Callable[[str], None] = print,
) -> LiveReport:
    """Run the live pipeline until cancelled or ``opts.duration_s`` (module docstring).

    Raises
    ------
    MissingCredentialsError, UnknownVenueError
        Before anything starts.
    """
    creds = check_credentials(opts.venues, opts.paper)
    await create_topics(settings)
    report = LiveReport()
    if opts.metrics_port is not None:
        report.metrics_port = metrics.serve(opts.metrics_port)
    private = not opts.paper
    if opts.websocket and exchange_factory is ccxt_exchange:
        exchange_factory = ccxt_pro_exchange
    exchanges = {v: exchange_factory(venue_spec(v), creds[v], private) for v in opts.venues}
    connectors = [
        VenueConnector(
            venue_spec(v),
            exchanges[v],
            list(opts.assets),
            private=private,
            stale_after_s=opts.stale_after_s,
        )
        for v in opts.venues
    ]
    tasks: list[asyncio.Task[Any]] = []
    worker = None
    store = None
    stack = contextlib.AsyncExitStack()
    async with EventProducer(settings) as producer, stack:
        dead_topic = settings.topic(DEADLETTER)
        try:
            if not opts.paper:
                gateways = {
                    v: OrderGateway(venue_spec(v), exchanges[v], ready=False) for v in opts.venues
                }
                await _restore_gateways(settings, gateways)
                for conn in connectors:
                    gw = gateways[conn.spec.id]
                    try:
                        await _reconcile(conn, gw, producer, dead_topic)
                    except ccxt.BaseError as exc:
                        # one venue down must not stop the others: hold it stale (entries
                        # paused on its assets), refuse its orders, and retry in the background
                        log.warning(
                            "%s start-up reconciliation failed (%s): feed held stale, "
                            "no orders there until it succeeds",
                            conn.spec.id,
                            short_error(exc),
                        )
                        for e in conn.hold(f"reconciliation pending: {short_error(exc)}"):
                            await producer.send(e)
                        tasks.append(
                            asyncio.create_task(
                                _reconcile_later(conn, gw, producer, dead_topic, opts)
                            )
                        )
                tasks.append(
                    asyncio.create_task(_gateway_loop(settings, gateways, producer, opts.poll_s))
                )
            else:
                from producers.paper import PaperConfig, run_paper_venue
                from streams.cli import load_strategy_config

                # the paper venue charges the strategy's own fee table (one table for both)
                strategy = load_strategy_config(opts.strategy_config)
                paper = PaperConfig(
                    fees=strategy.fees,
                    max_quote_age_ms=strategy.feeds.ticker_ttl_ms,
                )
                tasks.append(asyncio.create_task(run_paper_venue(settings, paper)))
            for conn in connectors:
                tasks.append(
                    asyncio.create_task(
                        _connector_loop(conn, producer, dead_topic, opts.poll_s, report)
                    )
                )
                channel = ws_channel(conn.spec.id)
                if opts.websocket and channel and hasattr(conn.exchange, channel.method):
                    # idle: 3 × the stale limit, beyond the slowest channel's push interval
                    # (OKX funding-rate: every 30-90 s)
                    idle_s = 3 * opts.stale_after_s
                    feed = WsFeed(conn, max_backoff_s=opts.stale_after_s, idle_s=idle_s)
                    emit = _publisher(producer, dead_topic, report)
                    tasks.append(asyncio.create_task(feed.run(emit)))
                elif opts.websocket:
                    why = REST_ONLY.get(conn.spec.id, "no websocket funding channel")
                    log.info("%s: REST polling only (%s)", conn.spec.id, why)
            if opts.audit:
                from consumers.audit import audit_topics

                store = await _open_store(settings)
                record_run(store, settings.topic_prefix, 0)  # `fundarb sql --run latest`
                tasks.append(asyncio.create_task(audit_topics(settings, store=store)))
                if store.backend == "chdb":  # `fundarb sql` while this runs (one process)
                    await stack.enter_async_context(serve_queries(store, settings.chdb_path))
            if opts.worker:
                worker = _start_worker(settings, opts)
            started = time.monotonic()
            while opts.duration_s is None or time.monotonic() - started < opts.duration_s:
                await asyncio.sleep(min(opts.status_s, opts.duration_s or opts.status_s))
                for t in tasks:
                    failure = t.exception() if t.done() else None
                    if failure is not None:
                        raise failure
                line = status_line(connectors, _worker_status(settings) if opts.worker else None)
                report.status_lines.append(line)
                on_status(line)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(BaseException):
                    await t
            if worker is not None:
                worker.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.wait(timeout=20)
                if worker.poll() is None:
                    worker.kill()
            for ex in exchanges.values():
                with contextlib.suppress(Exception):
                    await ex.close()
            if report.metrics_port is not None:
                metrics.stop(report.metrics_port)
            await stack.aclose()  # stop serving queries before the store closes
            if store is not None:
                store.close()
    return report
