"""The fold's own output events built without re-validation (``projections.engine._trusted``)
equal the validated constructor's: type, ``==``, every Decimal's digits and exponent, field
order, fields set and Avro bytes (issue 18: validation was ~12 % of the fold)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import engine
from schemas.events import Event, PositionChanged, SpreadUpdated
from streams.simulation import Simulation
from tests.property.strategies import events
from tests.unit.test_simulation import CFG, stale_quote_history
from tests.unit.test_trusted_decode import _assert_same

DECIMALS = {
    SpreadUpdated: engine._SPREAD_DECIMALS,
    PositionChanged: engine._POSITION_DECIMALS,
}


def _given(event: Event) -> dict[str, Any]:
    """The keywords the event was built from (what its producer passed)."""
    return {k: event.__dict__[k] for k in event.__pydantic_fields_set__ if k != "schema_version"}


@pytest.mark.parametrize("event_type", list(DECIMALS), ids=lambda t: t.__name__)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_trusted_equals_validated_on_generated_events(
    event_type: type[Event], data: st.DataObject
) -> None:
    validated = data.draw(events(event_type))
    trusted = engine._trusted(event_type, _given(validated), DECIMALS[event_type])
    _assert_same(trusted, validated)


@pytest.mark.parametrize(
    "raw",
    [D("1E+3"), D("-0"), D("0E-8"), D("1.50"), D("-2.000"), D("1." + "1" * 45), D("-1E-41")],
    ids=str,
)
def test_trusted_canonicalises_decimals_as_the_validator_does(raw: D) -> None:
    base = _given(next(e for e in _outputs() if isinstance(e, PositionChanged)))
    for name in ("qty", "realised_pnl_usd", "net_delta_usd"):
        fields = {**base, name: raw}
        validated = PositionChanged(**fields)
        _assert_same(
            engine._trusted(PositionChanged, dict(fields), DECIMALS[PositionChanged]), validated
        )


def test_trusted_refuses_what_the_validator_refuses() -> None:
    base = _given(next(e for e in _outputs() if isinstance(e, PositionChanged)))
    for name, bad in (("qty", D("1E+16")), ("fees_usd", D("NaN")), ("funding_usd", D("-Infinity"))):
        with pytest.raises(ValueError):
            PositionChanged(**{**base, name: bad})
        with pytest.raises(ValueError):
            engine._trusted(PositionChanged, {**base, name: bad}, DECIMALS[PositionChanged])


def _outputs() -> list[Event]:
    out: list[Event] = []
    sim = Simulation(CFG, on_output=out.append)
    for e in stale_quote_history():
        sim.feed(e)
    sim.finish()
    return out


def test_every_spread_and_position_event_of_a_run_equals_its_validated_twin() -> None:
    built = [e for e in _outputs() if isinstance(e, SpreadUpdated | PositionChanged)]
    assert {type(e) for e in built} == {SpreadUpdated, PositionChanged}
    for event in built:
        _assert_same(event, type(event)(**_given(event)))
