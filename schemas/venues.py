"""What a venue is, as data: the model every venue package (``producers/venues/<venue>/``) fills.

One :class:`VenueSpec` per venue holds everything that differs between venues and that no
code may guess: symbols, the funding interval and how settlement works, the scale and sign of
funding numbers, published fees with their source, the client-order-id rule, spot-margin
order params, parse quirks of the venue's rows, websocket channel, ccxt id, options and
credentials. The values live in the venue's own package, beside the doc links they come from;
``producers.venues`` discovers the packages (``docs/adding-a-venue.md``).

This module is pure data and pure functions (stdlib and pydantic only), so the core can read
the parts it needs — the fee table (:mod:`schemas.config`), the client-order-id rule
(:mod:`projections.executor`) — without importing any I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from schemas.types import Dec

Settlement = Literal["discrete", "hourly", "continuous"]


class VenueFees(BaseModel):
    """Trading fees of a venue as fractions of notional (negative maker = rebate)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    maker: Dec
    taker: Dec


@dataclass(frozen=True)
class PublishedFees:
    """A venue's public base-tier perp fees and where they were read.

    ``maker``/``taker`` are fractions of notional (0.0005 = 5 bp); ``source`` names the fee
    page (and tier) the numbers come from. :meth:`config` is the row of the default fee table
    (:data:`schemas.config.DEFAULT_FEES`).
    """

    maker: Decimal
    taker: Decimal
    source: str

    def config(self) -> VenueFees:
        return VenueFees(maker=self.maker, taker=self.taker)


@dataclass(frozen=True)
class ClientIdRule:
    """How our deterministic client order ids are shaped for a venue, and what it accepts.

    The executor hashes (arb, revision, step, leg, seq) with SHA-256 and :meth:`shape` turns
    the hex digest into the venue's form: ``prefix`` + the first ``hex_digits`` hex digits,
    or, when ``decimal_bits`` is set, the first ``decimal_bits`` bits as a decimal integer
    (venues whose id is a number: Lighter's ``client_order_index``). ``field`` is the venue's
    own name for the id (ccxt maps its unified ``clientOrderId`` onto it) and ``pattern`` the
    regex the venue accepts (the gateway refuses anything else).
    """

    field: str
    pattern: str
    prefix: str = "fa"
    hex_digits: int = 30
    decimal_bits: int | None = None

    def shape(self, digest_hex: str) -> str:
        """The client order id for a SHA-256 hex digest (deterministic)."""
        if self.decimal_bits is not None:
            return str(int(digest_hex, 16) >> (len(digest_hex) * 4 - self.decimal_bits))
        return self.prefix + digest_hex[: self.hex_digits]

    def accepts(self, client_order_id: str) -> bool:
        """Whether the venue takes ``client_order_id`` as is."""
        return re.fullmatch(self.pattern, client_order_id) is not None


#: The rule of a venue id with no package (tests and backtests of unnamed venues).
DEFAULT_CLIENT_ID = ClientIdRule(field="clientOrderId", pattern=r"fa[0-9a-f]{30}")


@dataclass(frozen=True)
class FillFilter:
    """Rows a venue lists among its trades that are not fills of an order.

    A row whose ``info[field]`` is set and not in ``fills`` is skipped (Bybit lists funding
    settlements, ADL and bust trades in ``execution/list`` with ``execType`` other than
    ``Trade``).
    """

    field: str
    fills: tuple[str, ...]

    def not_a_fill(self, info: Mapping[str, Any]) -> str | None:
        """``None`` for a fill, else what the row is (for the error message)."""
        value = info.get(self.field)
        return None if value is None or value in self.fills else f"{self.field} {value}"


