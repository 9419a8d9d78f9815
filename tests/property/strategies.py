"""Hypothesis strategies that build valid events of every type, field by field."""

from __future__ import annotations

import types
import typing
from decimal import Decimal
from enum import Enum
from typing import Any

from hypothesis import strategies as st

from schemas import events as ev
from schemas import types as T
from schemas.types import MAX_MS, MIN_MS

VENUES = st.sampled_from(["binance", "bybit", "okx", "hyperliquid", "lighter", "paradex"])
ASSETS = st.sampled_from(["BTC", "ETH", "SOL", "HYPE", "DOGE", "1000PEPE", "kBONK"])
PERPS = st.builds(lambda a, q: f"{a}/{q}:{q}", ASSETS, st.sampled_from(["USDT", "USDC"]))
SPOTS = st.builds(lambda a: f"{a}/USDT", ASSETS)
MS = st.integers(MIN_MS, MAX_MS)
TEXT = st.text(max_size=40)
IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=36)


DEC = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, allow_infinity=False
)
POS = st.decimals(
    min_value=Decimal("1e-12"), max_value=Decimal("1e12"), allow_nan=False, allow_infinity=False
)
RATE = st.decimals(
    min_value=-T.MAX_ABS_FUNDING_RATE,
    max_value=T.MAX_ABS_FUNDING_RATE,
    allow_nan=False,
    allow_infinity=False,
)
NONNEG = st.decimals(
    min_value=Decimal(0), max_value=Decimal("1e12"), allow_nan=False, allow_infinity=False
)

#: the shared field types of schemas.types, by identity of their Annotated alias
_ALIASES: list[tuple[Any, st.SearchStrategy[Any]]] = [
    (T.PositiveDec, POS),
    (T.NonNegativeDec, NONNEG),
    (T.Dec, DEC),
    (T.FundingRate, RATE),
    (T.Id, IDS),
    (T.OptId, IDS),
    (T.Code, st.sampled_from(["USDT", "USDC", "BTC", "ETH"])),
    (T.Text, TEXT),
    (T.Millis, MS),
    (T.MillisOrZero, st.one_of(st.just(0), MS)),
    (T.Venue, VENUES),
    (T.Symbol, PERPS),
    (T.Instrument, st.one_of(PERPS, ASSETS)),
    (T.EventId, st.uuids().map(str)),
]


def _field_strategy(name: str, annotation: Any, metadata: list[Any]) -> st.SearchStrategy[Any]:
    for alias, strategy in _ALIASES:
        if annotation == alias:
            return strategy
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return st.one_of(st.none(), _field_strategy(name, args[0], metadata))
    if origin is list:
        return st.lists(legs(), min_size=1, max_size=4)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from(list(annotation))
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        low = next((m.ge for m in metadata if hasattr(m, "ge")), 0)
        high = next((m.le for m in metadata if hasattr(m, "le")), 2**62)
        return st.integers(low, high)
    if annotation is bytes:
        return st.binary(max_size=64)
    if annotation is str:
        size = next((m.max_length for m in metadata if hasattr(m, "max_length")), 40)
        return (
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-:/.", min_size=1, max_size=size)
            if any(hasattr(m, "min_length") for m in metadata)
            else TEXT
        )
    raise TypeError(f"no strategy for {name}: {annotation!r}")


@st.composite
def legs(draw: st.DrawFn) -> ev.TargetLeg:
    spot = draw(st.booleans())
    qty = draw(DEC)
    return ev.TargetLeg(
        venue=draw(VENUES),
        instrument=draw(SPOTS if spot else PERPS),
        market_type=ev.MarketType.spot if spot else ev.MarketType.perp,
        target_qty=qty,
        margin=bool(spot and qty < 0) or draw(st.booleans()),
    )


def _fix(event_type: type[ev.Event], values: dict[str, Any]) -> dict[str, Any]:
    """Repair the draws that model-level invariants constrain."""
    if event_type is ev.FundingRateObserved:
        values["funding_time"] = values["funding_time"] or MIN_MS
        if values["next_funding_time"] and values["next_funding_time"] < values["funding_time"]:
            values["next_funding_time"] = 0
    if event_type is ev.TickerObserved and values["bid"] > values["ask"]:
        values["bid"], values["ask"] = values["ask"], values["bid"]
    if event_type is ev.EventRejected:
        # size and digest describe the raw value: derived at construction when not given
        values["raw_size"] = values["raw_sha256"] = None
    if event_type in (ev.FillExecuted, ev.PlaceOrder):
        values["market_type"] = ev.MarketType.perp
    if event_type is ev.PlaceOrder:
        if values["order_type"] is ev.OrderType.limit and values["limit_price"] is None:
            values["limit_price"] = Decimal(1)
        if (
            values["order_type"] is ev.OrderType.market
            and values["time_in_force"] is ev.TimeInForce.PO
        ):
            values["time_in_force"] = ev.TimeInForce.IOC
    values.pop("schema_version", None)
    return values


def events(event_type: type[ev.Event]) -> st.SearchStrategy[ev.Event]:
    hints = typing.get_type_hints(event_type, include_extras=True)
    fields = {
        name: _field_strategy(name, hints[name], info.metadata)
        for name, info in event_type.model_fields.items()
        if name != "schema_version"
    }
    return st.fixed_dictionaries(fields).map(lambda v: event_type(**_fix(event_type, v)))
