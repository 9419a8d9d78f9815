"""Executor scenarios: hedge from executed quantity, retries, unwinds, idempotency."""

from decimal import Decimal as D

from projections import executor as ex
from schemas.config import ExecutionConfig
from schemas.events import CancelOrder, PlaceOrder, TargetLeg
from schemas.types import MarketType
from tests import stubs

CFG = ExecutionConfig()
QUOTES = {
    ("binance", "BTC/USDT:USDT"): ex.Quote(D("99.9"), D("100.1")),
    ("bybit", "BTC/USDT:USDT"): ex.Quote(D("99.8"), D("100.0")),
}
T = stubs.T0


def intent(rev: int = 0, qty: str = "0.01") -> object:
    return stubs.target_position_set(arb_id="arb-1", revision=rev, event_id=stubs.eid(f"i{rev}"))


def start() -> tuple[ex.ExecutorState, list]:
    state = ex.apply(ex.ExecutorState("BTC"), intent())  # legs: short binance, long bybit
    return ex.reconcile(state, QUOTES, CFG, T, "c0")


def fill(cmd: PlaceOrder, qty: str, n: int, price: str = "100") -> object:
    return stubs.fill_executed(
        fill_id=f"{cmd.client_order_id}-{n}",
        venue=cmd.venue,
        instrument=cmd.instrument,
        client_order_id=cmd.client_order_id,
        order_id="o",
        side=cmd.side,
        qty=qty,
        price=price,
        fee="0",
        correlation_id="arb-1",
        event_time=T + n,
    )


def expired(cmd: PlaceOrder, filled: str = "0") -> object:
    return stubs.order_expired(
        client_order_id=cmd.client_order_id,
        venue=cmd.venue,
        instrument=cmd.instrument,
        filled_qty=filled,
        correlation_id="arb-1",
    )


def rejected(cmd: PlaceOrder) -> object:
    return stubs.order_rejected(
        client_order_id=cmd.client_order_id,
        venue=cmd.venue,
        instrument=cmd.instrument,
        correlation_id="arb-1",
    )


def step(
    state: ex.ExecutorState, *events: object, now: int = T + 100
) -> tuple[ex.ExecutorState, list]:
    for e in events:
        state = ex.apply(state, e)  # type: ignore[arg-type]
    return ex.reconcile(state, QUOTES, CFG, now, "c")


def test_first_leg_is_an_ioc_limit_crossing_the_spread() -> None:
    _, cmds = start()
    (cmd,) = cmds
    assert isinstance(cmd, PlaceOrder)
    assert (cmd.venue, cmd.side.value, cmd.qty, cmd.time_in_force.value) == (
        "binance",
        "sell",
        D("0.010"),
        "IOC",
    )
    # a sell crosses below the bid by 5 bp: 99.9 × 1.0005 would rest; offset −0.0005 → 99.85005 → tick 0.1 down
    assert cmd.limit_price == D("99.8")
    assert (
        not cmd.is_hedge and cmd.client_order_id.startswith("fa") and len(cmd.client_order_id) == 32
    )


def test_full_fill_then_hedge_then_done_with_zero_delta() -> None:
    state, (leg0,) = start()
    state, cmds = step(state, fill(leg0, "0.010", 1))
    (hedge,) = cmds
    assert (hedge.venue, hedge.side.value, hedge.qty, hedge.is_hedge) == (
        "bybit",
        "buy",
        D("0.010"),
        True,
    )
    assert hedge.limit_price == D("100.2")  # ask 100.0 × 1.002
    state, cmds = step(state, fill(hedge, "0.010", 2))
    assert cmds == []
    arb = state.arbs["arb-1"]
    assert arb.phase == "done" and ex.net_delta(arb) == 0


def test_partial_fill_hedges_what_executed_and_retries_the_rest() -> None:
    state, (leg0,) = start()
    state, cmds = step(state, fill(leg0, "0.004", 1), expired(leg0, "0.004"))
    hedge = next(c for c in cmds if c.is_hedge)
    retry = next(c for c in cmds if not c.is_hedge)
    assert hedge.qty == D("0.004") and retry.qty == D("0.006") and retry.step == 2
    assert retry.client_order_id != leg0.client_order_id


def test_no_fill_at_all_retries_then_abandons_without_hedging() -> None:
    state, (leg0,) = start()
    placed = [leg0]
    for _ in range(CFG.max_entry_attempts):
        state, cmds = step(state, expired(placed[-1]))
        placed += cmds
    assert all(not c.is_hedge for c in placed)
    assert len(placed) == CFG.max_entry_attempts
    assert state.arbs["arb-1"].phase == "abandoned"


