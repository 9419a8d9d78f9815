"""Topic-based alerts: rules over a run's topics raise ``AlertRaised`` and deliver it to sinks.

Rules (thresholds in ``AlertsConfig.rules``; all timing on event time, so a replay alerts the
same way):

=================== ======================================================= ===========
rule                fires when                                              severity
=================== ======================================================= ===========
``funding_flip``    an open arb's pair (from its TargetPositionSet) quotes  warning
                    a negative spread on every funding observation for
                    ``funding_flip_ms``; once until its spread is for it
                    again
``one_legged``      an arb's ``|net_delta_usd|`` (PositionChanged) stays    critical
                    above ``one_legged_usd`` for ``one_legged_ms``
``stale_feed``      a feed (venue, instrument, kind) has no event for       warning
                    ``stale_feed_intervals`` of its own interval (at least
                    ``stale_feed_ms``) while its asset's other feeds of
                    that kind move on; once per episode, one per venue
                    and kind
``breaker_tripped`` a ``BreakerTripped`` arrives                            critical
``drawdown``        equity (realised + funding − fees + unrealised of every   critical
                    leg from PositionChanged, marked at the latest mark at
                    or before the time) falls ``drawdown_usd`` below its
                    peak; evaluated once per event time, after every
                    event of that time (as the backtest samples); once
                    until a new peak
``rejections``      ``rejections`` OrderRejected within                     warning
                    ``rejections_window_ms``
``funding_recon``   a settlement of a held perp is ``missed`` or            critical
                    ``mis_signed`` (critical), or paid beyond the            / warning
                    tolerance (``mismatch``) or paid with no position
                    (``unexpected``) (warning); consumers/funding_recon.py
=================== ======================================================= ===========

The rules read the run's topics merged in event-time order (:class:`EventTimeMerge`): a
Kafka consumer hands out topics in fetch order (a small topic like ``derived.positions`` is
read long before ``md.tickers`` catches up), and positions marked with marks of another time
made up drawdowns of thousands of USD on the demo where the backtest's was 874.

Per rule and ``dedup_key`` an alert is not repeated within ``dedup_ms``; a rule raises at most
``max_per_rule_per_hour`` alerts per hour of event time. Sinks: console (log), generic webhook
(JSON POST of the alert), Slack incoming webhook (``{"text": ...}``), Telegram bot
(``sendMessage``). Sink secrets (URLs, tokens) are ``SecretStr``: messages and errors name the
sink, never the URL, and alerts on the topic carry no sink data at all.

Delivery (:class:`Dispatcher`) is off the consume path: each HTTP sink has a bounded queue and
a sender task, so a slow or hanging sink never delays consuming or committing. Per alert and
sink: at most ``DeliveryPolicy.attempts`` POSTs (connect/read timeouts, backoff, retries only
for transport failures and 408/425/429/5xx), each with ``Idempotency-Key: <alert event id>``;
an alert already delivered is not queued again; a full queue drops its oldest alert (logged,
counted). Delivery is best effort: the ``alerts`` topic is the record of what was raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from consumers.funding_recon import FundingReconciler, Settlement
from projections import board as bd
from schemas import events as ev
from schemas.config import AlertRules, AlertsConfig, SinkConfig, StrategyConfig
from schemas.envelope import IdNamespace, envelope
from schemas.types import INTERNAL_VENUE, Severity, base_asset

log = logging.getLogger("fundarb.alerts")
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass
class AlertEngine:
    """Evaluates the rules over events, in the order given; deterministic."""

    rules: AlertRules
    strategy: StrategyConfig = field(default_factory=StrategyConfig)

    def __post_init__(self) -> None:
        self.boards: dict[str, bd.AssetBoard] = {}
        self.arbs: dict[str, ev.TargetPositionSet] = {}
        self.feeds: dict[tuple[str, str, str], int] = {}
        self.feed_gap: dict[tuple[str, str, str], int] = {}  # each feed's own interval (ms)
        self.stale_feeds: set[tuple[str, str, str]] = set()  # alerted, until they report again
        self.counts: dict[str, int] = {}  # alerts raised per rule
        self.clocks: dict[str, dict[str, int]] = {}  # per asset: latest time per input kind
        self.marks: dict[tuple[str, str], Decimal] = {}  # latest mark per (venue, instrument)
        self.legs: dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]] = {}
        self.drawdown_alerted = False  # once per drawdown episode (re-armed at a new peak)
        self.one_legged_since: dict[str, int] = {}
        self.flip_since: dict[str, int] = {}  # arbs whose spread is against them, since when
        self.flipped: set[str] = set()  # ... alerted, until the spread is for them again
        self.peak = Decimal(0)
        self.max_drawdown_usd = Decimal(0)  # deepest fall of the equity below its peak seen
        self.equity_time: int | None = None  # event time of the state not yet evaluated
        self.equity_cause: ev.Event | None = None  # its last event (the alert's cause)
        self.rejections: deque[int] = deque()
        self.last_raised: dict[tuple[str, str], int] = {}
        self.per_hour: dict[tuple[str, int], int] = {}
        self.suppressed = 0
        self.funding = FundingReconciler(
            tolerance_usd=self.rules.funding_tolerance_usd,
            tolerance_frac=self.rules.funding_tolerance_frac,
            grace_ms=self.rules.funding_grace_ms,
        )

    def _alert(
        self,
        rule: str,
        severity: Severity,
        message: str,
        key: str,
        cause: ev.Event,
        about: str | None = None,  # the instrument alerted on, when not the cause's
    ) -> list[ev.AlertRaised]:
        now = cause.event_time
        last = self.last_raised.get((rule, key))
        if last is not None and now - last < self.rules.dedup_ms:
            return []
        hour = now // 3_600_000
        if self.per_hour.get((rule, hour), 0) >= self.rules.max_per_rule_per_hour:
            self.suppressed += 1
            return []
        self.last_raised[(rule, key)] = now
        self.counts[rule] = self.counts.get(rule, 0) + 1
        self.per_hour[(rule, hour)] = self.per_hour.get((rule, hour), 0) + 1
        subject = about or cause.instrument
        instrument = subject if "/" not in subject else base_asset(subject)
        event_id = IdNamespace.ALERT.id(rule, key, cause.event_id)
        return [
            ev.AlertRaised(
                **envelope(
                    event_id, now, INTERNAL_VENUE, instrument, cause.event_id, cause.correlation_id
                ),
                rule=rule,
                severity=severity,
                message=message,
                dedup_key=key,
            )
        ]

    def on_event(self, event: ev.Event) -> list[ev.AlertRaised]:
        """Alerts this event raises (possibly none). Events must come in event-time order;
        the equity at a time is evaluated when a later time arrives (or at :meth:`finish`)."""
        out: list[ev.AlertRaised] = []
        if self.equity_time is not None and event.event_time > self.equity_time:
            out += self._drawdown()
        if self.equity_time is None or event.event_time >= self.equity_time:
            self.equity_time, self.equity_cause = event.event_time, event
        if isinstance(event, ev.FundingPaid) and event.mark_price:
            # the settlement's mark values the leg, as in the position book
            self.marks[(event.venue, event.instrument)] = event.mark_price
        if self.rules.funding_recon:  # opt-in: schemas.config.AlertRules says why
            for settlement in self.funding.on_event(event):
                out += self._funding_recon(settlement)
        if isinstance(event, ev.FundingRateObserved | ev.TickerObserved):
            out += self._stale_feeds(event)
            asset = base_asset(event.instrument)
            try:
                self.boards[asset] = bd.apply(self.boards.get(asset) or bd.AssetBoard(asset), event)
            except ValueError:
                return out  # out-of-order market data: the pipeline dead-letters it
            if isinstance(event, ev.FundingRateObserved):
                out += self._funding_flip(asset, event)
        elif isinstance(event, ev.TargetPositionSet):
            self.arbs[event.arb_id] = event
        elif isinstance(event, ev.ExitRequested):
            self.arbs.pop(event.arb_id, None)
            self.one_legged_since.pop(event.arb_id, None)
            self.flipped.discard(event.arb_id)
            self.flip_since.pop(event.arb_id, None)
        elif isinstance(event, ev.PositionChanged):
            out += self._position(event)
        elif isinstance(event, ev.BreakerTripped):
            out += self._alert(
                "breaker_tripped",
                Severity.critical,
                f"{event.breaker.value} breaker tripped ({event.action.value}): {event.detail}",
                f"{event.instrument}:{event.breaker.value}",
                event,
            )
        elif isinstance(event, ev.OrderRejected):
            self.rejections.append(event.event_time)
            while (
                self.rejections
                and event.event_time - self.rejections[0] > self.rules.rejections_window_ms
            ):
                self.rejections.popleft()
            if len(self.rejections) >= self.rules.rejections:
                out += self._alert(
                    "rejections",
                    Severity.warning,
                    f"{len(self.rejections)} order rejections in "
                    f"{self.rules.rejections_window_ms // 60000} min, last: "
                    f"{event.reject_reason.value}",
                    "orders",
                    event,
                )
        return out

    def _stale_feeds(
        self, event: ev.FundingRateObserved | ev.TickerObserved
    ) -> list[ev.AlertRaised]:
        """A feed is stale when silent for ``stale_feed_intervals`` of its own interval (the
        venue's funding interval, else the shortest gap seen between its events), and at least
        ``stale_feed_ms``, while another feed of the same asset and kind moves on. One alert
        per venue and kind for the feeds found stale together; a feed alerts once until it
        reports again."""
        kind = "funding" if isinstance(event, ev.FundingRateObserved) else "prices"
        key = (event.venue, event.instrument, kind)
        asset = base_asset(event.instrument)
        if isinstance(event, ev.TickerObserved):
            self.marks[(event.venue, event.instrument)] = event.mark_price or (
                (event.bid + event.ask) / 2
            )
        # a feed is compared with the feeds of its own asset and kind (one topic partition, in
        # event-time order): a topic consumed ahead of the other never makes it look stale
        clock = self.clocks.setdefault(asset, {})
        clock[kind] = max(clock.get(kind, 0), event.event_time)
        now = clock[kind]
        last = self.feeds.get(key)
        if last is not None and event.event_time > last:
            gap = event.event_time - last
            self.feed_gap[key] = min(self.feed_gap.get(key, gap), gap)
        if isinstance(event, ev.FundingRateObserved):  # the venue's own interval, when given
            if event.funding_interval_h:
                self.feed_gap[key] = event.funding_interval_h * 3_600_000
            elif event.next_funding_time > event.funding_time > 0:
                self.feed_gap[key] = event.next_funding_time - event.funding_time
        self.feeds[key] = max(event.event_time, last or 0)
        self.stale_feeds.discard(key)
        found: dict[tuple[str, str], list[tuple[str, int, int]]] = {}
        for k, seen in sorted(self.feeds.items()):
            if k in self.stale_feeds or k[2] != kind or base_asset(k[1]) != asset:
                continue
            limit = max(
                self.rules.stale_feed_ms, self.rules.stale_feed_intervals * self.feed_gap.get(k, 0)
            )
            if now - seen > limit:
                self.stale_feeds.add(k)
                found.setdefault((k[0], k[2]), []).append((k[1], seen, self.feed_gap.get(k, 0)))
        out: list[ev.AlertRaised] = []
        for (venue, feed_kind), items in sorted(found.items()):
            since = min(seen for _, seen, _ in items)
            gap = max(g for _, _, g in items)
            names = ", ".join(i for i, _, _ in items)
            out += self._alert(
                "stale_feed",
                Severity.warning,
                f"no {feed_kind} from {venue} {names} since {_iso(since)} UTC "
                f"({(now - since) / 3_600_000:.1f} h"
                + (f"; its interval is {gap / 3_600_000:g} h)" if gap else ")"),
                f"{venue}:{feed_kind}",  # one alert per venue and kind within dedup_ms
                event,
            )
        return out

    def _funding_flip(self, asset: str, event: ev.FundingRateObserved) -> list[ev.AlertRaised]:
        out: list[ev.AlertRaised] = []
        board = self.boards[asset]
        for arb_id, target in sorted(self.arbs.items()):
            if target.instrument != asset:
                continue
            legs = {(leg.venue, leg.instrument): leg.target_qty for leg in target.legs}
            if (event.venue, event.instrument) not in legs or len(legs) != 2:
                continue
            long = next(k for k, q in legs.items() if q > 0)
            short = next(k for k, q in legs.items() if q < 0)
            q = bd.quote_pair(board, long, short, self.strategy, event.event_time)
            if q.blocked:
                continue
            if q.spread_h >= 0:
                self.flip_since.pop(arb_id, None)  # re-armed: the spread is for us again
                self.flipped.discard(arb_id)
                continue
            since = self.flip_since.setdefault(arb_id, event.event_time)
            held = event.event_time - since
            if arb_id not in self.flipped and held >= self.rules.funding_flip_ms:
                self.flipped.add(arb_id)
                out += self._alert(
                    "funding_flip",
                    Severity.warning,
                    f"{arb_id}: spread {q.spread_apr:.4f} APR against us ({q.label}) for "
                    f"{held / 3_600_000:.1f} h",
                    arb_id,
                    event,
                )
        return out

    def _funding_recon(self, s: Settlement) -> list[ev.AlertRaised]:
        if s.status == "matched":
            return []
        severity = Severity.critical if s.status in ("missed", "mis_signed") else Severity.warning
        paid = "nothing" if s.paid is None else f"{s.paid:.6f}"
        return self._alert(
            "funding_recon",
            severity,
            f"{s.status}: {s.venue} {s.instrument} settlement {s.funding_time}: expected "
            f"{s.expected:.6f} (qty {s.position_qty} × mark {s.mark_price} × rate "
            f"{s.funding_rate}), paid {paid}",
            f"{s.venue}:{s.instrument}:{s.funding_time}",
            s.cause,
            about=s.instrument,
        )

    def _position(self, event: ev.PositionChanged) -> list[ev.AlertRaised]:
        out: list[ev.AlertRaised] = []
        arb = event.correlation_id
        if arb is not None and event.net_delta_usd is not None:
            if abs(event.net_delta_usd) > self.rules.one_legged_usd:
                since = self.one_legged_since.setdefault(arb, event.event_time)
                if event.event_time - since >= self.rules.one_legged_ms:
                    out += self._alert(
                        "one_legged",
                        Severity.critical,
                        f"{arb}: net delta {event.net_delta_usd:.2f} USD for "
                        f"{(event.event_time - since) // 1000} s",
                        arb,
                        event,
                    )
            else:
                self.one_legged_since.pop(arb, None)
        self.legs[(event.venue, event.instrument)] = (
            event.realised_pnl_usd + event.funding_usd - event.fees_usd,
            event.qty,
            event.avg_entry_price,
        )
        return out

    def equity_usd(self) -> Decimal:
        """Σ over legs of realised + funding − fees + qty × (mark − average entry) (USD), each
        leg at its latest mark (its entry price before any): marked to market, so a hedge
        closing one leg before the other is no swing. Borrow is not on PositionChanged."""
        total = Decimal(0)
        for leg, (money, qty, entry) in self.legs.items():
            mark = self.marks.get(leg, entry)
            total += money + (qty * (mark - entry) if qty else Decimal(0))
        return total

    def _drawdown(self) -> list[ev.AlertRaised]:
        """Evaluate the equity of the state at ``equity_time`` (every event of it folded)."""
        if not self.legs or self.equity_cause is None:
            return []
        total = self.equity_usd()
        if total >= self.peak:
            self.peak = total
            self.drawdown_alerted = False
            return []
        self.max_drawdown_usd = max(self.max_drawdown_usd, self.peak - total)
        if self.peak - total > self.rules.drawdown_usd and not self.drawdown_alerted:
            self.drawdown_alerted = True
            return self._alert(
                "drawdown",
                Severity.critical,
                f"drawdown {self.peak - total:.2f} USD from a peak of {self.peak:.2f}",
                "portfolio",
                self.equity_cause,
            )
        return []

    def finish(self) -> list[ev.AlertRaised]:
        """Alerts of the last event time (call once the input is exhausted)."""
        out = self._drawdown()
        self.equity_time = self.equity_cause = None
        return out


# ---- sinks ---------------------------------------------------------------------------------
class RedactSecrets(logging.Filter):
    """Masks registered secrets in log records (httpx logs every request URL at INFO, and a
    Slack webhook URL or a Telegram bot path *is* the secret)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            redacted = message
            for secret in self.secrets:
                redacted = redacted.replace(secret, "***")
            if redacted != message:
                record.msg, record.args = redacted, ()
        return True


REDACT = RedactSecrets()
for _name in ("httpx", "httpcore", "fundarb.alerts"):
    logging.getLogger(_name).addFilter(REDACT)


class SinkError(RuntimeError):
    """A sink could not deliver; the message names the sink, never its URL or token."""


class _HTTPStatus(Exception):
    """A non-2xx answer; retriable when the receiver may accept the same POST later."""

    RETRIABLE = frozenset({408, 425, 429, 500, 502, 503, 504})

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _retriable(exc: BaseException) -> bool:
    # a bad URL scheme will not get better by asking again; every other transport failure
    # (connect refused, timeouts, a dropped connection) may
    if isinstance(exc, httpx.UnsupportedProtocol):
        return False
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, _HTTPStatus) and exc.status in _HTTPStatus.RETRIABLE


