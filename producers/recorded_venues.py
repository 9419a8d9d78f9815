"""``fundarb live --recorded DIR``: every venue's real ccxt class answering from recorded
replies, so the whole live pipeline runs offline (a demo, and the end-to-end tests).

``DIR/<venue>/<venue>.json`` holds ccxt static-response cases by unified method (the format
of ``tests/resources``, ccxt's ``ts/src/test/static/response/``) and ``DIR/<venue>/markets.json``
the venue's market rows (:func:`producers.recorded.market_rows`). While a unified method runs,
every HTTP request it makes is answered with that method's first recorded reply (or a
sibling's, :data:`SIBLINGS`), which goes
through the venue's own parsing and error mapping (:class:`producers.recorded.RecordedHttp`).
A method without a recorded case fails as an unreachable venue (``ExchangeNotAvailable``):
its feed goes stale, as it would live. The same reply every poll: the feed is static.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async

from producers.live.credentials import VenueCredentials
from producers.recorded import RecordedHttp, load_market_rows, offline_exchange
from producers.venues import VenueSpec

#: A method without a case of its own is answered with a sibling's reply when the venue
#: serves both from one endpoint (Bybit's /v5/market/tickers carries tickers and funding);
#: where the shapes differ, ccxt's parser refuses it and the feed fails as it would live.
SIBLINGS: dict[str, tuple[str, ...]] = {
    "fetchTickers": ("fetchTicker", "fetchFundingRates"),
    "fetchTicker": ("fetchTickers",),
    "fetchFundingRates": ("fetchFundingRate",),
    "fetchFundingRate": ("fetchFundingRates",),
}


class RecordedVenueError(ValueError):
    """A venue has no recorded replies or markets under the folder (one line)."""


def _snake(method: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), method)


def recorded_exchange(venue: str, root: Path, options: Mapping[str, Any] | None = None) -> Any:
    """A ``ccxt.async_support.<venue>`` answering from ``root/<venue>/`` (module docstring).

    Raises
    ------
    RecordedVenueError
        ``root/<venue>/<venue>.json`` or ``markets.json`` is missing or unreadable.
    """
    folder = root / venue
    try:
        cases: dict[str, list[dict[str, Any]]] = json.loads(
            (folder / f"{venue}.json").read_text(encoding="utf-8")
        )["methods"]
        markets = load_market_rows(folder / "markets.json")
    except (OSError, ValueError, KeyError) as exc:
        raise RecordedVenueError(
            f"no recorded replies for {venue} under {root} ({venue}/{venue}.json and "
            f"{venue}/markets.json): {exc}"
        ) from None
    running: list[str] = []  # the unified method whose requests are being answered

    def answer(method: str, url: str, headers: Any, body: Any) -> Any:
        name = running[-1] if running else ""
        recorded = cases.get(name) or next(
            (cases[s] for s in SIBLINGS.get(name, ()) if cases.get(s)), None
        )
        if not recorded or "httpResponse" not in recorded[0]:
            raise ccxt_async.ExchangeNotAvailable(
                f"{venue}: no recorded reply for {name or method + ' ' + url}"
            )
        return copy.deepcopy(recorded[0]["httpResponse"])

    exchange = offline_exchange(
        venue, markets, RecordedHttp(fallback=answer), options=options, rate_limit=False
    )
    for camel in sorted(set(cases) | set(SIBLINGS)):
        unified = getattr(exchange, _snake(camel), None)
        if unified is None:
            continue

        async def traced(*args: Any, _call: Any = unified, _name: str = camel, **kw: Any) -> Any:
            running.append(_name)
            try:
                return await _call(*args, **kw)
            finally:
                running.pop()

        setattr(exchange, _snake(camel), traced)
    return exchange


def check_recordings(root: Path, venues: list[str]) -> None:
    """Raise :class:`RecordedVenueError` naming the first venue without its two files."""
    for venue in venues:
        for name in (f"{venue}.json", "markets.json"):
            if not (root / venue / name).is_file():
                raise RecordedVenueError(
                    f"no recorded replies for {venue}: {root / venue / name} is missing"
                )


def recorded_factory(root: Path) -> Callable[[VenueSpec, VenueCredentials, bool], Any]:
    """An ``exchange_factory`` for :func:`streams.live.run_live` over ``root``."""

    def factory(spec: VenueSpec, creds: VenueCredentials, private: bool) -> Any:
        return recorded_exchange(spec.id, root, {**spec.options, **(creds.options or {})})

    return factory
