"""Alert rules on scripted events (event time), with dedup and rate limits."""

from decimal import Decimal as D

from consumers.alerts import AlertEngine
from schemas.config import AlertRules
from tests import stubs
from tests.market import T0, H, funding, ticker

RULES = AlertRules(
    stale_feed_ms=3 * H,
    funding_flip_ms=8 * H,
    one_legged_usd=D("500"),
    one_legged_ms=60_000,
    drawdown_usd=D("100"),
    rejections=3,
    rejections_window_ms=600_000,
    dedup_ms=H,
    max_per_rule_per_hour=2,
)


def run(engine: AlertEngine, events: list, *, finish: bool = False) -> list:
    out = []
    for e in events:
        out += engine.on_event(e)
    return out + (engine.finish() if finish else [])


def test_funding_flip_on_an_open_arb() -> None:
    engine = AlertEngine(RULES)
    intent = stubs.target_position_set()  # short binance, long bybit BTC
    history = [
        funding("binance", "0.0003", T0),
        funding("bybit", "0.00005", T0),
        ticker("binance", "99.99", "100.01", T0),
        ticker("bybit", "99.99", "100.01", T0),
    ]
    assert run(engine, [*history, intent]) == []
    t = T0 + 8 * H
    flipped = [
        ticker("binance", "99.99", "100.01", t),
        ticker("bybit", "99.99", "100.01", t),
        funding("binance", "0.00001", t),
        funding("bybit", "0.0003", t),
    ]
    # against us at one observation: not yet (the strategy's own flip exit waits hours)
    assert [a for a in run(engine, flipped) if a.rule != "stale_feed"] == []
    t2 = t + 8 * H
    still = [
        ticker("binance", "99.99", "100.01", t2),
        ticker("bybit", "99.99", "100.01", t2),
        funding("binance", "0.00001", t2),
        funding("bybit", "0.0003", t2),
    ]
    alerts = [a for a in run(engine, still) if a.rule != "stale_feed"]
    assert [a.rule for a in alerts] == ["funding_flip"] and alerts[0].dedup_key == "arb-1"
    assert "for 8.0 h" in alerts[0].message
    t3 = t2 + 8 * H  # still against us: one alert per episode, not one per observation
    again = [funding("binance", "0.00001", t3), funding("bybit", "0.0003", t3)]
    assert [a for a in run(engine, again) if a.rule == "funding_flip"] == []


def test_one_legged_exposure_held_too_long() -> None:
    engine = AlertEngine(RULES)
    a = stubs.position_changed(net_delta_usd="900", event_time=T0, event_id=stubs.eid("p1"))
    b = stubs.position_changed(
        net_delta_usd="900", event_time=T0 + 30_000, event_id=stubs.eid("p2")
    )
    c = stubs.position_changed(
        net_delta_usd="900", event_time=T0 + 61_000, event_id=stubs.eid("p3")
    )
    assert run(engine, [a, b]) == []
    (alert,) = run(engine, [c])
    assert alert.rule == "one_legged" and alert.severity.value == "critical"
    engine2 = AlertEngine(RULES)  # back under the limit in between: the clock restarts
    ok = stubs.position_changed(net_delta_usd="0", event_time=T0 + 40_000, event_id=stubs.eid("p4"))
    assert run(engine2, [a, ok, c]) == []


def test_stale_feed_breaker_and_rejection_burst() -> None:
    engine = AlertEngine(RULES)
    events = [
        ticker("binance", "99", "101", T0),
        ticker("bybit", "99", "101", T0),
        ticker("bybit", "99", "101", T0 + 4 * H),
    ]
    alerts = run(engine, events)
    assert [(a.rule, a.dedup_key) for a in alerts] == [("stale_feed", "binance:prices")]
    trip = stubs.breaker_tripped()
    assert [a.rule for a in run(engine, [trip])] == ["breaker_tripped"]
    rejects = [
        stubs.order_rejected(event_time=T0 + i, event_id=stubs.eid(f"r{i}")) for i in range(3)
    ]
    assert [a.rule for a in run(engine, rejects)] == ["rejections"]


def test_drawdown_from_peak() -> None:
    engine = AlertEngine(RULES)
    up = stubs.position_changed(
        realised_pnl_usd="150",
        fees_usd="0",
        funding_usd="0",
        net_delta_usd=None,
        event_id=stubs.eid("u"),
    )
    down = stubs.position_changed(
        realised_pnl_usd="20",
        fees_usd="0",
        funding_usd="0",
        net_delta_usd=None,
        event_id=stubs.eid("d"),
        event_time=T0 + 1,
    )
    assert run(engine, [up]) == []
    assert run(engine, [down]) == []  # the state at T0 + 1 is judged once that time is over
    (alert,) = run(engine, [], finish=True)
    assert alert.rule == "drawdown" and "130.00" in alert.message
    assert alert.event_time == T0 + 1 and engine.max_drawdown_usd == D("130")


