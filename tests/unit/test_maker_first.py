"""Maker-first execution (issue 19, seeds/002): the paper venue's maker fill model
(producers/paper/maker.py), the executor's post-only first leg and the strategy's choice of the
cheaper maker venue; then the whole entry through the real executor and paper venue."""

from decimal import Decimal as D

from producers.paper import PaperConfig, PaperVenue
from producers.paper.maker import trades_through, would_take
from projections import executor as ex
from projections import positions as pos
from projections.strategies.funding_arb import strategy as st
from schemas import events as ev
from schemas.config import ExecutionConfig, FeeConfig, VenueFees
from schemas.types import Side
from tests import stubs
from tests.market import board_of, two_venue_history
from tests.paper_loop import Loop, leg
from tests.unit.test_strategy import CFG as STRATEGY

T = stubs.T0
INST = "BTC/USDT:USDT"
FEES = FeeConfig(
    venues={
        "binance": VenueFees(maker=D("0.0002"), taker=D("0.0005")),
        "bybit": VenueFees(maker=D("0.0001"), taker=D("0.00055")),
    }
)


def test_post_only_takes_at_the_touch_and_rests_inside_it() -> None:
    bid, ask = D("100"), D("100.1")
    assert would_take(Side.buy, D("100.1"), bid, ask)  # at the ask: takes
    assert not would_take(Side.buy, D("100.05"), bid, ask)  # inside the spread: rests
    assert would_take(Side.sell, D("100"), bid, ask) and not would_take(Side.sell, ask, bid, ask)


def test_a_resting_order_fills_only_when_the_market_trades_through_it() -> None:
    # a buy resting at 100: a later bid of 100 is the touch (we may be last in the queue): no
    # fill; an ask down at 100 means everything at our price was taken: fill
    assert not trades_through(Side.buy, D("100"), D("100"), D("100.1"))
    assert trades_through(Side.buy, D("100"), D("99.9"), D("100"))
    assert not trades_through(Side.sell, D("100.1"), D("100"), D("100.1"))
    assert trades_through(Side.sell, D("100.1"), D("100.1"), D("100.2"))


def test_the_paper_venue_refuses_a_crossing_post_only_and_fills_a_resting_one_as_maker() -> None:
    venue = PaperVenue(PaperConfig(fees=FEES))
    venue.on_event(stubs.ticker_observed(bid="100", ask="100.1", event_time=T))

    def po(cid: str, price: str) -> list[ev.Event]:
        return venue.on_event(
            stubs.place_order(
                client_order_id=cid,
                event_id=stubs.eid(cid),
                side="buy",
                qty="2",
                order_type="limit",
                time_in_force="PO",
                limit_price=price,
                event_time=T + 10,
            )
        )

    (rejected,) = po("cross", "100.1")
    assert isinstance(rejected, ev.OrderRejected)
    assert rejected.reject_reason is ev.RejectReason.post_only_would_cross
    assert [type(e).__name__ for e in po("rest", "100")] == ["OrderAccepted"]
    touch = stubs.ticker_observed(bid="100", ask="100.2", event_time=T + 1000)
    assert venue.on_event(touch) == []  # our price is the best bid, nobody sold to us
    through = stubs.ticker_observed(bid="99.8", ask="99.9", event_time=T + 2000)
    fill = next(e for e in venue.on_event(through) if isinstance(e, ev.FillExecuted))
    assert (fill.qty, fill.price, fill.liquidity) == (D("2"), D("100"), ev.Liquidity.maker)
    assert fill.fee == D("0.04")  # 2 × 100 × binance maker 0.0002 (taker would be 0.10)


def test_the_executor_rests_the_first_leg_post_only_at_its_own_touch() -> None:
    cfg = ExecutionConfig(maker_first=True)
    quotes = {("binance", INST): ex.Quote(D("99.9"), D("100.1"))}
    state = ex.apply(ex.ExecutorState("BTC"), stubs.target_position_set())  # sell binance first
    _, (cmd,) = ex.reconcile(state, quotes, cfg, T, "c")
    assert isinstance(cmd, ev.PlaceOrder)
    assert (cmd.side, cmd.limit_price, cmd.time_in_force) == (
        Side.sell,
        D("100.1"),  # the ask: the passive side of a sell
        ev.TimeInForce.PO,
    )
    _, (ioc,) = ex.reconcile(state, quotes, ExecutionConfig(), T, "c")
    assert ioc.time_in_force is ev.TimeInForce.IOC and ioc.limit_price < D("99.9")


