"""The per-arb cost attribution view (infra/sql/005_cost_attribution.sql) on real chDB.

Three arbs traded by the real executor against the paper venue (tests/paper_loop.py), every
event written through the audit sink's own batch (consumers/audit.py):

* ``arb-a`` enters binance/bybit, is paid funding, switches to okx keeping the bybit leg,
  is paid again and exits (``profit_erosion``);
* ``arb-b`` sells binance, but every hedge on kraken is rejected (no market there): the
  executor unwinds it, ``entry_failed``, its loss is churn;
* ``arb-c`` enters and is still open at the end (priced at the last mark).

The view's numbers are recomputed here with plain code from the raw rows (fills, funding
payments, tickers, intents), and its totals checked against the position book's own fold.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal as D

import pytest

from consumers.audit import apply_ddl
from infra.clickhouse import ClickHouseStore
from producers.paper import PaperConfig, PaperVenue
from schemas import events as ev
from schemas.config import ExecutionConfig
from tests import stubs
from tests.audit_sink import write_audited
from tests.paper_loop import H, Loop, leg

pytestmark = pytest.mark.integration
INST = "BTC/USDT:USDT"
T0 = stubs.T0
BN, BY, OK, KR = (("binance", INST), ("bybit", INST), ("okx", INST), ("kraken", INST))


def target(
    arb: str, revision: int, legs: list[ev.TargetLeg], t: int, cause: str | None = None
) -> ev.Event:
    return stubs.target_position_set(
        causation_id=cause,
        arb_id=arb,
        correlation_id=arb,
        revision=revision,
        legs=legs,
        event_id=stubs.eid(f"{arb}/{revision}"),
        event_time=t,
        target_notional_usd=D("1000"),
        entry_spread_apr=D("0.2") + revision,
        expected_apr=D("0.1"),
    )


def exit_(arb: str, revision: int, t: int) -> ev.Event:
    return stubs.exit_requested(
        arb_id=arb,
        correlation_id=arb,
        revision=revision,
        event_id=stubs.eid(f"{arb}/{revision}/exit"),
        event_time=t,
        exit_reason=ev.ExitReason.profit_erosion,
    )


def scenario() -> Loop:
    loop = Loop(PaperVenue(PaperConfig()), ExecutionConfig(qty_step=D("0.00000001")))
    q = D("10")
    rates = {BN: D("0.0004"), BY: D("-0.0001"), OK: D("0.0006")}
    loop.market(T0, {BN: D("100"), BY: D("100.2"), OK: D("99.9")})
    cause = loop.events[-1].event_id
    loop.intent(target("arb-a", 0, [leg(*BN, -q), leg(*BY, q)], T0 + 1, cause))
    loop.market(T0 + 8 * H, {BN: D("101"), BY: D("101.1"), OK: D("100.8")}, rates)
    cause = loop.events[-1].event_id  # the switch decided on the last observation
    switch = [leg(*OK, -q), leg(*BN, D(0)), leg(*BY, q)]
    loop.intent(target("arb-a", 1, switch, T0 + 8 * H + 5, cause))
    loop.market(T0 + 16 * H, {BN: D("99"), BY: D("99.3"), OK: D("98.8")}, rates)
    loop.intent(exit_("arb-a", 2, T0 + 16 * H + 5))
    # kraken has a quote for the executor but none at the venue: every hedge is rejected
    loop.quotes[KR] = loop.quotes[BY]
    loop.intent(target("arb-b", 0, [leg(*BN, -q), leg(*KR, q)], T0 + 17 * H))
    loop.intent(target("arb-c", 0, [leg(*BN, -q), leg(*BY, q)], T0 + 18 * H))
    loop.market(T0 + 24 * H, {BN: D("100.5"), BY: D("100.4"), OK: D("100.1")}, rates)
    loop.market(T0 + 25 * H, {BN: D("102"), BY: D("101.7"), OK: D("101.9")})
    return loop


def recompute(store: ClickHouseStore, run: str) -> dict[str, dict[str, object]]:
    """The view's columns from the raw rows, in plain Python."""
    fills = store.query(f"SELECT * FROM fills FINAL WHERE run = '{run}'").dicts()
    paid = store.query(f"SELECT * FROM funding_payments FINAL WHERE run = '{run}'").dicts()
    ticks = store.query(
        f"SELECT * FROM tickers FINAL WHERE run = '{run}' ORDER BY event_time"
    ).dicts()
    intents = store.query(f"SELECT * FROM intents FINAL WHERE run = '{run}'").dicts()
    out: dict[str, dict[str, object]] = defaultdict(
        lambda: {"funding": 0.0, "fees": 0.0, "over_mid": 0.0, "cash": 0.0, "qty": {}}
    )
    for f in fills:
        a = out[f["correlation_id"]]
        sign = 1 if f["side"] == "buy" else -1
        price, qty = float(f["price"]), float(f["qty"])
        a["fees"] += float(f["fee"])  # USDT fees here
        a["cash"] -= sign * qty * price
        quote = [
            t
            for t in ticks
            if (t["venue"], t["instrument"]) == (f["venue"], f["instrument"])
            and t["event_time"] <= f["event_time"]
        ][-1]
        a["over_mid"] += sign * qty * (price - (float(quote["bid"]) + float(quote["ask"])) / 2)
        key = (f["venue"], f["instrument"])
        a["qty"][key] = a["qty"].get(key, D(0)) + sign * f["qty"]
    for p in paid:
        out[p["correlation_id"]]["funding"] += float(p["amount"])
    last = {(t["venue"], t["instrument"]): float(t["mark_price"]) for t in ticks}
    exits = {i["arb_id"]: i["exit_reason"] for i in intents if i["event_type"] == "ExitRequested"}
    for arb, a in out.items():
        a["price"] = a["cash"] + sum(float(q) * last[k] for k, q in a["qty"].items())
        a["total"] = a["funding"] + a["price"] - a["fees"]
        flat = all(q == 0 for q in a["qty"].values())
        a["outcome"] = (exits.get(arb, "entry_failed")) if flat else "open"
    return out


