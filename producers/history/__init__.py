"""Recorded market data → events, in one event-time order, streaming (no Kafka here).

One module per role (docs: README "Recorded data"):

* :mod:`producers.history.base` — the formats' columns, :class:`Run` (a series' run in a file),
  :class:`Window` (window and filters), :class:`RejectedRow`, the errors;
* readers, one per format — :mod:`~producers.history.csv_reader` (CSV, plain or ``.gz``),
  :mod:`~producers.history.parquet_reader`, :mod:`~producers.history.dump` (topic dumps, with
  their writer); :mod:`~producers.history.readers` picks one per file;
* :mod:`producers.history.checks` — row checks (bounded once, or refused with a reason);
* :mod:`producers.history.events` — rows → ``FundingRateObserved`` / ``TickerObserved``;
* :mod:`producers.history.quality` — counts per series, coverage notes, the report's flags;
* :mod:`producers.history.planning` — the selection checked against the index, each funding
  series' price path (candles, a reference venue's, or settlement marks), the k-way merge.
"""

from producers.history.base import (
    CANDLE_COLUMNS,
    DAY_MS,
    FUNDING_COLUMNS,
    FUNDING_RANK,
    TICKER_RANK,
    EmptySelectionError,
    HistoryError,
    Item,
    MissingPricesError,
    RejectedRow,
    Run,
    Window,
)
from producers.history.checks import CANDLE_INTERVALS_MS, check_candle_row, check_funding_row
from producers.history.csv_reader import index_csv
from producers.history.dump import DUMP_SUFFIXES, DumpWriter, dump_events, index_dump
from producers.history.events import (
    funding_events,
    mark_ticker_events,
    ticker_events,
)
from producers.history.parquet_reader import index_parquet
from producers.history.planning import (
    Admission,
    ReplayPlan,
    admit,
    candle_interval_ms,
    merged,
    plan,
)
from producers.history.quality import (
    FINDING_COUNTS,
    SeriesQuality,
    as_dict,
    coverage_notes,
    has_findings,
    iso,
)
from producers.history.readers import index
from producers.history.units import CONTRACT_VOLUME_SIZES, volume_contract_size

__all__ = [
    "CANDLE_COLUMNS",
    "CANDLE_INTERVALS_MS",
    "CONTRACT_VOLUME_SIZES",
    "DAY_MS",
    "DUMP_SUFFIXES",
    "FINDING_COUNTS",
    "FUNDING_COLUMNS",
    "FUNDING_RANK",
    "TICKER_RANK",
    "Admission",
    "DumpWriter",
    "EmptySelectionError",
    "HistoryError",
    "Item",
    "MissingPricesError",
    "RejectedRow",
    "ReplayPlan",
    "Run",
    "SeriesQuality",
    "Window",
    "admit",
    "as_dict",
    "candle_interval_ms",
    "check_candle_row",
    "check_funding_row",
    "coverage_notes",
    "dump_events",
    "funding_events",
    "has_findings",
    "index",
    "index_csv",
    "index_dump",
    "index_parquet",
    "iso",
    "mark_ticker_events",
    "merged",
    "plan",
    "ticker_events",
    "volume_contract_size",
]
