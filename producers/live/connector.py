"""Live venue connectors: poll a venue through ccxt and publish market data and account events.

:class:`VenueConnector` serves one venue and a list of assets:

* **market data** every ``poll_s``: funding rates (``fetch_funding_rates``, or one
  ``fetch_funding_rate`` per perp where the venue has no batch call), tickers
  (``fetch_tickers``; the order book's best bid/ask where the ticker has none), and the spot
  sentinel with every spot ticker (DESIGN §10); where the venue lists settled rates as a
  magnitude plus the paying side (Lighter ``/api/v1/fundings``), the last hours' settled
  rates, signed (:meth:`VenueConnector._settled`);
* **account** (only with credentials): positions (margin ratio, liquidation price), balances,
  funding payments (``fetch_funding_history``, valued with the connector's own view of the
  position and mark where the venue's row does not carry them).

REST polling is the tested path (the exchanges are unreachable from CI; ccxt.pro websockets
exist for every venue here, ``watch_tickers``, and are a drop-in for the ticker poll).

Every payload goes through the pure parsers (:mod:`producers.parse`); a refused row becomes an
``EventRejected`` on the dead-letter topic (source ``venue.<id>.<method>``, the row as JSON,
the parser's reason) and the connector carries on. Repeated polls of an unchanged item give
the same event id, which the connector drops (a ticker without a venue time is stamped on
arrival, so it is re-published every poll: the heartbeat the engine's stale-feed check reads).

**Feed health**: a failed poll (any ccxt error) counts against the feed; when a venue has had
no successful market-data poll for ``stale_after_s`` the connector publishes
``BreakerTripped(stale_feed, pause_entries)`` for each of its assets (``venue`` = the venue),
and ``BreakerReset`` when data flows again. :meth:`status` feeds the live status line.

**Metrics** (:mod:`infra.metrics`, labels ``venue`` and ``stream`` = ``funding`` /
``tickers`` / ``account``): per stream the staleness (seconds since its last good read, set
at every poll), the lag of its latest item (arrival minus the venue's event time), its
failures; the venue's stale flag and dead letters; per asset the latest funding rate and its
APR, and with keys the perp position's margin ratio and liquidation distance.

**Restart reconciliation** (:meth:`reconcile`): open orders, recent fills and positions are
fetched from the venue; fills whose ids the log does not hold yet are published, open orders
that carry one of our client order ids are adopted by the gateway. While a venue's
reconciliation has not succeeded, :meth:`hold` keeps its feed stale (``stale_feed`` tripped).

Credentials come from the environment (:class:`producers.live.credentials.VenueCredentials`),
are held as ``SecretStr`` and handed only to ccxt; they are never logged or published.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, TypeVar

from infra import metrics as m
from producers.live.account import fetch_funding_history, fetch_my_trades, reads_funding
from producers.live.ws_channels import WsChannel
from producers.parse import (
    LegView,
    ParseError,
    markets_snapshot,
    parse_balance,
    parse_fills,
    parse_funding_payment,
    parse_funding_rates,
    parse_position,
    parse_settled_funding,
    parse_ticker,
    spot_sentinel,
)
from producers.venues import VenueSpec
from projections.funding import MS_PER_HOUR
from schemas.envelope import IdNamespace, dead_letter, envelope
from schemas.events import (
    BreakerReset,
    BreakerTripped,
    Event,
    EventRejected,
    FillExecuted,
    FundingRateObserved,
    TickerObserved,
)
from schemas.types import Breaker, BreakerAction, base_asset, is_spot

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)


# ---- status --------------------------------------------------------------------------------
@dataclass
class FeedStatus:
    """Health of one venue's feed (ms UTC times from our clock)."""

    first_attempt_ms: int = 0
    last_ok_ms: int = 0
    last_attempt_ms: int = 0
    failures: int = 0  # consecutive
    last_error: str = ""
    events: int = 0
    rejected: int = 0
    stale: bool = False


def short_error(exc: BaseException) -> str:
    """``Type: message`` cut to 160 characters: one log or status line, never a traceback."""
    return f"{type(exc).__name__}: {str(exc)[:160]}"


