"""The risk agent's marks (``streams.worker.PendingMarks``, issue 18): kept per market as the
engine agent hands them over and folded in when a balance needs them, they leave the account
state exactly as folding each ticker's mark at once (``rk.observe_mark``) did: the same marks,
in the same order, whatever the interleaving of tickers and balances."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from projections import risk as rk
from schemas.events import TickerObserved
from streams.worker import PendingMarks
from tests import stubs

VENUES = ("binance", "bybit", "okx")
ASSETS = ("BTC", "ETH")

# each step: a ticker (venue, asset, mark in cents or None) or a balance read (None)
steps = st.lists(
    st.one_of(
        st.none(),
        st.tuples(
            st.sampled_from(VENUES),
            st.sampled_from(ASSETS),
            st.one_of(st.none(), st.integers(1, 10**7)),
        ),
    ),
    max_size=60,
)


def _ticker(i: int, venue: str, asset: str, mark: int | None) -> TickerObserved:
    inst = f"{asset}/USDT:USDT"
    return stubs.ticker_observed(
        event_id=stubs.eid(f"m/{i}"),
        venue=venue,
        instrument=inst,
        bid="99",
        ask="101",
        last=None,
        mark_price=None if mark is None else str(Decimal(mark) / 100),
        index_price=None,
        quote_volume_24h=None,
        event_time=1_700_000_000_000 + i,
        ingest_time=1_700_000_000_000 + i,
    )


@settings(max_examples=200, deadline=None)
@given(steps=steps)
def test_pending_marks_leave_the_state_the_ticker_by_ticker_fold_leaves(
    steps: list[tuple[str, str, int | None] | None],
) -> None:
    pending = PendingMarks()
    kept = rk.AccountRiskState()  # the worker's state, folded in when a balance comes
    each = rk.AccountRiskState()  # observe_mark on every ticker (before)
    for i, step in enumerate([*steps, None]):
        if step is None:
            kept = pending.into(kept)
            assert kept == each and list(kept.marks.items()) == list(each.marks.items())
            assert not pending.pending
            continue
        ev = _ticker(i, *step)
        pending.put(ev)
        if ev.mark_price is not None:
            each = rk.observe_mark(each, ev.venue, ev.instrument, ev.mark_price)
