"""A switch that keeps the shared leg (issue 19), on the real pure parts: the executor's
target-state diff, the paper venue filling its orders and paying funding, the position book
folding the fills and payments. Whatever the sizes, prices, funding and partial fills:

* after the switch target no order goes to the shared leg, and its position and fees are
  exactly what they were;
* the arb's ledger agrees with the venue's own accounts: funding = the payments, fees = the
  fills' fees, and funding + price − fees = the change in the venues' equity (parts sum to the
  total, computed independently by the venue).
"""

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from producers.paper import Fault, PaperConfig, PaperVenue
from projections import executor as ex
from schemas.config import ExecutionConfig
from schemas.events import Event, TargetLeg
from tests import stubs
from tests.paper_loop import Loop, leg

INST = "BTC/USDT:USDT"
VENUES = ("binance", "bybit", "okx")
CFG = ExecutionConfig(max_entry_attempts=3, qty_step=D("0.00000001"))  # = the paper venue's
T0 = stubs.T0
H = 3_600_000


def _target(revision: int, legs: list[TargetLeg], t: int) -> Event:
    return stubs.target_position_set(
        arb_id="arb-1",
        revision=revision,
        legs=legs,
        event_id=stubs.eid(f"t{revision}"),
        event_time=t,
    )


def _leg(venue: str, qty: D) -> TargetLeg:
    return leg(venue, INST, qty)


def _at(values: tuple[D, D, D]) -> dict[tuple[str, str], D]:
    return {(v, INST): x for v, x in zip(VENUES, values, strict=True)}


prices = st.integers(9_000, 11_000).map(lambda c: D(c) / 100)
rates = st.integers(-30, 60).map(lambda r: D(r) / 100_000)


@settings(max_examples=60, deadline=None)
@given(
    qty=st.integers(1, 80).map(lambda n: D(n) / 1000),
    mids=st.lists(st.tuples(prices, prices, prices), min_size=3, max_size=3),
    funding=st.lists(st.tuples(rates, rates, rates), min_size=2, max_size=2),
    partial=st.none() | st.integers(1, 9).map(lambda n: D(n) / 10),
)
def test_a_switch_never_touches_the_shared_leg_and_the_ledger_adds_up(
    qty: D,
    mids: list[tuple[D, D, D]],
    funding: list[tuple[D, D, D]],
    partial: D | None,
) -> None:
    # the new leg's first order (revision 1, step 1, leg 0, seq 1) may fill only in part
    first_new = ex.client_order_id("funding_arb", "arb-1", 1, 1, 0, 1, "okx")
    faults = {first_new: Fault("partial", partial)} if partial is not None else {}
    venue = PaperVenue(PaperConfig(faults=faults))
    loop = Loop(venue, CFG)
    loop.market(T0, _at(mids[0]))
    loop.intent(_target(0, [_leg("binance", -qty), _leg("bybit", qty)], T0 + 1))
    loop.market(T0 + 8 * H, _at(mids[1]), _at(funding[0]))
    shared_before = loop.book.leg("bybit", INST)
    assert shared_before.qty == qty and loop.book.leg("binance", INST).qty == -qty
    n_before = len(loop.placed)

    switch = [_leg("okx", -qty), _leg("binance", D(0)), _leg("bybit", qty)]
    loop.intent(_target(1, switch, T0 + 8 * H + 10))
    loop.market(T0 + 16 * H, _at(mids[2]), _at(funding[1]))

    after = loop.placed[n_before:]
    assert after and all(c.venue != "bybit" for c in after)  # no order on the shared leg
    shared = loop.book.leg("bybit", INST)
    assert (shared.qty, shared.fees, shared.avg_entry_price) == (
        shared_before.qty,
        shared_before.fees,
        shared_before.avg_entry_price,
    )
    # the changed leg moved from binance to okx as far as okx filled; the arb stays hedged
    okx, binance = loop.book.leg("okx", INST).qty, loop.book.leg("binance", INST).qty
    assert okx + binance == -qty
    if partial is None:
        assert (okx, binance) == (-qty, 0)

    # the arb's money parts, against the venue's independent accounts
    pnl = loop.book.arb_pnl("arb-1")
    assert pnl.fees == sum((f.fee for f in loop.fills), D(0))
    assert pnl.funding == sum((p.amount for p in loop.payments), D(0))
    assert pnl.total == pnl.funding + pnl.price - pnl.fees - pnl.borrow
    equity_change = sum((venue.equity(v) - venue.config.starting_cash_usd for v in VENUES), D(0))
    assert pnl.total == equity_change
