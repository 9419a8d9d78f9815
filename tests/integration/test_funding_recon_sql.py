"""The funding reconciliation view (infra/sql/003_funding_reconciliation.sql) on real chDB: the
recorded Bybit funding history of a held LTC long (tests/funding_history.py) written through
the audit sink's own batch (consumers/audit.py), one payment missed and one mis-signed. The
view flags exactly those two, like the alert rule over the same events."""

from __future__ import annotations

import pytest

from consumers.audit import apply_ddl
from consumers.funding_recon import FundingReconciler
from infra.clickhouse import ClickHouseStore
from tests.audit_sink import write_audited
from tests.funding_history import MIS_SIGNED, MISSED, history

pytestmark = pytest.mark.integration


def rows(store: ClickHouseStore, run: str) -> dict[int, dict[str, object]]:
    result = store.query(
        "SELECT toUnixTimestamp64Milli(funding_time) AS t, * FROM v_funding_reconciliation "
        f"WHERE run = '{run}' ORDER BY funding_time"
    )
    return {r["t"]: r for r in result.dicts()}  # type: ignore[misc]


def test_view_flags_the_missed_and_the_mis_signed_settlement(chdb_store: ClickHouseStore) -> None:
    assert "003" in apply_ddl(chdb_store)
    events = history()
    write_audited(chdb_store, events, "recon.", key=b"LTC")
    got = rows(chdb_store, "recon")
    assert len(got) == 14
    flagged = {t: r["status"] for t, r in got.items() if r["status"] != "matched"}
    assert flagged == {MISSED: "missed", MIS_SIGNED: "mis_signed"}
    # the same numbers as the alert rule's reconciler, settlement by settlement
    recon = FundingReconciler()
    settlements = {s.funding_time: s for e in events for s in recon.on_event(e)}
    assert set(settlements) == set(got)
    for t, s in settlements.items():
        row = got[t]
        assert row["status"] == s.status, t
        assert row["expected"] == pytest.approx(float(s.expected), rel=1e-9), t
        assert row["position_qty"] == pytest.approx(0.1)
        if s.paid is None:
            assert row["paid"] is None
        else:
            assert row["paid"] == pytest.approx(float(s.paid), rel=1e-9)


def test_a_settlement_within_the_grace_period_is_pending(chdb_store: ClickHouseStore) -> None:
    apply_ddl(chdb_store)
    cut = [e for e in history() if e.event_time <= MISSED + 30 * 60_000]
    write_audited(chdb_store, cut, "early.", key=b"LTC")
    got = rows(chdb_store, "early")
    assert got[MISSED]["status"] == "pending" and got[MISSED]["paid"] is None