def test_the_strategy_puts_the_cheaper_maker_venue_first_only_when_maker_first() -> None:
    def first_venue(maker_first: bool) -> str:
        cfg = STRATEGY.model_copy(
            update={"fees": FEES, "execution": ExecutionConfig(maker_first=maker_first)}
        )
        board = board_of(two_venue_history())
        now = T + 16 * 3_600_000
        _, out = st.decide(
            "BTC", board, pos.PositionBook("BTC"), st.StrategyState(), cfg, now, None
        )
        (target,) = out
        assert isinstance(target, ev.TargetPositionSet)
        return target.legs[0].venue

    assert first_venue(True) == "bybit"  # maker 1 bp beside binance's 2 bp
    assert first_venue(False) == "binance"  # the default rule (equal volume: the short leg)


def test_maker_first_entry_rests_fills_as_maker_and_is_hedged_as_taker() -> None:
    loop = Loop(
        PaperVenue(PaperConfig(fees=FEES)),
        ExecutionConfig(maker_first=True, leg_timeout_ms=3 * 3_600_000, qty_step=D("1e-8")),
    )
    bn, by = ("binance", INST), ("bybit", INST)
    loop.market(T, {bn: D("100"), by: D("100")})
    loop.intent(
        stubs.target_position_set(
            legs=[leg("bybit", INST, D("-5")), leg("binance", INST, D("5"))], event_time=T + 1
        )
    )
    (rest,) = loop.placed
    assert (rest.venue, rest.time_in_force, rest.limit_price) == (
        "bybit",
        ev.TimeInForce.PO,
        D("100.05"),
    )
    assert loop.fills == []  # resting: nothing traded, nothing to hedge
    loop.market(T + 3_600_000, {bn: D("100.3"), by: D("100.3")})  # bybit's bid 100.25 ≥ 100.05
    maker, taker = loop.fills
    assert (maker.venue, maker.price, maker.liquidity) == ("bybit", D("100.05"), ev.Liquidity.maker)
    assert (taker.venue, taker.side, taker.qty, taker.liquidity) == (
        "binance",
        Side.buy,
        D("5"),
        ev.Liquidity.taker,
    )
    assert taker.is_hedge and loop.book.net_delta_base("arb-1") == 0
    assert maker.fee == (D("5") * D("100.05") * D("0.0001")).quantize(D("1e-8"))


def test_an_entry_resting_for_hours_is_not_forgotten_while_the_executor_may_still_fill_it() -> None:
    # three post-only attempts of 3 h each: the strategy waits 2 × 9 h before it calls the
    # entry abandoned (a 30 min grace would forget an order still resting, then its fill)
    execution = ExecutionConfig(maker_first=True, leg_timeout_ms=3 * 3_600_000)
    cfg = STRATEGY.model_copy(update={"fees": FEES, "execution": execution})
    assert st.entry_grace_ms(cfg) == 18 * 3_600_000
    assert st.entry_grace_ms(STRATEGY) == st.ENTRY_GRACE_MS  # 3 × 60 s: the 30 min floor
    board = board_of(two_venue_history())
    now = T + 16 * 3_600_000
    book = pos.PositionBook("BTC")
    state, (target,) = st.decide("BTC", board, book, st.StrategyState(), cfg, now, None)
    arb = target.arb_id  # type: ignore[attr-defined]
    later, _ = st.decide("BTC", board, book, state, cfg, now + 3_600_000, None)
    assert later.arbs[arb].status == "entering"
    gone, _ = st.decide("BTC", board, book, state, cfg, now + 18 * 3_600_000 + 1, None)
    assert gone.arbs[arb].status == "closed"
