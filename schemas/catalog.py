"""The topic catalog: every topic, its event types, key, partitions, retention and cleanup.

All topics that feed an asset's decisions are keyed by the **base asset** and share one
partition count (:data:`ASSET_PARTITIONS`), so one Faust worker owns everything about an asset
(DESIGN §4). Topic names here are catalog names; a run's prefix is prepended
(``Settings.topic``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from schemas import events as ev

#: Partition count shared by every co-partitioned (asset-keyed) topic.
ASSET_PARTITIONS = 4
DAY_MS = 86_400_000
FOREVER = -1


@dataclass(frozen=True)
class TopicSpec:
    """One topic.

    ``key`` names what the record key holds (``base asset``, ``venue``, ``rule``,
    ``source topic``). ``co_partitioned`` topics must all have ``ASSET_PARTITIONS``.
    ``cleanup_policy`` is ``delete`` for logs of facts, ``compact`` where the topic is a table
    (latest value per key is what matters). ``retention_ms`` -1 keeps forever.
    """

    name: str
    event_types: tuple[type[ev.Event], ...]
    key: str
    partitions: int
    retention_ms: int
    cleanup_policy: str = "delete"
    co_partitioned: bool = True
    doc: str = ""

    def configs(self) -> dict[str, str]:
        """Kafka topic configs to create it with."""
        return {"cleanup.policy": self.cleanup_policy, "retention.ms": str(self.retention_ms)}


def _asset(name: str, types: tuple[type[ev.Event], ...], doc: str, **kw: object) -> TopicSpec:
    return TopicSpec(name, types, "base asset", ASSET_PARTITIONS, FOREVER, doc=doc, **kw)  # type: ignore[arg-type]  # kw: TopicSpec's own keywords


TOPICS: tuple[TopicSpec, ...] = (
    _asset("md.funding", (ev.FundingRateObserved,), "funding rates per venue/instrument"),
    _asset("md.tickers", (ev.TickerObserved,), "top of book, mark/index, 24h volume"),
    _asset("acct.fills", (ev.FillExecuted,), "executions of our orders"),
    _asset("acct.funding", (ev.FundingPaid,), "funding settlements on our positions"),
    TopicSpec(
        "acct.balances",
        (ev.BalanceObserved,),
        "venue",
        ASSET_PARTITIONS,
        FOREVER,
        co_partitioned=False,
        doc="balances, margin ratio, liquidation prices",
    ),
    _asset("strategy.intents", (ev.TargetPositionSet, ev.ExitRequested), "declarative targets"),
    _asset("orders.commands", (ev.PlaceOrder, ev.CancelOrder), "commands to venues"),
    _asset(
        "orders.events",
        (ev.OrderAccepted, ev.OrderRejected, ev.OrderCanceled, ev.OrderExpired),
        "order lifecycle from venues",
    ),
    _asset("risk.events", (ev.BreakerTripped, ev.BreakerReset), "circuit breakers"),
    _asset(
        "derived.spreads",
        (ev.SpreadUpdated,),
        "best pair per asset (a table: compacted)",
        cleanup_policy="compact",
    ),
    _asset("derived.positions", (ev.PositionChanged,), "position per leg (projection output)"),
    TopicSpec(
        "alerts",
        (ev.AlertRaised,),
        "rule",
        1,
        30 * DAY_MS,
        co_partitioned=False,
        doc="alerts raised by rules",
    ),
    TopicSpec(
        "deadletter",
        (ev.EventRejected,),
        "source topic",
        1,
        FOREVER,
        co_partitioned=False,
        doc="records that failed decoding/validation, with reason",
    ),
)

TOPICS_BY_NAME: dict[str, TopicSpec] = {t.name: t for t in TOPICS}
DEADLETTER = "deadletter"


@functools.cache  # on every produce and every consumed record: look the catalog up once
def topic_for(event_type: type[ev.Event]) -> TopicSpec:
    """The one topic an event type is published to.

    Raises
    ------
    KeyError
        The type is in no topic (a catalog bug; a test checks every type has one).
    """
    for spec in TOPICS:
        if event_type in spec.event_types:
            return spec
    raise KeyError(f"{event_type.__name__} is in no topic of the catalog")
