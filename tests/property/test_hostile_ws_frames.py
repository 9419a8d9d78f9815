"""Hostile websocket rows: each venue's recorded message with one field of its row replaced by a
hostile value, handled by ccxt.pro's real handler (``handle_message``), then read by
:meth:`VenueConnector.on_stream`. It never raises; what it returns is valid events (rate within
±100 % per interval, positive prices, event time not ahead of our clock beyond the limit) or
dead letters."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import ccxt.pro as ccxt_pro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.live.connector import VenueConnector
from producers.live.ws_channels import ws_channel
from producers.venues import venue_spec
from schemas import events as ev
from tests.property.test_hostile_venue_payloads import HOSTILE
from tests.unit.test_ws_feeds import ASSET, markets, messages

#: where each venue's data row sits in its message, and the field naming the instrument
ROW: dict[str, tuple[Callable[[Any], dict[str, Any]], str]] = {
    "binance": (lambda m: m, "s"),
    "bybit": (lambda m: m["data"], "symbol"),
    "gate": (lambda m: m["result"][0], "contract"),
    "bitget": (lambda m: m["data"][0], "instId"),
    "okx": (lambda m: m["data"][0], "instId"),
    "paradex": (lambda m: m["params"]["data"], "market"),
    "hyperliquid": (lambda m: m["data"]["ctx"], ""),
    "lighter": (lambda m: m["market_stats"]["0"], "market_id"),
    "kraken": (lambda m: m, "product_id"),
}
#: our clock per venue: just after the recorded message's own time
NOW = {
    "binance": 1_562_305_381_000,
    "bybit": 1_673_272_862_000,
    "gate": 1_610_031_601_000,
    "bitget": 1_701_843_963_000,
    "okx": 1_700_724_676_000,
    "paradex": 1_771_506_637_000,
    "hyperliquid": 1_763_000_000_000,
    "lighter": 1_763_000_000_000,
    "kraken": 1_680_811_087_000,
}
#: fields the venue's REST parser reads that its stream row does not carry (a hostile venue
#: may send them anyway)
EXTRA = {
    "bybit": ["fundingIntervalHour"],
    "gate": ["funding_interval", "funding_next_apply"],
    "bitget": ["fundingRateInterval", "ratePeriod"],
    "binance": ["interestRate"],
    "kraken": ["lastTime"],
}
#: event times: far ahead of our clock (within 2100, so only the ahead check catches them),
#: in seconds, as strings
TIMES = st.one_of(
    st.integers(1_800_000_000_000, 4_102_444_799_999),
    st.integers(1_800_000_000_000, 4_102_444_799_999).map(str),
    st.integers(1_300_000_000, 4_102_444_799),
)
_LOOP = asyncio.new_event_loop()
_SETUP: dict[str, tuple[Any, Any, VenueConnector]] = {}


def _setup(venue: str) -> tuple[Any, Any, VenueConnector]:
    if venue not in _SETUP:

        async def make() -> tuple[Any, Any, VenueConnector]:
            spec = dataclasses.replace(venue_spec(venue), spot_symbol=None)
            ex = getattr(ccxt_pro, spec.exchange_id)({"options": dict(spec.options)})
            ex.set_markets(markets(venue))
            client = ex.client("wss://offline.invalid/" + venue)  # never dialled
            conn = VenueConnector(spec, ex, [ASSET[venue]], clock=lambda: NOW[venue])
            conn.schedule[spec.perp(ASSET[venue])] = (1_610_035_200_000, 8)  # gate's REST poll
            return ex, client, conn

        _SETUP[venue] = _LOOP.run_until_complete(make())
    return _SETUP[venue]


@pytest.fixture(autouse=True, scope="module")
def _close_exchanges() -> Any:
    yield
    for ex, _client, _conn in _SETUP.values():
        _LOOP.run_until_complete(ex.close())
    _SETUP.clear()


def _check(venue: str, message: dict[str, Any]) -> list[Any]:
    ex, client, conn = _setup(venue)
    channel = ws_channel(venue)
    assert channel is not None
    ex.tickers, ex.fundingRates = {}, {}
    try:
        ex.handle_message(client, message)
    except Exception:
        return []  # ccxt's handler trips: the feed's frame guard dead-letters it (unit test)
    store = ex.fundingRates if channel.returns == "funding_rates" else ex.tickers
    sym = conn.perps[0]
    if sym not in store:
        return []
    conn._seen.clear()  # every example is new to the connector
    out = conn.on_stream({sym: store[sym]}, channel)
    now = NOW[venue]
    for e in out:
        if isinstance(e, ev.FundingRateObserved):
            assert abs(e.funding_rate) <= 1
            assert e.event_time - now <= conn.max_ahead_ms
            assert e.funding_time > 0 and e.funding_interval_h > 0
            assert e.mark_price is None or e.mark_price > 0
        elif isinstance(e, ev.TickerObserved):
            assert 0 < e.bid <= e.ask and e.event_time - now <= conn.max_ahead_ms
        else:
            assert isinstance(e, ev.EventRejected | ev.BreakerTripped | ev.BreakerReset), e
    return out


@pytest.mark.unit
@pytest.mark.parametrize("venue", sorted(ROW))
def test_the_recorded_message_passes(venue: str) -> None:
    out = _check(venue, messages(venue)[0])
    assert any(isinstance(e, ev.FundingRateObserved) for e in out)
    assert not any(isinstance(e, ev.EventRejected) for e in out)


@pytest.mark.unit
def test_a_row_ccxt_cannot_parse_is_a_dead_letter() -> None:
    message = copy.deepcopy(messages("gate")[0])
    message["result"][0]["funding_interval"] = "abc"  # ccxt's Precise raises on it
    (letter,) = [e for e in _check("gate", message) if isinstance(e, ev.EventRejected)]
    assert letter.error_type == "parse.type" and "ValueError" in letter.reason


@pytest.mark.unit
@settings(max_examples=300, deadline=None)
@given(venue=st.sampled_from(sorted(ROW)), data=st.data())
def test_a_hostile_field_is_refused_or_harmless_never_a_crash(venue: str, data: Any) -> None:
    message = copy.deepcopy(messages(venue)[0])
    row_of, id_field = ROW[venue]
    row = row_of(message)
    keys = sorted(k for k in row if k != id_field) + EXTRA.get(venue, [])
    key = data.draw(st.sampled_from(keys))
    row[key] = data.draw(st.one_of(HOSTILE, TIMES))
    if venue in ("bybit", "bitget") and data.draw(st.booleans()):
        message["ts"] = data.draw(TIMES)  # the envelope's time (Bybit's event time)
    _check(venue, message)
