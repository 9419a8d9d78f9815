"""Drive a real ccxt.pro exchange class offline: its websocket answers from recorded messages.

The websocket twin of :mod:`producers.recorded`. ccxt.pro builds every subscription and parses
every message with the venue's own code (``ccxt.pro.<venue>``: ``watch_*``, ``handle_message``,
``parse_ws_ticker``, its caches and delta merging, its ``Client`` with futures, reconnection
on close). Only the transport is replaced: ``Client.create_connection`` — the one method
that opens a socket (``aiohttp`` ``ws_connect``) — returns a :class:`RecordedSocket`, whose
``receive`` answers the frames a test pushes (text frames of recorded venue messages, or a
close frame: a dropped stream) and whose ``send_str`` keeps what ccxt sends (subscriptions).

Nothing here decides what a message means: ccxt's handlers do, exactly as on a live socket.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ccxt.pro as ccxt_pro
from aiohttp import WSMessage, WSMsgType


@dataclass
class RecordedSocket:
    """One offline websocket connection (the aiohttp ``ClientWebSocketResponse`` surface ccxt
    uses: ``receive``, ``send_str``, ``ping``, ``pong``, ``close``, ``closed``)."""

    url: str
    sent: list[Any] = field(default_factory=list)
    frames: asyncio.Queue[WSMessage] = field(default_factory=asyncio.Queue)
    closed: bool = False
    _conn: Any = None  # ccxt reads aiohttp's internal buffer through this; None: no buffer

    async def receive(self) -> WSMessage:
        return await self.frames.get()

    async def send_str(self, data: str) -> None:
        self.sent.append(json.loads(data) if data[:1] in "{[" else data)

    async def ping(self, message: bytes = b"") -> None:
        self.frames.put_nowait(WSMessage(WSMsgType.PONG, message, None))

    async def pong(self, message: bytes = b"") -> None:
        return None

    async def close(self, code: int = 1000, message: bytes = b"") -> bool:
        self.closed = True
        return True

    def push(self, message: Any) -> None:
        """Deliver one venue message (JSON-encoded unless already text) as a text frame."""
        text = message if isinstance(message, str) else json.dumps(message)
        self.frames.put_nowait(WSMessage(WSMsgType.TEXT, text, None))

    def drop(self, code: int = 1006) -> None:
        """The venue drops the stream: a close frame (1006: abnormal closure)."""
        self.closed = True
        self.frames.put_nowait(WSMessage(WSMsgType.CLOSE, code, None))


@dataclass
class RecordedWs:
    """Every connection an offline ccxt.pro exchange opens, in order (``sockets``).

    ``opened`` is set whenever a connection opens: a test waits on it, then pushes frames.
    """

    sockets: list[RecordedSocket] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    async def connect(self, url: str) -> RecordedSocket:
        sock = RecordedSocket(url)
        self.sockets.append(sock)
        self.opened.set()
        return sock

    async def next_socket(self, after: int) -> RecordedSocket:
        """The first socket opened after ``after`` sockets (waits for it to open)."""
        while len(self.sockets) <= after:
            self.opened.clear()
            await self.opened.wait()
        return self.sockets[after]

    async def subscribed(self, sock: RecordedSocket) -> Any:
        """The first message ccxt sent on ``sock`` (its subscription), once sent."""
        while not sock.sent:
            await asyncio.sleep(0)
        return sock.sent[0]


def offline_pro_exchange(
    venue: str,
    markets: Sequence[dict[str, Any]],
    ws: RecordedWs,
    *,
    http: Any = None,
    options: dict[str, Any] | None = None,
) -> Any:
    """A ``ccxt.pro.<venue>`` instance whose sockets are ``ws``'s (and, given ``http`` — a
    :class:`producers.recorded.RecordedHttp` — whose REST goes there: the fallback poll).

    ``markets`` are ccxt market structures (:func:`producers.recorded.market_rows`).
    """
    config: dict[str, Any] = {"enableRateLimit": False}
    if options:
        config["options"] = dict(options)
    exchange = getattr(ccxt_pro, venue)(config)
    exchange.set_markets(list(markets))
    if http is not None:
        exchange.fetch = http
        http.exchange = exchange
    make_client = exchange.client

    def client(url: str) -> Any:
        c = make_client(url)
        if not getattr(c, "_recorded", False):

            async def create_connection(session: Any, _url: str = url) -> RecordedSocket:
                return await ws.connect(_url)

            c.create_connection = create_connection
            c._recorded = True
        return c

    exchange.client = client
    return exchange
