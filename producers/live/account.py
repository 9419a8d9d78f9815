"""Our fills and funding payments, read through ccxt: its unified methods, or a venue's own
endpoints as ccxt's implicit API methods (same HTTP, rate limiting and error mapping).

``VenueSpec.account_endpoints`` picks the path. ``dydx_indexer``: ccxt 4.5.90's ``dydx`` has
no ``fetchMyTrades``/``fetchFundingHistory``, but declares the indexer's
``GET /v4/fills`` and ``GET /v4/fundingPayments`` (``indexerGetFills``,
``indexerGetFundingPayments``; query ``address``, ``subaccountNumber``, ``market``/``ticker``,
``limit``; https://docs.dydx.xyz/indexer-client/http). Their rows are turned into ccxt-shaped
rows by the pure :func:`producers.parse.indexer_fill_trade` /
:func:`producers.parse.indexer_funding_row`, so the callers parse every venue the same way.
The indexer has no ``since`` query: one read of the newest :data:`DYDX_LIMIT` rows, filtered
on ``since`` here (no paging back with ``createdBeforeOrAtHeight`` yet: a gap longer than
that many fills or hourly payments per market is not read back).
"""

from __future__ import annotations

from typing import Any

from producers.parse import ParseError, indexer_fill_trade, indexer_funding_row
from schemas.venues import VenueSpec

#: dYdX subaccount we trade from (the chain's default subaccount 0).
DYDX_SUBACCOUNT = "0"
#: Rows asked per indexer read (newest first; a poll only needs the latest).
DYDX_LIMIT = 100

Bad = list[tuple[Any, ParseError]]


def reads_fills(exchange: Any, spec: VenueSpec) -> bool:
    """Whether our fills on ``spec``'s venue can be read at all."""
    return spec.account_endpoints != "ccxt" or bool(exchange.has.get("fetchMyTrades"))


def reads_funding(exchange: Any, spec: VenueSpec) -> bool:
    """Whether our funding payments on ``spec``'s venue can be read at all."""
    return spec.account_endpoints != "ccxt" or bool(exchange.has.get("fetchFundingHistory"))


def _dydx_query(exchange: Any, symbol: str, market_key: str) -> dict[str, Any]:
    address = getattr(exchange, "walletAddress", None)
    if not address:
        raise ValueError("dydx: walletAddress (FUNDARB_DYDX_WALLET_ADDRESS) is not set")
    return {
        "address": address,
        "subaccountNumber": DYDX_SUBACCOUNT,
        market_key: exchange.market(symbol)["id"],
        "limit": DYDX_LIMIT,
    }


def _since(rows: list[dict[str, Any]], since: int | None) -> list[dict[str, Any]]:
    return [r for r in rows if since is None or r["timestamp"] >= since]


async def fetch_my_trades(
    exchange: Any, spec: VenueSpec, symbol: str, since: int | None
) -> tuple[list[Any], Bad]:
    """Our trades on ``symbol`` since ``since`` (ms) as ccxt trade structures, and the raw
    rows that could not be read (each with its :class:`ParseError`). Network and venue errors
    propagate (ccxt's exceptions)."""
    if spec.account_endpoints == "ccxt":
        return await exchange.fetch_my_trades(symbol, since), []
    query = {**_dydx_query(exchange, symbol, "market"), "marketType": "PERPETUAL"}
    reply = await exchange.indexerGetFills(query)
    symbols = {exchange.market(symbol)["id"]: symbol}
    rows, bad = [], []
    for raw in reply.get("fills", []) if isinstance(reply, dict) else []:
        try:
            rows.append(indexer_fill_trade(raw, symbols))
        except ParseError as err:
            bad.append((raw, err))
    return _since(rows, since), bad


async def fetch_funding_history(
    exchange: Any, spec: VenueSpec, symbol: str, since: int | None
) -> tuple[list[Any], Bad]:
    """Our funding payments on ``symbol`` since ``since`` (ms) as ccxt funding-history rows,
    and the raw rows that could not be read. Errors as :func:`fetch_my_trades`."""
    if spec.account_endpoints == "ccxt":
        return await exchange.fetch_funding_history(symbol, since), []
    reply = await exchange.indexerGetFundingPayments(_dydx_query(exchange, symbol, "ticker"))
    symbols = {exchange.market(symbol)["id"]: symbol}
    rows, bad = [], []
    for raw in reply.get("fundingPayments", []) if isinstance(reply, dict) else []:
        try:
            rows.append(indexer_funding_row(raw, symbols))
        except ParseError as err:
            bad.append((raw, err))
    return _since(rows, since), bad
