"""Websocket feeds through ccxt.pro: funding (and, where the stream has them, tickers) pushed.

:class:`WsFeed` runs one venue's stream next to its :class:`producers.live.connector.VenueConnector`
(which parses, dedupes, counts health and metrics for both paths):

* it awaits ``exchange.<channel.method>`` (:mod:`producers.live.ws_channels`: Binance
  ``watch_mark_prices``; Bybit, Gate, Bitget, Lighter, Kraken ``watch_tickers``; OKX, Paradex
  ``watch_funding_rates``; Hyperliquid ``watch_ticker`` once per perp) in a loop and hands each
  update to :meth:`VenueConnector.on_stream`;
* when the stream fails (ccxt ``NetworkError``: a dropped connection, a timeout, a refused
  subscription) or stays silent for ``idle_s`` (a socket that is open but dead), it counts a
  reconnect (``fundarb_ws_reconnects_total{venue}``), runs one REST poll
  (:meth:`VenueConnector.poll`: the fallback, so the feed does not go quiet while the socket
  is down) and awaits the stream again after tenacity's exponential backoff
  (``min_backoff_s`` … ``max_backoff_s``); ccxt.pro opens a new connection and subscribes
  again on that call;
* a frame ccxt cannot handle (not JSON, a shape its handler trips on) is dead-lettered
  (source ``venue.<id>.<method>``, error ``parse.frame``, the frame's text) and the socket
  keeps being read. Without this guard ccxt's receive loop stops at the first such frame
  (the exception escapes its done-callback before the next read is scheduled): the stream
  would go silent with the connection open;
* a venue without a channel (:func:`producers.live.ws_channels.ws_channel` is ``None``) is only
  polled.

Staleness and lag per stream come from the connector (``fundarb_feed_staleness_seconds``,
``fundarb_feed_lag_seconds`` with ``stream`` = ``ws_funding`` / ``ws_tickers``): the lag of a
pushed update is our arrival time minus the venue's event time in the message (none for a
channel whose messages carry no time: Gate, Hyperliquid, Lighter).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import ccxt.async_support as ccxt
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from infra import metrics as m
from producers.live.connector import VenueConnector, short_error
from producers.live.ws_channels import WsChannel, ws_channel
from producers.parse import ParseError
from schemas.events import Event

log = logging.getLogger(__name__)
Emit = Callable[[list[Event]], Awaitable[None]]
MAX_FRAME_CHARS = 8_000  # of a refused frame kept in its dead letter (EventRejected cuts too)


class StreamIdle(ccxt.NetworkError):  # type: ignore[misc]  # ccxt is untyped
    """No update for ``idle_s``: treated like a dropped connection (reconnect)."""


@dataclass
class WsFeed:
    """One venue's websocket feed (module docstring). ``connector.exchange`` must be a
    ``ccxt.pro`` instance (it serves REST too: the fallback poll). ``channel`` defaults to
    the venue's entry in :data:`producers.live.ws_channels.CHANNELS`."""

    connector: VenueConnector
    min_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    idle_s: float | None = None  # None: no idle watchdog (ccxt's own keepalive still runs)
    channel: WsChannel | None = None
    reconnects: int = 0
    frames_refused: int = 0
    _emit: Any = None
    _refused: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)

    def __post_init__(self) -> None:
        if self.channel is None:
            self.channel = ws_channel(self.connector.spec.id)

    @property
    def method(self) -> str | None:
        return self.channel.method if self.channel else None

    async def run(self, emit: Emit) -> None:
        """Stream until cancelled, emitting each update's new events.

        Raises
        ------
        ValueError
            The venue has no websocket channel.
        ccxt.BaseError
            A non-network venue error (bad symbol, authentication): it needs a person.
        """
        if self.channel is None:
            raise ValueError(f"{self.connector.spec.id} has no websocket funding channel")
        self._emit = emit
        self.connector.ws_streams = ("ws_funding",) + (
            ("ws_tickers",) if self.channel.tickers else ()
        )
        status = self.connector.status
        status.first_attempt_ms = status.first_attempt_ms or self.connector.clock()
        self._guard_frames()
        drain = asyncio.create_task(self._drain_refused(emit))
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(ccxt.NetworkError),
            wait=wait_exponential(min=self.min_backoff_s, max=self.max_backoff_s),
            before_sleep=self._fallback,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._stream(emit)
        finally:
            drain.cancel()
            await asyncio.gather(drain, return_exceptions=True)

    async def _stream(self, emit: Emit) -> None:
        ch = self.channel
        assert ch is not None
        watch = getattr(self.connector.exchange, ch.method)
        if not ch.per_symbol:
            while True:
                update = await self._idle(watch(self.connector.perps))
                await emit(self.connector.on_stream(update, ch))
        # one watcher per perp (Hyperliquid's activeAssetCtx is subscribed per coin)
        pending = {s: asyncio.ensure_future(watch(s)) for s in self.connector.perps}
        try:
            while True:
                done, _ = await self._idle(
                    asyncio.wait(pending.values(), return_when=asyncio.FIRST_COMPLETED)
                )
                for sym, task in list(pending.items()):
                    if task in done:
                        item = task.result()  # a NetworkError ends this attempt (reconnect)
                        pending[sym] = asyncio.ensure_future(watch(sym))
                        await emit(self.connector.on_stream({sym: item}, ch))
        finally:
            for task in pending.values():
                task.cancel()
            await asyncio.gather(*pending.values(), return_exceptions=True)

    async def _idle(self, aw: Awaitable[Any]) -> Any:
        if self.idle_s is None:
            return await aw
        try:
            return await asyncio.wait_for(aw, self.idle_s)
        except TimeoutError:
            # close the sockets (REST stays): the next watch dials and subscribes afresh
            await self.connector.exchange.close_ws_clients()
            raise StreamIdle(f"no update for {self.idle_s:g} s") from None

    async def _fallback(self, state: RetryCallState) -> None:
        """tenacity's ``before_sleep``: count the reconnect, then poll REST once."""
        exc = state.outcome.exception() if state.outcome is not None else None
        self.reconnects += 1
        m.WS_RECONNECTS.labels(self.connector.spec.id).inc()
        log.warning(
            "%s websocket failed (%s): REST poll, reconnect with backoff",
            self.connector.spec.id,
            short_error(exc) if exc is not None else "?",
        )
        await self._emit(await self.connector.poll())

    # ---- hostile frames ------------------------------------------------------------------
    def _guard_frames(self) -> None:
        """Wrap each ccxt ``Client``'s frame handler: an exception (bad JSON, a handler
        tripping on the frame's shape) becomes a dead letter, and the receive loop goes on."""
        exchange = self.connector.exchange
        make_client = exchange.client

        def client(url: str) -> Any:
            c = make_client(url)
            if not getattr(c, "_fundarb_guarded", False):
                inner = c.handle_text_or_binary_message

                def guarded(data: Any, _inner: Any = inner) -> None:
                    try:
                        _inner(data)
                    except Exception as exc:
                        self._refuse_frame(data, exc)

                c.handle_text_or_binary_message = guarded
                c._fundarb_guarded = True
            return c

        exchange.client = client

    def _refuse_frame(self, data: Any, exc: BaseException) -> None:
        conn = self.connector
        text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
        err = ParseError("frame", f"ccxt could not handle the frame: {short_error(exc)}")
        self.frames_refused += 1
        row = {"frame": text[:MAX_FRAME_CHARS], "frame_chars": len(text)}
        self._refused.put_nowait(conn.dead_letter(self.method or "watch", row, err, conn.clock()))

    async def _drain_refused(self, emit: Emit) -> None:
        while True:
            event = await self._refused.get()
            # the connector's dedupe: the same bad frame again is one dead letter
            await emit(self.connector._dedupe([event]))
