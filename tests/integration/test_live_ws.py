"""``fundarb live --paper --ws`` on the real broker with Bybit on ccxt.pro's real class offline:
REST answers from the recorded tickers reply, the websocket from the recorded stream message
(tests/resources/bybit/ws.json). Both paths publish to md.funding: the polled rate and the
streamed one; a garbage frame before it goes to the dead-letter topic and the stream goes on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from infra.kafka_io import read_topics
from infra.settings import Settings
from producers.live.credentials import VenueCredentials
from producers.recorded import RecordedHttp
from producers.venues import VenueSpec
from schemas.serde import Serializer
from streams.live import LiveOptions, run_live
from tests import venues as rv
from tests.recorded_ws import RecordedWs, offline_pro_exchange
from tests.unit.test_connector import routed

pytestmark = pytest.mark.integration


def test_live_paper_with_websockets_publishes_the_streamed_funding(
    kafka_settings: Settings,
) -> None:
    ws = RecordedWs()
    (msg,) = json.loads((rv.RESOURCES / "bybit" / "ws.json").read_text())["watchTickers"]
    rest = rv.case("bybit", "fetchFundingRates")["httpResponse"]

    def factory(spec: VenueSpec, creds: VenueCredentials, private: bool) -> Any:
        http: RecordedHttp = routed({"/v5/market/tickers": rest})
        return offline_pro_exchange(
            spec.id, rv.markets(spec.id), ws, http=http, options=dict(spec.options)
        )

    pushed: list[int] = []

    def on_status(line: str) -> None:
        # the pipeline is running: once the stream has subscribed, the venue sends its message
        if ws.sockets and ws.sockets[-1].sent and not pushed:
            ws.sockets[-1].push('{"topic": "tickers.BTCUSDT", garbage')  # not JSON
            ws.sockets[-1].push(msg)
            pushed.append(1)

    opts = LiveOptions(
        venues=["bybit"],
        assets=["BTC"],
        paper=True,
        poll_s=0.5,
        status_s=0.5,
        duration_s=4,
        worker=False,
        audit=False,
        websocket=True,
    )
    asyncio.run(run_live(kafka_settings, opts, exchange_factory=factory, on_status=on_status))
    assert pushed, "the stream never subscribed"
    assert ws.sockets[0].sent[0]["args"] == ["tickers.BTCUSDT"]

    async def read(topic: str) -> list[Any]:
        ser = Serializer()
        return [
            ser.decode(r.value)
            async for _t, _p, r in read_topics(
                kafka_settings.bootstrap, [kafka_settings.topic(topic)]
            )
        ]

    (letter,) = asyncio.run(read("deadletter"))
    assert (letter.error_type, letter.source_topic) == ("parse.frame", "venue.bybit.watch_tickers")
    assert json.loads(letter.raw_value)["frame"] == '{"topic": "tickers.BTCUSDT", garbage'
    rates = {(str(e.funding_rate), e.funding_time) for e in asyncio.run(read("md.funding"))}
    # polled: fundingRate "0.0001", nextFundingTime 1730736000000; streamed: "-0.000212",
    # "1673280000000"
    assert rates == {("0.0001", 1_730_736_000_000), ("-0.000212", 1_673_280_000_000)}