@dataclass(frozen=True)
class FundingRowFields:
    """Where a venue's funding-history row (ccxt ``info``) carries position, rate and price.

    Field names are read from ``info[within]`` when that is an object, else from ``info``.
    ``position_qty`` is the size (signed, unless ``short_when`` = (field, value) marks a
    short, e.g. Bybit's ``side == "Sell"``); ``mark_price`` the price it was valued at;
    ``funding_rate`` the settled rate. Without a price field, ``amount`` names the payment
    and the price follows from ``|amount / (qty × rate)|`` (Hyperliquid's ``usdc``).
    ``None`` fields are not in the row (the connector's own view fills them).
    """

    position_qty: str | None = None
    mark_price: str | None = None
    funding_rate: str | None = None
    amount: str | None = None
    short_when: tuple[str, str] | None = None
    within: str | None = None


@dataclass(frozen=True)
class MarketsFeed:
    """Funding and prices read from the venue's market list, for a ccxt class without
    ``fetchFundingRates``/``fetchTickers`` (dYdX: ``GET /v4/perpetualMarkets``).

    Each field names a key of a market's raw ``info``: ``funding_rate`` the rate of the
    coming settlement (a fraction per ``VenueSpec.funding_interval_h``), ``mark_price`` the
    price positions are valued at, ``quote_volume_24h`` the 24 h volume in the quote currency.
    Bid/ask come from the order book (``top_of_book_in_ticker=False``).
    """

    funding_rate: str
    mark_price: str
    quote_volume_24h: str | None = None


@dataclass(frozen=True)
class SettledFundingFields:
    """A venue's settled-funding rows that give the rate as a magnitude and name the side that
    pays (Lighter's ``fundings``: ``rate`` ≥ 0 in percent, ``direction`` long/short).

    ``rate_scale`` turns ``rate`` into a fraction; ``time_scale_ms`` turns ``time`` into ms
    (1000 for seconds). The signed rate is ``+magnitude`` when longs pay (the usual sign:
    positive = longs pay shorts), ``−magnitude`` when shorts pay.
    """

    rate: str
    paid_by: str
    time: str
    rate_scale: Decimal = Decimal(1)
    time_scale_ms: int = 1
    longs_pay: str = "long"
    shorts_pay: str = "short"


@dataclass(frozen=True)
class VenueSpec:
    """One venue's quirks and facts (module docstring; units in names).

    Attributes
    ----------
    id
        Our venue id, the ``venue`` field of every event (``kraken``).
    ccxt_id
        The ccxt exchange class it trades through (``krakenfutures``); the id when empty.
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
    fees
        Published base-tier fees and their source (the default fee table's row).
    client_id
        The client-order-id rule: how the executor shapes ids and what the venue accepts.
    fill_filter, funding_row, markets_feed, settled_funding
        Parse quirks: trade rows that are not fills, funding-history fields, funding and
        prices from the market list, settled rates given as magnitude plus paying side (see
        their classes). ``None``: ccxt's unified fields say it all.
    account_endpoints
        Where our fills and funding payments are read: ``ccxt`` (the unified
        ``fetchMyTrades``/``fetchFundingHistory``) or ``dydx_indexer`` (ccxt's implicit
        ``indexerGetFills``/``indexerGetFundingPayments``, :mod:`producers.live.account`).
    private_trading
        ``False`` when ccxt's class cannot report our fills or funding payments (no
        ``fetchMyTrades``/``fetchFundingHistory``): ``fundarb live`` trades it on paper only.
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
    fees: PublishedFees
    client_id: ClientIdRule
    credentials: tuple[str, ...]
    docs: str
    ccxt_id: str = ""
    interval_overrides_h: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    rate_scale: Decimal = Decimal(1)
    funding_history_sign: int = 1
    fill_filter: FillFilter | None = None
    funding_row: FundingRowFields | None = None
    markets_feed: MarketsFeed | None = None
    settled_funding: SettledFundingFields | None = None
    account_endpoints: Literal["ccxt", "dydx_indexer"] = "ccxt"
    private_trading: bool = True
    spot_margin_open: Mapping[str, Any] | None = None
    spot_margin_close: Mapping[str, Any] | None = None
    market_order_needs_price: bool = False
    top_of_book_in_ticker: bool = True
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def exchange_id(self) -> str:
        """The ccxt exchange class name (``ccxt_id``, else ``id``)."""
        return self.ccxt_id or self.id

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
        return self.client_id.accepts(client_order_id)