@dataclass
class VenueConnector:
    """Polls one venue (module docstring). ``exchange`` is a ``ccxt.async_support`` instance."""

    spec: VenueSpec
    exchange: Any
    assets: list[str]
    private: bool = False
    stale_after_s: float = 60.0
    clock: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    status: FeedStatus = field(default_factory=FeedStatus)
    marks: dict[str, Decimal] = field(default_factory=dict)
    legs: dict[str, LegView] = field(default_factory=dict)
    funding_since: int | None = None
    held: str | None = None  # why the feed is held stale whatever its data (see hold())
    stream_ok_ms: dict[str, int] = field(default_factory=dict)  # stream → last good read (ms)
    #: perp → (next settlement ms, interval h) of the last REST poll: placing a stream's rate
    #: where the stream carries no settlement time (Gate's ``futures.tickers``)
    schedule: dict[str, tuple[int, int]] = field(default_factory=dict)
    max_ahead_ms: int = 60_000  # a pushed event stamped further ahead of our clock is refused
    #: the websocket streams a running :class:`producers.live.ws.WsFeed` feeds (their staleness
    #: counts from the first attempt, so a stream that never delivers shows as stale)
    ws_streams: tuple[str, ...] = ()
    #: hours of settled rates each poll asks for where the venue lists them with the paying
    #: side (``spec.settled_funding``: Lighter); re-read hours dedupe, a gap this short fills
    settled_lookback_h: int = 3
    _stage: str = "funding"  # the stream being read (a failure counts against it)
    _seen: OrderedDict[str, None] = field(default_factory=OrderedDict)

    @property
    def perps(self) -> list[str]:
        return [self.spec.perp(a) for a in self.assets]

    @property
    def spots(self) -> list[str]:
        return [s for a in self.assets if (s := self.spec.spot(a))]

    # ---- polling ---------------------------------------------------------------------------
    async def poll(self) -> list[Event]:
        """One round: market data, then (private) account data; returns new events only."""
        now = self.clock()
        self.status.first_attempt_ms = self.status.first_attempt_ms or now
        self.status.last_attempt_ms = now
        out: list[Event] = []
        try:
            out += await self._market(now)
            self.status.last_ok_ms = now
            self.status.failures = 0
        except Exception as exc:  # a venue/network failure: counted, reported, retried next poll
            m.FEED_FAILURES.labels(self.spec.id, self._stage).inc()
            self.status.failures += 1
            self.status.last_error = short_error(exc)
            # the first failure of a streak is a warning; the rest are in the status line
            level = logging.WARNING if self.status.failures == 1 else logging.DEBUG
            log.log(level, "%s market poll failed: %s", self.spec.id, self.status.last_error)
        if self.spec.settled_funding is not None:
            try:
                out += await self._settled(now)
            except Exception as exc:  # the live estimates and tickers above still count
                m.FEED_FAILURES.labels(self.spec.id, "funding").inc()
                self.status.last_error = short_error(exc)
                log.warning("%s settled-rate poll failed: %s", self.spec.id, self.status.last_error)
        if self.private:
            try:
                out += await self._account(now)
                self._read_ok("account", now, [])
            except Exception as exc:
                m.FEED_FAILURES.labels(self.spec.id, "account").inc()
                self.status.last_error = short_error(exc)
                log.warning("%s account poll failed: %s", self.spec.id, self.status.last_error)
        out += self._health(now)
        fresh = self._dedupe(out)
        self.status.events += sum(not isinstance(e, EventRejected) for e in fresh)
        return fresh

    def _dedupe(self, events: Iterable[Event]) -> list[Event]:
        fresh = []
        for e in events:
            if e.event_id in self._seen:
                continue
            self._seen[e.event_id] = None
            fresh.append(e)
        while len(self._seen) > 100_000:
            self._seen.popitem(last=False)
        return fresh

    def dead_letter(self, method: str, row: Any, err: ParseError, now: int) -> EventRejected:
        """The dead letter of a refused venue row (id from its content: re-polls dedupe)."""
        raw = json.dumps(row, default=str, sort_keys=True).encode()
        digest = hashlib.sha256(raw).hexdigest()
        sym = row.get("symbol") if isinstance(row, dict) else None
        asset = base_asset(sym) if isinstance(sym, str) and "/" in sym else "UNKNOWN"
        self.status.rejected += 1
        stream = {"fetchTickers": "tickers", "fetchFundingRates": "funding"}.get(method) or (
            "ws_funding" if method.startswith("watch") else "account"
        )
        m.DEAD_LETTERS.labels(self.spec.id, stream).inc()
        log.warning("%s %s refused: %s", self.spec.id, method, err)
        return dead_letter(
            IdNamespace.CONNECTOR.id(self.spec.id, method, digest, sep="|"),
            at=now,
            venue=self.spec.id,
            asset=asset,
            source=f"venue.{self.spec.id}.{method}",
            raw_value=raw,
            error_type=f"parse.{err.error_type}",
            reason=err.reason,
        )

    async def _settled(self, now: int) -> list[Event]:
        """Settled rates of the last :attr:`settled_lookback_h` hours, per perp, as settled
        ``FundingRateObserved`` (:func:`parse_settled_funding`: the magnitude signed by the
        paying side).

        Lighter ``GET /api/v1/fundings`` (ccxt's implicit ``public_get_fundings``; request
        ``market_id``, ``resolution`` ``1h``, ``start_timestamp``/``end_timestamp`` in
        seconds, ``count_back``; reply ``{"code", "resolution", "fundings": [{"timestamp",
        "value", "rate", "direction"}]}``: Lighter's OpenAPI models ``ReqGetFundings`` and
        ``Fundings``, as generated in the lighter-python and lighter-rust SDKs). A refused
        row, or a reply without a ``fundings`` list, is a dead letter (source
        ``venue.<id>.fundings``); a failed call raises (the poll counts it).
        """
        ex, spec = self.exchange, self.spec
        out: list[Event] = []
        end_s = now // 1000
        for sym in self.perps:
            reply = await ex.public_get_fundings(
                {
                    "market_id": ex.market(sym)["id"],
                    "resolution": "1h",
                    "start_timestamp": end_s - self.settled_lookback_h * 3600,
                    "end_timestamp": end_s,
                    "count_back": self.settled_lookback_h,
                }
            )
            rows = reply.get("fundings") if isinstance(reply, Mapping) else None
            if not isinstance(rows, list):
                err = ParseError("missing", f"{spec.id} {sym}: fundings reply has no list")
                out.append(self.dead_letter("fundings", {"symbol": sym, "reply": reply}, err, now))
                continue
            for row in rows:
                try:
                    out.append(parse_settled_funding(spec, row, instrument=sym, ingest_time=now))
                except ParseError as err:
                    out.append(self.dead_letter("fundings", row, err, now))
        return out

    async def _market(self, now: int) -> list[Event]:
        ex, spec = self.exchange, self.spec
        out: list[Event] = []
        self._stage = "funding"
        from_markets: dict[str, Any] | None = None
        if spec.markets_feed is not None:  # dYdX: rates and marks ride on the market list
            rates, from_markets = markets_snapshot(
                spec, await ex.fetch_markets(), symbols=self.perps
            )
        elif ex.has.get("fetchFundingRates"):
            rates = await ex.fetch_funding_rates(self.perps)
        else:
            rates = [await ex.fetch_funding_rate(s) for s in self.perps]
        evs, bad = parse_funding_rates(spec, rates, ingest_time=now, symbols=self.perps)
        out += evs
        out += [self.dead_letter("fetchFundingRates", r, e, now) for r, e in bad]
        self._read_ok("funding", now, evs)
        self._funding_gauges(evs)
        for e in evs:
            if e.funding_time and e.funding_interval_h:
                self.schedule[e.instrument] = (e.funding_time, e.funding_interval_h)
        self._stage = "tickers"
        symbols = self.perps + self.spots
        tickers: dict[str, Any] = {}
        for group in (self.perps, self.spots):  # one market type per call (Bybit's category)
            if not group:
                continue
            if from_markets is not None:
                tickers.update({s: from_markets[s] for s in group if s in from_markets})
            elif ex.has.get("fetchTickers"):
                tickers.update(await ex.fetch_tickers(group))
            else:
                tickers.update({s: await ex.fetch_ticker(s) for s in group})
        for sym in symbols:
            t = tickers.get(sym)
            if t is None:
                continue
            try:
                book = None
                if not spec.top_of_book_in_ticker:
                    book = await ex.fetch_order_book(sym, 5)
                tick = parse_ticker(spec, t, ingest_time=now, book=book)
            except ParseError as err:
                out.append(self.dead_letter("fetchTickers", t, err, now))
                continue
            out.append(tick)
            self.marks[sym] = tick.mark_price or (tick.bid + tick.ask) / 2
            if is_spot(sym):
                out.append(spot_sentinel(spec, sym, event_time=tick.event_time, ingest_time=now))
        self._read_ok("tickers", now, [e for e in out if isinstance(e, TickerObserved)])
        return out

    def on_stream(self, update: Mapping[str, Any], channel: WsChannel) -> list[Event]:
        """Events of one websocket update (:mod:`producers.live.ws`,
        :mod:`producers.live.ws_channels`).

        ``update`` is what ccxt.pro's ``channel.method`` returned, by symbol: tickers whose raw
        ``info`` is renamed per ``channel.fields`` and parsed by the exchange's own REST
        ``parse_funding_rate`` (``returns == "tickers"``), or funding-rate structures
        (``"funding_rates"``). The venue time is the row's ``timestamp``, else
        ``info[channel.time_field]``, else our arrival time; a stream without a settlement
        time takes it (and the interval) from the last REST poll's schedule
        (:attr:`schedule`), and its rows are held back until a poll has named it. Then the
        pure parsers decide (:func:`parse_funding_rate`, with ``channel.rate_scale``; tickers
        when ``channel.tickers``).

        Refused at this edge, as dead letters (source ``venue.<id>.<method>``), the feed going
        on: anything the parsers refuse (NaN, absurd rate or price, a seconds timestamp …), a
        row ccxt cannot parse, and an event time more than :attr:`max_ahead_ms` ahead of our
        clock. New events only (the polls' dedupe); the stream counts as read (status, health,
        metrics under ``ws_funding`` / ``ws_tickers``: lag = arrival − venue time, not set
        for a stream whose messages carry no venue time).
        """
        now = self.clock()
        self.status.first_attempt_ms = self.status.first_attempt_ms or now
        self.status.last_attempt_ms = now
        spec = self.spec
        if channel.rate_scale is not None:
            spec = replace(spec, rate_scale=channel.rate_scale)
        wanted = set(self.perps)
        method = channel.method
        out: list[Event] = []
        rows = []
        for sym, item in update.items():
            if sym not in wanted or not isinstance(item, Mapping):
                continue
            try:
                row = self._stream_row(sym, item, channel, now)
            except Exception as exc:  # ccxt's parser on a hostile row: refused, not fatal
                out.append(
                    self.dead_letter(method, item, ParseError("type", short_error(exc)), now)
                )
                continue
            if row is not None:
                rows.append(row)
        evs, bad = parse_funding_rates(spec, rows, ingest_time=now, symbols=self.perps)
        out += [self.dead_letter(method, r, e, now) for r, e in bad]
        evs = self._not_ahead(method, evs, now, out)
        out += evs
        if rows:
            # lag only of items with a venue time (Gate, Hyperliquid, Lighter send none: no lag)
            self._read_ok("ws_funding", now, [e for e in evs if e.event_time != now])
            self._funding_gauges(evs)
        if channel.tickers:
            ticks = []
            for sym, t in update.items():
                if sym not in wanted:
                    continue
                t = self._stream_ticker(t, channel)
                try:
                    tick = parse_ticker(spec, t, ingest_time=now)
                except ParseError as err:
                    out.append(self.dead_letter(method, t, err, now))
                    continue
                ticks.append(tick)
            ticks = self._not_ahead(method, ticks, now, out)
            for tick in ticks:
                self.marks[tick.instrument] = tick.mark_price or (tick.bid + tick.ask) / 2
            out += ticks
            self._read_ok("ws_tickers", now, [e for e in ticks if e.event_time != now])
        if rows:
            self.status.last_ok_ms = now
            self.status.failures = 0
        out += self._health(now)
        fresh = self._dedupe(out)
        self.status.events += sum(not isinstance(e, EventRejected) for e in fresh)
        return fresh

    def _stream_row(
        self, sym: str, item: Mapping[str, Any], channel: WsChannel, now: int
    ) -> dict[str, Any] | None:
        """One stream item as a ccxt funding-rate structure (``None``: not placeable yet)."""
        info = item.get("info")
        info = info if isinstance(info, Mapping) else {}
        if channel.returns == "tickers":
            raw = {channel.fields.get(k, k): v for k, v in info.items()}
            row = dict(self.exchange.parse_funding_rate(raw, self.exchange.market(sym)))
            if row.get("timestamp") is None:  # the message's venue time (Bybit ``ts``)
                row["timestamp"] = item.get("timestamp")
        else:
            row = dict(item)
        if row.get("timestamp") is None and channel.time_field:
            row["timestamp"] = info.get(channel.time_field)
        if channel.drop_ccxt_funding_time:
            row["fundingTimestamp"] = None
        known = self.schedule.get(sym)
        if row.get("interval") is None and known is not None:
            row["interval"] = f"{known[1]}h"
        if channel.funding_time_from_rest and row.get("fundingTimestamp") is None:
            if known is None:
                log.debug("%s %s: stream row held until a poll names the settlement", sym, now)
                return None
            t = row.get("timestamp")
            t = now if not isinstance(t, int) else t
            funding_time, interval_h = known
            if funding_time <= t:  # settled since the poll: the schedule's next settlement
                step = interval_h * MS_PER_HOUR
                funding_time += ((t - funding_time) // step + 1) * step
            row["fundingTimestamp"] = funding_time
        return row

    @staticmethod
    def _stream_ticker(item: Any, channel: WsChannel) -> Any:
        """A stream ticker with the venue time of ``info[channel.time_field]`` where ccxt left
        ``timestamp`` empty (Kraken's ``ticker`` feed: ccxt reads a ``lastTime`` it lacks)."""
        if not isinstance(item, Mapping) or item.get("timestamp") is not None:
            return item
        info = item.get("info")
        if channel.time_field and isinstance(info, Mapping):
            return {**item, "timestamp": info.get(channel.time_field)}
        return item

    def _not_ahead(self, method: str, events: list[E], now: int, refused: list[Event]) -> list[E]:
        """``events`` without those stamped more than ``max_ahead_ms`` after ``now`` (each one
        dead-lettered into ``refused``): a clock or unit error at the venue, not a market."""
        keep = []
        for e in events:
            if e.event_time - now > self.max_ahead_ms:
                err = ParseError(
                    "future",
                    f"event time {e.event_time} is {e.event_time - now} ms ahead of our clock "
                    f"(limit {self.max_ahead_ms} ms)",
                )
                refused.append(self.dead_letter(method, e.model_dump(mode="json"), err, now))
            else:
                keep.append(e)
        return keep

    def _funding_gauges(self, rates: Sequence[FundingRateObserved]) -> None:
        for rate in rates:
            labels = (self.spec.id, base_asset(rate.instrument))
            m.FUNDING_RATE.labels(*labels).set(float(rate.funding_rate))
            if rate.funding_interval_h:
                m.FUNDING_APR.labels(*labels).set(
                    m.annualised(rate.funding_rate, rate.funding_interval_h)
                )

    def _read_ok(self, stream: str, now: int, items: Sequence[Event]) -> None:
        """A good read of ``stream`` at ``now`` (ms): its metrics (lag of the newest item)."""
        self.stream_ok_ms[stream] = now
        m.FEED_LAST_OK.labels(self.spec.id, stream).set(m.seconds(now))
        if items:
            newest = max(e.event_time for e in items)
            m.FEED_LAG.labels(self.spec.id, stream).set(m.seconds(max(0, now - newest)))

    async def _account(self, now: int) -> list[Event]:
        ex, spec = self.exchange, self.spec
        out: list[Event] = []
        for pos in await ex.fetch_positions(self.perps):
            try:
                ev = parse_position(spec, pos, ingest_time=now)
            except ParseError as err:
                out.append(self.dead_letter("fetchPositions", pos, err, now))
                continue
            out.append(ev)
            mark = self.marks.get(ev.instrument)
            self.legs[ev.instrument] = LegView(position_qty=ev.position_qty, mark_price=mark)
            labels = (spec.id, base_asset(ev.instrument))
            if ev.margin_ratio is not None:
                m.MARGIN_RATIO.labels(*labels).set(float(ev.margin_ratio))
            if ev.liquidation_price and mark:
                distance = abs(mark - ev.liquidation_price) / mark
                m.LIQUIDATION_DISTANCE.labels(*labels).set(float(distance))
        try:
            out += parse_balance(spec, await ex.fetch_balance(), ingest_time=now)
        except ParseError as err:
            out.append(self.dead_letter("fetchBalance", {}, err, now))
        if reads_funding(ex, spec):
            for sym in self.perps:
                rows, unread = await fetch_funding_history(ex, spec, sym, self.funding_since)
                out += [self.dead_letter("fetchFundingHistory", r, e, now) for r, e in unread]
                leg = self.legs.get(sym, LegView(mark_price=self.marks.get(sym)))
                for row in rows:
                    try:
                        out.append(parse_funding_payment(spec, row, ingest_time=now, leg=leg))
                    except ParseError as err:
                        out.append(self.dead_letter("fetchFundingHistory", row, err, now))
        return out

    def hold(self, reason: str) -> list[Event]:
        """Hold the feed stale until :meth:`release`, whatever its market data says.

        For a venue whose open orders and fills are unknown (start-up reconciliation failed):
        trading there must pause like for a dead feed. Returns the ``BreakerTripped``
        (``stale_feed``) events of its assets, unless the feed is already stale.
        """
        now = self.clock()
        self.status.first_attempt_ms = self.status.first_attempt_ms or now
        self.held = reason
        self.status.last_error = reason
        return self._health(now)

    def release(self) -> None:
        """End :meth:`hold`: the next poll's health check decides (``BreakerReset`` if fresh)."""
        self.held = None

    def _health(self, now: int) -> list[Event]:
        # age of the feed: since its last good poll, or since we started asking
        age_ms = now - (self.status.last_ok_ms or self.status.first_attempt_ms)
        stale = age_ms > self.stale_after_s * 1000 or self.held is not None
        streams = ["funding", "tickers"] + (["account"] if self.private else [])
        streams += list(self.ws_streams)
        for stream in streams:
            since = self.stream_ok_ms.get(stream) or self.status.first_attempt_ms
            m.FEED_STALENESS.labels(self.spec.id, stream).set(m.seconds(max(0, now - since)))
        m.FEED_STALE.labels(self.spec.id).set(1 if stale else 0)
        if stale == self.status.stale:
            return []
        self.status.stale = stale
        out: list[Event] = []
        for asset in self.assets:
            event_id = IdNamespace.CONNECTOR.id(self.spec.id, asset, stale, now, sep="|")
            env = envelope(event_id, now, self.spec.id, asset) | {"breaker": Breaker.stale_feed}
            if stale:
                out.append(
                    BreakerTripped(
                        **env,
                        action=BreakerAction.pause_entries,
                        value=Decimal(age_ms),
                        threshold=Decimal(int(self.stale_after_s * 1000)),
                        detail=f"{self.spec.id} feed: "
                        f"{self.held or self.status.last_error or 'no data'}",
                    )
                )
            else:
                out.append(BreakerReset(**env, detail=f"{self.spec.id} feed back"))
        return out

    def summary(self) -> str:
        """One status-line cell: ``binance ok 2s`` / ``bybit STALE 75s (NetworkError…)``."""
        s, now = self.status, self.clock()
        age = f"{(now - s.last_ok_ms) / 1000:.0f}s" if s.last_ok_ms else "never"
        state = "STALE" if s.stale else ("ok" if s.last_ok_ms else "waiting")
        why = self.held or s.last_error
        err = f" ({why.split(':')[0]})" if s.stale and why else ""
        return f"{self.spec.id} {state} {age} ev={s.events} dl={s.rejected}{err}"

    # ---- restart reconciliation ------------------------------------------------------------
    async def reconcile(
        self, known_fill_ids: set[str], *, since: int | None, client_ids: dict[str, str]
    ) -> tuple[list[Event], list[dict[str, Any]]]:
        """Fills and positions the log is missing, and the venue's open orders.

        Returns ``(events, open_orders)``: fills (``fetch_my_trades`` since ``since``) whose
        fill id is not in ``known_fill_ids``, the current positions, and the open orders as
        ccxt returns them (the gateway adopts those with our client order ids).
        """
        now = self.clock()
        out: list[Event] = []
        opens: list[dict[str, Any]] = []
        for sym in self.perps + self.spots:
            opens += await self.exchange.fetch_open_orders(sym)
            trades, unread = await fetch_my_trades(self.exchange, self.spec, sym, since)
            out += [self.dead_letter("fetchMyTrades", r, e, now) for r, e in unread]
            fills, bad = parse_fills(self.spec, trades, ingest_time=now, client_ids=client_ids)
            out += missing_fills(known_fill_ids, fills)
            out += [self.dead_letter("fetchMyTrades", r, e, now) for r, e in bad]
        for pos in await self.exchange.fetch_positions(self.perps):
            try:
                out.append(parse_position(self.spec, pos, ingest_time=now))
            except ParseError as err:
                out.append(self.dead_letter("fetchPositions", pos, err, now))
        return out, opens


def missing_fills(known: set[str], fills: Iterable[FillExecuted]) -> list[FillExecuted]:
    """Fills whose ids are not in ``known`` (the log's fill ids), in event-time order. Pure."""
    return sorted(
        (f for f in fills if f.fill_id not in known), key=lambda f: (f.event_time, f.fill_id)
    )
