"""Scripted market data for pure-core tests: funding settlements and tickers per venue."""

from __future__ import annotations

from decimal import Decimal

from projections import board as bd
from schemas.events import Event
from tests import stubs

H = 3_600_000
T0 = stubs.T0


def funding(
    venue: str,
    rate: str,
    t: int,
    interval_h: int = 8,
    asset: str = "BTC",
    instrument: str | None = None,
    next_funding_time: int = 0,
) -> Event:
    inst = instrument or f"{asset}/USDT:USDT"
    return stubs.funding_observed(
        event_id=stubs.eid(f"f/{venue}/{inst}/{t}/{rate}"),
        venue=venue,
        instrument=inst,
        funding_rate=rate,
        funding_interval_h=0,
        funding_time=t,
        next_funding_time=next_funding_time,
        event_time=t,
        ingest_time=t,
        settled=True,
        mark_price=None,
    )


def ticker(
    venue: str,
    bid: str,
    ask: str,
    t: int,
    asset: str = "BTC",
    instrument: str | None = None,
    volume: str | None = "1000000000",
) -> Event:
    inst = instrument or f"{asset}/USDT:USDT"
    return stubs.ticker_observed(
        event_id=stubs.eid(f"t/{venue}/{inst}/{t}/{bid}"),
        venue=venue,
        instrument=inst,
        bid=bid,
        ask=ask,
        last=None,
        mark_price=None,
        index_price=None,
        quote_volume_24h=volume,
        event_time=t,
        ingest_time=t,
    )


def board_of(events: list[Event], asset: str = "BTC") -> bd.AssetBoard:
    b = bd.AssetBoard(asset)
    for e in events:
        b = bd.apply(b, e)
    return b


def two_venue_history(
    short_rate: str = "0.0003", long_rate: str = "0.00005", n: int = 3, start: int = T0
) -> list[Event]:
    """Binance pays ``short_rate`` and Bybit ``long_rate`` per 8h, for ``n`` settlements."""
    events: list[Event] = []
    for i in range(n):
        t = start + i * 8 * H
        events += [
            funding("binance", short_rate, t),
            funding("bybit", long_rate, t),
            ticker("binance", "99.99", "100.01", t),
            ticker("bybit", "99.99", "100.01", t),
        ]
    return events


def px(v: str) -> Decimal:
    return Decimal(v)
