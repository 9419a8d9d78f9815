"""Funding reconciliation per settlement (consumers/funding_recon.py) and its alert rule, on
Bybit's recorded funding history of a held LTC long (tests/funding_history.py): one payment
missed, one mis-signed, the other twelve matched."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from consumers.alerts import AlertEngine
from consumers.funding_recon import FundingReconciler, Settlement, classify
from schemas import events as ev
from schemas.config import AlertRules
from schemas.types import Severity
from tests import stubs
from tests.funding_history import INSTRUMENT, MIS_SIGNED, MISSED, history, payments

pytestmark = pytest.mark.unit


def reconcile(events: list[ev.Event], **kw: object) -> list[Settlement]:
    recon = FundingReconciler(**kw)  # type: ignore[arg-type]
    return [s for e in events for s in recon.on_event(e)]


def test_recorded_history_flags_the_missed_and_the_mis_signed_payment_only() -> None:
    got = reconcile(history())
    assert len(got) == 14  # every settlement of the held position, once
    flagged = {s.funding_time: s.status for s in got if s.status != "matched"}
    assert flagged == {MISSED: "missed", MIS_SIGNED: "mis_signed"}
    by_time = {s.funding_time: s for s in got}
    # raw row: execTime 1710892800000, feeRate "0.0001", execPrice "77.97", execFee "0.0007797"
    # (paid): expected −0.1 × 77.97 × 0.0001 = −0.0007797, paid the same
    s = by_time[1_710_892_800_000]
    assert (s.position_qty, s.mark_price, s.funding_rate) == (D("0.1"), D("77.97"), D("0.0001"))
    assert s.expected == D("-0.0007797") and s.paid == D("-0.0007797")
    # raw row: feeRate "-0.000881" execPrice "80.33" execFee "-0.00708126": expected
    # 0.1 × 80.33 × 0.000881 = 0.007077073 received; the venue paid 0.00708126 (its rate has
    # more digits than it shows): within 5 %, matched
    s = by_time[1_710_921_600_000]
    assert s.expected == D("0.00707707300") and s.paid == D("0.00708126")
    assert s.status == "matched"
    missed = by_time[MISSED]  # feeRate "-0.000076", execPrice "89.54": 0.1 × 89.54 × 0.000076
    assert missed.paid is None and missed.expected == D("0.000680504")
    flipped = by_time[MIS_SIGNED]  # execFee "-0.01272213" (received) reported as paid
    assert flipped.paid == D("-0.01272213") and flipped.expected > 0


def test_missed_needs_the_grace_period_of_event_time() -> None:
    events = [e for e in history() if e.event_time <= MISSED + 30 * 60_000]
    assert all(s.funding_time != MISSED for s in reconcile(events))  # 30 min: not yet
    events = [e for e in history() if e.event_time <= MISSED + 8 * 3_600_000]
    assert {s.funding_time: s.status for s in reconcile(events)}[MISSED] == "missed"


def test_payment_without_a_position_is_unexpected_and_a_wrong_size_is_a_mismatch() -> None:
    (paid,) = [p for p in payments() if p.funding_time == 1_710_892_800_000]
    (s,) = reconcile([paid])  # no position logged: nothing was due
    assert (s.status, s.expected) == ("unexpected", D(0))
    position = history()[0]
    doubled = paid.model_copy(update={"amount": paid.amount * 2})  # e.g. a wrong interval
    (s,) = reconcile([position, doubled])  # the payment's own rate and mark value it
    assert s.status == "mismatch" and s.expected == paid.amount


def test_no_position_no_settlement_and_spot_rows_are_ignored() -> None:
    rate = stubs.funding_observed(instrument="BTC/USDT:USDT", funding_time=stubs.T0 + 1000)
    later = stubs.ticker_observed(event_time=stubs.T0 + 5 * 3_600_000)
    borrow = stubs.funding_paid(instrument="BTC/USDT")  # spot: borrow interest, not funding
    assert reconcile([rate, later, borrow]) == []


@pytest.mark.parametrize(
    ("expected", "paid", "status"),
    [
        ("-1", "-1.04", "matched"),
        ("-1", "-1.06", "mismatch"),
        ("-1", "1", "mis_signed"),
        ("-1", None, "missed"),
        ("0", "0.00005", "matched"),
        ("0", "0.01", "unexpected"),
        ("0.00005", None, "matched"),
    ],
)
def test_classify(expected: str, paid: str | None, status: str) -> None:
    got = classify(D(expected), D(paid) if paid else None, D("0.0001"), D("0.05"))
    assert got == status


def test_alert_rule_raises_one_critical_alert_per_flagged_settlement() -> None:
    engine = AlertEngine(AlertRules(funding_recon=True))
    alerts = [a for e in history() for a in engine.on_event(e) if a.rule == "funding_recon"]
    assert sorted(a.dedup_key for a in alerts) == [
        f"bybit:{INSTRUMENT}:{MISSED}",
        f"bybit:{INSTRUMENT}:{MIS_SIGNED}",
    ]
    assert {a.severity for a in alerts} == {Severity.critical}
    assert {a.instrument for a in alerts} == {"LTC"}
    missed = next(a for a in alerts if str(MISSED) in a.dedup_key)
    assert (
        missed.message.startswith("missed: bybit LTC/USDT:USDT")
        and "paid nothing" in missed.message
    )


def test_alert_rule_tolerance_comes_from_the_rules() -> None:
    loose = AlertRules(
        funding_recon=True, funding_tolerance_usd=D("1")
    )  # every amount here is below 1 USDT
    engine = AlertEngine(loose)
    assert [a for e in history() for a in engine.on_event(e) if a.rule == "funding_recon"] == []
