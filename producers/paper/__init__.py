"""The simulated venue (paper trading and backtests).

* :mod:`producers.paper.venue` — the venue itself, pure (``PaperVenue.on_event(event) ->
  [events]``), and its parameters (:class:`PaperConfig`);
* :mod:`producers.paper.models` — the fill, fee, latency, borrow and margin models it takes;
* :mod:`producers.paper.maker` — when a resting (GTC, post-only) order fills, and why that is
  only an approximation of a queue;
* :mod:`producers.paper.service` — the venue as a Kafka service (``fundarb paper``,
  ``fundarb live --paper``).
"""

from producers.paper.models import (
    BorrowModel,
    FeeModel,
    FeeTable,
    FillModel,
    FixedLatency,
    FlatBorrow,
    IsolatedMargin,
    LatencyModel,
    MarginModel,
    SlippageFill,
)
from producers.paper.service import observe_paper, run_paper_venue
from producers.paper.venue import Fault, PaperConfig, PaperVenue
from schemas.types import settle_currency  # its home since the parser needs it too

__all__ = [
    "BorrowModel",
    "Fault",
    "FeeModel",
    "FeeTable",
    "FillModel",
    "FixedLatency",
    "FlatBorrow",
    "IsolatedMargin",
    "LatencyModel",
    "MarginModel",
    "PaperConfig",
    "PaperVenue",
    "SlippageFill",
    "observe_paper",
    "run_paper_venue",
    "settle_currency",
]
