"""Output events built without re-validation (:func:`schemas.trusted.trusted`) equal the
validated constructor's: type, ``==``, every Decimal's digits and exponent, field order, fields
set and Avro bytes (issue 18: validation was ~12 % of the fold and most of the paper venue's
settlements). And what the validated constructor refuses among the values a caller can
compute (decimals, times, counters, lengths, cross-field rules), ``trusted`` refuses too.

Covered: every type the engine, the strategies, the executor and the paper venue build
trusted, on generated events, on corrupted copies of them, on every output of a run over the
bundled data and on every answer of the paper venue to generated orders and market data.
"""

from __future__ import annotations

import itertools
import types
import typing
from decimal import Decimal as D
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from producers import history as h
from producers.paper import Fault, PaperConfig, PaperVenue
from schemas.config import StrategyConfig
from schemas.events import (
    BalanceObserved,
    CancelOrder,
    Event,
    ExitRequested,
    FillExecuted,
    FundingPaid,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    PlaceOrder,
    PositionChanged,
    SpreadUpdated,
    TargetLeg,
    TargetPositionSet,
)
from schemas.trusted import trusted
from schemas.types import MAX_MS, MIN_MS, RejectReason
from streams.cli import DEFAULT_DATA
from streams.simulation import Simulation
from tests import stubs
from tests.property.strategies import events
from tests.unit.test_trusted_decode import _assert_same

#: Every type some producer of ours builds with ``trusted``.
TRUSTED: tuple[type[Event], ...] = (
    SpreadUpdated,
    PositionChanged,
    FundingPaid,
    BalanceObserved,
    FillExecuted,
    OrderAccepted,
    OrderRejected,
    OrderCanceled,
    OrderExpired,
    PlaceOrder,
    CancelOrder,
    TargetPositionSet,
    ExitRequested,
)
#: Identifiers callers copy from validated events: their syntax is not re-checked (module
#: docstring of schemas.trusted), so they are not corrupted here.
COPIED = {
    "event_id",
    "venue",
    "instrument",
    "long_venue",
    "long_instrument",
    "short_venue",
    "short_instrument",
}


def _given(event: BaseModel) -> dict[str, Any]:
    """The keywords the event was built from (what its producer passed)."""
    return {k: event.__dict__[k] for k in event.__pydantic_fields_set__ if k != "schema_version"}


def _twin(event: Event) -> Event:
    """The same keywords through the validated constructor."""
    return type(event)(**_given(event))


# ---- generated events ------------------------------------------------------------------------
@pytest.mark.parametrize("event_type", TRUSTED, ids=lambda t: t.__name__)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_trusted_equals_validated_on_generated_events(
    event_type: type[Event], data: st.DataObject
) -> None:
    validated = data.draw(events(event_type))
    fields = _given(validated)
    if "legs" in fields:  # the strategies build their legs trusted too
        fields["legs"] = [trusted(TargetLeg, _given(leg)) for leg in fields["legs"]]
    _assert_same(trusted(event_type, fields), validated)