def _secret(value: Any, env: str | None) -> str | None:
    if env:
        return os.environ.get(env)
    return value.get_secret_value() if value is not None else None


@dataclass(frozen=True)
class DeliveryPolicy:
    """How alerts reach the HTTP sinks (times in seconds).

    ``connect_s`` / ``read_s``: httpx timeouts of one POST (connecting; waiting for the
    answer, also used for writing and for a free pooled connection). ``attempts``: POSTs of one
    alert to one sink at most (the first and its retries). ``backoff_min_s`` /
    ``backoff_max_s``: exponential wait between attempts. ``queue_size``: alerts waiting per
    sink; when full, the oldest is dropped. ``shutdown_grace_s``: on close, how long the
    senders may still deliver what is queued before they are cancelled.
    """

    connect_s: float = 3.0
    read_s: float = 10.0
    attempts: int = 3
    backoff_min_s: float = 0.5
    backoff_max_s: float = 10.0
    queue_size: int = 1000
    shutdown_grace_s: float = 5.0

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.read_s, connect=self.connect_s)


def _request(sink: SinkConfig, alert: ev.AlertRaised) -> tuple[str, dict[str, Any]]:
    """URL and JSON body of one alert for one HTTP sink (the URL is secret: never log it).

    Raises
    ------
    SinkError
        Missing URL, token or chat id.
    """
    name = sink.name or sink.kind
    text = f"[{alert.severity.value}] {alert.rule}: {alert.message}"
    url = _secret(sink.url, sink.url_env)
    if url and len(url) >= 6:
        REDACT.secrets.add(url)
    if sink.kind == "telegram":
        token = _secret(sink.token, sink.token_env)
        if token and len(token) >= 6:
            REDACT.secrets.add(token)
        if not token or not sink.chat_id:
            raise SinkError(f"sink {name}: telegram needs a token and a chat_id")
        url = f"{sink.api_base.rstrip('/')}/bot{token}/sendMessage"
        body: dict[str, Any] = {"chat_id": sink.chat_id, "text": text}
    elif sink.kind == "slack":
        body = {"text": text}
    else:
        body = {
            "rule": alert.rule,
            "severity": alert.severity.value,
            "message": alert.message,
            "dedup_key": alert.dedup_key,
            "event_time": alert.event_time,
            "event_id": alert.event_id,
            "instrument": alert.instrument,
        }
    if not url:
        raise SinkError(f"sink {name}: no URL (set {sink.url_env or 'url'})")
    return url, body


