"""Universe ranking (projections/universe.py): eligibility, edge, thresholds, order."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.universe import LegStats, UniverseRules, rank_universe


def leg(
    venue: str,
    asset: str,
    rate_h: str | None,
    vol: str | None = "1e9",
    n: int = 90,
    expected: int = 90,
) -> LegStats:
    return LegStats(
        venue=venue,
        asset=asset,
        quote_volume_24h_usd=None if vol is None else D(vol),
        settlements=n,
        expected_settlements=expected,
        mean_rate_h=None if rate_h is None else D(rate_h),
    )


def test_the_edge_is_the_best_trailing_mean_spread_short_the_higher_leg() -> None:
    legs = [
        leg("binance", "BTC", "0.00001"),
        leg("bybit", "BTC", "0.00004"),
        leg("okx", "BTC", "-0.00002"),
    ]
    (btc,) = rank_universe(legs, UniverseRules())
    assert (btc.long_venue, btc.short_venue) == ("okx", "bybit")
    assert btc.edge_apr == (D("0.00004") - D("-0.00002")) * 8760  # 0.5256 APR
    assert btc.selected and btc.rank == 1 and btc.reason == ""


def test_thresholds_exclude_legs_and_name_the_reason() -> None:
    rules = UniverseRules(min_quote_volume_24h_usd=D("5e6"), min_history_quality=D("0.9"))
    legs = [
        leg("binance", "ETH", "0.00001", vol="1e6"),  # too thin
        leg("bybit", "ETH", "0.00003"),
        leg("okx", "ETH", "0.00005", n=50),  # 50/90 settlements
        leg("binance", "SOL", "0.00001"),
        leg("lighter", "SOL", "0.00003", vol=None),  # volume unknown: fails a volume threshold
    ]
    eth, sol = rank_universe(legs, rules)
    assert not eth.selected and "binance 24h volume 1,000,000 USD < 5,000,000 USD" in eth.reason
    assert "okx history 50/90 settlements < 90%" in eth.reason
    assert not sol.selected and "lighter 24h volume unknown" in sol.reason
    # with no volume threshold an unknown volume passes
    (sol2,) = rank_universe(legs[3:], UniverseRules())
    assert sol2.selected and sol2.thinner_volume_24h_usd is None


def test_top_n_and_min_edge_order_the_selection() -> None:
    legs = [
        leg("binance", a, "0", vol=v)
        for a, v in (("A", "1e9"), ("B", "2e9"), ("C", "1e9"), ("D", "1e9"))
    ] + [
        leg("bybit", "A", "0.00002"),
        leg("bybit", "B", "0.00002", vol="3e9"),  # same edge as A, more liquid: ranks first
        leg("bybit", "C", "0.00005"),
        leg("bybit", "D", "0.000001"),  # 0.88 % APR: below min_edge
    ]
    ranks = rank_universe(legs, UniverseRules(top_n=2, min_edge_apr=D("0.05")))
    assert [(r.asset, r.selected, r.rank) for r in ranks] == [
        ("C", True, 1),
        ("B", True, 2),
        ("A", False, None),
        ("D", False, None),
    ]
    assert ranks[2].reason == "below the top 2" and ranks[3].reason.startswith("edge 0.88% < 5.00%")


def test_one_venue_or_no_history_is_not_a_pair() -> None:
    ranks = rank_universe(
        [leg("binance", "X", "0.0001"), leg("binance", "Y", "0.0001"), leg("bybit", "Y", None)],
        UniverseRules(),
    )
    assert [r.asset for r in ranks] == ["X", "Y"]
    assert all(not r.selected and r.edge_apr is None for r in ranks)
    assert "bybit has no funding history" in ranks[1].reason


def test_rules_are_bounded() -> None:
    with pytest.raises(ValueError, match="top_n"):
        UniverseRules(top_n=0)
    with pytest.raises(ValueError, match="min_history_quality"):
        UniverseRules(min_history_quality=D("1.5"))


rates = st.decimals(min_value=D("-0.001"), max_value=D("0.001"), places=7)


@given(
    st.lists(
        st.tuples(st.sampled_from("ABCD"), st.sampled_from(["v1", "v2", "v3"]), rates),
        max_size=12,
        unique_by=lambda x: x[:2],
    )
)
def test_any_input_order_gives_the_same_ranking_and_edges_are_non_negative(rows) -> None:  # type: ignore[no-untyped-def]
    legs = [leg(v, a, str(r)) for a, v, r in rows]
    ranks = rank_universe(legs, UniverseRules(top_n=2))
    assert ranks == rank_universe(list(reversed(legs)), UniverseRules(top_n=2))
    assert all(r.edge_apr is None or r.edge_apr >= 0 for r in ranks)
    assert sum(r.selected for r in ranks) <= 2
    assert sorted(r.asset for r in ranks) == sorted({a for a, _, _ in rows})