# ---- corrupted copies: refused by both, or equal -----------------------------------------------
def _kind(annotation: Any) -> type | None:
    """The base type of a field (Decimal, int, str, list…), through Optional and Annotated."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return typing.get_origin(annotation) or annotation  # type: ignore[no-any-return]


DECIMALS = ["1E+3", "-0", "0E-8", "1.50", "-2.000", "1." + "1" * 45, "-1E-41", "0", "-1", "1.5"]
DECIMALS += ["2", "-2", "1E+15", "-1E+15", "999999999999999.9", "NaN", "-Infinity"]
INTS = [MIN_MS - 1, MAX_MS + 1, MIN_MS, MAX_MS, -1, 0, 169]


def _corruptions(model: type[BaseModel], fields: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, info in model.model_fields.items():
        if name in COPIED or name == "schema_version":
            continue
        kind = _kind(info.annotation)
        if kind is D:
            out += [(name, D(raw)) for raw in DECIMALS]
        elif kind is int:
            out += [(name, v) for v in INTS]
        elif kind is str:
            out += [(name, ""), (name, "x" * 64), (name, "x" * 65), (name, "x" * 129)]
            out += [(name, "x" * 2000), (name, "x" * 2001)]
        elif kind is list and name in fields:
            legs = fields[name]
            out += [(name, []), (name, legs * 2), (name, legs[:1] * 4), (name, legs[:1] * 5)]
    return out


def _same_outcome(model: type[BaseModel], fields: dict[str, Any]) -> None:
    try:
        validated = model(**fields)
    except ValueError:
        with pytest.raises(ValueError):
            trusted(model, dict(fields))
        return
    built = trusted(model, dict(fields))
    if isinstance(validated, Event):
        _assert_same(built, validated)  # type: ignore[arg-type]
    else:
        assert built == validated
        assert list(built.__dict__) == list(validated.__dict__)
        assert built.__pydantic_fields_set__ == validated.__pydantic_fields_set__


@pytest.mark.parametrize("event_type", TRUSTED, ids=lambda t: t.__name__)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_trusted_refuses_what_the_validator_refuses_and_canonicalises_the_rest(
    event_type: type[Event], data: st.DataObject
) -> None:
    base = _given(data.draw(events(event_type)))
    for name, bad in _corruptions(event_type, base):
        _same_outcome(event_type, {**base, name: bad})
    _same_outcome(event_type, {**base, "unknown_field": 1})
    required = [n for n, f in event_type.model_fields.items() if f.is_required()]
    _same_outcome(event_type, {k: v for k, v in base.items() if k != required[-1]})


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        # the models' own cross-field rules (after validators)
        (FillExecuted, {**_given(stubs.fill_executed()), "market_type": "spot"}),
        (PlaceOrder, {**_given(stubs.place_order()), "order_type": "limit", "limit_price": None}),
        (PlaceOrder, {**_given(stubs.place_order()), "order_type": "market", "time_in_force": "PO"}),
        (TargetLeg, {"venue": "binance", "instrument": "BTC/USDT", "market_type": "spot",
                     "target_qty": D("-1")}),
        (TargetLeg, {"venue": "binance", "instrument": "BTC/USDT:USDT", "market_type": "spot",
                     "target_qty": D("1")}),
        (TargetLeg, {"venue": "binance", "instrument": "BTC/USDT", "market_type": "spot",
                     "target_qty": D("-1"), "margin": True}),
        (FundingPaid, {**_given(stubs.funding_paid()), "schema_version": 2}),
    ],
)  # fmt: skip
def test_trusted_keeps_the_cross_field_rules(
    model: type[BaseModel], fields: dict[str, Any]
) -> None:
    from schemas.types import MarketType, OrderType, TimeInForce

    enums = {"market_type": MarketType, "order_type": OrderType, "time_in_force": TimeInForce}
    fields = {k: enums[k](v) if k in enums and isinstance(v, str) else v for k, v in fields.items()}
    _same_outcome(model, fields)


# ---- every output of a run -------------------------------------------------------------------
@cache
def _run_outputs() -> tuple[Event, ...]:
    """Every output of the simulation over the first 30,000 events of the bundled data (every
    output type but the paper venue's rarer answers, which the next test covers)."""
    market = h.merged(
        h.plan(list(DEFAULT_DATA), h.Window(0, 2**62), reference_prices={"hyperliquid": "binance"})
    )
    out: list[Event] = []
    sim = Simulation(StrategyConfig(), on_output=out.append)
    for e in itertools.islice(market, 30_000):
        sim.feed(e)  # type: ignore[arg-type]  # the bundled data has no rejected rows
    sim.finish()
    return tuple(out)


def test_every_trusted_output_of_a_run_equals_its_validated_twin() -> None:
    built = [e for e in _run_outputs() if isinstance(e, TRUSTED)]
    seen = {type(e) for e in built}
    assert seen >= {SpreadUpdated, PositionChanged, FundingPaid, BalanceObserved, FillExecuted}
    assert seen >= {OrderAccepted, PlaceOrder, TargetPositionSet, ExitRequested}
    for event in built:
        _assert_same(event, _twin(event))
        for leg in getattr(event, "legs", []):
            assert leg == TargetLeg(**_given(leg))
            assert leg.__pydantic_fields_set__ == TargetLeg(**_given(leg)).__pydantic_fields_set__


# ---- every answer of the paper venue -----------------------------------------------------------
PERP, SPOT = "BTC/USDT:USDT", "BTC/USDT"
T = stubs.T0
H = 3_600_000

_prices = st.decimals(min_value=D("0.5"), max_value=D("200"), places=4)
_qtys = st.decimals(min_value=D("0.0001"), max_value=D("50"), places=4)


@st.composite
def _inputs(draw: st.DrawFn) -> list[Event]:
    """Market data and commands in time order on a perp and a spot market of two venues."""
    out: list[Event] = []
    t = T
    for i in range(draw(st.integers(3, 25))):
        t += draw(st.sampled_from([1, 1_000, H, 3 * H]))
        venue = draw(st.sampled_from(["binance", "bybit"]))
        inst = draw(st.sampled_from([PERP, SPOT]))
        kind = draw(st.sampled_from(["ticker", "ticker", "funding", "order", "order", "cancel"]))
        if kind == "ticker":
            bid = draw(_prices)
            ask = bid + draw(st.decimals(min_value=D(0), max_value=D(2), places=3))
            out.append(
                stubs.ticker_observed(
                    venue=venue, instrument=inst, bid=bid, ask=ask, event_time=t, mark_price=None
                )
            )
        elif kind == "funding" and inst == PERP:
            out.append(
                stubs.funding_observed(
                    venue=venue,
                    funding_rate=draw(st.decimals(min_value=D("-0.01"), max_value=D("0.01"))),
                    funding_time=t,
                    next_funding_time=t + 8 * H,
                    event_time=t,
                    settled=True,
                    mark_price=draw(st.none() | _prices),
                )
            )
        elif kind in ("order", "cancel"):
            cid = f"c{draw(st.integers(0, 6))}"
            if kind == "cancel":
                out.append(
                    stubs.cancel_order(
                        venue=venue, instrument=inst, client_order_id=cid, event_time=t
                    )
                )
                continue
            order_type = draw(st.sampled_from(["market", "limit"]))
            tif = draw(
                st.sampled_from(["IOC", "FOK", "GTC"] + (["PO"] if order_type == "limit" else []))
            )
            out.append(
                stubs.place_order(
                    venue=venue,
                    instrument=inst,
                    market_type="spot" if inst == SPOT else "perp",
                    client_order_id=cid,
                    event_id=stubs.eid(f"{cid}-{i}"),
                    side=draw(st.sampled_from(["buy", "sell"])),
                    qty=draw(_qtys),
                    order_type=order_type,
                    time_in_force=tif,
                    limit_price=draw(_prices) if order_type == "limit" else None,
                    margin=inst == SPOT,
                    event_time=t,
                )
            )
    return out


FAULTS = {
    "c5": Fault("reject", reason=RejectReason.insufficient_margin),
    "c6": Fault("partial", fill_frac=D("0.37")),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=_inputs())
def test_every_answer_of_the_paper_venue_equals_its_validated_twin(inputs: list[Event]) -> None:
    venue = PaperVenue(PaperConfig(faults=FAULTS))
    for event in inputs:
        for answer in venue.on_event(event):
            assert isinstance(answer, TRUSTED)
            _assert_same(answer, _twin(answer))


def test_the_venue_scenario_reaches_every_answer_type() -> None:
    """A fixed script through the same check: each of the venue's answer types at least once
    (accepted, rejected, expired, canceled, taker and maker fills, funding, borrow, balance)."""
    venue = PaperVenue(PaperConfig(faults=FAULTS))
    script: list[Event] = [
        stubs.ticker_observed(bid="100", ask="100.1", mark_price=None, event_time=T),
        stubs.ticker_observed(
            instrument=SPOT, bid="100", ask="100.1", mark_price=None, event_time=T
        ),
        stubs.place_order(
            client_order_id="a", event_id=stubs.eid("a"), side="buy", order_type="market",
            limit_price=None, event_time=T + 1,
        ),
        stubs.place_order(
            instrument=SPOT, market_type="spot", client_order_id="s", event_id=stubs.eid("s"),
            order_type="market", limit_price=None, margin=True, event_time=T + 2,
        ),
        stubs.place_order(
            client_order_id="g", event_id=stubs.eid("g"), side="buy",
            time_in_force="GTC", limit_price=D("90"), event_time=T + 3,
        ),
        stubs.place_order(
            client_order_id="x", event_id=stubs.eid("x"), side="buy",
            time_in_force="GTC", limit_price=D("80"), event_time=T + 4,
        ),
        stubs.cancel_order(client_order_id="x", event_time=T + 5),
        stubs.place_order(
            client_order_id="i", event_id=stubs.eid("i"), side="buy", limit_price=D("70"),
            event_time=T + 6,
        ),
        stubs.place_order(client_order_id="c5", event_id=stubs.eid("c5"), event_time=T + 7),
        stubs.ticker_observed(bid="88", ask="89", mark_price=None, event_time=T + H),
        stubs.ticker_observed(
            instrument=SPOT, bid="101", ask="101.1", mark_price=None, event_time=T + 3 * H
        ),
        stubs.funding_observed(
            funding_rate="0.0001", funding_time=T + 8 * H, next_funding_time=T + 16 * H,
            event_time=T + 8 * H, settled=True,
        ),
    ]  # fmt: skip
    seen: set[type[Event]] = set()
    borrow = 0
    for event in script:
        for answer in venue.on_event(event):
            _assert_same(answer, _twin(answer))
            seen.add(type(answer))
            borrow += isinstance(answer, FundingPaid) and answer.funding_id.startswith("borrow:")
    assert seen == {
        OrderAccepted, OrderRejected, OrderExpired, OrderCanceled, FillExecuted, FundingPaid,
        BalanceObserved,
    }  # fmt: skip
    assert borrow
