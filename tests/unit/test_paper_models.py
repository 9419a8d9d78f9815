"""The paper venue's models: the defaults follow PaperConfig, each one can be swapped alone."""

from dataclasses import dataclass
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from producers.paper import (
    FeeTable,
    FixedLatency,
    FlatBorrow,
    IsolatedMargin,
    PaperConfig,
    PaperVenue,
    SlippageFill,
)
from schemas import events as ev
from schemas.config import FeeConfig, VenueFees
from schemas.types import Liquidity
from tests import stubs

T = stubs.T0
FEES = FeeConfig(venues={"binance": VenueFees(maker=D("0.0002"), taker=D("0.0005"))})


def quoted(v: PaperVenue) -> PaperVenue:
    v.on_event(stubs.ticker_observed(bid="100", ask="100.1", mark_price="100.05", event_time=T))
    return v


def buy(cid: str = "m1", **kw: object) -> ev.PlaceOrder:
    base: dict[str, object] = dict(
        client_order_id=cid,
        event_id=stubs.eid(cid),
        side="buy",
        qty="2",
        order_type="market",
        time_in_force="IOC",
        limit_price=None,
        event_time=T + 10,
    )
    base.update(kw)
    return stubs.place_order(**base)


def fill_of(out: list[ev.Event]) -> ev.FillExecuted:
    (fill,) = [e for e in out if isinstance(e, ev.FillExecuted)]
    return fill


def test_the_default_models_are_the_ones_the_config_describes() -> None:
    cfg = PaperConfig(
        fees=FEES,
        latency_ms=70,
        slippage_bps=D("2"),
        impact_bps_per_musd=D("3"),
        leverage=D("5"),
        maintenance_margin_frac=D("0.01"),
        borrow_rate_h=D("0.00001"),
    )
    v = PaperVenue(cfg)
    assert v.fill_model == SlippageFill(D("2"), D("3"))
    assert v.fee_model == FeeTable(FEES)
    assert v.latency_model == FixedLatency(70)
    assert v.borrow_model == FlatBorrow(D("0.00001"))
    assert v.margin_model == IsolatedMargin(D("5"), D("0.01"))


@dataclass(frozen=True)
class AtTouch:
    """A fill model without slippage that never fills resting orders."""

    def taker_price(self, cmd: ev.PlaceOrder, bid: D, ask: D) -> D:
        return ask if cmd.side.value == "buy" else bid

    def trades_through(self, cmd: ev.PlaceOrder, bid: D, ask: D) -> bool:
        return False


@dataclass(frozen=True)
class NoFees:
    def check(self, venue: str) -> None:
        return None

    def fee(self, venue: str, liquidity: Liquidity, qty: D, price: D) -> D:
        return D(0)


def test_a_swapped_fill_model_prices_takers_and_keeps_resting_orders_resting() -> None:
    v = quoted(PaperVenue(PaperConfig(fees=FEES), fill=AtTouch()))
    fill = fill_of(v.on_event(buy()))
    assert fill.price == D("100.1")  # the ask itself, no slippage
    assert fill.fee == D("0.1001")  # 2 × 100.1 × 0.0005: the fee model is still the table's
    v.on_event(buy("m2", order_type="limit", time_in_force="GTC", limit_price="99"))
    out = v.on_event(stubs.ticker_observed(bid="97", ask="98", event_time=T + 1000))
    assert not any(isinstance(e, ev.FillExecuted) for e in out) and "m2" in v.resting


def test_a_swapped_fee_model_and_latency_leave_the_price_alone() -> None:
    cfg = PaperConfig(fees=FEES, slippage_bps=D("1"), impact_bps_per_musd=D("0"))
    v = quoted(PaperVenue(cfg, fee=NoFees(), latency=FixedLatency(250)))
    fill = fill_of(v.on_event(buy()))
    assert fill.price == D("100.11001") and fill.fee == 0
    assert fill.event_time == T + 10 + 250
    # a venue the fee table does not know is accepted when the fee model charges nothing
    other = PaperVenue(cfg, fee=NoFees())
    other.on_event(stubs.ticker_observed(venue="okx", bid="100", ask="100.1", event_time=T))
    assert fill_of(other.on_event(buy("m3", venue="okx"))).fee == 0


def test_a_swapped_margin_model_sets_the_balance_figures() -> None:
    v = quoted(PaperVenue(PaperConfig(fees=FEES), margin=IsolatedMargin(D("10"), D("0.02"))))
    bal = v.on_event(buy())[-1]
    assert isinstance(bal, ev.BalanceObserved) and bal.leverage == D("10")
    entry = bal.entry_price
    assert entry is not None
    # long: entry × (1 − 1/10 + 0.02)
    assert bal.liquidation_price == (entry * D("0.92")).quantize(D("1e-8"))
    assert bal.used == bal.total - bal.free


def test_flat_borrow_charges_the_short_notional_per_whole_hour() -> None:
    amount, rate = FlatBorrow(D("0.00001")).charge("BTC/USDT", D("-2"), D("50000"), 3)
    assert amount == D("-3.0000000") and rate == D("0.00003")


def test_isolated_margin_has_no_liquidation_price_flat_or_below_zero() -> None:
    m = IsolatedMargin(D("3"), D("0.005"))
    assert m.liquidation_price(D(0), D("100")) is None
    assert IsolatedMargin(D("0.5"), D("0")).liquidation_price(D("1"), D("100")) is None
    assert m.margin_ratio(D("1000"), D(0)) is None
    assert m.margin_ratio(D("1000"), D("500")) == D("0.0100000000")


prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=4)


@given(
    bid=prices,
    spread=st.decimals(min_value=D(0), max_value=D("10"), places=4),
    qty=st.decimals(min_value=D("0.0001"), max_value=D("1000"), places=4),
    slip=st.decimals(min_value=D(0), max_value=D("50"), places=2),
    impact=st.decimals(min_value=D(0), max_value=D("50"), places=2),
    side=st.sampled_from(["buy", "sell"]),
)
def test_slippage_fill_never_betters_the_touch(
    bid: D, spread: D, qty: D, slip: D, impact: D, side: str
) -> None:
    ask = bid + spread
    cmd = buy(side=side, qty=str(qty))
    price = SlippageFill(slip, impact).taker_price(cmd, bid, ask)
    if side == "buy":
        assert price >= ask.quantize(D("1e-8"))
    else:
        assert price <= bid.quantize(D("1e-8"))
