"""Strategy policy: entries within limits, each exit with its reason."""

from decimal import Decimal as D

from projections import positions as pos
from projections.strategies.funding_arb import strategy as st
from schemas.config import CapacityConfig, EntryConfig, ExitConfig, StrategyConfig
from schemas.events import ExitReason, ExitRequested, TargetPositionSet
from tests import stubs
from tests.market import T0, H, board_of, funding, ticker, two_venue_history

CFG = StrategyConfig(
    entry=EntryConfig(max_break_even_h=D("96"), min_net_apr=D("0.10")),
    exits=ExitConfig(flip_h=D("8"), erosion_h=D("24")),
)
NOW = T0 + 16 * H


def enter(config: StrategyConfig = CFG) -> tuple[st.StrategyState, TargetPositionSet]:
    board = board_of(two_venue_history())
    state, intents = st.decide(
        "BTC", board, pos.PositionBook("BTC"), st.StrategyState(), config, NOW, "cause-1"
    )
    assert len(intents) == 1 and isinstance(intents[0], TargetPositionSet)
    return state, intents[0]


def filled_book(intent: TargetPositionSet, at_ms: int = NOW + 1) -> pos.PositionBook:
    """A book holding every leg of ``intent`` filled in full at 100, at ``at_ms``."""
    book = pos.PositionBook("BTC")
    for i, leg in enumerate(intent.legs):
        book = pos.apply(
            book,
            stubs.fill_executed(
                fill_id=f"e-{i}",
                venue=leg.venue,
                instrument=leg.instrument,
                side="buy" if leg.target_qty > 0 else "sell",
                qty=abs(leg.target_qty),
                price="100",
                fee="0",
                correlation_id=intent.arb_id,
                event_time=at_ms,
            ),
        )
    return book


def test_entry_targets_both_legs_with_the_hedge_sized_equal() -> None:
    _, intent = enter()
    by_venue = {leg.venue: leg for leg in intent.legs}
    short, long = by_venue["binance"], by_venue["bybit"]
    assert short.target_qty == -long.target_qty < 0
    # 10,000 USD at the dearer ask 100.01, rounded down to 1e-6: 99.990000 BTC-units
    assert long.target_qty == D("99.990000")
    assert intent.target_notional_usd == D("99.990000") * D("100.01")
    assert intent.causation_id == "cause-1" and intent.correlation_id == intent.arb_id
    assert intent.event_time == NOW and intent.ingest_time == NOW  # event time, not the clock
    assert intent.expected_apr == D("0.1433928571")


def test_no_entry_below_threshold_or_without_capacity() -> None:
    board = board_of(two_venue_history())
    strict = StrategyConfig(entry=EntryConfig(max_break_even_h=D("96"), min_net_apr=D("0.15")))
    assert (
        st.decide("BTC", board, pos.PositionBook("BTC"), st.StrategyState(), strict, NOW, None)[1]
        == []
    )
    full = StrategyConfig(
        entry=EntryConfig(max_break_even_h=D("96")), capacity=CapacityConfig(max_open_arbs=0)
    )
    assert (
        st.decide("BTC", board, pos.PositionBook("BTC"), st.StrategyState(), full, NOW, None)[1]
        == []
    )
    paused = st.Breakers(pause_entries=frozenset({"BTC"}))
    assert (
        st.decide(
            "BTC", board, pos.PositionBook("BTC"), st.StrategyState(), CFG, NOW, None, paused
        )[1]
        == []
    )


def test_one_arb_per_asset_and_decisions_are_deterministic() -> None:
    s1, i1 = enter()
    s2, i2 = enter()
    assert i1 == i2 and s1 == s2
    board = board_of(two_venue_history())
    _, again = st.decide("BTC", board, pos.PositionBook("BTC"), s1, CFG, NOW + 1, None)
    assert again == []  # entering: nothing new


def _flip_board(intervals: int) -> list:
    events = two_venue_history()
    for i in range(intervals):
        t = NOW + (i + 1) * 8 * H
        events += [
            funding("binance", "0.00001", t),
            funding("bybit", "0.0003", t),
            ticker("binance", "99.99", "100.01", t),
            ticker("bybit", "99.99", "100.01", t),
        ]
    return events


