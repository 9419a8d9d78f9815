"""Which partition an asset-keyed record lands on: Kafka's default partitioner, pure.

The Java client's and aiokafka's default partitioner put a record with a key on partition
``toPositive(murmur2(key)) % partitions`` (``org.apache.kafka.common.utils.Utils.murmur2``,
MurmurHash2 32-bit with seed ``0x9747b28c``; ``toPositive`` masks the sign bit). The engine
splits the global capacity budget by this partition (:mod:`projections.budget`), so a decision
depends only on what its own partition (one worker's share) holds.
"""

from __future__ import annotations

from schemas.catalog import ASSET_PARTITIONS

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit MurmurHash2 of ``data`` as a signed int (as ``Utils.murmur2`` returns)."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_of(key: str, partitions: int = ASSET_PARTITIONS) -> int:
    """The partition Kafka's default partitioner gives a record keyed ``key`` (UTF-8)."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
