"""The fold's cheap-to-update structures (issue 18) behave exactly like the plain ones."""

from __future__ import annotations

import pickle
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from projections import board as bd
from projections import executor as ex
from projections.positions import AppliedIds, PositionBook, _applied_with
from projections.strategies.funding_arb import strategy as st
from schemas.config import EntryConfig, StrategyConfig
from schemas.envelope import IdNamespace, uuid5_str
from tests.market import board_of, two_venue_history

CFG = StrategyConfig(entry=EntryConfig(max_break_even_h=Decimal("96")))

NAMESPACES = [uuid.UUID(int=0), *(ns.value for ns in IdNamespace)]


@given(hs.sampled_from(NAMESPACES), hs.text(max_size=200))
def test_uuid5_str_is_the_standard_uuid5(ns: uuid.UUID, name: str) -> None:
    assert uuid5_str(ns, name) == str(uuid.uuid5(ns, name))


@given(hs.lists(hs.text(max_size=8), max_size=300), hs.lists(hs.text(max_size=8), max_size=20))
def test_applied_ids_is_a_set(ids: list[str], probes: list[str]) -> None:
    s = AppliedIds()
    states = [s]
    for i in ids:
        s = s.with_id(i)
        states.append(s)
    assert s == frozenset(ids) and set(s) == set(ids) and len(s) == len(set(ids))
    for p in probes + ids:
        assert (p in s) == (p in set(ids))
    # persistent: every earlier version still holds exactly its prefix
    for n, old in enumerate(states):
        assert old == frozenset(ids[:n])
    assert pickle.loads(pickle.dumps(s)) == s
    assert s.with_id(ids[0]) is s if ids else True


def test_a_book_from_an_older_snapshot_with_a_frozenset_still_folds() -> None:
    book = PositionBook("BTC", applied=frozenset({"fill:a:1"}))
    grown = _applied_with(book.applied, "fill:a:2")
    assert grown == frozenset({"fill:a:1", "fill:a:2"}) and "fill:a:1" in grown


def _plan(arb_id: str, asset: str, status: st.Status) -> st.ArbPlan:
    return st.ArbPlan(
        arb_id=arb_id,
        asset=asset,
        long=("a", f"{asset}/USDT:USDT"),
        short=("b", f"{asset}/USDT:USDT"),
        first=("a", f"{asset}/USDT:USDT"),
        qty=Decimal(1),
        notional_usd=Decimal(100),
        opened_at=0,
        entry_spread_h=Decimal("0.0001"),
        entry_spread_apr=Decimal("0.876"),
        entry_basis=None,
        status=status,
    )


def test_live_index_matches_a_scan_and_is_not_pickled() -> None:
    plans = [
        _plan("1", "BTC", "closed"),
        _plan("2", "BTC", "open"),
        _plan("3", "ETH", "entering"),
        _plan("4", "BTC", "exiting"),
    ]
    state = st.StrategyState({p.arb_id: p for p in plans})
    assert state.live() == [plans[1], plans[2], plans[3]]
    assert state.live_for("BTC") is plans[1] and state.live_for("ETH") is plans[2]
    assert state.live_for("SOL") is None
    state.live().clear()  # a caller's list is its own
    assert len(state.live()) == 3
    blob = pickle.dumps(state)
    assert b"_live" not in blob
    back = pickle.loads(blob)
    assert back == state and back.live() == state.live()
    # _put keeps the sorted order and never carries the old index over
    closed = st._put(state, st.ArbPlan(**{**plans[1].__dict__, "status": "closed"}))
    assert [a.arb_id for a in closed.live()] == ["3", "4"] and closed.live_for("BTC") is plans[3]
    grown = st._put(closed, _plan("0", "SOL", "open"))
    assert list(grown.arbs) == ["0", "1", "2", "3", "4"]


def test_executor_active_cache_is_not_pickled() -> None:
    state = ex.ExecutorState("BTC")
    assert state.active is None
    blob = pickle.dumps(state)
    assert b"_active" not in blob and pickle.loads(blob) == state


def test_apply_own_is_apply() -> None:
    events = two_venue_history()
    a = b = bd.AssetBoard("BTC")
    for e in events:
        a, b = bd.apply(a, e), bd.apply_own(b, e)
        assert a == b


