"""Stub factories: one valid event of each type, any field overridable.

``stubs.funding_observed(funding_rate="0.0002")`` and so on. Values are plausible real
magnitudes (BTC around 90k USDT, 8h Binance funding of 1 bp).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from schemas import events as ev

T0 = 1_764_748_800_000  # 2025-12-03T08:00:00Z, a Binance funding time
_NS = uuid.UUID("5d6c2a4e-8f7b-4b1c-9a53-0c1f2e3d4b5a")
_counter = 0


def eid(label: str | None = None) -> str:
    """A deterministic UUID (uuid5) per label, or a fresh sequential one."""
    global _counter
    if label is None:
        _counter += 1
        label = f"stub-{_counter}"
    return str(uuid.uuid5(_NS, label))


def _env(overrides: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    base = {
        "event_id": eid(),
        "event_time": T0,
        "ingest_time": T0 + 150,
        "venue": "binance",
        "instrument": "BTC/USDT:USDT",
    }
    base.update(defaults)
    base.update(overrides)
    return base


def funding_observed(**o: Any) -> ev.FundingRateObserved:
    return ev.FundingRateObserved(
        **_env(
            o,
            funding_rate=Decimal("0.0001"),
            funding_interval_h=8,
            funding_time=T0,
            next_funding_time=T0 + 8 * 3_600_000,
            mark_price=Decimal("91319.2"),
            settled=True,
        )
    )


def ticker_observed(**o: Any) -> ev.TickerObserved:
    return ev.TickerObserved(
        **_env(
            o,
            bid=Decimal("91319.1"),
            ask=Decimal("91319.3"),
            last=Decimal("91319.2"),
            mark_price=Decimal("91320"),
            index_price=Decimal("91310.5"),
            quote_volume_24h=Decimal("15466773000"),
        )
    )


def fill_executed(**o: Any) -> ev.FillExecuted:
    return ev.FillExecuted(
        **_env(
            o,
            fill_id="t-1",
            order_id="o-1",
            client_order_id="fa-abc-0-0",
            side=ev.Side.sell,
            qty=Decimal("0.010"),
            price=Decimal("91319.2"),
            fee=Decimal("0.365277"),
            fee_currency="USDT",
            liquidity=ev.Liquidity.taker,
            correlation_id="arb-1",
            causation_id=eid("place"),
        )
    )


def funding_paid(**o: Any) -> ev.FundingPaid:
    return ev.FundingPaid(
        **_env(
            o,
            funding_time=T0,
            position_qty=Decimal("-0.010"),
            funding_rate=Decimal("0.0001"),
            mark_price=Decimal("91319.2"),
            amount=Decimal("0.0913192"),
            amount_currency="USDT",
            funding_id="f-1",
            correlation_id="arb-1",
        )
    )


def balance_observed(**o: Any) -> ev.BalanceObserved:
    return ev.BalanceObserved(
        **_env(
            o,
            instrument="USDT",
            currency="USDT",
            total=Decimal("10000"),
            free=Decimal("9000"),
            used=Decimal("1000"),
            equity_usd=Decimal("10000"),
            margin_ratio=Decimal("0.012"),
        )
    )


def target_position_set(**o: Any) -> ev.TargetPositionSet:
    legs = [
        ev.TargetLeg(
            venue="binance",
            instrument="BTC/USDT:USDT",
            market_type=ev.MarketType.perp,
            target_qty=Decimal("-0.010"),
        ),
        ev.TargetLeg(
            venue="bybit",
            instrument="BTC/USDT:USDT",
            market_type=ev.MarketType.perp,
            target_qty=Decimal("0.010"),
        ),
    ]
    return ev.TargetPositionSet(
        **_env(
            o,
            venue="fundarb",
            instrument="BTC",
            strategy_id="funding_arb",
            arb_id="arb-1",
            revision=0,
            legs=legs,
            target_notional_usd=Decimal("913.19"),
            expected_apr=Decimal("0.1095"),
            entry_spread_apr=Decimal("0.12"),
            reason="binance/bybit spread 1.37e-5/h",
            correlation_id="arb-1",
            causation_id=eid("funding"),
        )
    )


def exit_requested(**o: Any) -> ev.ExitRequested:
    return ev.ExitRequested(
        **_env(
            o,
            venue="fundarb",
            instrument="BTC",
            strategy_id="funding_arb",
            arb_id="arb-1",
            revision=1,
            exit_reason=ev.ExitReason.funding_flip,
            detail="spread < 0 for 3 intervals",
            correlation_id="arb-1",
        )
    )


def place_order(**o: Any) -> ev.PlaceOrder:
    return ev.PlaceOrder(
        **_env(
            o,
            client_order_id="fa-abc-0-0",
            arb_id="arb-1",
            step=0,
            leg=0,
            side=ev.Side.sell,
            qty=Decimal("0.010"),
            order_type=ev.OrderType.limit,
            time_in_force=ev.TimeInForce.IOC,
            limit_price=Decimal("91300.0"),
            correlation_id="arb-1",
        )
    )


def cancel_order(**o: Any) -> ev.CancelOrder:
    return ev.CancelOrder(
        **_env(
            o,
            client_order_id="fa-abc-0-0",
            arb_id="arb-1",
            detail="hedge timeout",
            correlation_id="arb-1",
        )
    )


def order_accepted(**o: Any) -> ev.OrderAccepted:
    return ev.OrderAccepted(**_env(o, client_order_id="fa-abc-0-0", order_id="o-1"))


def order_rejected(**o: Any) -> ev.OrderRejected:
    return ev.OrderRejected(
        **_env(
            o,
            client_order_id="fa-abc-0-1",
            reject_reason=ev.RejectReason.insufficient_margin,
            message="margin is insufficient",
        )
    )


def order_canceled(**o: Any) -> ev.OrderCanceled:
    return ev.OrderCanceled(
        **_env(o, client_order_id="fa-abc-0-0", order_id="o-1", filled_qty=Decimal("0.004"))
    )


def order_expired(**o: Any) -> ev.OrderExpired:
    return ev.OrderExpired(
        **_env(o, client_order_id="fa-abc-0-0", order_id="o-1", filled_qty=Decimal("0.006"))
    )


def breaker_tripped(**o: Any) -> ev.BreakerTripped:
    return ev.BreakerTripped(
        **_env(
            o,
            venue="fundarb",
            instrument="BTC",
            breaker=ev.Breaker.stale_feed,
            action=ev.BreakerAction.pause_entries,
            value=Decimal("3600000"),
            threshold=Decimal("1800000"),
            detail="bybit BTC funding stale",
        )
    )


def breaker_reset(**o: Any) -> ev.BreakerReset:
    return ev.BreakerReset(
        **_env(o, venue="fundarb", instrument="BTC", breaker=ev.Breaker.stale_feed)
    )


def spread_updated(**o: Any) -> ev.SpreadUpdated:
    return ev.SpreadUpdated(
        **_env(
            o,
            venue="fundarb",
            instrument="BTC",
            long_venue="bybit",
            long_instrument="BTC/USDT:USDT",
            short_venue="binance",
            short_instrument="BTC/USDT:USDT",
            long_rate_h=Decimal("0.000001"),
            short_rate_h=Decimal("0.0000125"),
            spread_h=Decimal("0.0000115"),
            spread_apr=Decimal("0.10074"),
            net_edge_apr=Decimal("0.06"),
            break_even_h=Decimal("52.2"),
        )
    )


def position_changed(**o: Any) -> ev.PositionChanged:
    return ev.PositionChanged(
        **_env(
            o,
            qty=Decimal("-0.010"),
            avg_entry_price=Decimal("91319.2"),
            realised_pnl_usd=Decimal("0"),
            fees_usd=Decimal("0.365277"),
            funding_usd=Decimal("0.0913192"),
            net_delta_base=Decimal("0"),
            net_delta_usd=Decimal("0"),
            correlation_id="arb-1",
        )
    )


def alert_raised(**o: Any) -> ev.AlertRaised:
    return ev.AlertRaised(
        **_env(
            o,
            venue="fundarb",
            instrument="BTC",
            rule="funding_flip",
            severity=ev.Severity.warning,
            message="BTC arb-1 spread flipped",
            dedup_key="arb-1",
        )
    )


def event_rejected(**o: Any) -> ev.EventRejected:
    return ev.EventRejected(
        **_env(
            o,
            venue="fundarb",
            instrument="BTC",
            source_topic="md.funding",
            source_partition=0,
            source_offset=42,
            raw_key=b"BTC",
            raw_value=b"\x00\x00\x00\x00\x01\xff",
            error_type="truncated",
            reason="payload ends early",
        )
    )


#: one factory per event type, in EVENT_TYPES order
FACTORIES = {
    ev.FundingRateObserved: funding_observed,
    ev.TickerObserved: ticker_observed,
    ev.FillExecuted: fill_executed,
    ev.FundingPaid: funding_paid,
    ev.BalanceObserved: balance_observed,
    ev.TargetPositionSet: target_position_set,
    ev.ExitRequested: exit_requested,
    ev.PlaceOrder: place_order,
    ev.CancelOrder: cancel_order,
    ev.OrderAccepted: order_accepted,
    ev.OrderRejected: order_rejected,
    ev.OrderCanceled: order_canceled,
    ev.OrderExpired: order_expired,
    ev.BreakerTripped: breaker_tripped,
    ev.BreakerReset: breaker_reset,
    ev.SpreadUpdated: spread_updated,
    ev.PositionChanged: position_changed,
    ev.AlertRaised: alert_raised,
    ev.EventRejected: event_rejected,
}
