"""Recorded venue payloads (``tests/resources/<venue>/``) run through ccxt offline."""

from __future__ import annotations

import asyncio
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from producers.recorded import RecordedHttp, load_market_rows, offline_exchange
from producers.venues import venue_spec

RESOURCES = Path(__file__).parent / "resources"
#: Dummy credentials: ccxt signs with them exactly as with real ones (nothing leaves the process).
CREDENTIALS = {
    "apiKey": "test-key",
    "secret": "test-secret",
    "password": "test-pass",
    "walletAddress": "0x" + "11" * 20,
    "privateKey": "0x" + "22" * 32,
}
#: Venues whose signer needs another shape of dummy secret (Kraken Futures: base64).
VENUE_CREDENTIALS = {"kraken": {"secret": "dGVzdC1zZWNyZXQ="}}


@cache
def fixtures(venue: str) -> dict[str, Any]:
    """The venue's recorded cases, by ccxt method name."""
    return json.loads((RESOURCES / venue / f"{venue}.json").read_text())["methods"]


def case(venue: str, method: str, index: int = 0) -> dict[str, Any]:
    return fixtures(venue)[method][index]


def markets(venue: str) -> list[dict[str, Any]]:
    return load_market_rows(RESOURCES / venue / "markets.json")


def exchange(
    venue: str, responses: list[Any], *, rate_limit: bool = False, **options: Any
) -> tuple[Any, RecordedHttp]:
    """An offline ccxt exchange for ``venue`` answering ``responses`` in order."""
    http = RecordedHttp(list(responses))
    opts = {**venue_spec(venue).options, **options}
    ex = offline_exchange(
        venue,
        markets(venue),
        http,
        credentials={**CREDENTIALS, **VENUE_CREDENTIALS.get(venue, {})},
        options=opts,
        rate_limit=rate_limit,
    )
    return ex, http


def snake(method: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), method)


#: One loop and one exchange instance per (venue, options) for the parser tests: building a
#: ccxt exchange takes ~0.5 s (Binance's API tables), parsing takes microseconds.
_LOOP = asyncio.new_event_loop()
_SHARED: dict[tuple[str, str], tuple[Any, RecordedHttp]] = {}


def _shared(venue: str, options: dict[str, Any]) -> tuple[Any, RecordedHttp]:
    key = (venue, json.dumps(options, sort_keys=True))
    if key not in _SHARED:
        _SHARED[key] = exchange(venue, [], **options)
    return _SHARED[key]


def run(venue: str, method: str, index: int = 0, **options: Any) -> Any:
    """ccxt's unified result of one recorded case (its HTTP response replayed, offline)."""
    c = case(venue, method, index)
    return run_raw(venue, snake(method), c["input"], c["httpResponse"], **options)


def run_raw(venue: str, method: str, args: list[Any], response: Any, **options: Any) -> Any:
    """Call ccxt ``method`` (snake case) with ``args``; its one request answers ``response``."""
    ex, http = _shared(venue, options)
    http.responses[:] = [response]
    return _LOOP.run_until_complete(getattr(ex, method)(*args))


def shared(venue: str, responses: list[Any], **options: Any) -> tuple[Any, RecordedHttp]:
    """The shared offline exchange of ``venue`` with a fresh reply queue and call log."""
    ex, http = _shared(venue, options)
    http.responses[:] = list(responses)
    http.calls.clear()
    return ex, http


def run_async(coro: Any) -> Any:
    """Run a coroutine on the loop the shared exchanges live on."""
    return _LOOP.run_until_complete(coro)
