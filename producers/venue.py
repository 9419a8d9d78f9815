"""What differs between venues, written down once: the quirk map every connector reads.

A :class:`VenueSpec` names, for one ccxt exchange id, everything the pure parsers
(:mod:`producers.parse`), the order gateway (:mod:`producers.gateway`) and the connector
(:mod:`producers.connector`) must not guess: symbol formats, the funding interval and how
settlement works, the sign of funding-history amounts, the client-order-id field and its
limits, the order params of a spot short on margin, and which credentials ccxt needs.

Each venue's spec lives in its own package, ``producers/<venue>/__init__.py``, with the doc
links its values come from. :data:`VENUES` is the registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

Settlement = Literal["discrete", "hourly", "continuous"]


@dataclass(frozen=True)
class VenueSpec:
    """One venue's quirks (see the module docstring; units in names).

    Attributes
    ----------
    id
        ccxt exchange id (also our ``venue`` field).
    perp_symbol, spot_symbol
        ccxt unified symbol templates for an asset (``{asset}``); ``spot_symbol`` is ``None``
        where we trade no spot (no spot-perp on that venue).
    funding_interval_h
        The venue's default funding interval in hours, used when neither ccxt's ``interval``
        nor a ``fundingTimestamp``/``nextFundingTimestamp`` delta gives it (DESIGN §10).
    interval_overrides_h
        Per-asset intervals the venue documents (e.g. Binance HYPE 4h).
    settlement
        ``discrete``: funding settles at ``fundingTimestamp``; ``hourly``: on every hour and the
        venue does not send the time (Hyperliquid, Lighter); ``continuous``: accrues against
        an index and the rate is per ``funding_interval_h`` (Paradex) — we stamp the next
        hour as the accrual snapshot.
    rate_scale
        Multiplies ccxt's ``fundingRate`` into a fraction per interval (1, or 0.01 for a venue
        that reports percent).
    funding_history_sign
        ``+1`` when ccxt's funding-history ``amount`` > 0 means received (Binance income),
        ``-1`` when it is the fee paid (Bybit ``execFee``, positive = paid).
    client_id_pattern
        Regex a client order id must match at this venue (the executor shapes ids per venue,
        :data:`projections.executor.CLIENT_ID_RULES`); the gateway refuses others.
    venue_client_id_field
        The venue's own name for the client order id (ccxt maps its unified
        ``clientOrderId`` param onto it).
    spot_margin_open, spot_margin_close
        Extra ccxt ``createOrder`` params for a spot order on margin that borrows (opening a
        short) and that repays (closing it). ``None``: the venue has no spot margin.
    market_order_needs_price
        ccxt needs a reference price for market orders (Hyperliquid sends IOC limits with
        slippage around it).
    top_of_book_in_ticker
        ``False`` when the ticker has no bid/ask and the connector reads the order book.
    options
        ccxt constructor options (account type defaults and the like).
    ws_funding
        Superseded by :mod:`producers.ws_channels` (every venue's channel, read by the
        connector and :class:`producers.ws.WsFeed`); ``ws_funding``, ``ws_funding_fields``
        and ``ws_tickers`` are no longer read and go when the venue packages drop them.
    ws_funding_fields
        Raw websocket field → the venue's REST field, so ccxt's own REST ``parse_funding_rate``
        reads the stream's ``info`` (empty: the stream uses the REST names).
    ws_tickers
        The ``ws_funding`` stream's tickers carry top of book (bid/ask): the ticker poll is
        replaced too. Otherwise tickers keep coming from the REST poll.
    credentials
        ccxt credential attributes live trading needs (``apiKey``, ``secret``, ``password``,
        ``walletAddress``, ``privateKey``); read from ``FUNDARB_<VENUE>_<NAME>`` (upper-case).
    docs
        Where the values come from.
    """

    id: str
    perp_symbol: str
    spot_symbol: str | None
    funding_interval_h: int
    settlement: Settlement
    client_id_pattern: str
    venue_client_id_field: str
    credentials: tuple[str, ...]
    docs: str
    interval_overrides_h: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    rate_scale: Decimal = Decimal(1)
    funding_history_sign: int = 1
    spot_margin_open: Mapping[str, Any] | None = None
    spot_margin_close: Mapping[str, Any] | None = None
    market_order_needs_price: bool = False
    top_of_book_in_ticker: bool = True
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    ws_funding: str | None = None
    ws_funding_fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    ws_tickers: bool = False

    def perp(self, asset: str) -> str:
        """The perpetual's unified symbol for ``asset`` (``BTC`` → ``BTC/USDT:USDT``)."""
        return self.perp_symbol.format(asset=asset)

    def spot(self, asset: str) -> str | None:
        """The spot market's unified symbol, or ``None`` when we trade no spot here."""
        return self.spot_symbol.format(asset=asset) if self.spot_symbol else None

    def symbols(self, assets: list[str] | tuple[str, ...]) -> list[str]:
        """Every market of ``assets`` we follow at this venue (perps, then spots)."""
        out = [self.perp(a) for a in assets]
        out += [s for a in assets if (s := self.spot(a))]
        return out

    def interval_h(self, asset: str) -> int:
        """Configured funding interval of ``asset``'s perp (hours)."""
        return self.interval_overrides_h.get(asset, self.funding_interval_h)

    def accepts_client_id(self, client_order_id: str) -> bool:
        """Whether the venue takes this client order id as is."""
        return re.fullmatch(self.client_id_pattern, client_order_id) is not None


def _registry() -> dict[str, VenueSpec]:
    from producers import binance, bitget, bybit, gate, hyperliquid, lighter, okx, paradex

    specs = (
        binance.SPEC,
        bybit.SPEC,
        okx.SPEC,
        hyperliquid.SPEC,
        bitget.SPEC,
        gate.SPEC,
        paradex.SPEC,
        lighter.SPEC,
    )
    return {s.id: s for s in specs}


class UnknownVenueError(KeyError):
    """A venue id with no spec (the message lists the supported ones)."""


def venue_spec(venue: str) -> VenueSpec:
    """The spec of ``venue``.

    Raises
    ------
    UnknownVenueError
        ``venue`` is not one of :data:`VENUES`.
    """
    try:
        return VENUES[venue]
    except KeyError:
        raise UnknownVenueError(
            f"unknown venue {venue!r}: supported are {', '.join(sorted(VENUES))}"
        ) from None


VENUES: dict[str, VenueSpec] = _registry()
