"""The paper venue as a Kafka service (``fundarb paper``, ``fundarb live --paper``): the pure
:class:`producers.paper.venue.PaperVenue` between the market/command topics and the answer
topics, with the gateway's order metrics."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from producers.paper.venue import PaperConfig, PaperVenue
from schemas.events import Event, FillExecuted, OrderRejected, PlaceOrder

if TYPE_CHECKING:
    from infra.settings import Settings


class PaperRunCounts(BaseModel):
    """What :func:`run_paper_venue` did: records consumed, and venue events published."""

    model_config = ConfigDict(frozen=True)

    inputs: int  # md.tickers, md.funding and orders.commands records answered
    outputs: int  # orders.events, acct.fills, acct.funding and acct.balances events sent


async def run_paper_venue(
    settings: Settings, config: PaperConfig | None = None, *, drain_ms: int | None = None
) -> PaperRunCounts:
    """The paper venue as a Kafka service (``fundarb paper``, ``fundarb live --paper``).

    Consumes ``md.tickers``, ``md.funding`` and ``orders.commands`` of the run (prefix) and
    publishes its answers to ``orders.events``, ``acct.fills``, ``acct.funding`` and
    ``acct.balances``. Live, records are answered in arrival order against the latest quote
    (what a real venue does); backtests use the deterministic in-process loop instead
    (``streams/simulation.py``). Bad records go to the dead-letter topic.
    """
    # ccxt's number formatting sets the *current* decimal context to ROUND_HALF_UP and traps
    # Underflow (ccxt/base/decimal_to_precision.py); in `fundarb live --paper` it shares the
    # process, so this task keeps a fresh default context of its own (rounding half-even,
    # as in a backtest: the same fills and fees, to the last digit)
    decimal.setcontext(decimal.Context())
    from aiokafka import AIOKafkaConsumer

    from infra import metrics as m
    from infra.kafka_io import DeadLetters, EventProducer, consume_events, start_consumer
    from schemas.serde import Serializer

    venue = PaperVenue(config)
    placed: dict[str, tuple[PlaceOrder, Decimal | None]] = {}  # client id → (cmd, reference)
    serializer = Serializer()
    topics = [settings.topic(n) for n in ("md.tickers", "md.funding", "orders.commands")]
    counts = {"inputs": 0, "outputs": 0}
    async with EventProducer(settings, serializer=serializer) as producer:
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=settings.bootstrap_servers or settings.bootstrap,
            auto_offset_reset="earliest",
            group_id=f"fundarb-paper-{settings.topic_prefix or 'default'}",
        )
        await start_consumer(consumer)
        try:
            async for _record, event in consume_events(
                consumer, serializer, DeadLetters(producer), idle_timeout_ms=drain_ms
            ):
                counts["inputs"] += 1
                if isinstance(event, PlaceOrder):
                    quote = venue.quotes.get((event.venue, event.instrument))
                    mid = (quote.bid + quote.ask) / 2 if quote is not None else None
                    placed[event.client_order_id] = (event, event.limit_price or mid)
                    while len(placed) > 100_000:  # bounded: the oldest commands go first
                        placed.pop(next(iter(placed)))
                for answer in venue.on_event(event):
                    observe_paper(m, answer, placed)
                    await producer.send(answer)
                    counts["outputs"] += 1
        finally:
            await consumer.stop()
            await producer.flush()
    return PaperRunCounts(**counts)


def observe_paper(
    m: Any, answer: Event, placed: dict[str, tuple[PlaceOrder, Decimal | None]]
) -> None:
    """The paper venue's order metrics (the gateway's, :mod:`infra.metrics` ``m``): rejections
    by reason, fills, and each fill's slippage and hedge latency against its command."""
    if isinstance(answer, OrderRejected):
        m.ORDER_FAILURES.labels(answer.venue, answer.reject_reason.value).inc()
    elif isinstance(answer, FillExecuted):
        m.FILLS.labels(answer.venue, "true" if answer.is_hedge else "false").inc()
        cmd, reference = placed.get(answer.client_order_id or "", (None, None))
        if cmd is not None:
            m.observe_fill(answer.venue, cmd, answer.price, answer.event_time, reference)