def _wants(sink: SinkConfig, alert: ev.AlertRaised) -> bool:
    return SEVERITY_RANK[alert.severity.value] >= SEVERITY_RANK[sink.min_severity]


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _log_alert(alert: ev.AlertRaised) -> None:
    log.warning(
        "%s UTC ALERT [%s] %s: %s",
        _iso(alert.event_time),
        alert.severity.value,
        alert.rule,
        alert.message,
    )


async def deliver(
    sink: SinkConfig,
    alert: ev.AlertRaised,
    client: httpx.AsyncClient,
    policy: DeliveryPolicy | None = None,
) -> None:
    """Send one alert to one sink: at most ``policy.attempts`` POSTs.

    Every POST carries ``Idempotency-Key: <alert event id>`` (a uuid5 of rule, key and cause:
    the same alert always has the same id), so a receiver that honours it keeps one copy when
    a retry follows a timeout whose POST did land. Retried: transport failures (connect
    refused, connect/read timeouts, dropped connections) and HTTP 408/425/429/5xx, with
    exponential backoff; any other answer is final.

    Raises
    ------
    SinkError
        Missing secret, transport failure or a non-2xx answer after the last attempt
        (message without secrets).
    """
    policy = policy or DeliveryPolicy()
    if not _wants(sink, alert):
        return
    if sink.kind == "console":
        _log_alert(alert)
        return
    name = sink.name or sink.kind
    url, body = _request(sink, alert)
    headers = {"Idempotency-Key": alert.event_id}
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(min=policy.backoff_min_s, max=policy.backoff_max_s),
        retry=retry_if_exception(_retriable),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                response = await client.post(
                    url, json=body, headers=headers, timeout=policy.timeout()
                )
                if not 200 <= response.status_code < 300:
                    raise _HTTPStatus(response.status_code)
    except _HTTPStatus as exc:
        raise SinkError(f"sink {name}: HTTP {exc.status}") from None
    except httpx.HTTPError as exc:
        raise SinkError(f"sink {name}: {type(exc).__name__}") from None  # no URL in the text


