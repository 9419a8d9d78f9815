"""Topic dumps (``fundarb topics dump``: JSON lines, base64 records): the reader that replays
their market events, beside the writer that records them."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TextIO

from producers.history.base import FUNDING_RANK, TICKER_RANK, Item, Run, Window, open_file
from producers.history.checks import reject
from producers.history.quality import SeriesQuality
from schemas.events import FundingRateObserved, TickerObserved

DUMP_SUFFIXES = (".jsonl", ".jsonl.gz")


class DumpWriter:
    """Writes a topic dump, one JSON line per record: ``topic`` (the catalog name, without the
    run's prefix), ``partition``, ``offset``, ``timestamp`` (ms), ``key`` and ``value`` (base64
    of the raw bytes, so any record round-trips). Gzipped when ``path`` ends in ``.gz``.
    :func:`index_dump` and :func:`dump_events` read it back. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0
        self._file: TextIO | None = None

    def __enter__(self) -> DumpWriter:
        if self.path.name.endswith(".gz"):
            self._file = gzip.open(self.path, "wt")
        else:
            self._file = open(self.path, "w")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(
        self,
        topic: str,
        partition: int,
        offset: int,
        timestamp: int,
        key: bytes | None,
        value: bytes | None,
    ) -> None:
        """Append one record (call inside the ``with`` block)."""
        if self._file is None:
            raise RuntimeError("DumpWriter.write outside its with block")
        record = {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "timestamp": timestamp,
            "key": base64.b64encode(key or b"").decode(),
            "value": base64.b64encode(value or b"").decode(),
        }
        self._file.write(json.dumps(record) + "\n")
        self.records += 1


def index_dump(path: Path) -> list[Run]:
    """Runs of a topic dump (``fundarb topics dump``): one per contiguous (topic, partition)."""
    runs: list[Run] = []
    with open_file(path) as f:
        offset = 0
        current: tuple[str, str] | None = None
        start = start_line = count = 0
        for line_no, raw in enumerate(f, start=1):
            try:
                head = json.loads(raw)
                key = (str(head["topic"]), str(head["partition"]))
            except (ValueError, KeyError, TypeError):
                key = ("", "")
            if key != current:
                if current is not None:
                    runs.append(Run(path, "dump", current[0], current[1], start, start_line, count))
                current, start, start_line, count = key, offset, line_no, 0
            count += 1
            offset += len(raw)
        if current is not None:
            runs.append(Run(path, "dump", current[0], current[1], start, start_line, count))
    return runs


def dump_events(run: Run, q: SeriesQuality, window: Window) -> Iterator[Item]:
    """Market events of one (topic, partition) of a dump, decoded and validated.

    Other event types in the dump are skipped (counted in ``q.notes``); records that do not
    decode, or go back in time within the partition, are rejected like CSV rows.
    """
    from schemas.serde import DecodeError, Serializer

    serializer = Serializer()
    last_time = -1
    skipped = 0
    with open_file(run.path) as f:
        f.seek(run.offset)
        for i in range(run.rows):
            raw = f.readline()
            if not raw:
                break
            line = run.first_line + i
            q.rows += 1
            try:
                value = base64.b64decode(json.loads(raw)["value"])
                event = serializer.decode(value)
            except (ValueError, KeyError, TypeError, DecodeError) as exc:
                yield reject(
                    run, q, line, raw.rstrip(b"\n"), "invalid", str(exc), max(last_time, 0)
                )
                continue
            if not isinstance(event, FundingRateObserved | TickerObserved):
                skipped += 1
                continue
            t = event.event_time
            if t < last_time:
                yield reject(
                    run,
                    q,
                    line,
                    raw.rstrip(b"\n"),
                    "out_of_order",
                    f"event time {t} is before the previous record's {last_time}",
                    last_time,
                )
                continue
            last_time = t
            q.first_time = q.first_time or t
            q.last_time = t
            if not (window.start <= t < window.end) or not window.wants(
                event.venue, event.instrument
            ):
                continue
            q.emitted += 1
            rank = TICKER_RANK if isinstance(event, TickerObserved) else FUNDING_RANK
            yield (t, rank, event.venue, event.instrument), event
    if skipped:
        q.notes.append(f"{skipped} records of other event types skipped")