def test_funding_flip_exits_after_n_consecutive_intervals() -> None:
    state, intent = enter()
    book = filled_book(intent)
    state, _ = st.decide("BTC", board_of(two_venue_history()), book, state, CFG, NOW + 2, None)
    assert state.arbs[intent.arb_id].status == "open"
    events = _flip_board(2)
    state, out = st.decide("BTC", board_of(events[:-4]), book, state, CFG, NOW + 8 * H, "x")
    assert out == [] and state.arbs[intent.arb_id].adverse_since == NOW + 8 * H
    state, out = st.decide("BTC", board_of(events), book, state, CFG, NOW + 16 * H, "y")
    assert len(out) == 1 and isinstance(out[0], ExitRequested)
    assert out[0].exit_reason is ExitReason.funding_flip and out[0].revision == 1
    assert state.arbs[intent.arb_id].status == "exiting"


def test_time_limit_and_risk_breaker_exits() -> None:
    short_hold = StrategyConfig(
        entry=EntryConfig(max_break_even_h=D("96"), min_net_apr=D("0.1")),
        exits=ExitConfig(max_hold_h=D("1"), better_opportunity=False),
    )
    state, intent = enter(short_hold)
    book = filled_book(intent)
    board = board_of(two_venue_history())
    _, out = st.decide("BTC", board, book, state, short_hold, NOW + H + 1, None)
    assert out[0].exit_reason is ExitReason.time_limit  # type: ignore[union-attr]
    state, intent = enter()
    forced = st.Breakers(force_exit=frozenset({"*"}))
    _, out = st.decide("BTC", board, filled_book(intent), state, CFG, NOW + 5, None, forced)
    assert out[0].exit_reason is ExitReason.risk_breaker  # type: ignore[union-attr]


def test_take_profit_on_cumulative_funding() -> None:
    cfg = StrategyConfig(
        entry=EntryConfig(max_break_even_h=D("96"), min_net_apr=D("0.1")),
        exits=ExitConfig(take_profit_frac=D("0.001")),
    )
    state, intent = enter(cfg)
    book = filled_book(intent)
    book = pos.apply(
        book,
        stubs.funding_paid(
            venue="binance",
            position_qty="-99.99",
            mark_price="100",
            funding_rate="0.0015",
            amount="14.9985",
            funding_id="f-9",
            correlation_id=intent.arb_id,
        ),
    )
    _, out = st.decide("BTC", board_of(two_venue_history()), book, state, cfg, NOW + 5, None)
    assert out[0].exit_reason is ExitReason.take_profit  # type: ignore[union-attr]


def test_exiting_arb_closes_when_the_book_is_flat() -> None:
    state, intent = enter()
    book = filled_book(intent)
    board = board_of(two_venue_history())
    forced = st.Breakers(force_exit=frozenset({"BTC"}))
    state, _ = st.decide("BTC", board, book, state, CFG, NOW + 5, None, forced)
    for i, leg in enumerate(intent.legs):
        book = pos.apply(
            book,
            stubs.fill_executed(
                fill_id=f"x-{i}",
                venue=leg.venue,
                instrument=leg.instrument,
                side="sell" if leg.target_qty > 0 else "buy",
                qty=abs(leg.target_qty),
                price="100",
                fee="0",
                correlation_id=intent.arb_id,
                event_time=NOW + 6,
            ),
        )
    state, _ = st.decide("BTC", board, book, state, CFG, NOW + 7, None)
    assert state.arbs[intent.arb_id].status == "closed"


def test_entry_with_no_fills_is_abandoned_after_the_grace_period() -> None:
    state, intent = enter()
    state, _ = st.decide(
        "BTC",
        board_of(two_venue_history()),
        pos.PositionBook("BTC"),
        state,
        CFG,
        NOW + st.ENTRY_GRACE_MS + 1,
        None,
    )
    assert state.arbs[intent.arb_id].status == "closed"


def _okx_pays_more(t: int) -> list:
    """binance/bybit still earns a little at ``t``; okx now pays far more on the short side."""
    return [
        *two_venue_history(),
        funding("binance", "0.00006", t),
        funding("bybit", "0.00005", t),
        funding("okx", "0.002", t - 8 * H),
        funding("okx", "0.002", t),
        ticker("binance", "99.99", "100.01", t),
        ticker("bybit", "99.99", "100.01", t),
        ticker("okx", "99.99", "100.01", t),
    ]


