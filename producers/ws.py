"""Websocket feeds through ccxt.pro: funding (and, where the stream has them, tickers) pushed.

:class:`WsFeed` runs one venue's stream next to its :class:`producers.connector.VenueConnector`
(which parses, dedupes, counts health and metrics for both paths):

* it awaits ``exchange.<spec.ws_funding>(perps)`` (Binance ``watch_mark_prices``, Bybit
  ``watch_tickers``; :class:`producers.venue.VenueSpec`) in a loop and hands each update to
  :meth:`VenueConnector.on_stream`;
* when the stream fails (ccxt ``NetworkError``: a dropped connection, a timeout, a refused
  subscription) it counts a reconnect (``fundarb_ws_reconnects_total{venue}``), runs one REST
  poll (:meth:`VenueConnector.poll`: the fallback, so the feed does not go quiet while the
  socket is down) and awaits the stream again after tenacity's exponential backoff
  (``min_backoff_s`` … ``max_backoff_s``); ccxt.pro opens a new connection and subscribes
  again on that call;
* a venue without a websocket channel in its spec is only polled.

Staleness and lag per stream come from the connector (``fundarb_feed_staleness_seconds``,
``fundarb_feed_lag_seconds``): the lag of a pushed update is our arrival time minus the
venue's event time in the message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from infra import metrics as m
from producers.connector import VenueConnector, short_error
from schemas.events import Event

log = logging.getLogger(__name__)
Emit = Callable[[list[Event]], Awaitable[None]]


@dataclass
class WsFeed:
    """One venue's websocket feed (module docstring). ``connector.exchange`` must be a
    ``ccxt.pro`` instance (it serves REST too: the fallback poll)."""

    connector: VenueConnector
    min_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    reconnects: int = 0

    @property
    def method(self) -> str | None:
        return self.connector.spec.ws_funding

    async def run(self, emit: Emit) -> None:
        """Stream until cancelled, emitting each update's new events.

        Raises
        ------
        ccxt.BaseError
            A non-network venue error (bad symbol, authentication): it needs a person.
        """
        if self.method is None:
            raise ValueError(f"{self.connector.spec.id} has no websocket funding channel")
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(ccxt.NetworkError),
            wait=wait_exponential(min=self.min_backoff_s, max=self.max_backoff_s),
            before_sleep=self._fallback,
            reraise=True,
        )
        self._emit = emit
        async for attempt in retrying:
            with attempt:
                await self._stream(emit)

    async def _stream(self, emit: Emit) -> None:
        watch = getattr(self.connector.exchange, self.method or "")
        while True:
            tickers = await watch(self.connector.perps)
            await emit(self.connector.on_stream(tickers))

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

    _emit: Any = None
