"""The static split of the global capacity budget per asset partition (projections/budget.py):
shares sum to the global limits exactly, and the strategy honours its partition's share."""

from __future__ import annotations

from decimal import Decimal

from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from projections.budget import partition_budget
from schemas.catalog import ASSET_PARTITIONS
from schemas.config import CapacityConfig
from schemas.partitioning import murmur2, partition_of


def test_even_split_of_five_arbs_and_50k_per_venue_over_four_partitions() -> None:
    cap = CapacityConfig(max_open_arbs=5, max_notional_per_venue_usd=Decimal("50000"))
    got = [partition_budget(cap, p) for p in range(4)]
    assert [b.max_open_arbs for b in got] == [2, 1, 1, 1]  # the 5th arb to partition 0
    assert [b.max_notional_per_venue_usd for b in got] == [Decimal("12500.00")] * 4


def test_weighted_split_of_the_demo_config() -> None:
    cap = CapacityConfig(partition_weights=(0, 1, 2, 2))
    got = [partition_budget(cap, p) for p in range(4)]
    assert [b.max_open_arbs for b in got] == [0, 1, 2, 2]
    assert [b.max_notional_per_venue_usd for b in got] == [
        Decimal("0.00"),
        Decimal("10000.00"),
        Decimal("20000.00"),
        Decimal("20000.00"),
    ]


def test_cent_rounding_leftover_goes_to_the_first_largest_weight() -> None:
    cap = CapacityConfig(max_notional_per_venue_usd=Decimal("100"), partition_weights=(1, 1, 1, 0))
    got = [partition_budget(cap, p).max_notional_per_venue_usd for p in range(4)]
    assert got == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33"), Decimal("0.00")]


@given(
    n=st.integers(0, 500),
    venue_cents=st.integers(1, 10**9),
    weights=st.lists(st.integers(0, 1000), min_size=4, max_size=4).filter(lambda w: sum(w) > 0),
)
def test_shares_sum_to_the_global_limits_exactly(
    n: int, venue_cents: int, weights: list[int]
) -> None:
    venue = Decimal(venue_cents) / 100
    cap = CapacityConfig(
        max_open_arbs=n,
        max_notional_per_venue_usd=venue,
        notional_per_arb_usd=Decimal("1"),
        max_notional_per_asset_usd=Decimal("1"),
        partition_weights=tuple(weights),
    )
    got = [partition_budget(cap, p) for p in range(ASSET_PARTITIONS)]
    assert sum(b.max_open_arbs for b in got) == n
    assert sum(b.max_notional_per_venue_usd for b in got) == venue
    assert all(b.max_open_arbs >= 0 and b.max_notional_per_venue_usd >= 0 for b in got)
    # a partition without weight gets nothing; shares follow weights within one arb
    for p, b in enumerate(got):
        if weights[p] == 0:
            assert b.max_open_arbs == 0
        assert abs(b.max_open_arbs - Decimal(n * weights[p]) / sum(weights)) < 1


@given(st.binary(max_size=40))
def test_murmur2_is_kafkas(data: bytes) -> None:
    """The same hash as aiokafka's default partitioner (the broker places keyed records so)."""
    assert murmur2(data) & 0x7FFFFFFF == aiokafka_murmur2(data) & 0x7FFFFFFF


def test_the_bundled_assets_partitions() -> None:
    # known values of Kafka's default partitioner, 4 partitions (config/strategy.toml's weights)
    assert {a: partition_of(a) for a in ("BTC", "ETH", "SOL", "DOGE", "HYPE")} == {
        "BTC": 2,
        "ETH": 1,
        "SOL": 3,
        "DOGE": 3,
        "HYPE": 2,
    }
