"""Event-time merge of every partition of several topics, for consumers that need one
global order (the alert rules value positions with marks, across assets and topics).

A Kafka consumer hands out records in fetch order: a small topic (``derived.positions``) is
read to its end while a large one (``md.tickers``) is still hours of event time behind, so a
rule that joins them sees positions marked with marks of another time. :class:`EventTimeMerge`
buffers records per topic partition (each queue stays in offset order) and releases the head
with the smallest ``(event_time, topic rank, partition, offset)`` only once **every** input
partition either has a record buffered or is *caught up* (its consumer position has reached
the end offset last seen). An input that is behind holds the others back; an idle one does
not. ``flush`` releases everything left in the same order (the end of a drain).

On topics that are complete before they are read (a backtest's run) the release order is a
pure function of their contents. Live, a record landing after an end-offset refresh with an
older event time is released late, in the order the log received it (the same caveat as the
worker's sequencer, ``streams/sequencer.py``). Pure: no clock, no I/O.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
Part = tuple[str, int]  # (topic, partition)


class EventTimeMerge(Generic[T]):
    """Global event-time merge of ``topics`` (listed in tie-break rank order)."""

    def __init__(self, topics: Sequence[str]) -> None:
        self.rank = {t: i for i, t in enumerate(topics)}
        self.queues: dict[Part, deque[tuple[int, int, T]]] = {}
        self.size = 0

    def push(self, topic: str, partition: int, offset: int, event_time: int, item: T) -> None:
        """Buffer one record; offsets of one topic partition must arrive in order.

        Raises ``ValueError`` for a topic not in the merge or an offset going backwards.
        """
        if topic not in self.rank:
            raise ValueError(f"topic {topic!r} is not an input of this merge")
        queue = self.queues.setdefault((topic, partition), deque())
        if queue and queue[-1][1] >= offset:
            raise ValueError(f"{topic}[{partition}] offset {offset} after {queue[-1][1]}")
        queue.append((event_time, offset, item))
        self.size += 1

    def release(self, parts: Sequence[Part], caught_up: Callable[[Part], bool]) -> Iterator[T]:
        """Yield every record that can go now, in order. ``parts`` are the input partitions
        (the consumer's assignment); one without a buffered record that is not caught up stops
        the release (its next record may be older than every buffered one)."""
        heads: list[tuple[int, int, int, int, Part]] = []
        for part in parts:
            queue = self.queues.get(part)
            if queue:
                event_time, offset, _ = queue[0]
                heads.append((event_time, self.rank[part[0]], part[1], offset, part))
            elif not caught_up(part):
                return
        heapq.heapify(heads)
        while heads:
            _, _, _, _, part = heapq.heappop(heads)
            queue = self.queues[part]
            _, _, item = queue.popleft()
            self.size -= 1
            yield item
            if queue:
                event_time, offset, _ = queue[0]
                heapq.heappush(heads, (event_time, self.rank[part[0]], part[1], offset, part))
            elif not caught_up(part):
                return

    def flush(self) -> Iterator[T]:
        """Yield every buffered record in order, whatever is caught up (end of input)."""
        yield from self.release(list(self.queues), lambda _part: True)
