"""The risk agent's open breakers as the changelog-backed ``risk`` table holds them (venue →
JSON): a restarted agent that reads them back resets a breaker its venue tripped before the
restart, and does not trip it twice (an in-memory dict did both wrong)."""

from __future__ import annotations

from decimal import Decimal

from projections import risk as rk
from schemas.config import StrategyConfig
from schemas.events import BreakerReset, BreakerTripped
from schemas.types import Breaker
from streams.worker import encode_breakers, open_breakers
from tests import stubs
from tests.market import T0, H

RISK = StrategyConfig().risk


def _balance(label: str, ratio: str, t: int, venue: str = "binance") -> object:
    return stubs.balance_observed(
        event_id=stubs.eid(label),
        event_time=t,
        ingest_time=t,
        venue=venue,
        margin_ratio=Decimal(ratio),
    )


def test_rows_round_trip_per_venue() -> None:
    open_ = {
        (Breaker.margin_ratio, "ALL"): "binance",
        (Breaker.liquidation_distance, "BTC"): "bybit",
    }
    rows = [(v.encode(), encode_breakers(open_, v)) for v in ("binance", "bybit", "okx")]
    assert encode_breakers(open_, "okx") == b"[]"
    assert open_breakers([*rows, (b"gate", None)]) == open_


def test_a_restarted_agent_resets_what_its_venue_tripped_and_does_not_trip_it_again() -> None:
    state, trips = rk.assess_balance(rk.AccountRiskState(), _balance("hot", "0.9", T0), RISK)
    assert [type(t) for t in trips] == [BreakerTripped]
    table = {b"binance": encode_breakers(state.open, "binance")}

    # the restart: marks are gone, the open breakers come back from the table
    restored = rk.AccountRiskState(open=open_breakers(table.items()))
    again, trips = rk.assess_balance(restored, _balance("hot-again", "0.9", T0 + H), RISK)
    assert trips == []  # still open: not tripped twice
    _, trips = rk.assess_balance(again, _balance("cool", "0.1", T0 + 2 * H), RISK)
    assert [type(t) for t in trips] == [BreakerReset]

    # what the in-memory state did after a restart: no reset, the engine stayed paused
    _, trips = rk.assess_balance(rk.AccountRiskState(), _balance("cool", "0.1", T0 + 2 * H), RISK)
    assert trips == []
