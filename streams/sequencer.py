"""Stream time for one worker: merge an asset's input topics in event-time order.

A Faust agent reading several topics sees them interleaved by fetch timing (DESIGN §6,
"ordering and determinism"). The sequencer buffers records per partition and per topic (each
topic's queue stays in offset order) and releases the head with the smallest
``(event_time, topic rank, offset)`` only once **every** input topic of that partition either
has a record buffered or is *caught up* (the consumer has seen everything up to the topic
partition's end offset). An input that is behind therefore holds the others back, and an idle
one does not.

Consequences, stated plainly:

* When the inputs are complete before the worker reads them (a replay into a run's topics,
  then the worker), the release order is a pure function of the topic contents: two runs give
  the same decisions, byte for byte. This is what the determinism test checks.
* Live, an input counts as caught up as of the last end-offset refresh; a record that lands
  after that with an older event time is processed late (event time only moves forward in the
  engine), and that order is what the log records. Live runs may differ from a replay.

Pure: the caller supplies ``caught_up(topic, partition)``; no clock, no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

T = TypeVar("T")


@dataclass
class _Partition(Generic[T]):
    queues: dict[str, deque[tuple[int, int, T]]] = field(default_factory=dict)


class Sequencer(Generic[T]):
    """Event-time merge of ``topics`` (listed in tie-break rank order) per partition."""

    def __init__(self, topics: Sequence[str]) -> None:
        self.rank = {t: i for i, t in enumerate(topics)}
        self.topics = tuple(topics)
        self._parts: dict[int, _Partition[T]] = {}
        self.size = 0

    def push(self, topic: str, partition: int, offset: int, event_time: int, item: T) -> None:
        """Buffer one decoded record. Offsets of one topic partition must arrive in order.

        Raises ``ValueError`` for a topic not in the merge or an offset going backwards.
        """
        if topic not in self.rank:
            raise ValueError(f"topic {topic!r} is not an input of this sequencer")
        part = self._parts.setdefault(partition, _Partition())
        queue = part.queues.setdefault(topic, deque())
        if queue and queue[-1][1] >= offset:
            raise ValueError(f"{topic}[{partition}] offset {offset} after {queue[-1][1]}")
        queue.append((event_time, offset, item))
        self.size += 1

    def _best(
        self, part: _Partition[T], caught_up: Callable[[str, int], bool], partition: int
    ) -> tuple[tuple[int, int, int], str] | None:
        """The head that can go next in ``part``, or None (empty, or an input is behind)."""
        best: tuple[int, int, int] | None = None
        best_topic = ""
        for topic in self.topics:
            queue = part.queues.get(topic)
            if queue:
                event_time, offset, _ = queue[0]
                key = (event_time, self.rank[topic], offset)
                if best is None or key < best:
                    best, best_topic = key, topic
            elif not caught_up(topic, partition):
                return None
        return None if best is None else (best, best_topic)

    def release(self, caught_up: Callable[[str, int], bool]) -> Iterator[T]:
        """Yield every record that can go now, in (event_time, rank, offset) order per
        partition (partitions in ascending order; they are independent).

        ``caught_up`` is asked at most once per (topic, partition) per call: a release runs
        over a batch of pushed records, and the positions and end offsets it depends on do
        not change within it (a stale ``False`` only holds a record back to the next call).
        Partitions with nothing buffered are not scanned."""
        memo: dict[tuple[str, int], bool] = {}

        def cached(topic: str, partition: int) -> bool:
            flag = memo.get((topic, partition))
            if flag is None:
                flag = memo[(topic, partition)] = caught_up(topic, partition)
            return flag

        for partition in sorted(self._parts):
            part = self._parts[partition]
            if not any(part.queues.values()):
                continue
            while True:
                found = self._best(part, cached, partition)
                if found is None:
                    break
                _, _, item = part.queues[found[1]].popleft()
                self.size -= 1
                yield item

    def peek(
        self, partition: int, caught_up: Callable[[str, int], bool]
    ) -> tuple[int, str] | Literal["behind"] | None:
        """What ``release`` would yield next on ``partition``: ``(event_time, topic)``;
        ``"behind"`` when an input without a buffered record is not caught up (the next record
        is not known yet); None when nothing is buffered and every input is caught up.
        Lets a caller fold every record of one event time before deciding on any of them."""
        part = self._parts.get(partition) or _Partition()
        best: tuple[int, int, int] | None = None
        best_topic = ""
        for topic in self.topics:
            queue = part.queues.get(topic)
            if queue:
                key = (queue[0][0], self.rank[topic], queue[0][1])
                if best is None or key < best:
                    best, best_topic = key, topic
            elif not caught_up(topic, partition):
                return "behind"
        return None if best is None else (best[0], best_topic)

    def pending_partitions(self) -> list[int]:
        """Partitions holding buffered records."""
        return [p for p, part in self._parts.items() if any(part.queues.values())]

    def drop(self, partitions: Sequence[int]) -> int:
        """Forget the buffered records of ``partitions`` (revoked); returns how many."""
        dropped = 0
        for p in partitions:
            part = self._parts.pop(p, None)
            if part is not None:
                dropped += sum(len(q) for q in part.queues.values())
        self.size -= dropped
        return dropped
