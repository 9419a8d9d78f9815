"""The global capacity budget split statically per asset partition (issue 20).

Assets are keyed, and so partitioned, by base asset (:mod:`schemas.partitioning`); each
``fundarb worker`` of a consumer group owns some of the ``ASSET_PARTITIONS`` partitions and
sees only their state. A global limit checked against one worker's state would hold per
worker, not globally, and would let the number of workers change decisions. So each
partition gets a fixed share of every global limit, by the weights
``capacity.partition_weights`` (``w_p``, total ``W``; default one each), and an entry is
checked against the arbs of its own partition and that share:

* ``max_open_arbs`` (an integer ``N``): largest remainders (Hamilton's method): partition
  ``p`` gets ``floor(N × w_p / W)``, and the ``N − Σ floor`` arbs left go one each to the
  partitions with the largest remainders ``N × w_p mod W`` (ties: lower partition first);
* ``max_notional_per_venue_usd`` (``B``): ``B × w_p / W`` rounded down to the cent; what the
  rounding leaves goes to the first partition of the largest weight.

The shares sum to the global limit exactly, so the per-partition checks imply the global
ones, whatever the number of workers and however partitions move between them; and a
decision depends only on its own partition's state, so 1 worker, N workers and the
in-process simulation take the same decisions. ``max_notional_per_asset_usd`` and
``max_new_per_round`` are per asset and per decision already (an asset lives on one
partition): not split. Weights matter: with the even default a partition that holds no
asset leaves its share unused (``config/strategy.toml`` weighs the partitions of the bundled
data's five assets, 0/1/2/2, so that its limits bind no more than unsplit ones). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from schemas.catalog import ASSET_PARTITIONS
from schemas.config import CapacityConfig
from schemas.partitioning import partition_of

CENT = Decimal("0.01")


@dataclass(frozen=True)
class PartitionBudget:
    """One partition's share of the global limits (module docstring)."""

    partition: int
    max_open_arbs: int
    max_notional_per_venue_usd: Decimal


def partition_budget(
    capacity: CapacityConfig, partition: int, partitions: int = ASSET_PARTITIONS
) -> PartitionBudget:
    """Partition ``partition``'s share of ``capacity``'s global limits (module docstring).
    Raises ``ValueError`` for a partition outside ``0 … partitions-1`` or weights that are not
    one per partition."""
    weights = capacity.partition_weights
    if len(weights) != partitions:
        raise ValueError(f"{len(weights)} partition weights for {partitions} partitions")
    if not 0 <= partition < partitions:
        raise ValueError(f"partition {partition} outside 0..{partitions - 1}")
    total = sum(weights)
    n = capacity.max_open_arbs
    floors = [n * w // total for w in weights]
    # the arbs the floors leave, one each by largest remainder, then lower partition
    order = sorted(range(partitions), key=lambda p: (-(n * weights[p] % total), p))
    extra = set(order[: n - sum(floors)])
    venue = capacity.max_notional_per_venue_usd
    shares = [(venue * w / total).quantize(CENT, rounding=ROUND_DOWN) for w in weights]
    first_largest = weights.index(max(weights))
    shares[first_largest] += venue - sum(shares)
    return PartitionBudget(
        partition=partition,
        max_open_arbs=floors[partition] + (1 if partition in extra else 0),
        max_notional_per_venue_usd=shares[partition],
    )


def budget_for_asset(capacity: CapacityConfig, asset: str) -> PartitionBudget:
    """The budget of the partition ``asset``'s records are on."""
    return partition_budget(capacity, partition_of(asset))


def same_partition(asset: str, other: str) -> bool:
    return partition_of(asset) == partition_of(other)
