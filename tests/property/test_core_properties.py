"""Properties of the pure core (hypothesis)."""

import pickle
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from projections import board as bd
from projections import executor as ex
from projections import positions as pos
from schemas.config import ExecutionConfig
from tests import stubs
from tests.market import T0, H, funding, ticker

VENUES = ["binance", "bybit", "okx"]


@st.composite
def market_events(draw: st.DrawFn) -> list:
    """A time-ordered stream of funding and ticker events over three venues."""
    n = draw(st.integers(1, 40))
    events, t = [], T0
    for i in range(n):
        t += draw(st.integers(1, 2 * H))
        venue = draw(st.sampled_from(VENUES))
        if draw(st.booleans()):
            rate = draw(st.decimals(D("-0.003"), D("0.003"), places=6))
            events.append(funding(venue, str(rate), t + i))
        else:
            bid = draw(st.decimals(D("50"), D("150"), places=2))
            events.append(ticker(venue, str(bid), str(bid + D("0.02")), t + i))
    return events


def _fold_board(events: list, board: bd.AssetBoard | None = None) -> bd.AssetBoard:
    board = board or bd.AssetBoard("BTC")
    for e in events:
        board = bd.apply(board, e)
    return board


@settings(max_examples=60, deadline=None)
@given(events=market_events(), cut=st.integers(0, 40))
def test_board_snapshot_plus_tail_equals_full_fold(events: list, cut: int) -> None:
    cut = min(cut, len(events))
    snapshot = pickle.loads(pickle.dumps(_fold_board(events[:cut])))
    assert _fold_board(events[cut:], snapshot) == _fold_board(events)


@st.composite
def fills(draw: st.DrawFn) -> list:
    n = draw(st.integers(1, 25))
    out = []
    for i in range(n):
        out.append(
            stubs.fill_executed(
                fill_id=f"f{i}",
                venue=draw(st.sampled_from(VENUES)),
                side=draw(st.sampled_from(["buy", "sell"])),
                qty=str(draw(st.decimals(D("0.001"), D("5"), places=3))),
                price=str(draw(st.decimals(D("50"), D("150"), places=2))),
                fee=str(draw(st.decimals(D("0"), D("1"), places=4))),
                correlation_id=draw(st.sampled_from(["a1", "a2"])),
                event_time=T0 + i,
            )
        )
    return out


def _fold_book(events: list, book: pos.PositionBook | None = None) -> pos.PositionBook:
    book = book or pos.PositionBook("BTC")
    for e in events:
        book = pos.apply(book, e)
    return book


@settings(max_examples=80, deadline=None)
@given(events=fills(), data=st.data())
def test_duplicating_any_fill_changes_nothing(events: list, data: st.DataObject) -> None:
    dup_at = data.draw(st.integers(0, len(events) - 1))
    insert_at = data.draw(st.integers(dup_at + 1, len(events)))
    with_dup = [*events[:insert_at], events[dup_at], *events[insert_at:]]
    assert _fold_book(with_dup) == _fold_book(events)


@settings(max_examples=80, deadline=None)
@given(events=fills(), cut=st.integers(0, 25))
def test_book_snapshot_plus_tail_equals_full_fold_and_parts_sum(events: list, cut: int) -> None:
    cut = min(cut, len(events))
    snap = pickle.loads(pickle.dumps(_fold_book(events[:cut])))
    book = _fold_book(events[cut:], snap)
    assert book == _fold_book(events)
    pnl = book.pnl()
    assert pnl.total == pnl.funding + pnl.price - pnl.fees - pnl.borrow
    for arb in ("a1", "a2"):
        p = book.arb_pnl(arb)
        assert p.total == p.funding + p.price - p.fees - p.borrow


QUOTES = {
    ("binance", "BTC/USDT:USDT"): ex.Quote(D("99.9"), D("100.1")),
    ("bybit", "BTC/USDT:USDT"): ex.Quote(D("99.8"), D("100.0")),
}
CFG = ExecutionConfig(max_entry_attempts=50)