def _leg(qty: str, entry: str, t: int, tag: str) -> object:
    return stubs.position_changed(
        qty=D(qty),
        avg_entry_price=D(entry),
        realised_pnl_usd="0",
        fees_usd="0",
        funding_usd="0",
        net_delta_usd=None,
        event_id=stubs.eid(tag),
        event_time=t,
    )


def test_drawdown_follows_the_marks_without_a_position_change() -> None:
    engine = AlertEngine(RULES)
    events = [
        ticker("binance", "99.99", "100.01", T0),  # mark 100
        _leg("10", "100", T0 + 50, "open"),  # long 10 at 100
        ticker("binance", "109.99", "110.01", T0 + H),
        ticker("binance", "79.99", "80.01", T0 + 2 * H),  # no position event: marks alone
    ]
    alerts = [a for a in run(engine, events, finish=True) if a.rule == "drawdown"]
    marks = [t.mark_price or (t.bid + t.ask) / 2 for t in (events[2], events[3])]
    peak, trough = 10 * (marks[0] - 100), 10 * (marks[1] - 100)
    assert engine.max_drawdown_usd == peak - trough > RULES.drawdown_usd
    (alert,) = alerts
    assert alert.event_time == T0 + 2 * H


def test_a_position_is_marked_only_with_marks_of_its_time_or_before() -> None:
    """Same-time events fold together; a mark stamped later than the state judged is not
    used for it (the events arrive in event-time order, as run_alerts merges them)."""
    engine = AlertEngine(RULES)
    run(engine, [ticker("binance", "99.99", "100.01", T0), _leg("10", "100", T0 + 50, "o")])
    assert engine.max_drawdown_usd == 0 and engine.peak == engine.equity_usd()
    # a crash stamped T0 + H: the state at T0 + 50 (judged now) is not marked with it
    run(engine, [ticker("binance", "49.99", "50.01", T0 + H)])
    assert engine.max_drawdown_usd == 0
    run(engine, [], finish=True)
    assert engine.max_drawdown_usd > 400


def test_dedup_and_rate_limit_on_event_time() -> None:
    engine = AlertEngine(RULES)
    trips = [
        stubs.breaker_tripped(event_time=T0 + i * 60_000, event_id=stubs.eid(f"t{i}"), breaker=b)
        for i, b in enumerate(["stale_feed", "stale_feed", "margin_ratio", "drawdown"])
    ]
    alerts = run(engine, trips)
    # the second stale_feed trip is a duplicate within dedup_ms; the 4th exceeds 2 per hour
    assert [a.dedup_key for a in alerts] == ["BTC:stale_feed", "BTC:margin_ratio"]
    assert engine.suppressed == 1
    later = stubs.breaker_tripped(event_time=T0 + 2 * H, event_id=stubs.eid("later"))
    assert len(run(engine, [later])) == 1  # dedup window over


def test_alerts_are_deterministic() -> None:
    events = [
        ticker("binance", "99", "101", T0),
        ticker("bybit", "99", "101", T0 + 4 * H),
        stubs.breaker_tripped(),
    ]
    assert run(AlertEngine(RULES), events) == run(AlertEngine(RULES), events)


def test_staleness_follows_each_feeds_own_interval_and_alerts_once() -> None:
    rules = RULES.model_copy(update={"stale_feed_intervals": 3, "dedup_ms": 0})
    engine = AlertEngine(rules)
    eight_h = [funding("binance", "0.0001", T0, next_funding_time=T0 + 8 * H)]
    hourly = [
        funding("hyperliquid", "0.0001", T0 + i * H, next_funding_time=T0 + (i + 1) * H)
        for i in range(30)
    ]
    events = sorted(eight_h + hourly, key=lambda e: e.event_time)
    alerts = run(engine, events[:14])  # 13 h: an 8 h feed is not stale yet (3 × 8 h = 24 h)
    assert alerts == []
    alerts = run(engine, events[14:])  # 29 h: stale once, not once per hour after
    assert [(a.rule, a.dedup_key) for a in alerts] == [("stale_feed", "binance:funding")]
    assert "its interval is 8 h" in alerts[0].message
    back = funding("binance", "0.0001", T0 + 30 * H, next_funding_time=T0 + 38 * H)
    later = funding("hyperliquid", "0.0001", T0 + 40 * H, next_funding_time=T0 + 41 * H)
    assert run(engine, [back, later]) == []  # it reported again: re-armed, not yet stale


def test_a_topic_read_ahead_does_not_make_the_other_look_stale() -> None:
    engine = AlertEngine(RULES)
    # the tickers topic is consumed 10 h ahead of the funding topic of the same asset
    ahead = [ticker("bybit", "99", "101", T0 + i * H) for i in range(11)]
    behind = [
        funding("okx", "0.0001", T0 + i * H, next_funding_time=T0 + (i + 1) * H) for i in range(11)
    ]
    assert run(engine, [behind[0], *ahead, *behind[1:]]) == []