@dataclass
class _Sender:
    """One HTTP sink's queue and the task that empties it."""

    sink: SinkConfig
    queue: asyncio.Queue[ev.AlertRaised]
    pending: set[str] = field(default_factory=set)  # queued or in flight
    delivered: OrderedDict[str, None] = field(default_factory=OrderedDict)
    task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.sink.name or self.sink.kind


class Dispatcher:
    """Delivers alerts to every sink without ever making the consumer wait for one.

    :meth:`send` returns at once: the console sink logs right away; each HTTP sink has a
    bounded queue (``policy.queue_size``) emptied by its own sender task, which POSTs with
    :func:`deliver` (explicit timeouts, retries with backoff for retriable failures only,
    ``Idempotency-Key``). A failing or hanging sink delays only its own queue.

    Delivery is at most ``policy.attempts`` POSTs per alert and sink, and an alert already
    delivered (or still queued) to a sink is not queued again, whatever re-raises it. When a
    sink's queue is full the **oldest** queued alert is dropped: one log line, counted in
    ``dropped`` (the newest says most about the present). On :meth:`aclose` the senders get
    ``policy.shutdown_grace_s`` to finish; what is left is counted in ``undelivered``.
    Failures are logged without secrets and counted in ``failures``.

    Use as ``async with Dispatcher(config) as d: d.send(alert)``.
    """

    #: ids remembered per sink to refuse re-queueing an alert already delivered
    DELIVERED_MEMORY = 10_000

    def __init__(
        self,
        config: AlertsConfig,
        policy: DeliveryPolicy | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self.policy = policy or DeliveryPolicy()
        self.client = client or httpx.AsyncClient(timeout=self.policy.timeout())
        self.delivered = 0
        self.failures = 0
        self.dropped = 0
        self.undelivered = 0
        self.senders = [
            _Sender(sink, asyncio.Queue(maxsize=self.policy.queue_size))
            for sink in config.sinks
            if sink.kind != "console"
        ]
        for sink in self.config.sinks:
            for value in (_secret(sink.url, sink.url_env), _secret(sink.token, sink.token_env)):
                if value and len(value) >= 6:  # never "redact" trivial strings everywhere
                    REDACT.secrets.add(value)

    async def __aenter__(self) -> Dispatcher:
        for sender in self.senders:
            sender.task = asyncio.create_task(self._run(sender), name=f"alerts-{sender.name}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def send(self, alert: ev.AlertRaised) -> None:
        """Hand one alert to every sink; never waits for the network."""
        for sink in self.config.sinks:
            if sink.kind == "console" and _wants(sink, alert):
                _log_alert(alert)
        for sender in self.senders:
            if not _wants(sender.sink, alert):
                continue
            if alert.event_id in sender.delivered or alert.event_id in sender.pending:
                continue  # the same alert again (a redelivered cause): one delivery is enough
            if sender.queue.full():
                oldest = sender.queue.get_nowait()
                sender.queue.task_done()
                sender.pending.discard(oldest.event_id)
                self.dropped += 1
                log.warning(
                    "sink %s queue full (%d): dropped the oldest alert %s %s",
                    sender.name,
                    self.policy.queue_size,
                    oldest.rule,
                    oldest.event_id,
                )
            sender.pending.add(alert.event_id)
            sender.queue.put_nowait(alert)

    async def _run(self, sender: _Sender) -> None:
        while True:
            alert = await sender.queue.get()
            try:
                await deliver(sender.sink, alert, self.client, self.policy)
                self.delivered += 1
                sender.delivered[alert.event_id] = None
                while len(sender.delivered) > self.DELIVERED_MEMORY:
                    sender.delivered.popitem(last=False)
            except SinkError as exc:
                self.failures += 1
                log.error("alert %s not delivered: %s", alert.rule, exc)
            except Exception as exc:  # one bad alert must not stop the sink's sender
                self.failures += 1
                log.error("alert %s not delivered: sink %s: %r", alert.rule, sender.name, exc)
            finally:
                sender.pending.discard(alert.event_id)
                sender.queue.task_done()

    async def join(self) -> None:
        """Wait until every queued alert has been tried (delivered or failed)."""
        await asyncio.gather(*(s.queue.join() for s in self.senders if s.task is not None))

    async def aclose(self) -> None:
        """Let the senders finish within ``policy.shutdown_grace_s``, then stop them."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.join(), self.policy.shutdown_grace_s)
        left = sum(len(s.pending) for s in self.senders)
        for sender in self.senders:
            if sender.task is not None:
                sender.task.cancel()
        for sender in self.senders:
            if sender.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await sender.task
                sender.task = None
        if left:
            self.undelivered += left
            log.warning("%d alert deliveries still pending at shutdown: not delivered", left)
        await self.client.aclose()


class AlertsResult(BaseModel):
    """What :func:`run_alerts` did: alerts raised (by rule), rate-limited, and the sinks'
    delivery counts; the deepest drawdown of equity marked to market it saw."""

    model_config = ConfigDict(frozen=True)

    alerts: int
    by_rule: dict[str, int]
    suppressed: int  # rate-limited (dedup_ms)
    max_drawdown_usd: Decimal
    sink_delivered: int
    sink_failures: int
    sink_dropped: int  # on a full sink queue
    sink_undelivered: int  # still queued at shutdown


async def run_alerts(
    settings: Any,
    config: AlertsConfig,
    *,
    drain_ms: int | None = None,
    delivery: DeliveryPolicy | None = None,
) -> AlertsResult:
    """Consume the run's topics, raise alerts to the ``alerts`` topic and the sinks.

    ``drain_ms``: stop after that long without records (tests, batch use); else run until
    cancelled. Bad records go to the dead-letter topic (the shared consume loop). The sinks
    are fed through a :class:`Dispatcher` (``delivery`` policy): the consume loop never waits
    for a webhook, so a slow sink cannot stall consuming, heartbeats or offset commits.

    Returns counts: ``alerts`` raised, ``suppressed`` by the rate limit, and per sink
    delivery ``sink_delivered``, ``sink_failures``, ``sink_dropped`` (queue full),
    ``sink_undelivered`` (still pending at shutdown).
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from consumers.ordering import EventTimeMerge
    from infra.kafka_io import DeadLetters, EventProducer, start_consumer
    from schemas.serde import Serializer

    names = [
        "md.funding",
        "md.tickers",
        "acct.funding",  # the funding_recon rule: what the venues report paid
        "strategy.intents",
        "derived.positions",
        "risk.events",
        "orders.events",
    ]
    engine = AlertEngine(config.rules)
    serializer = Serializer()
    raised = 0
    # markets first at a tie (a position at t is marked with the marks stamped t)
    merge: EventTimeMerge[ev.Event] = EventTimeMerge([settings.topic(n) for n in names])
    async with (
        EventProducer(settings, serializer=serializer) as producer,
        Dispatcher(config, delivery) as dispatcher,
    ):
        dead_letters = DeadLetters(producer)
        consumer = AIOKafkaConsumer(
            *[settings.topic(n) for n in names],
            bootstrap_servers=settings.bootstrap,
            auto_offset_reset="earliest",
            group_id=f"fundarb-alerts-{settings.topic_prefix or 'default'}",
        )
        await start_consumer(consumer)
        ends: dict[TopicPartition, int] = {}
        positions: dict[TopicPartition, int] = {}

        async def refresh() -> None:
            tps = sorted(consumer.assignment(), key=lambda t: (t.topic, t.partition))
            if tps:
                ends.update(await consumer.end_offsets(tps))
                for tp in tps:
                    positions[tp] = await consumer.position(tp)

        def caught_up(part: tuple[str, int]) -> bool:
            tp = TopicPartition(*part)
            return tp in ends and positions.get(tp, -1) >= ends[tp]

        async def emit(alerts: list[ev.AlertRaised]) -> None:
            nonlocal raised
            for alert in alerts:
                await producer.send(alert)
                dispatcher.send(alert)  # queued: never awaits a POST
                raised += 1

        idle_ms, seen_any, batch_ms = 0, False, 200
        loop = asyncio.get_running_loop()
        refreshed = -1.0
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=batch_ms)
                for tp in sorted(batch, key=lambda t: (t.topic, t.partition)):
                    for record in batch[tp]:
                        positions[tp] = record.offset + 1
                        event = await dead_letters.decode(record, serializer)
                        if event is None:
                            continue
                        merge.push(tp.topic, tp.partition, record.offset, event.event_time, event)
                if batch:
                    idle_ms, seen_any = 0, True
                else:
                    idle_ms += batch_ms
                now = loop.time()
                if not batch or now - refreshed >= 1.0:  # end offsets: once a second at most
                    await refresh()
                    refreshed = now
                parts = [(tp.topic, tp.partition) for tp in consumer.assignment()]
                for event in merge.release(parts, caught_up):
                    await emit(engine.on_event(event))
                if drain_ms is not None:
                    limit = drain_ms if seen_any else max(drain_ms, 30_000)
                    if idle_ms >= limit:
                        break
            for event in merge.flush():
                await emit(engine.on_event(event))
            await emit(engine.finish())
        finally:
            # stopping the consumer commits its offsets (auto-commit) before the senders'
            # shutdown grace, so a hanging sink cannot hold the commit back
            await consumer.stop()
            await producer.flush()
    return AlertsResult(
        alerts=raised,
        by_rule=dict(sorted(engine.counts.items())),
        suppressed=engine.suppressed,
        max_drawdown_usd=engine.max_drawdown_usd,
        sink_delivered=dispatcher.delivered,
        sink_failures=dispatcher.failures,
        sink_dropped=dispatcher.dropped,
        sink_undelivered=dispatcher.undelivered,
    )
