"""Pure parsers: ccxt unified structures (plus the raw ``info`` ccxt keeps) → our events.

ccxt turns each venue's HTTP payload into its unified structures (funding rate, ticker, trade,
funding history, balance, position: https://docs.ccxt.com/#/?id=unified-api); these functions
turn those into :mod:`schemas.events`, applying the venue's quirk map
(:class:`schemas.venues.VenueSpec`, filled by ``producers/venues/<venue>/``). They never
touch the network or a clock: ``ingest_time`` (ms UTC, our clock) is passed in and used as
``event_time`` only when the venue sends no time.

Numbers: ccxt hands floats (or strings); each is read through its shortest ``repr``, which is
the venue's decimal string for any value the venue sent as a decimal of ≤ 15 significant
digits, so ``Decimal`` values are exact. Bool, NaN, infinities, empty strings, non-numeric
strings and absurd magnitudes are refused.

Event ids are uuid5 of the venue and the item's natural key (trade id, funding id, symbol +
venue timestamp + values), so polling the same item twice yields the same event (the
connector drops the repeat; the projections ignore applied fill and funding ids).

Every parser raises :class:`ParseError` (with ``error_type`` and ``reason``) for input it
cannot turn into a valid event; the connector sends it to the dead-letter topic with the
payload. A ``pydantic.ValidationError`` from the event model is wrapped the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import ValidationError

from projections.funding import MS_PER_HOUR
from schemas.envelope import IdNamespace, envelope
from schemas.events import (
    BalanceObserved,
    Event,
    FillExecuted,
    FundingPaid,
    FundingRateObserved,
    TickerObserved,
)
from schemas.types import (
    MAX_ABS_FUNDING_RATE,
    MAX_MS,
    MIN_MS,
    Liquidity,
    MarketType,
    Side,
    base_asset,
    is_spot,
    settle_currency,
)
from schemas.venues import FundingRowFields, VenueSpec

#: Anything beyond these is a unit or data error, not a market (prices in quote per base).
MAX_PRICE = Decimal("1e12")
MAX_ABS_RATE = MAX_ABS_FUNDING_RATE  # 100 % per interval: the event types refuse beyond it
E = TypeVar("E", bound=Event)


class ParseError(ValueError):
    """A payload that cannot become a valid event.

    ``error_type`` names the failed check (``missing``, ``type``, ``value``, ``unit``,
    ``symbol``, ``model``); ``reason`` says which field and why.
    """

    def __init__(self, error_type: str, reason: str) -> None:
        super().__init__(f"{error_type}: {reason}")
        self.error_type = error_type
        self.reason = reason


# ---- field readers -------------------------------------------------------------------------
def dec(value: Any, name: str, *, required: bool = True) -> Decimal | None:
    """A number as an exact ``Decimal`` (see module docstring).

    Raises
    ------
    ParseError
        ``missing`` for ``None``/``""`` when required; ``type`` for bools, containers and
        non-numeric strings; ``value`` for NaN and infinities.
    """
    if value is None or value == "":
        if required:
            raise ParseError("missing", f"{name} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ParseError("type", f"{name} must be a number, got {type(value).__name__}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParseError("value", f"{name} is {value}")
        value = repr(value)
    try:
        out = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ParseError("type", f"{name} is not a number: {str(value)[:40]!r}") from None
    if not out.is_finite():
        raise ParseError("value", f"{name} is {value}")
    return out


def _req(value: Any, name: str) -> Decimal:
    out = dec(value, name)
    assert out is not None
    return out


def price(value: Any, name: str, *, required: bool = True) -> Decimal | None:
    """A price: > 0 and below :data:`MAX_PRICE` (``None`` allowed when not required)."""
    out = dec(value, name, required=required)
    if out is None:
        return None
    if out <= 0 or out > MAX_PRICE:
        raise ParseError("value", f"{name} {out} is not a plausible price")
    return out


def millis(value: Any, name: str) -> int:
    """A venue timestamp in ms UTC.

    Raises
    ------
    ParseError
        ``unit`` for a value that is plausible in seconds (ccxt normalises to ms, so a
        seconds value means a unit slip upstream); ``value`` for anything outside
        2009–2100; ``type`` for non-integers.
    """
    if isinstance(value, bool):
        raise ParseError("type", f"{name} must be an integer timestamp, got bool")
    n = dec(value, name)
    assert n is not None
    if n != n.to_integral_value():
        raise ParseError("type", f"{name} {n} is not an integer number of ms")
    ms = int(n)
    if MIN_MS // 1000 <= ms <= MAX_MS // 1000:
        raise ParseError("unit", f"{name} {ms} looks like seconds, expected ms")
    if not MIN_MS <= ms <= MAX_MS:
        raise ParseError("value", f"{name} {ms} is not a ms UTC timestamp in 2009-2100")
    return ms


def _symbol(item: Mapping[str, Any], spec: VenueSpec) -> str:
    sym = item.get("symbol")
    if not isinstance(sym, str) or "/" not in sym:
        raise ParseError("symbol", f"{spec.id}: symbol {sym!r} is not a ccxt unified symbol")
    return sym


def _time(item: Mapping[str, Any], ingest_time: int, key: str = "timestamp") -> int:
    raw = item.get(key)
    return ingest_time if raw is None else millis(raw, key)


def _id(spec: VenueSpec, kind: str, *parts: object) -> str:
    return IdNamespace.LIVE.id(spec.id, kind, *parts, sep="|")


def _envelope(
    spec: VenueSpec, kind: str, key: tuple[object, ...], *, t: int, ingest: int, instrument: str
) -> dict[str, Any]:
    """The envelope of a venue event: id from (venue, kind, natural key), times, venue."""
    return envelope(_id(spec, kind, *key), t, spec.id, instrument, ingest_time=ingest)


def _build(cls: type[E], **fields: Any) -> E:
    try:
        return cls(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first.get("loc", ()))) or cls.__name__
        raise ParseError("model", f"{cls.__name__}.{where}: {first.get('msg')}") from None


def _info(item: Mapping[str, Any]) -> Mapping[str, Any]:
    info = item.get("info")
    return info if isinstance(info, Mapping) else {}


def _mapping(item: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise ParseError("type", f"{what} must be an object, got {type(item).__name__}")
    return item


# ---- funding rates -------------------------------------------------------------------------
_INTERVAL = re.compile(r"(\d+)h")


def funding_interval_h(spec: VenueSpec, item: Mapping[str, Any], asset: str) -> int:
    """The funding interval of one ccxt funding-rate structure, in hours (DESIGN §10).

    In order: ccxt's ``interval`` (``"8h"``), the delta ``nextFundingTimestamp −
    fundingTimestamp`` when both are whole hours apart, the venue's configured interval
    (:meth:`VenueSpec.interval_h`). Never an assumed 8 h.
    """
    raw = item.get("interval")
    if isinstance(raw, str) and (m := _INTERVAL.fullmatch(raw.strip())):
        hours = int(m.group(1))
        if 0 < hours <= 24 * 7:
            return hours
    t, nxt = item.get("fundingTimestamp"), item.get("nextFundingTimestamp")
    if t is not None and nxt is not None:
        delta = millis(nxt, "nextFundingTimestamp") - millis(t, "fundingTimestamp")
        if delta > 0 and delta % MS_PER_HOUR == 0:
            return delta // MS_PER_HOUR
    return spec.interval_h(asset)


def _next_hour(ms: int) -> int:
    return (ms // MS_PER_HOUR + 1) * MS_PER_HOUR


def _rate(value: Any, name: str, spec: VenueSpec, *, required: bool = True) -> Decimal | None:
    raw = dec(value, name, required=required)
    if raw is None:
        return None
    rate = raw * spec.rate_scale
    if abs(rate) > MAX_ABS_RATE:
        raise ParseError("value", f"{name} {raw} is over 100 % per interval (unit slip?)")
    return rate


def parse_funding_rate(spec: VenueSpec, item: Any, *, ingest_time: int) -> FundingRateObserved:
    """One ccxt funding-rate structure → ``FundingRateObserved`` (a live estimate).

    ``funding_time`` is the settlement the rate applies to: ccxt's ``fundingTimestamp`` for
    ``discrete`` venues (the next 00/08/16 UTC style settlement), the next whole hour for
    ``hourly`` venues that send none and for ``continuous`` ones (DESIGN §10).
    ``next_funding_time`` is ccxt's ``nextFundingTimestamp`` when the venue reports it, else 0.
    ``funding_rate`` and ``predicted_rate`` (``nextFundingRate``) are fractions per interval,
    scaled by ``spec.rate_scale``. ``event_time`` is the venue's ``timestamp``, else
    ``ingest_time``.

    Raises
    ------
    ParseError
        Missing/non-numeric rate, a non-perp symbol, a bad timestamp, an absurd rate.
    """
    item = _mapping(item, "funding rate")
    sym = _symbol(item, spec)
    if is_spot(sym):
        raise ParseError("symbol", f"{sym} is spot: use spot_sentinel()")
    asset = base_asset(sym)
    t = _time(item, ingest_time)
    rate = _rate(item.get("fundingRate"), "fundingRate", spec)
    predicted = _rate(item.get("nextFundingRate"), "nextFundingRate", spec, required=False)
    interval = funding_interval_h(spec, item, asset)
    ft_raw = item.get("fundingTimestamp")
    if ft_raw is not None:
        funding_time = millis(ft_raw, "fundingTimestamp")
    elif spec.settlement == "discrete":
        # a discrete venue always states its settlement; without it the rate is unplaceable
        raise ParseError("missing", f"{spec.id} {sym}: fundingTimestamp is missing")
    else:
        funding_time = _next_hour(t)
    nxt_raw = item.get("nextFundingTimestamp")
    nxt = millis(nxt_raw, "nextFundingTimestamp") if nxt_raw is not None else 0
    return _build(
        FundingRateObserved,
        **_envelope(
            spec,
            "funding_rate",
            (
                sym,
                t,
                funding_time,
                rate,
            ),
            t=t,
            ingest=ingest_time,
            instrument=sym,
        ),
        funding_rate=rate,
        funding_interval_h=interval,
        funding_time=funding_time,
        next_funding_time=nxt,
        predicted_rate=predicted,
        mark_price=price(item.get("markPrice"), "markPrice", required=False),
        index_price=price(item.get("indexPrice"), "indexPrice", required=False),
        settled=False,
    )


def parse_funding_rates(
    spec: VenueSpec, items: Any, *, ingest_time: int, symbols: Iterable[str] | None = None
) -> tuple[list[FundingRateObserved], list[tuple[Any, ParseError]]]:
    """ccxt ``fetchFundingRates`` output (a dict by symbol or a list) → (events, refused).

    Rows of other exchanges (Lighter's endpoint lists several, ``info.exchange``), rows
    without a symbol (ccxt drops Paradex options that way) and symbols not in ``symbols``
    are skipped, not refused. Each refused row comes back with its ``ParseError``.
    """
    rows = list(items.values()) if isinstance(items, Mapping) else list(items or [])
    wanted = set(symbols) if symbols is not None else None
    out: list[FundingRateObserved] = []
    bad: list[tuple[Any, ParseError]] = []
    for row in rows:
        if isinstance(row, Mapping):
            other = _info(row).get("exchange")
            if isinstance(other, str) and other.lower() != spec.id:
                continue
            if row.get("symbol") is None or (wanted is not None and row["symbol"] not in wanted):
                continue
        try:
            out.append(parse_funding_rate(spec, row, ingest_time=ingest_time))
        except ParseError as exc:
            bad.append((row, exc))
    return out, bad


def markets_snapshot(
    spec: VenueSpec, markets: Any, *, symbols: Iterable[str] | None = None
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """ccxt ``fetchMarkets`` output → (funding-rate structures, tickers by symbol), for a venue
    whose funding and prices come from its market list (``spec.markets_feed``, dYdX).

    Each market's raw ``info`` gives the coming settlement's rate, the mark price and the 24 h
    quote volume under the names ``spec.markets_feed`` maps; the structures have ccxt's
    unified keys so :func:`parse_funding_rates` and :func:`parse_ticker` read them (no time:
    ``ingest_time`` stamps them; no bid/ask: the connector adds the order book). Markets
    that are not perps, or not in ``symbols``, are skipped. Empty without a feed map.
    """
    feed = spec.markets_feed
    if feed is None:
        return [], {}
    wanted = set(symbols) if symbols is not None else None
    rates: list[dict[str, Any]] = []
    tickers: dict[str, dict[str, Any]] = {}
    for market in markets if isinstance(markets, list) else []:
        if not isinstance(market, Mapping) or not isinstance(market.get("symbol"), str):
            continue
        sym = market["symbol"]
        if is_spot(sym) or (wanted is not None and sym not in wanted):
            continue
        info = _info(market)
        mark = info.get(feed.mark_price)
        rates.append(
            {
                "symbol": sym,
                "fundingRate": info.get(feed.funding_rate),
                "markPrice": mark,
                "interval": f"{spec.funding_interval_h}h",
                "info": info,
            }
        )
        volume = info.get(feed.quote_volume_24h) if feed.quote_volume_24h else None
        tickers[sym] = {"symbol": sym, "markPrice": mark, "quoteVolume": volume, "info": info}
    return rates, tickers


def parse_settled_funding(
    spec: VenueSpec, item: Any, *, instrument: str, ingest_time: int
) -> FundingRateObserved:
    """One settled-funding row that states a magnitude and the paying side → a settled
    ``FundingRateObserved`` (``spec.settled_funding``; Lighter's ``fundings`` rows).

    ``funding_rate`` = ``rate × rate_scale``, positive when longs pay (``paid_by`` names the
    long side), negative when shorts pay — the sign every other venue's rate has, so a long
    position's payment is ``−qty × mark × rate`` everywhere (DESIGN §1). ``funding_time`` =
    ``event_time`` = the row's time in ms.

    Raises
    ------
    ParseError
        The venue has no such rows, a negative magnitude (a sign where a side belongs), a
        side that is neither, a missing or bad rate or time.
    """
    fields = spec.settled_funding
    if fields is None:
        raise ParseError("value", f"{spec.id} has no settled-funding rows with a paying side")
    item = _mapping(item, "settled funding row")
    magnitude = _req(item.get(fields.rate), fields.rate)
    if magnitude < 0:
        raise ParseError(
            "value", f"{spec.id}: {fields.rate} {magnitude} is negative, expected a magnitude"
        )
    side = item.get(fields.paid_by)
    if side == fields.longs_pay:
        sign = 1
    elif side == fields.shorts_pay:
        sign = -1
    else:
        raise ParseError("value", f"{spec.id}: {fields.paid_by} {side!r} names no paying side")
    raw_t = _req(item.get(fields.time), fields.time) * fields.time_scale_ms
    t = millis(raw_t, fields.time)
    rate = magnitude * fields.rate_scale * sign
    if abs(rate) > MAX_ABS_RATE:
        raise ParseError("value", f"{fields.rate} {magnitude} is over 100 % per interval")
    return _build(
        FundingRateObserved,
        **_envelope(
            spec, "settled_funding", (instrument, t), t=t, ingest=ingest_time, instrument=instrument
        ),
        funding_rate=rate,
        funding_interval_h=spec.interval_h(base_asset(instrument)),
        funding_time=t,
        next_funding_time=0,
        settled=True,
    )


def spot_sentinel(
    spec: VenueSpec, symbol: str, *, event_time: int, ingest_time: int
) -> FundingRateObserved:
    """The spot market's funding row: ``rate=0, next_funding_time=0, interval 0`` (DESIGN §10).

    Emitted with every spot ticker so the board knows the spot leg exists and pays nothing.
    """
    if not is_spot(symbol):
        raise ParseError("symbol", f"{symbol} is not a spot symbol")
    return _build(
        FundingRateObserved,
        **_envelope(
            spec,
            "spot_sentinel",
            (
                symbol,
                event_time,
            ),
            t=event_time,
            ingest=ingest_time,
            instrument=symbol,
        ),
        funding_rate=Decimal(0),
        funding_interval_h=0,
        funding_time=0,
        next_funding_time=0,
    )


# ---- tickers -------------------------------------------------------------------------------
def parse_ticker(
    spec: VenueSpec, item: Any, *, ingest_time: int, book: Mapping[str, Any] | None = None
) -> TickerObserved:
    """One ccxt ticker → ``TickerObserved`` (prices quote per base, volume in quote).

    ``bid``/``ask`` come from the ticker, or from ``book`` (a ccxt order book: best of
    ``bids``/``asks``) for venues whose ticker has no top of book (Lighter). ``event_time`` is
    the ticker's ``timestamp``, else the book's, else ``ingest_time``.

    Raises
    ------
    ParseError
        No bid/ask, non-positive or absurd prices, a crossed book, a bad timestamp.
    """
    item = _mapping(item, "ticker")
    sym = _symbol(item, spec)
    bid, ask = item.get("bid"), item.get("ask")
    t = _time(item, ingest_time)
    if (bid is None or ask is None) and book is not None:
        book = _mapping(book, "order book")
        try:
            bid, ask = book["bids"][0][0], book["asks"][0][0]
        except (KeyError, IndexError, TypeError):
            raise ParseError(
                "missing", f"{spec.id} {sym}: order book has no best bid/ask"
            ) from None
        if item.get("timestamp") is None and book.get("timestamp") is not None:
            t = millis(book["timestamp"], "book.timestamp")
    bid_p = price(bid, "bid")
    ask_p = price(ask, "ask")
    return _build(
        TickerObserved,
        **_envelope(
            spec,
            "ticker",
            (
                sym,
                t,
                bid_p,
                ask_p,
            ),
            t=t,
            ingest=ingest_time,
            instrument=sym,
        ),
        bid=bid_p,
        ask=ask_p,
        last=price(item.get("last"), "last", required=False),
        mark_price=price(item.get("markPrice"), "markPrice", required=False),
        index_price=price(item.get("indexPrice"), "indexPrice", required=False),
        quote_volume_24h=dec(item.get("quoteVolume"), "quoteVolume", required=False),
    )


# ---- fills ---------------------------------------------------------------------------------
def parse_fill(
    spec: VenueSpec,
    item: Any,
    *,
    ingest_time: int,
    client_order_id: str | None = None,
    contract_size: Decimal = Decimal(1),
    is_hedge: bool = False,
) -> FillExecuted:
    """One ccxt trade of ours (``fetchMyTrades``) → ``FillExecuted``.

    ``qty`` = ccxt ``amount`` × ``contract_size`` (ccxt counts contracts on contract markets;
    OKX and Gate contracts are fractions of a coin), base units. ``fee`` = ccxt
    ``fee.cost`` (> 0 paid, < 0 rebate) in ``fee.currency``; a trade without a fee is 0 in
    the settle (perp) or quote (spot) currency. ``client_order_id``: the argument (the gateway's
    order id → client id map), else the venue's own field in ``info``
    (``spec.client_id.field``: Bybit ``orderLinkId``, Hyperliquid ``cloid``), else
    ``ext-<order id>`` — an order we did not place.

    Raises
    ------
    ParseError
        Missing id/order/side/price/amount or maker-taker flag, bad numbers or timestamps.
    """
    item = _mapping(item, "trade")
    sym = _symbol(item, spec)
    if spec.fill_filter and (what := spec.fill_filter.not_a_fill(_info(item))):
        raise ParseError("value", f"{spec.id} {sym}: {what} is not a fill of an order")
    fill_id, order_id = item.get("id"), item.get("order")
    if fill_id in (None, "") or order_id in (None, ""):
        raise ParseError("missing", f"{spec.id} {sym}: trade id or order id is missing")
    side = item.get("side")
    if side not in ("buy", "sell"):
        raise ParseError("value", f"{spec.id} {sym}: side {side!r} is not buy/sell")
    liquidity = item.get("takerOrMaker")
    if liquidity not in ("maker", "taker"):
        raise ParseError("missing", f"{spec.id} {sym}: takerOrMaker {liquidity!r}")
    qty = _req(item.get("amount"), "amount") * contract_size
    if qty <= 0:
        raise ParseError("value", f"{spec.id} {sym}: amount {qty} is not positive")
    fee = item.get("fee") if isinstance(item.get("fee"), Mapping) else {}
    fee_cost = dec(fee.get("cost"), "fee.cost", required=False) or Decimal(0)
    fee_ccy = fee.get("currency") or settle_currency(sym)
    if not isinstance(fee_ccy, str):
        raise ParseError("type", f"fee.currency must be a string, got {type(fee_ccy).__name__}")
    cid = client_order_id or _info(item).get(spec.client_id.field) or f"ext-{order_id}"
    return _build(
        FillExecuted,
        **_envelope(
            spec,
            "fill",
            (fill_id,),
            t=millis(item.get("timestamp"), "timestamp"),
            ingest=ingest_time,
            instrument=sym,
        ),
        fill_id=str(fill_id),
        order_id=str(order_id),
        client_order_id=str(cid),
        side=Side(side),
        qty=qty,
        price=price(item.get("price"), "price"),
        fee=fee_cost,
        fee_currency=fee_ccy,
        liquidity=Liquidity(liquidity),
        market_type=MarketType.spot if is_spot(sym) else MarketType.perp,
        is_hedge=is_hedge,
    )


def parse_fills(
    spec: VenueSpec,
    items: Any,
    *,
    ingest_time: int,
    client_ids: Mapping[str, str] | None = None,
    contract_sizes: Mapping[str, Decimal] | None = None,
) -> tuple[list[FillExecuted], list[tuple[Any, ParseError]]]:
    """ccxt ``fetchMyTrades`` output → (fills, refused rows).

    Rows that are not fills (the venue's ``fill_filter``) are skipped. ``client_ids`` maps
    venue order ids to our client order ids; ``contract_sizes`` symbol → contract size (default 1).
    """
    out: list[FillExecuted] = []
    bad: list[tuple[Any, ParseError]] = []
    not_fill = spec.fill_filter
    for row in items if isinstance(items, list) else []:
        if not_fill and isinstance(row, Mapping) and not_fill.not_a_fill(_info(row)):
            continue
        try:
            sym = row.get("symbol") if isinstance(row, Mapping) else None
            out.append(
                parse_fill(
                    spec,
                    row,
                    ingest_time=ingest_time,
                    client_order_id=(client_ids or {}).get(str(row.get("order"))),
                    contract_size=(contract_sizes or {}).get(sym, Decimal(1))
                    if sym is not None
                    else Decimal(1),
                )
            )
        except ParseError as exc:
            bad.append((row, exc))
    return out, bad


# ---- funding payments ----------------------------------------------------------------------
@dataclass(frozen=True)
class LegView:
    """What the connector knows about a position when the venue's funding row does not say.

    ``position_qty`` signed base units; ``mark_price`` quote per base; ``funding_rate``
    fraction per interval (the rate settled at that funding time).
    """

    position_qty: Decimal | None = None
    mark_price: Decimal | None = None
    funding_rate: Decimal | None = None


def funding_row_view(fields: FundingRowFields | None, info: Mapping[str, Any]) -> LegView:
    """What a venue's funding-history row says itself about the leg (its ``funding_row`` map).

    Reads the mapped fields of ``info`` (or of ``info[fields.within]`` when that is an
    object): the position size (negated when ``short_when`` matches), the valuation price,
    the settled rate; without a price field but with ``amount``, the price is
    ``|amount / (qty × rate)|`` (a payment is ``−qty × mark × rate``). Empty without a map.
    """
    if fields is None:
        return LegView()
    row = info
    if fields.within is not None and isinstance(info.get(fields.within), Mapping):
        row = info[fields.within]
    where = f"info.{fields.within}." if fields.within and row is not info else "info."

    def read(name: str | None) -> Decimal | None:
        return None if name is None else dec(row.get(name), where + name, required=False)

    qty = read(fields.position_qty)
    if qty is not None and fields.short_when:
        field_name, short_value = fields.short_when
        if row.get(field_name) == short_value:
            qty = -qty
    rate = read(fields.funding_rate)
    mark: Decimal | None = None
    if fields.mark_price is not None:
        mark = price(row.get(fields.mark_price), where + fields.mark_price, required=False)
    elif (amount := read(fields.amount)) is not None and qty and rate:
        mark = abs(amount / (qty * rate)) or None
    return LegView(position_qty=qty, mark_price=mark, funding_rate=rate)


def parse_funding_payment(
    spec: VenueSpec, item: Any, *, ingest_time: int, leg: LegView | None = None
) -> FundingPaid:
    """One ccxt funding-history row → ``FundingPaid`` (``amount`` > 0 received).

    ``amount`` = ccxt ``amount`` × ``spec.funding_history_sign`` in ``code`` (the settle
    currency). Position, rate and valuation price come from the row's ``info`` where the venue
    sends them (the venue's ``funding_row`` map, :func:`funding_row_view`), else ccxt's
    ``rate``, else ``leg`` (the connector's view). ``event_time`` = ``funding_time`` = the
    row's ``timestamp``.

    Raises
    ------
    ParseError
        Missing id/amount/timestamp, or no position size / mark price from the row or ``leg``
        (Binance income rows carry neither: the connector must have seen the position and a
        mark first; the row is dead-lettered and picked up again on the next poll).
    """
    item = _mapping(item, "funding history row")
    sym = _symbol(item, spec)
    fid = item.get("id")
    if fid in (None, ""):
        raise ParseError("missing", f"{spec.id} {sym}: funding row has no id")
    t = millis(item.get("timestamp"), "timestamp")
    amount = _req(item.get("amount"), "amount") * spec.funding_history_sign
    own = funding_row_view(spec.funding_row, _info(item))
    view = leg or LegView()
    qty = own.position_qty if own.position_qty is not None else view.position_qty
    mark = own.mark_price or view.mark_price
    rate = own.funding_rate
    if rate is None:
        rate = dec(item.get("rate"), "rate", required=False)
    if rate is None:
        rate = view.funding_rate
    if qty is None or mark is None:
        raise ParseError(
            "missing",
            f"{spec.id} {sym}: funding row {fid} has no position size or mark and no "
            "position/ticker has been seen for it yet",
        )
    if rate is None:
        # the venue told us the amount; the rate follows from it (amount = -qty × mark × rate)
        rate = -amount / (qty * mark) if qty else Decimal(0)
    code = item.get("code") or settle_currency(sym)
    return _build(
        FundingPaid,
        **_envelope(spec, "funding", (fid,), t=t, ingest=ingest_time, instrument=sym),
        funding_time=t,
        position_qty=qty,
        funding_rate=rate,
        mark_price=mark,
        amount=amount,
        amount_currency=code,
        funding_id=str(fid),
    )


# ---- balances and positions ----------------------------------------------------------------
_BALANCE_META = {"info", "timestamp", "datetime", "free", "used", "total", "debt"}


def parse_balance(spec: VenueSpec, item: Any, *, ingest_time: int) -> list[BalanceObserved]:
    """ccxt ``fetchBalance`` → one ``BalanceObserved`` per currency with a total.

    ``total``, ``free``, ``used`` in the currency. Venues that report only a total (Binance
    portfolio margin, Paradex, Lighter perps) give ``free = total``, ``used = 0``; with one of
    free/used known, the other is ``total −`` it. ``event_time`` is ccxt's ``timestamp``, else
    ``ingest_time``. Currency codes are ccxt's (``USDC(PERP)`` stays as is).

    Raises
    ------
    ParseError
        Non-numeric amounts, ``free + used ≠ total``, a bad timestamp.
    """
    item = _mapping(item, "balance")
    t = _time(item, ingest_time)
    out = []
    for code in sorted(k for k in item if k not in _BALANCE_META):
        row = item[code]
        if not isinstance(row, Mapping):
            raise ParseError("type", f"balance of {code!r} must be an object")
        total = dec(row.get("total"), f"{code}.total", required=False)
        if total is None:
            continue
        free = dec(row.get("free"), f"{code}.free", required=False)
        used = dec(row.get("used"), f"{code}.used", required=False)
        if free is None and used is None:
            free, used = total, Decimal(0)
        elif free is None:
            free = total - used  # type: ignore[operator]  # used is set: both None handled
        elif used is None:
            used = total - free
        if free + used != total:  # type: ignore[operator]  # both set by now
            raise ParseError("value", f"{code}: free {free} + used {used} != total {total}")
        out.append(
            _build(
                BalanceObserved,
                **_envelope(
                    spec,
                    "balance",
                    (
                        code,
                        t,
                        total,
                        free,
                    ),
                    t=t,
                    ingest=ingest_time,
                    instrument=code,
                ),
                currency=code,
                total=total,
                free=free,
                used=used,
            )
        )
    return out


def parse_position(spec: VenueSpec, item: Any, *, ingest_time: int) -> BalanceObserved:
    """One ccxt position → ``BalanceObserved`` about that market (``instrument`` = symbol).

    ``position_qty`` = ``contracts`` × ``contractSize``, negative for ``side == "short"``
    (base units); ``total = used`` = the position's margin (ccxt ``collateral``, else
    ``initialMargin``, else 0), ``free = 0``; ``margin_ratio`` = ccxt ``marginRatio``, else
    ``maintenanceMargin / collateral`` when both are known; ``liquidation_price``,
    ``entry_price`` and ``leverage`` as ccxt reports them (``None`` when it does not).
    ``currency`` is the settle currency.

    Raises
    ------
    ParseError
        Missing contracts or side for an open position, bad numbers or timestamps.
    """
    item = _mapping(item, "position")
    sym = _symbol(item, spec)
    t = _time(item, ingest_time)
    contracts = dec(item.get("contracts"), "contracts", required=False) or Decimal(0)
    size = dec(item.get("contractSize"), "contractSize", required=False) or Decimal(1)
    qty = contracts * size
    if qty < 0:
        raise ParseError("value", f"{sym}: contracts {contracts} is negative (side says short)")
    side = item.get("side")
    if qty and side not in ("long", "short"):
        raise ParseError("missing", f"{sym}: an open position needs side long/short, got {side!r}")
    if side == "short":
        qty = -qty
    collateral = dec(item.get("collateral"), "collateral", required=False)
    margin = collateral or dec(item.get("initialMargin"), "initialMargin", required=False)
    margin = margin or Decimal(0)
    ratio = dec(item.get("marginRatio"), "marginRatio", required=False)
    maint = dec(item.get("maintenanceMargin"), "maintenanceMargin", required=False)
    if ratio is None and maint is not None and collateral:
        ratio = maint / collateral
    liq = dec(item.get("liquidationPrice"), "liquidationPrice", required=False)
    if liq is not None and (liq < 0 or liq > MAX_PRICE):
        raise ParseError("value", f"{sym}: liquidationPrice {liq} is not plausible")
    lev = dec(item.get("leverage"), "leverage", required=False)
    return _build(
        BalanceObserved,
        **_envelope(
            spec,
            "position",
            (
                sym,
                t,
                qty,
                margin,
            ),
            t=t,
            ingest=ingest_time,
            instrument=sym,
        ),
        currency=settle_currency(sym),
        total=margin,
        free=Decimal(0),
        used=margin,
        margin_ratio=ratio,
        position_qty=qty,
        entry_price=price(item.get("entryPrice"), "entryPrice", required=False) if qty else None,
        liquidation_price=liq if liq else None,
        leverage=lev if lev and lev > 0 else None,
    )


# ---- account rows read from a venue's own endpoints (ccxt implicit methods) -----------------
_INDEXER_SIDE = {"BUY": "buy", "SELL": "sell"}
_INDEXER_LIQUIDITY = {"MAKER": "maker", "TAKER": "taker"}


def _iso_ms(value: Any, name: str) -> int:
    """An ISO 8601 UTC time (``2025-07-14T07:53:55.631Z``) → ms."""
    if not isinstance(value, str):
        raise ParseError("missing", f"{name} {value!r} is not an ISO 8601 time")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ParseError("value", f"{name} {value!r} is not an ISO 8601 time") from None
    if t.tzinfo is None:
        raise ParseError("value", f"{name} {value!r} has no time zone")
    return millis(round(t.timestamp() * 1000), name)


def indexer_fill_trade(row: Any, symbols: Mapping[str, str]) -> dict[str, Any]:
    """One dYdX indexer fill (``GET /v4/fills``, FillResponseObject) → a ccxt-shaped trade.

    ``symbols`` maps the indexer's ``market`` (``BTC-USD``) to the ccxt symbol. ``side``
    ``BUY``/``SELL`` and ``liquidity`` ``MAKER``/``TAKER`` are lower-cased; ``size`` is base
    units, ``price`` quote per base, ``fee`` USDC (> 0 paid, < 0 rebate: the protocol charges
    a positive fee and pays maker rebates as negative fees), ``createdAt`` ISO 8601 → ms.
    Source: https://docs.dydx.xyz/types/fill_response_object. Unknown values are kept as is so
    :func:`parse_fill` refuses them with its own message. Pure.
    """
    row = _mapping(row, "dydx fill")
    market = row.get("market")
    sym = symbols.get(market) if isinstance(market, str) else None
    return {
        "info": dict(row),
        "id": row.get("id"),
        "order": row.get("orderId"),
        "symbol": sym if sym is not None else market,
        "side": _INDEXER_SIDE.get(row.get("side"), row.get("side")),
        "takerOrMaker": _INDEXER_LIQUIDITY.get(row.get("liquidity"), row.get("liquidity")),
        "amount": row.get("size"),
        "price": row.get("price"),
        "fee": {"cost": row.get("fee"), "currency": "USDC"},
        "timestamp": _iso_ms(row.get("createdAt"), "createdAt"),
    }


def indexer_funding_row(row: Any, symbols: Mapping[str, str]) -> dict[str, Any]:
    """One dYdX indexer funding payment (``GET /v4/fundingPayments``) → a ccxt-shaped
    funding-history row for :func:`parse_funding_payment`.

    ``payment`` > 0 is received: the indexer writes ``payment = - size × oraclePrice × rate``
    with ``size`` the signed net position (< 0 short) and ``side`` LONG when it is > 0
    (github.com/dydxprotocol/v4-chain, ``indexer/services/roundtable/src/scripts/
    update_funding_payments.sql`` at commit 0d1509a94c8a944210cd6ecbdd401e8d46da5a34), so
    ``amount`` = ``payment`` and ``VenueSpec.funding_history_sign`` = +1. The
    row names no id: the id is ``<ticker>|<createdAtHeight>`` (one payment per market per
    settlement block). ``rate`` is the settled rate (a fraction per hour). ``info`` gains
    ``signedSize`` (:func:`indexer_funding_leg`) for the venue's ``funding_row`` map, which
    reads it with ``oraclePrice`` and ``rate``. Raises :class:`ParseError`. Source:
    https://docs.dydx.xyz/types/funding_payment_response_object. Pure.
    """
    row = _mapping(row, "dydx funding payment")
    leg = indexer_funding_leg(row)
    ticker = row.get("ticker")
    sym = symbols.get(ticker) if isinstance(ticker, str) else None
    height = row.get("createdAtHeight")
    return {
        "info": {**row, "signedSize": str(leg.position_qty)},
        "id": f"{ticker}|{height}" if ticker and height not in (None, "") else None,
        "symbol": sym if sym is not None else ticker,
        "code": "USDC",
        "amount": row.get("payment"),
        "rate": row.get("rate"),
        "timestamp": _iso_ms(row.get("createdAt"), "createdAt"),
    }


def indexer_funding_leg(row: Mapping[str, Any]) -> LegView:
    """The leg a dYdX funding payment was settled on: ``size`` (the indexer writes the signed
    net size, < 0 short; signed here by ``side`` whatever its sign, so a row with an unsigned
    size reads the same) and ``oraclePrice`` (dYdX values funding at the oracle price).
    Raises :class:`ParseError` on a bad side or number. Pure."""
    size = _req(row.get("size"), "size")
    side = row.get("side")
    if side not in ("LONG", "SHORT"):
        raise ParseError("value", f"dydx funding payment: side {side!r} is not LONG/SHORT")
    qty = abs(size) if side == "LONG" else -abs(size)
    return LegView(position_qty=qty, mark_price=price(row.get("oraclePrice"), "oraclePrice"))