def test_better_opportunity_sharing_a_leg_retargets_only_the_changed_leg() -> None:
    state, intent = enter()  # short binance, long bybit
    t = NOW + 8 * H
    state, out = st.decide(
        "BTC", board_of(_okx_pays_more(t)), filled_book(intent), state, CFG, t, "c"
    )
    # okx short beats binance short; bybit long is shared: a new revision of the same arb
    (switch,) = out
    assert isinstance(switch, TargetPositionSet)
    assert (switch.arb_id, switch.revision) == (intent.arb_id, 1)
    qty = D("99.990000")
    assert [(leg.venue, leg.target_qty) for leg in switch.legs] == [
        ("okx", -qty),  # the new leg, traded first
        ("binance", D(0)),  # the replaced leg, closed as the new one fills
        ("bybit", qty),  # the shared leg at its current quantity: nothing to trade
    ]
    assert switch.reason.startswith("switch keeping bybit")
    plan = state.arbs[intent.arb_id]
    assert (plan.short[0], plan.long[0], plan.status, plan.switches) == ("okx", "bybit", "open", 1)
    assert plan.switched_from is not None and plan.switched_from[1][0] == "binance"


def test_better_opportunity_exits_when_the_legs_are_not_in_place() -> None:
    state, intent = enter()
    half = pos.apply(  # the bybit hedge only half done: no clean re-target, exit and re-enter
        filled_book(intent),
        stubs.fill_executed(
            fill_id="sold-half",
            venue="bybit",
            side="sell",
            qty="49.995",
            price="100",
            fee="0",
            correlation_id=intent.arb_id,
            event_time=NOW + 2,
        ),
    )
    t = NOW + 8 * H
    _, out = st.decide("BTC", board_of(_okx_pays_more(t)), half, state, CFG, t, None)
    assert out[0].exit_reason is ExitReason.better_opportunity  # type: ignore[union-attr]
    assert "okx" in out[0].detail  # type: ignore[union-attr]


def _switched() -> tuple[st.StrategyState, TargetPositionSet, TargetPositionSet, int]:
    state, intent = enter()
    t = NOW + 8 * H
    state, (switch,) = st.decide(
        "BTC", board_of(_okx_pays_more(t)), filled_book(intent), state, CFG, t, None
    )
    assert isinstance(switch, TargetPositionSet)
    return state, intent, switch, t


def test_a_switch_settles_when_the_old_leg_is_flat_and_reverts_when_the_new_never_fills() -> None:
    state, intent, _, t = _switched()
    board = board_of(_okx_pays_more(t))
    # the executor sold okx and bought binance back: the switch is settled, bybit untouched
    done = pos.apply(filled_book(intent), _fill("okx", "sell", intent.arb_id, t + 1))
    done = pos.apply(done, _fill("binance", "buy", intent.arb_id, t + 2))
    settled, _ = st.decide("BTC", board, done, state, CFG, t + 3, None)
    plan = settled.arbs[intent.arb_id]
    assert plan.switched_from is None and plan.short[0] == "okx" and plan.status == "open"
    # okx never filled (the executor unwound it): after the grace the arb is binance/bybit again
    later = t + st.ENTRY_GRACE_MS + 1
    board = board_of(
        [
            *_okx_pays_more(t),
            ticker("binance", "99.99", "100.01", later),
            ticker("bybit", "99.99", "100.01", later),
            ticker("okx", "99.99", "100.01", later),
        ]
    )
    stay = CFG.model_copy(
        update={"exits": CFG.exits.model_copy(update={"better_opportunity": False})}
    )
    reverted, out = st.decide("BTC", board, filled_book(intent), state, stay, later, None)
    assert out == []
    plan = reverted.arbs[intent.arb_id]
    assert plan.switched_from is None and plan.short[0] == "binance"


def _fill(venue: str, side: str, arb_id: str, at: int) -> object:
    return stubs.fill_executed(
        fill_id=f"sw-{venue}",
        venue=venue,
        side=side,
        qty="99.990000",
        price="100",
        fee="0",
        correlation_id=arb_id,
        event_time=at,
    )


def test_a_leg_whose_prices_stop_forces_an_exit() -> None:
    state, intent = enter()
    book = filled_book(intent)
    board = board_of(two_venue_history())  # last prices at NOW
    late = NOW + CFG.risk.stale_feed_ms + 1
    _, out = st.decide("BTC", board, book, state, CFG, late, None)
    assert out[0].exit_reason is ExitReason.risk_breaker  # type: ignore[union-attr]
    assert "stale feed" in out[0].detail  # type: ignore[union-attr]


def _hourly_vs_8h_history(hours: int, flip_after_h: int) -> list:
    """binance settles 0.0003 per 8 h; bybit settles hourly, 0.00000625 (= 0.00005 per 8 h)
    until ``flip_after_h``, then 0.0001 per hour (0.0008 per 8 h): the spread turns against
    a short-binance / long-bybit arb at every hourly settlement."""
    events: list = []
    for h in range(hours + 1):
        t = T0 + h * H
        if h % 8 == 0:
            events.append(funding("binance", "0.0003", t, next_funding_time=t + 8 * H))
        rate = "0.00000625" if h < flip_after_h else "0.0001"
        events += [
            funding("bybit", rate, t, next_funding_time=t + H),
            ticker("binance", "99.99", "100.01", t),
            ticker("bybit", "99.99", "100.01", t),
        ]
    return events


