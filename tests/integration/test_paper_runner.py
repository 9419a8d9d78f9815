"""The paper venue as a Kafka service: commands in, venue events out, through the real broker."""

import asyncio
from decimal import Decimal

from aiokafka import AIOKafkaConsumer

from infra.kafka_io import EventProducer, create_topics
from infra.settings import Settings
from producers.paper import Fault, PaperConfig, run_paper_venue
from schemas import events as ev
from schemas.serde import Serializer
from tests import stubs


async def _scenario(settings: Settings) -> list[ev.Event]:
    await create_topics(settings)
    async with EventProducer(settings) as p:
        await p.send(stubs.ticker_observed(bid="100", ask="100.1", event_time=stubs.T0))
        await p.flush()
        await p.send_many(
            [
                stubs.place_order(
                    client_order_id="ok-1",
                    event_id=stubs.eid("ok"),
                    side="buy",
                    qty="1",
                    order_type="market",
                    time_in_force="IOC",
                    limit_price=None,
                    event_time=stubs.T0 + 10,
                ),
                stubs.place_order(
                    client_order_id="rej-1", event_id=stubs.eid("rej"), event_time=stubs.T0 + 20
                ),
            ]
        )
    config = PaperConfig(faults={"rej-1": Fault("reject")})
    counts = await run_paper_venue(settings, config, drain_ms=2000)
    assert counts.inputs == 3
    consumer = AIOKafkaConsumer(
        settings.topic("acct.fills"),
        settings.topic("orders.events"),
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    ser, out = Serializer(), []
    try:
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out += [ser.decode(r.value) for r in records]
            if len(out) >= 3:
                break
    finally:
        await consumer.stop()
    return out


def test_paper_venue_answers_commands_on_the_topics(kafka_settings: Settings) -> None:
    out = asyncio.run(_scenario(kafka_settings))
    kinds = sorted(type(e).__name__ for e in out)
    assert kinds == ["FillExecuted", "OrderAccepted", "OrderRejected"]
    fill = next(e for e in out if isinstance(e, ev.FillExecuted))
    # ask × (1 + (1 bp + 5 bp × notional / 1M USD)), notional = 1 × 100.1
    slip = (Decimal(1) + Decimal(5) * Decimal("100.1") / 1_000_000) * Decimal("0.0001")
    assert fill.client_order_id == "ok-1"
    assert fill.price == (Decimal("100.1") * (1 + slip)).quantize(Decimal("1e-8"))
    rejected = next(e for e in out if isinstance(e, ev.OrderRejected))
    assert rejected.client_order_id == "rej-1"