def test_rejected_hedge_is_retried_then_leg_one_is_unwound() -> None:
    state, (leg0,) = start()
    state, (hedge,) = step(state, fill(leg0, "0.010", 1))
    for _ in range(CFG.max_hedge_attempts - 1):
        state, (hedge,) = step(state, rejected(hedge))
        assert hedge.is_hedge
    state, cmds = step(state, rejected(hedge))
    (unwind,) = cmds
    assert (unwind.venue, unwind.side.value, unwind.qty, unwind.reduce_only) == (
        "binance",
        "buy",
        D("0.010"),
        True,
    )
    assert state.arbs["arb-1"].phase == "unwinding"
    state, cmds = step(state, fill(unwind, "0.010", 9))
    assert cmds == [] and state.arbs["arb-1"].phase == "abandoned"
    assert ex.net_delta(state.arbs["arb-1"]) == 0


def test_both_legs_partially_fill_with_different_amounts_before_cancel() -> None:
    cfg = ExecutionConfig(first_leg="limit", leg_timeout_ms=1000)
    state = ex.apply(ex.ExecutorState("BTC"), intent())
    state, (leg0,) = ex.reconcile(state, QUOTES, cfg, T)
    assert leg0.time_in_force.value == "GTC"
    state = ex.apply(state, fill(leg0, "0.006", 1))
    state, (h1,) = ex.reconcile(state, QUOTES, cfg, T + 10)
    assert h1.qty == D("0.006")
    state = ex.apply(state, fill(h1, "0.002", 2))
    state = ex.apply(state, expired(h1, "0.002"))
    state, cmds = ex.reconcile(state, QUOTES, cfg, T + 2000)  # leg 0 timed out too
    cancel = next(c for c in cmds if isinstance(c, CancelOrder))
    h2 = next(c for c in cmds if isinstance(c, PlaceOrder))
    assert cancel.client_order_id == leg0.client_order_id
    assert h2.is_hedge and h2.qty == D("0.004")  # the hedge gap: 0.006 executed − 0.002 hedged
    state = ex.apply(
        state,
        stubs.order_canceled(
            client_order_id=leg0.client_order_id,
            venue="binance",
            filled_qty="0.006",
            correlation_id="arb-1",
        ),
    )
    state = ex.apply(state, fill(h2, "0.004", 3))
    state, _ = ex.reconcile(state, QUOTES, cfg, T + 3000)
    assert ex.net_delta(state.arbs["arb-1"]) == 0


def test_duplicate_intent_is_a_no_op() -> None:
    state, _ = start()
    again = ex.apply(state, intent())
    assert again is state


def test_crash_and_rerun_from_the_same_state_gives_the_same_commands() -> None:
    state, (leg0,) = start()
    state = ex.apply(state, fill(leg0, "0.010", 1))
    _, first = ex.reconcile(state, QUOTES, CFG, T + 5, "c")
    _, second = ex.reconcile(state, QUOTES, CFG, T + 5, "c")  # restarted from the saved state
    assert first == second
    after, _ = ex.reconcile(state, QUOTES, CFG, T + 5, "c")
    assert ex.reconcile(after, QUOTES, CFG, T + 6, "c")[1] == []  # feeding back: nothing new


def test_another_arb_is_refused_while_one_is_in_flight() -> None:
    state, _ = start()
    other = stubs.target_position_set(arb_id="arb-2", revision=0, event_id=stubs.eid("other"))
    state2 = ex.apply(state, other)
    assert "arb-2" not in state2.arbs and state2.refused == (other.event_id,)


def test_exit_closes_both_legs_at_once_reduce_only() -> None:
    state, (leg0,) = start()
    state, (hedge,) = step(state, fill(leg0, "0.010", 1))
    state, _ = step(state, fill(hedge, "0.010", 2))
    state, cmds = step(state, stubs.exit_requested(arb_id="arb-1", revision=1))
    assert {(c.venue, c.side.value, c.qty, c.reduce_only) for c in cmds} == {
        ("binance", "buy", D("0.010"), True),
        ("bybit", "sell", D("0.010"), True),
    }


def test_client_order_ids_fit_each_venue() -> None:
    assert len(ex.client_order_id("s", "a", 0, 1, 0, 1, "okx")) == 32
    assert ex.client_order_id("s", "a", 0, 1, 0, 1, "okx").isalnum()
    hl = ex.client_order_id("s", "a", 0, 1, 0, 1, "hyperliquid")
    assert hl.startswith("0x") and len(hl) == 34 and int(hl, 16) >= 0
    assert ex.client_order_id("s", "a", 0, 1, 0, 1, "lighter").isdigit()
    assert ex.client_order_id("s", "a", 0, 1, 0, 1, "gate").startswith("t-")
    assert ex.client_order_id("s", "a", 0, 1, 0, 1, "x") != ex.client_order_id(
        "s", "a", 0, 1, 0, 2, "x"
    )
    # the strategy is part of the hash: two strategies' targets never share an order id
    assert ex.client_order_id("s", "a", 0, 1, 0, 1, "x") != ex.client_order_id(
        "t", "a", 0, 1, 0, 1, "x"
    )


