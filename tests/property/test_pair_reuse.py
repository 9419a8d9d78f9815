"""``candidate_pairs`` with the board's caches (leg views, pair quotes, cost terms, the last
ranking, all validated by object identity; issue 18) ranks as it does with every cache
emptied, after any sequence of feed updates and clock moves (stale legs included)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import board as bd
from schemas.config import EntryConfig, StrategyConfig
from tests.market import T0, H, funding, ticker

PERPS = ("binance", "bybit", "okx")
SPOTS = ("binance", "okx")
CACHES = (bd._FUNDING_STATIC, bd._LEGS, bd._QUOTES, bd._KEYS, bd._LAST, bd._COST_TERMS)
CONFIGS = [
    StrategyConfig(),
    StrategyConfig(entry=EntryConfig(spot_perp=True, allow_spot_short=True)),
    StrategyConfig(entry=EntryConfig(perp_perp=False, spot_perp=True)),
]

step = st.tuples(
    st.sampled_from([*(("perp", v) for v in PERPS), *(("spot", v) for v in SPOTS)]),
    st.booleans(),  # a funding update (perps) rather than a ticker
    st.integers(min_value=9_000, max_value=11_000),  # bid × 100
    st.integers(min_value=-30, max_value=30),  # funding rate in 0.00001
    st.sampled_from([0, 0, 1, 60_000, H, 3 * H]),  # clock move (ms): stale legs too
)


def _uncached(board: bd.AssetBoard, config: StrategyConfig, now: int) -> list[bd.PairQuote]:
    saved = [dict(c) for c in CACHES]
    for c in CACHES:
        c.clear()
    try:
        return bd.candidate_pairs(board, config, now)
    finally:
        for c, s in zip(CACHES, saved, strict=True):
            c.clear()
            c.update(s)


@pytest.mark.parametrize("config", CONFIGS, ids=["perp-perp", "spot-short", "spot-only"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=40))
def test_reused_quotes_rank_as_quoting_every_pair_again(
    config: StrategyConfig, steps: list[tuple[tuple[str, str], bool, int, int, int]]
) -> None:
    board = bd.AssetBoard("BTC")
    now = T0
    for (kind, venue), is_funding, bid, rate, move in steps:
        now += move
        inst = "BTC/USDT:USDT" if kind == "perp" else "BTC/USDT"
        if kind == "perp" and is_funding:
            # settled every 8 h at most once per time: a later update of the same time is
            # an estimate the board keeps too
            e = funding(
                venue,
                str(Decimal(rate) / 100_000),
                now,
                instrument=inst,
                next_funding_time=now + 8 * H,
            )
        else:
            b = Decimal(bid) / 100
            e = ticker(venue, str(b), str(b + Decimal("0.02")), now, instrument=inst)
        try:
            board = bd.apply(board, e)
        except bd.OutOfOrderError:
            continue
        cached = bd.candidate_pairs(board, config, now)
        assert cached == _uncached(board, config, now)
        assert [(q.long, q.short) for q in cached] == [
            (q.long, q.short) for q in _uncached(board, config, now)
        ]


@pytest.mark.parametrize("config", CONFIGS, ids=["perp-perp", "spot-short", "spot-only"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(step, min_size=1, max_size=30),
    floor=st.sampled_from(["-1", "0", "0.05", "0.3"]),
    max_be=st.sampled_from(["1", "48", "500"]),
)
def test_the_best_pair_stops_early_and_picks_what_scanning_every_pair_picks(
    config: StrategyConfig,
    steps: list[tuple[tuple[str, str], bool, int, int, int]],
    floor: str,
    max_be: str,
) -> None:
    """``strategy._best`` stops at the first blocked pair or edge below the floor; the first
    eligible pair of the whole ranking is the same one (issue 18)."""
    from projections.strategies.funding_arb import strategy as fa

    entry = config.entry.model_copy(
        update={"min_net_apr": Decimal(floor), "max_break_even_h": Decimal(max_be)}
    )
    config = config.model_copy(update={"entry": entry})
    board = bd.AssetBoard("BTC")
    now = T0
    for (kind, venue), _, bid, rate, move in steps:
        now += move
        inst = "BTC/USDT:USDT" if kind == "perp" else "BTC/USDT"
        b = Decimal(bid) / 100
        events = [ticker(venue, str(b), str(b + Decimal("0.02")), now, instrument=inst)]
        if kind == "perp":
            events.append(
                funding(
                    venue,
                    str(Decimal(rate) / 100_000),
                    now,
                    instrument=inst,
                    next_funding_time=now + 8 * H,
                )
            )
        for e in events:
            try:
                board = bd.apply(board, e)
            except bd.OutOfOrderError:
                continue
        pairs = bd.candidate_pairs(board, config, now)
        scanned = next((q for q in pairs if fa._eligible(q, config)), None)
        assert fa._best(pairs, config) is scanned
