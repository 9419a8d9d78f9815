"""Which websocket channel carries funding at each venue, and how to read it (ccxt 4.5.90).

One :class:`WsChannel` per venue id in :data:`CHANNELS`: the ccxt.pro method that subscribes
to the channel, what it returns, which raw fields carry the funding rate, its settlement time
and the venue's event time, and whether the stream's tickers have a top of book. The
connector (:meth:`producers.live.connector.VenueConnector.on_stream`) and the feed
(:class:`producers.live.ws.WsFeed`) read nothing else about a venue's websocket.

Each entry was checked against ccxt.pro's own handler for the channel
(``ccxt/pro/<venue>.py``, whose comments carry the venue's documented message) and the
venue's docs (``docs``). What each stream lacks is written down here, not guessed:

* **binance** ``watch_mark_prices`` — ``<symbol>@markPrice@1s``: ``r`` rate, ``T`` next
  funding time, ``p``/``i`` mark/index, ``E`` event time; no bid/ask.
* **bybit** ``watch_tickers`` — ``tickers.<symbol>``: the REST ticker's fields (``fundingRate``,
  ``nextFundingTime``, ``bid1Price``/``ask1Price``), ``ts`` the message time; ccxt merges deltas.
* **gate** ``watch_tickers`` — ``futures.tickers``: ``funding_rate``,
  ``funding_rate_indicative``, ``mark_price``, ``index_price`` but **no settlement time** and no
  event time. The settlement comes from the REST schedule (``funding_next_apply`` of the last
  poll, rolled forward by the contract's interval); until a poll has named it, stream rows are
  held back, not guessed. Tickers stay on REST (the documented message has no bid/ask).
* **bitget** ``watch_tickers`` — the ``ticker`` channel of ``USDT-FUTURES``: ``fundingRate``,
  ``nextFundingTime``, ``markPrice``, ``indexPrice``, ``bidPr``/``askPr``, ``ts``; the
  contract's interval is not on the stream (the REST schedule's, else the configured one).
* **okx** ``watch_funding_rates`` — ``funding-rate``: ccxt's funding-rate structures
  (``fundingTime``, ``nextFundingTime``, ``nextFundingRate``); ``ts`` is the venue time.
  ccxt.pro has ``watch_funding_rate`` (one symbol) on top of it; we subscribe all perps at once.
* **paradex** ``watch_funding_rates`` — ``funding_data``: ``funding_rate`` per
  ``funding_period_hours`` (accrues continuously; the same unit as the REST markets summary),
  ``created_at`` the venue time.
* **hyperliquid** ``watch_ticker`` (one per perp) — ``activeAssetCtx``: ``funding`` (hourly),
  ``markPx``, ``oraclePx``, ``impactPxs`` (the REST ticker's bid/ask too). ccxt.pro's
  ``watch_tickers`` subscribes ``allMids``, which carries mids only, no funding; ``webData2``
  is not handled by ccxt.pro. The context has no time: stamped on arrival, and the funding
  time ccxt makes up from its own clock is dropped (the parser takes the next hour of the
  event time, as for every hourly venue).
* **lighter** ``watch_tickers`` — ``market_stats/all``: ``current_funding_rate`` (the live
  estimate; ``funding_rate`` is the last settled one) **in percent**, so × 0.01 to a fraction
  (Lighter's REST ``funding-rates`` is a fraction already). Inferred, Lighter's docs do not
  state the unit: the same message's ``funding_clamp_small`` "0.0500" and
  ``funding_clamp_big`` "4.0000" are the usual 0.05 % interest clamp and 4 %/h cap only when
  read as percent (as fractions: 5 % and 400 % per hour), and the documented example's
  "0.0012" is then 0.0012 %/h, the ≈ 0.00125 %/h resting rate of hourly venues (as a
  fraction: 1,050 % a year). No bid/ask, no event time. ccxt.pro has no
  ``watch_funding_rate`` for Lighter.

* **kraken** futures (ccxt ``krakenfutures``) ``watch_tickers`` — the ``ticker`` feed of
  ``wss://futures.kraken.com/ws/v1``: ``funding_rate`` (absolute, USD per contract per hour,
  as the REST tickers' ``fundingRate``), ``funding_rate_prediction``, ``markPrice``,
  ``index``, ``bid``/``ask``, ``time`` (ms). The fields are renamed onto the REST tickers'
  names, so ccxt's REST ``parse_funding_rate`` divides the absolute rate by ``markPrice``
  (clamped to ±25 %) exactly as on a poll: the stream's rate is the REST rate for the same
  row (a relative rate per hour). ``relative_funding_rate`` is not read: Kraken relates it
  to the spot price *at the rate's calculation*, not the mark of the message, so it would
  differ slightly from the REST number. ``next_funding_rate_time`` (documented as "the time
  until", but an epoch time in ms in the documented message) is the next whole hour, which
  the parser stamps anyway (``settlement="hourly"``).

Not implemented, for the record: **dydx** v4: ccxt.pro's
``dydx`` in 4.5.90 has no ticker or funding watcher (``watchTicker(s)`` False; trades, order
book and OHLCV only), so dYdX stays on REST until it has one (the indexer's ``v4_markets``
channel carries ``nextFundingRate``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

Returns = Literal["tickers", "funding_rates"]


@dataclass(frozen=True)
class WsChannel:
    """One venue's funding-carrying websocket channel (module docstring).

    Attributes
    ----------
    venue
        Our venue id (= ccxt id).
    method
        The ccxt.pro ``watch_*`` method.
    returns
        ``tickers``: ccxt tickers by symbol whose ``info`` is the raw venue row (funding is read
        from it by the exchange's own REST ``parse_funding_rate``); ``funding_rates``: ccxt
        funding-rate structures by symbol (ccxt has parsed the funding already).
    per_symbol
        The method takes one symbol (Hyperliquid ``watch_ticker``): one watcher per perp.
    fields
        Raw stream field → the venue's REST field, so the REST parser reads the stream row.
    time_field
        The raw field with the venue's event time (ms) where ccxt leaves ``timestamp`` empty.
    rate_scale
        Multiplies the stream's rate into a fraction (``None``: the venue spec's, as REST).
    funding_time_from_rest
        The stream has no settlement time: take it from the last REST poll's schedule.
    drop_ccxt_funding_time
        ccxt stamps ``fundingTimestamp`` from its own clock (not the venue's): drop it.
    tickers
        The stream's tickers carry bid/ask: they are published as ``TickerObserved`` too.
    docs
        The venue's documentation of the channel.
    """

    venue: str
    method: str
    returns: Returns
    docs: str
    per_symbol: bool = False
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    time_field: str | None = None
    rate_scale: Decimal | None = None
    funding_time_from_rest: bool = False
    drop_ccxt_funding_time: bool = False
    tickers: bool = False


CHANNELS: Mapping[str, WsChannel] = MappingProxyType(
    {
        c.venue: c
        for c in (
            WsChannel(
                "binance",
                "watch_mark_prices",
                "tickers",
                docs="https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream",
                fields=MappingProxyType(
                    {
                        "s": "symbol",
                        "p": "markPrice",
                        "i": "indexPrice",
                        "P": "estimatedSettlePrice",
                        "r": "lastFundingRate",
                        "T": "nextFundingTime",
                        "E": "time",
                    }
                ),
            ),
            WsChannel(
                "bybit",
                "watch_tickers",
                "tickers",
                docs="https://bybit-exchange.github.io/docs/v5/websocket/public/ticker",
                tickers=True,
            ),
            WsChannel(
                "gate",
                "watch_tickers",
                "tickers",
                docs="https://www.gate.com/docs/developers/futures/ws/en/#tickers-api",
                fields=MappingProxyType({"contract": "name"}),
                funding_time_from_rest=True,
            ),
            WsChannel(
                "bitget",
                "watch_tickers",
                "tickers",
                docs="https://www.bitget.com/api-doc/contract/websocket/public/Tickers-Channel",
                tickers=True,
            ),
            WsChannel(
                "okx",
                "watch_funding_rates",
                "funding_rates",
                docs="https://www.okx.com/docs-v5/en/#public-data-websocket-funding-rate-channel",
                time_field="ts",
            ),
            WsChannel(
                "paradex",
                "watch_funding_rates",
                "funding_rates",
                docs="https://docs.paradex.trade/ws/web-socket-channels/funding-data/funding-data",
            ),
            WsChannel(
                "hyperliquid",
                "watch_ticker",
                "tickers",
                docs="https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions",
                per_symbol=True,
                drop_ccxt_funding_time=True,
                tickers=True,
            ),
            WsChannel(
                "lighter",
                "watch_tickers",
                "tickers",
                docs="https://apidocs.lighter.xyz/docs/websocket-reference#market-stats",
                fields=MappingProxyType({"current_funding_rate": "rate"}),
                rate_scale=Decimal("0.01"),
            ),
            WsChannel(
                "kraken",
                "watch_tickers",
                "tickers",
                docs="https://docs.kraken.com/api/docs/futures-api/websocket/ticker",
                fields=MappingProxyType(
                    {
                        "product_id": "symbol",
                        "funding_rate": "fundingRate",
                        "funding_rate_prediction": "fundingRatePrediction",
                        "index": "indexPrice",
                    }
                ),
                time_field="time",
                tickers=True,
            ),
        )
    }
)


#: Venues polled over REST only, and why (the live venues being added: module docstring).
REST_ONLY: Mapping[str, str] = MappingProxyType(
    {
        "dydx": "ccxt.pro dydx has no ticker or funding watcher (4.5.90)",
    }
)


def ws_channel(venue: str) -> WsChannel | None:
    """The venue's funding channel, or ``None`` where it has none (REST polling only)."""
    return CHANNELS.get(venue)