def test_the_view_splits_each_arb_as_the_raw_rows_and_the_book_do(
    chdb_store: ClickHouseStore,
) -> None:
    assert "005" in apply_ddl(chdb_store)
    loop = scenario()
    write_audited(chdb_store, loop.events, "cost.")
    view = {
        r["arb_id"]: r
        for r in chdb_store.query("SELECT * FROM v_arb_cost_attribution WHERE run = 'cost'").dicts()
    }
    plain = recompute(chdb_store, "cost")
    assert set(view) == set(plain) == {"arb-a", "arb-b", "arb-c"}
    assert {a: r["outcome"] for a, r in view.items()} == {
        "arb-a": "profit_erosion",
        "arb-b": "entry_failed",
        "arb-c": "open",
    }
    for arb, r in view.items():
        p = plain[arb]
        assert r["outcome"] == p["outcome"]
        assert r["funding_usd"] == pytest.approx(p["funding"], rel=1e-9, abs=1e-9), arb
        assert r["fees_usd"] == pytest.approx(p["fees"], rel=1e-9), arb
        assert r["spread_slippage_usd"] == pytest.approx(p["over_mid"], rel=1e-9), arb
        assert r["price_pnl_usd"] == pytest.approx(p["price"], rel=1e-9, abs=1e-9), arb
        assert r["total_usd"] == pytest.approx(
            r["funding_usd"] + r["price_pnl_usd"] - r["fees_usd"] - r["borrow_usd"], rel=1e-12
        )
        # the position book's exact fold of the same fills and payments
        book = loop.book.arb_pnl(arb)
        assert r["funding_usd"] == pytest.approx(float(book.funding), abs=1e-9), arb
        assert r["fees_usd"] == pytest.approx(float(book.fees), rel=1e-12), arb
        assert r["price_pnl_usd"] == pytest.approx(float(book.price), rel=1e-9, abs=1e-9), arb
        assert r["funding_covered_fees"] == (p["funding"] >= p["fees"])
        assert r["notional_usd"] == 1000 and r["entry_spread_apr"] == pytest.approx(0.2)
    a, b, c = view["arb-a"], view["arb-b"], view["arb-c"]
    assert a["switches"] == 1 and a["legs"] == f"binance {INST}, bybit {INST}, okx {INST}"
    assert a["funding_usd"] != 0 and a["held_h"] == pytest.approx(
        (a["last_fill_at"] - a["opened_at"]).total_seconds() / 3600
    )
    assert a["realised_funding_apr"] == pytest.approx(
        a["funding_usd"] / 1000 * 8760 / a["held_h"], rel=1e-12
    )
    # arb-b: fees and spread paid for nothing, all of it churn; funding never paid
    assert b["funding_usd"] == 0 and b["fees_usd"] > 0
    assert b["failed_entry_churn_usd"] == pytest.approx(b["total_usd"]) and b["total_usd"] < 0
    assert a["failed_entry_churn_usd"] == 0 == c["failed_entry_churn_usd"]
    assert c["held_h"] == pytest.approx(7.0, abs=0.01)  # 18 h → the run's last event at 25 h


def test_each_fill_of_a_switched_arb_traces_to_one_intent(chdb_store: ClickHouseStore) -> None:
    apply_ddl(chdb_store)
    loop = scenario()
    write_audited(chdb_store, loop.events, "trace.")
    rows = chdb_store.query(
        "SELECT fill_id, intent_id, order_time FROM v_fill_causation "
        "WHERE run = 'trace' AND arb_id = 'arb-a' ORDER BY fill_time"
    ).dicts()
    fills = [f for f in loop.fills if f.correlation_id == "arb-a"]
    assert sorted(r["fill_id"] for r in rows) == sorted(f.fill_id for f in fills)  # once each
    first, switch = stubs.eid("arb-a/0"), stubs.eid("arb-a/1")
    # entry fills → revision 0; the switch's and the exit's fills → revision 1 (the latest)
    assert [r["intent_id"] for r in rows] == [first, first] + [switch] * (len(rows) - 2)
