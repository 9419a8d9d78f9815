"""The history package's shared vocabulary: the file formats' columns, a run of one series in
a file, the event-time window and filters, a refused row, the merge key, and the errors."""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from pathlib import Path

from projections.funding import MS_PER_HOUR
from schemas.events import Event
from schemas.types import base_asset

DAY_MS = 24 * MS_PER_HOUR


FUNDING_COLUMNS = ("venue", "symbol", "funding_time_ms", "funding_rate", "mark_price")


CANDLE_COLUMNS = (
    "venue",
    "symbol",
    "market",
    "interval",
    "open_time_ms",
    "open",
    "high",
    "low",
    "close",
    "volume",
)


TICKER_RANK, FUNDING_RANK = 0, 1


class HistoryError(ValueError):
    """Recorded data cannot be replayed as asked (message says which file/series and why)."""


class MissingPricesError(HistoryError):
    """A funding series has no price path (no candles, no mark prices on its rows, no reference
    venue) and the caller needs prices (a backtest)."""


class EmptySelectionError(HistoryError):
    """The filters or the window select nothing the files hold (the message lists what they
    do hold), or only series that cannot be replayed (inverse contracts)."""


@dataclass(frozen=True)
class RejectedRow:
    """A row the replay refuses, with where it came from and why (→ dead-letter topic)."""

    source: str
    line: int
    raw: bytes
    error_type: str
    reason: str
    event_time: int
    key: str


@dataclass(frozen=True)
class Run:
    """A contiguous run of one series in a file: where it starts and what it holds."""

    path: Path
    kind: str  # "funding" | "candles"
    venue: str
    symbol: str
    offset: int
    first_line: int
    rows: int
    first_time: int = 0
    last_time: int = 0

    def overlap(self, start: int, end: int) -> int:
        """ms of [start, end) this run's times cover."""
        return max(0, min(self.last_time, end) - max(self.first_time, start))


#: bytes of decompressed ``.gz`` files kept in memory per process, in all. A run of a gzip
#: stream is reached by decompressing everything before it (each series of a file read the
#: file again up to its start: ~70 times for the bundled window); a copy in memory seeks at
#: once and reads lines in C. Larger files are read as streams, as before.
GZ_MEMORY_BYTES = 256 * 1024 * 1024
_gz_memory: dict[tuple[str, int, int], bytes] = {}
_gz_too_large: set[tuple[str, int, int]] = set()


def open_file(path: Path) -> io.BufferedIOBase:
    """The file's bytes (a ``.gz`` decompressed), as a binary stream that can seek.

    Raises what reading raises (``OSError``, ``EOFError`` and ``zlib.error`` for a truncated
    or corrupt ``.gz``: the readers turn those into :class:`HistoryError`)."""
    if path.suffix == ".gz":
        data = _decompressed(path)
        return io.BytesIO(data) if data is not None else gzip.open(path, "rb")
    return open(path, "rb")


def _decompressed(path: Path) -> bytes | None:
    """A ``.gz`` file's content from memory (read once per process and file version), or
    None when it does not fit in what is left of :data:`GZ_MEMORY_BYTES`."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    data = _gz_memory.get(key)
    if data is None and key not in _gz_too_large:
        room = GZ_MEMORY_BYTES - sum(map(len, _gz_memory.values()))
        with gzip.open(path, "rb") as f:
            data = f.read(room + 1)
        if len(data) > room:
            _gz_too_large.add(key)
            return None
        _gz_memory[key] = data
    return data


def kind_of(header: list[str], path: Path) -> str:
    cols = tuple(header)
    if cols == FUNDING_COLUMNS:
        return "funding"
    if cols == CANDLE_COLUMNS:
        return "candles"
    raise HistoryError(
        f"{path}: header {','.join(header)} is neither the funding format "
        f"({','.join(FUNDING_COLUMNS)}) nor the candle format ({','.join(CANDLE_COLUMNS)})"
    )


@dataclass(frozen=True)
class Window:
    """Half-open event-time window [start, end) in ms UTC, and filters."""

    start: int = 0
    end: int = 2**62
    assets: frozenset[str] | None = None
    venues: frozenset[str] | None = None

    def __post_init__(self) -> None:
        # filters match case-insensitively: the data's assets are upper-case tickers and its
        # venues lower-case ccxt ids, so `--venues Binance` means binance
        if self.assets is not None:
            object.__setattr__(self, "assets", frozenset(a.upper() for a in self.assets))
        if self.venues is not None:
            object.__setattr__(self, "venues", frozenset(v.lower() for v in self.venues))

    def wants(self, venue: str, symbol: str) -> bool:
        return (self.venues is None or venue in self.venues) and (
            self.assets is None or base_asset(symbol) in self.assets
        )


Item = tuple[tuple[int, int, str, str], Event | RejectedRow]