def test_cached_leg_views_go_stale_at_the_same_millisecond_as_fresh_ones() -> None:
    board = board_of(two_venue_history(n=2))
    last_ticker = max(t.observed_at for t in board.tickers.values())
    edge = last_ticker + CFG.feeds.ticker_ttl_ms  # age == ttl: still fresh
    for now, stale in [(edge, False), (edge + 1, True), (edge, False), (edge + 1, True)]:
        q = bd.candidate_pairs(board, CFG, now)[0]
        assert (q.blocked is not None and "stale prices on" in q.blocked) is stale, (now, q)
        view = bd.leg_view(board, q.long, False, CFG, now)
        assert isinstance(view, str) is stale


def test_fold_market_writes_only_into_its_own_copies_and_matches_folding_one_asset_at_a_time() -> (
    None
):
    """``fold_market`` lets each reaction write its asset's entries into maps the batch owns
    (issue 18: no per-reaction map copies). The state passed in keeps every map as it was, and
    the result is what folding each asset's part of every batch alone, through the copying
    path (``owned=False``), gives."""
    from producers import history as h
    from projections import engine as eng
    from streams.cli import DEFAULT_DATA

    market = list(
        h.merged(
            h.plan(
                list(DEFAULT_DATA), h.Window(0, 2**62), reference_prices={"hyperliquid": "binance"}
            )
        )
    )[:6000]
    batches: list[list[object]] = []
    for e in market:
        if batches and batches[-1][0].event_time == e.event_time:  # type: ignore[attr-defined]
            batches[-1].append(e)
        else:
            batches.append([e])
    config = StrategyConfig()
    state, ref = eng.EngineState(), eng.EngineState()
    names = ("boards", "books", "execs", "spreads", "risk", "clocks")
    for batch in batches:
        before = {n: dict(getattr(state, n)) for n in names}
        new, outputs, refused = eng.fold_market(state, batch, config)  # type: ignore[arg-type]
        assert not refused
        for n in names:  # the caller's state is untouched
            got = getattr(state, n)
            assert got.keys() == before[n].keys()
            assert all(got[k] is v for k, v in before[n].items()), n
        # the reference: observe every event, then react per asset through the copying path
        touched: dict[str, str] = {}
        for e in batch:
            ref = eng.observe(ref, e)  # type: ignore[arg-type]
            touched[e.instrument.split("/")[0]] = e.event_id  # type: ignore[attr-defined]
        ref_out: list[object] = []
        for asset, cause in touched.items():
            ref, out = eng.react(ref, asset, eng.clock(ref, asset), cause, config)
            ref_out += out
        assert [o.model_dump_json() for o in outputs] == [o.model_dump_json() for o in ref_out]  # type: ignore[attr-defined]
        for n in names:
            assert getattr(new, n) == getattr(ref, n), n
        assert new.strategies == ref.strategies and new.now == ref.now
        state = new


def test_handle_copies_only_the_maps_whose_asset_entry_it_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``handle`` of an account event (issue 18: no map copy per event) leaves the state
    passed in as it was, shares each map whose entry for the event's asset is the same object,
    and copies a map only to replace that entry: the other assets' entries stay the same
    objects. Checked on every account event of the first 20,000 bundled market events."""
    from producers import history as h
    from projections import engine as eng
    from streams.cli import DEFAULT_DATA
    from streams.simulation import Simulation

    market = list(
        h.merged(
            h.plan(
                list(DEFAULT_DATA), h.Window(0, 2**62), reference_prices={"hyperliquid": "binance"}
            )
        )
    )[:20000]
    handle = eng.handle
    names = ("boards", "books", "execs")
    seen = {"shared": 0, "copied": 0}

    def checked(state: eng.EngineState, event: object, config: StrategyConfig) -> object:
        before = {n: dict(getattr(state, n)) for n in names}
        new, outputs = handle(state, event, config)  # type: ignore[arg-type]
        asset = event.instrument.split("/")[0]  # type: ignore[attr-defined]
        for n in names:
            old, got = getattr(state, n), getattr(new, n)
            assert old == before[n] and all(old[k] is v for k, v in before[n].items()), n
            if got is old:
                seen["shared"] += 1
                continue
            seen["copied"] += 1
            assert got.keys() - {asset} == old.keys() - {asset}, n
            assert all(got[k] is v for k, v in old.items() if k != asset), n
            assert old.get(asset) is not got[asset], n  # copied only to replace the entry
        return new, outputs

    monkeypatch.setattr(eng, "handle", checked)
    sim = Simulation(StrategyConfig())
    for e in market:
        sim.feed(e)
    sim.finish()
    assert seen["shared"] > 0 and seen["copied"] > 0, seen
