"""Circuit breakers: transitions on event time, thresholds from RiskConfig, engine wiring."""

from __future__ import annotations

from decimal import Decimal

from projections import engine as eng
from projections import risk as rk
from schemas.config import RiskConfig, StrategyConfig
from schemas.events import BreakerReset, BreakerTripped
from schemas.types import Breaker, BreakerAction
from tests import stubs
from tests.stubs import T0

CFG = RiskConfig(max_order_failures=3, order_failure_window_ms=60_000, one_legged_max_ms=5_000)


def test_order_failures_trip_at_the_threshold_and_reset_when_the_window_passes() -> None:
    state, out = rk.RiskState(), []
    for i in range(3):
        state, out = rk.assess(
            state, "BTC", now=T0 + i * 1000, cause=f"c{i}", config=CFG, rejected=True
        )
        assert (out != []) == (i == 2)  # trips on the third rejection only
    (trip,) = out
    assert isinstance(trip, BreakerTripped)
    assert (trip.breaker, trip.action, trip.instrument) == (
        Breaker.order_failures,
        BreakerAction.pause_entries,
        "BTC",
    )
    assert trip.value == Decimal(3) and trip.threshold == Decimal(3)
    # still inside the window: no second trip, nothing reset
    state, out = rk.assess(state, "BTC", now=T0 + 30_000, cause="x", config=CFG)
    assert out == []
    # the first rejection leaves the window → 2 left → reset exactly once
    state, out = rk.assess(state, "BTC", now=T0 + 60_001, cause="y", config=CFG)
    assert [type(e) for e in out] == [BreakerReset]
    _, out = rk.assess(state, "BTC", now=T0 + 60_002, cause="z", config=CFG)
    assert out == []


def test_one_legged_exposure_needs_the_full_duration_and_clears_when_hedged() -> None:
    exposed = stubs.position_changed(event_time=T0, net_delta_usd=Decimal("900"))
    state, out = rk.assess(
        rk.RiskState(), "BTC", now=T0, cause="a", config=CFG, positions=(exposed,)
    )
    assert out == []
    state, out = rk.assess(state, "BTC", now=T0 + 4_999, cause="b", config=CFG)
    assert out == []
    state, out = rk.assess(state, "BTC", now=T0 + 5_000, cause="c", config=CFG)
    assert [(e.breaker, e.action) for e in out] == [
        (Breaker.one_legged_exposure, BreakerAction.force_exit)
    ]
    hedged = stubs.position_changed(event_time=T0 + 6_000, net_delta_usd=Decimal("-3"))
    state, out = rk.assess(state, "BTC", now=T0 + 6_000, cause="d", config=CFG, positions=(hedged,))
    assert [type(e) for e in out] == [BreakerReset]
    assert state.open == {}


def test_a_short_one_legged_blip_never_trips() -> None:
    exposed = stubs.position_changed(event_time=T0, net_delta_usd=Decimal("-900"))
    hedged = stubs.position_changed(event_time=T0 + 100, net_delta_usd=Decimal("0"))
    state, _ = rk.assess(rk.RiskState(), "BTC", now=T0, cause="a", config=CFG, positions=(exposed,))
    state, _ = rk.assess(state, "BTC", now=T0 + 100, cause="b", config=CFG, positions=(hedged,))
    _, out = rk.assess(state, "BTC", now=T0 + 60_000, cause="c", config=CFG)
    assert out == []


def test_trips_are_deterministic_per_cause() -> None:
    runs = []
    for _ in range(2):
        state = rk.RiskState()
        for i in range(3):
            state, out = rk.assess(
                state, "ETH", now=T0 + i, cause=f"c{i}", config=CFG, rejected=True
            )
        runs.append([e.model_dump_json() for e in out])
    assert runs[0] == runs[1] and runs[0]


def test_margin_ratio_forces_exits_everywhere_and_only_its_venue_resets_it() -> None:
    high = stubs.balance_observed(venue="bybit", margin_ratio=Decimal("0.85"))
    state, out = rk.assess_balance(rk.AccountRiskState(), high, CFG)
    (trip,) = out
    assert (trip.breaker, trip.instrument, trip.action) == (
        Breaker.margin_ratio,
        rk.ALL,
        BreakerAction.force_exit,
    )
    other_ok = stubs.balance_observed(venue="okx", margin_ratio=Decimal("0.1"))
    state, out = rk.assess_balance(state, other_ok, CFG)
    assert out == []  # okx being fine says nothing about bybit
    ok = stubs.balance_observed(venue="bybit", margin_ratio=Decimal("0.2"))
    state, out = rk.assess_balance(state, ok, CFG)
    assert [type(e) for e in out] == [BreakerReset]


def test_liquidation_distance_uses_the_latest_mark() -> None:
    state = rk.observe_mark(rk.AccountRiskState(), "binance", "ETH/USDT:USDT", Decimal("3000"))
    near = stubs.balance_observed(
        instrument="ETH/USDT:USDT",
        currency="USDT",
        position_qty=Decimal("-1"),
        entry_price=Decimal("2500"),
        liquidation_price=Decimal("3200"),
        margin_ratio=None,
    )
    # |3000 − 3200| / 3000 = 6.7 % < 10 % (against the entry price it would be 28 %: no trip)
    state, out = rk.assess_balance(state, near, CFG)
    (trip,) = out
    assert (trip.breaker, trip.instrument) == (Breaker.liquidation_distance, "ETH")
    assert trip.value is not None and abs(trip.value - Decimal(200) / Decimal(3000)) < Decimal(
        "1e-20"
    )


def test_engine_pauses_entries_after_repeated_rejections() -> None:
    config = StrategyConfig(risk=CFG)
    state = eng.EngineState()
    outs = []
    for i in range(3):
        rej = stubs.order_rejected(event_time=T0 + i, client_order_id=f"fa-x-0-{i}")
        state, out = eng.handle(state, rej, config)
        outs += out
    trips = [e for e in outs if isinstance(e, BreakerTripped)]
    assert [t.breaker for t in trips] == [Breaker.order_failures]
    assert state.risk["BTC"].action(BreakerAction.pause_entries)
    # the echo of our own breaker from risk.events changes nothing
    again, out = eng.handle(state, trips[0], config)
    assert out == [] and again.breakers == state.breakers


def test_a_venue_connectors_stale_feed_breaker_pauses_entries() -> None:
    config = StrategyConfig(risk=CFG)
    state = eng.EngineState()
    trip = stubs.breaker_tripped(
        venue="bybit",
        instrument="BTC",
        breaker=Breaker.stale_feed,
        action=BreakerAction.pause_entries,
        event_time=T0,
    )
    state, _ = eng.handle(state, trip, config)
    assert state.breakers.paused("BTC")  # unlike the engine's own echo, this one binds
    reset = stubs.breaker_reset(
        venue="bybit", instrument="BTC", breaker=Breaker.stale_feed, event_time=T0 + 1
    )
    state, _ = eng.handle(state, reset, config)
    assert not state.breakers.paused("BTC")
