"""Drive a real ccxt exchange class offline: its HTTP layer answers from recorded responses.

ccxt builds every request (URL, query, signed headers, body) and parses every response with
the venue's own code; only ``Exchange.fetch`` — the one method that talks to the network — is
replaced, by :class:`RecordedHttp`. Tests use it to run the connectors and the order gateway
on real recorded payloads (ccxt's static-response fixtures, ``tests/resources/<venue>/``),
and ``fundarb live --recorded DIR`` uses it to show the live pipeline without network.

Markets are normally loaded from the venue (``load_markets``). Offline they come from a small
file of market rows (:func:`market_rows` expands them into ccxt market structures,
https://docs.ccxt.com/#/?id=market-structure), so no request is made for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async

from producers.venues import VENUES

Responder = Callable[[str, str, Mapping[str, Any] | None, Any], Any]


@dataclass
class Call:
    """One request ccxt made: HTTP method, full URL (with query), headers, body."""

    method: str
    url: str
    headers: Mapping[str, Any] | None
    body: Any

    def json_body(self) -> Any:
        """The body parsed as JSON (``None`` when empty or not JSON)."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Reply:
    """A recorded HTTP reply with its status (a bare JSON value is a 200 reply)."""

    status: int
    body: Any
    reason: str = ""


@dataclass
class RecordedHttp:
    """Answers ccxt's requests in order from ``responses``; every request is kept in ``calls``.

    Each reply goes through the venue's own error mapping exactly as ccxt's ``fetch`` does
    after a real request (``handle_errors`` on the payload, then ``handle_http_status_code``),
    so a recorded error payload (Binance ``{"code": -2019, ...}``, Bybit ``retCode`` 110007)
    raises the ccxt exception the venue's class maps it to. A response that is an
    ``Exception`` instance is raised as is — what ccxt raises for transport failures
    (``RequestTimeout``, ``ExchangeNotAvailable``). When ``responses`` runs out, ``fallback``
    answers (else ``ccxt.NetworkError``: the venue is unreachable).
    """

    responses: list[Any] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    fallback: Responder | None = None
    exchange: Any = None  # set by offline_exchange: whose error mapping replies go through

    async def __call__(
        self,
        url: str,
        method: str = "GET",
        headers: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        self.calls.append(Call(method, url, headers, body))
        if self.responses:
            answer = self.responses.pop(0)
        elif self.fallback is not None:
            answer = self.fallback(method, url, headers, body)
        else:
            raise ccxt_async.NetworkError(f"offline: no recorded response for {method} {url}")
        if isinstance(answer, BaseException):
            raise answer
        reply = answer if isinstance(answer, Reply) else Reply(200, answer, "OK")
        text = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
        payload = json.loads(text) if not isinstance(reply.body, str) else None
        if self.exchange is not None:
            ex = self.exchange
            ex.handle_errors(
                reply.status, reply.reason, url, method, {}, text, payload, headers, body
            )
            ex.handle_http_status_code(reply.status, reply.reason, url, method, text)
        return payload if payload is not None else text  # a private copy: ccxt may mutate it


def market_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Expand compact market rows into ccxt market structures.

    A row has ``symbol`` (unified), ``id`` (the venue's), optional ``contractSize`` (1),
    ``baseId``/``quoteId``/``settleId`` (the codes), ``precision``, ``info``, and any other
    market key the venue's ccxt class reads (Hyperliquid ``baseName``). Type follows
    from the symbol: ``BASE/QUOTE`` spot, ``BASE/QUOTE:SETTLE`` swap (linear when settle is
    the quote, inverse when it is the base).
    """
    known = {"symbol", "id", "contractSize", "baseId", "quoteId", "settleId", "precision", "info"}
    out = []
    for row in rows:
        sym = row["symbol"]
        pair, _, settle = sym.partition(":")
        base, quote = pair.split("/")
        spot = not settle
        out.append(
            {
                "id": row["id"],
                "symbol": sym,
                "base": base,
                "quote": quote,
                "settle": settle or None,
                "baseId": row.get("baseId", base),
                "quoteId": row.get("quoteId", quote),
                "settleId": row.get("settleId", settle or None),
                "type": "spot" if spot else "swap",
                "spot": spot,
                "margin": spot,
                "swap": not spot,
                "future": False,
                "option": False,
                "contract": not spot,
                "linear": None if spot else settle == quote,
                "inverse": None if spot else settle == base,
                "contractSize": None if spot else row.get("contractSize", 1),
                "active": True,
                "taker": row.get("taker", 0.0005),
                "maker": row.get("maker", 0.0002),
                "precision": row.get("precision", {"amount": 1e-8, "price": 1e-8}),
                "limits": {
                    "amount": {"min": None, "max": None},
                    "price": {"min": None, "max": None},
                    "cost": {"min": None, "max": None},
                    "leverage": {"min": None, "max": None},
                },
                "info": dict(row.get("info", {})),
                **{k: v for k, v in row.items() if k not in known},
            }
        )
    return out


def load_market_rows(path: Path) -> list[dict[str, Any]]:
    """Market rows from a JSON file (``{"markets": [...]}``), expanded."""
    return market_rows(json.loads(path.read_text())["markets"])


def ccxt_class(venue: str) -> str:
    """The ccxt exchange class of our venue id (``kraken`` → ``krakenfutures``); an id with
    no venue package is taken as a ccxt id."""
    spec = VENUES.get(venue)
    return spec.exchange_id if spec else venue


def offline_exchange(
    venue: str,
    markets: Sequence[Mapping[str, Any]],
    http: RecordedHttp,
    *,
    credentials: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    rate_limit: bool = True,
) -> Any:
    """A ``ccxt.async_support`` instance of ``venue`` (:func:`ccxt_class`) whose HTTP goes to
    ``http``.

    ``markets`` are ccxt market structures (see :func:`market_rows`); ``credentials`` the ccxt
    credential attributes (dummy ones sign requests just as real ones do). ``rate_limit``
    keeps ccxt's own request throttle (off in parser tests: Lighter's spaces calls by 2 s).
    """
    config: dict[str, Any] = dict(credentials or {}, enableRateLimit=rate_limit)
    if options:
        config["options"] = dict(options)
    exchange = getattr(ccxt_async, ccxt_class(venue))(config)
    exchange.set_markets(list(markets))
    exchange.fetch = http
    http.exchange = exchange
    return exchange