def test_exit_thresholds_are_hours_whatever_the_legs_funding_intervals() -> None:
    """Regression: flip counters ticked on either leg's settlement, so ``flip_intervals = 8``
    meant 8 h with an hourly leg and 64 h with two 8-hourly legs. ``flip_h`` is hours."""
    config = StrategyConfig(
        entry=EntryConfig(max_break_even_h=D("96"), min_net_apr=D("0.10")),
        exits=ExitConfig(flip_h=D("24"), better_opportunity=False),
    )
    entry_t, flip_t = T0 + 16 * H, T0 + 17 * H
    history = _hourly_vs_8h_history(16 + 40, flip_after_h=17)
    upto = [e for e in history if e.event_time <= entry_t]
    state, intents = st.decide(
        "BTC", board_of(upto), pos.PositionBook("BTC"), st.StrategyState(), config, entry_t, "c"
    )
    assert len(intents) == 1
    book = filled_book(intents[0])
    exit_at = None
    for h in range(17, 16 + 41):
        t = T0 + h * H
        board = board_of([e for e in history if e.event_time <= t])
        state, out = st.decide("BTC", board, book, state, config, t, f"c{h}")
        if out:
            assert isinstance(out[0], ExitRequested)
            assert out[0].exit_reason is ExitReason.funding_flip
            exit_at = t
            break
    # adverse from the 17:00 settlement on; 24 h later, not after 8 hourly settlements
    assert exit_at == flip_t + 24 * H


def test_retired_interval_keys_name_their_replacement() -> None:
    import pytest
    from pydantic import ValidationError

    for old, new in (
        ("flip_intervals", "flip_h"),
        ("erosion_intervals", "erosion_h"),
        ("basis_stop_intervals", "basis_stop_h"),
    ):
        with pytest.raises(ValidationError, match=f"exits.{old} is retired: use exits.{new}"):
            StrategyConfig.model_validate({"exits": {old: 8}})


def test_open_arb_and_venue_limits_are_per_asset_partition() -> None:
    """projections/budget.py: BTC and HYPE share partition 2, ETH is on 1. With one arb for
    partition 2, BTC's live arb leaves HYPE no room while ETH (its own share) still enters;
    the global limit (the shares' sum) holds whatever assets the partitions hold."""
    state, btc = enter()  # BTC entering, 10,000 USD on binance and bybit
    board = board_of(two_venue_history())

    def entries(asset: str, weights: tuple[int, ...], **cap: object) -> int:
        cfg = CFG.model_copy(
            update={"capacity": CapacityConfig(partition_weights=weights, **cap)}  # type: ignore[arg-type]
        )
        _, intents = st.decide(asset, board, pos.PositionBook(asset), state, cfg, NOW, None)
        return len(intents)

    # 4 arbs in all: (0, 1, 1, 2) → partition 2 holds one
    assert entries("HYPE", (0, 1, 1, 2), max_open_arbs=4) == 0
    assert entries("HYPE", (0, 1, 2, 1), max_open_arbs=4) == 1
    assert entries("ETH", (0, 1, 1, 2), max_open_arbs=4) == 1
    # venue notional: partition 2 gets 15,000 of 30,000 per venue: 5,000 left beside BTC's
    # 10,000 on the same venues (< one arb's 10,000, so a smaller arb); partition 1 has 15,000
    small = entries("HYPE", (0, 1, 1, 0), max_notional_per_venue_usd=D("30000"))
    assert small == 1
    cfg = CFG.model_copy(
        update={
            "capacity": CapacityConfig(
                partition_weights=(0, 1, 1, 0), max_notional_per_venue_usd=D("30000")
            )
        }
    )
    _, (hype,) = st.decide("HYPE", board, pos.PositionBook("HYPE"), state, cfg, NOW, None)
    _, (eth,) = st.decide("ETH", board, pos.PositionBook("ETH"), state, cfg, NOW, None)
    assert isinstance(hype, TargetPositionSet) and isinstance(eth, TargetPositionSet)
    room = D("15000") - btc.target_notional_usd  # partition 2's share less BTC's arb
    assert D("4999") < hype.target_notional_usd <= room < D("9999") <= eth.target_notional_usd