@settings(max_examples=80, deadline=None)
@given(
    parts=st.lists(st.integers(0, 10), min_size=1, max_size=12),
    hedge_parts=st.lists(st.integers(1, 10), min_size=1, max_size=4),
)
def test_hedge_never_exceeds_leg_one_and_delta_returns_to_zero(
    parts: list[int], hedge_parts: list[int]
) -> None:
    target = stubs.target_position_set(arb_id="arb-1", revision=0)  # 0.010 BTC per leg
    state, cmds = ex.reconcile(ex.apply(ex.ExecutorState("BTC"), target), QUOTES, CFG, T0)
    n = 0
    pending = list(cmds)
    for part in parts:  # leg one's orders fill in random partial amounts, then expire
        leg0 = next((c for c in pending if isinstance(c, ex.PlaceOrder) and c.leg == 0), None)
        if leg0 is None:
            break
        pending.remove(leg0)
        qty = min(leg0.qty, D(part) / 1000)
        events = []
        if qty > 0:
            n += 1
            events.append(
                stubs.fill_executed(
                    fill_id=f"l0-{n}",
                    client_order_id=leg0.client_order_id,
                    venue="binance",
                    side="sell",
                    qty=str(qty),
                    price="100",
                    fee="0",
                    correlation_id="arb-1",
                )
            )
        if qty < leg0.qty:
            events.append(
                stubs.order_expired(
                    client_order_id=leg0.client_order_id, venue="binance", correlation_id="arb-1"
                )
            )
        for e in events:
            state = ex.apply(state, e)
        state, cmds = ex.reconcile(state, QUOTES, CFG, T0 + n)
        pending += cmds
        arb = state.arbs["arb-1"]
        hedged = sum((o.qty for o in arb.orders.values() if o.is_hedge), D(0))
        assert hedged <= abs(arb.positions[0])  # never hedge more than leg one executed
    # the hedges fill (possibly in pieces) and the legs net out
    for i in range(40):
        hedges = state.arbs["arb-1"].open_orders(1)
        if not hedges:
            break
        for o in hedges:
            piece = min(o.qty - o.filled, D(hedge_parts[i % len(hedge_parts)]) / 1000)
            n += 1
            state = ex.apply(
                state,
                stubs.fill_executed(
                    fill_id=f"h-{n}",
                    client_order_id=o.client_order_id,
                    venue="bybit",
                    side="buy",
                    qty=str(piece),
                    price="100",
                    fee="0",
                    correlation_id="arb-1",
                ),
            )
        state, _ = ex.reconcile(state, QUOTES, CFG, T0 + n)
    arb = state.arbs["arb-1"]
    assert not arb.open_orders(1)
    assert ex.net_delta(arb) == 0


@settings(max_examples=60, deadline=None)
@given(fill_qty=st.integers(0, 10), now=st.integers(0, 10**6))
def test_reconcile_on_its_own_output_emits_nothing_new(fill_qty: int, now: int) -> None:
    target = stubs.target_position_set(arb_id="arb-1", revision=0)
    state, (leg0,) = ex.reconcile(ex.apply(ex.ExecutorState("BTC"), target), QUOTES, CFG, T0)
    if fill_qty:
        state = ex.apply(
            state,
            stubs.fill_executed(
                fill_id="x",
                client_order_id=leg0.client_order_id,
                venue="binance",
                side="sell",
                qty=str(D(fill_qty) / 1000),
                price="100",
                fee="0",
                correlation_id="arb-1",
            ),
        )
    once, first = ex.reconcile(state, QUOTES, CFG, T0 + 1)
    _, again = ex.reconcile(state, QUOTES, CFG, T0 + 1)
    assert first == again  # same input, same commands and ids
    assert ex.reconcile(once, QUOTES, CFG, T0 + 2)[1] == []