# ---- a switch that keeps the shared leg (issue 19) -----------------------------------------
OKX = ("okx", "BTC/USDT:USDT")
SWITCH_QUOTES = {**QUOTES, OKX: ex.Quote(D("99.7"), D("99.9"))}


def _leg(venue: str, qty: str) -> object:
    return TargetLeg(
        venue=venue,
        instrument="BTC/USDT:USDT",
        market_type=MarketType.perp,
        target_qty=D(qty),
    )


def _switch_target(*legs: object) -> object:
    return stubs.target_position_set(
        arb_id="arb-1", revision=1, event_id=stubs.eid("switch"), legs=list(legs)
    )


def _entered() -> ex.ExecutorState:
    state, (leg0,) = start()
    state, (hedge,) = step(state, fill(leg0, "0.010", 1))
    state, cmds = step(state, fill(hedge, "0.010", 2))
    assert cmds == [] and state.arbs["arb-1"].phase == "done"
    return state


def _run_switch(state: ex.ExecutorState, target: object) -> tuple[ex.ExecutorState, list]:
    """Apply ``target``, then fill every order the executor sends in full until it is done."""
    sent: list = []
    state = ex.apply(state, target)  # type: ignore[arg-type]
    state, cmds = ex.reconcile(state, SWITCH_QUOTES, CFG, T + 200, "s")
    for n in range(10, 20):
        sent += cmds
        if not cmds:
            break
        events = [fill(c, str(c.qty), n * 10 + i) for i, c in enumerate(cmds)]
        state, cmds = step(state, *events, now=T + 300 + n)
    return state, sent


def test_a_switch_trades_only_the_changed_leg_new_leg_first() -> None:
    state, sent = _run_switch(
        _entered(),
        _switch_target(_leg("okx", "-0.010"), _leg("binance", "0"), _leg("bybit", "0.010")),
    )
    # okx (new short) first as the entry leg, then binance (old short) bought back as the
    # hedge of what okx executed, reduce-only; bybit (the shared long) never sees an order
    assert [(c.venue, c.side.value, c.qty, c.is_hedge, c.reduce_only) for c in sent] == [
        ("okx", "sell", D("0.010"), False, False),
        ("binance", "buy", D("0.010"), True, True),
    ]
    arb = state.arbs["arb-1"]
    assert arb.phase == "done" and arb.revision == 1
    held = {leg.venue: p for leg, p in zip(arb.legs, arb.positions, strict=True)}
    assert held == {"okx": D("-0.010"), "binance": D("0.000"), "bybit": D("0.010")}
    assert ex.net_delta(arb) == 0


def test_a_leg_the_target_leaves_out_is_targeted_at_zero() -> None:
    # the target names only the new pair: the old short is closed all the same
    state, sent = _run_switch(
        _entered(), _switch_target(_leg("bybit", "0.010"), _leg("okx", "-0.010"))
    )
    assert [(c.venue, c.side.value) for c in sent] == [("okx", "sell"), ("binance", "buy")]
    held = {
        leg.venue: p
        for leg, p in zip(state.arbs["arb-1"].legs, state.arbs["arb-1"].positions, strict=True)
    }
    assert held["binance"] == 0 and held["bybit"] == D("0.010")


def test_a_switch_whose_new_leg_only_partly_fills_buys_back_only_that_much() -> None:
    state = ex.apply(
        _entered(),
        _switch_target(_leg("okx", "-0.010"), _leg("binance", "0"), _leg("bybit", "0.010")),  # type: ignore[arg-type]
    )
    state, (new,) = ex.reconcile(state, SWITCH_QUOTES, CFG, T + 200, "s")
    state, cmds = step(state, fill(new, "0.004", 30), expired(new, "0.004"), now=T + 300)
    hedge = next(c for c in cmds if c.is_hedge)
    assert (hedge.venue, hedge.side.value, hedge.qty) == ("binance", "buy", D("0.004"))
    assert all(c.venue != "bybit" for c in cmds)


def test_a_target_naming_a_leg_twice_is_refused() -> None:
    state = ex.apply(
        _entered(),
        _switch_target(_leg("okx", "-0.010"), _leg("okx", "0")),  # type: ignore[arg-type]
    )
    assert state.refused == (stubs.eid("switch"),) and state.arbs["arb-1"].revision == 0


def test_a_retarget_moving_three_legs_works_them_all_at_once() -> None:
    # no single leg to hedge from: like an exit, every leg toward its target together
    state = ex.apply(
        _entered(),
        _switch_target(_leg("okx", "-0.010"), _leg("binance", "0"), _leg("bybit", "0.020")),  # type: ignore[arg-type]
    )
    _, cmds = ex.reconcile(state, SWITCH_QUOTES, CFG, T + 200, "s")
    assert sorted((c.venue, c.side.value, c.qty) for c in cmds) == [
        ("binance", "buy", D("0.010")),
        ("bybit", "buy", D("0.010")),
        ("okx", "sell", D("0.010")),
    ]
