"""The simulated venue (paper trading and backtests): see :mod:`producers.paper.venue`."""

from producers.paper.venue import (
    Fault,
    PaperConfig,
    PaperVenue,
    observe_paper,
    run_paper_venue,
    settle_currency,
)

__all__ = [
    "Fault",
    "PaperConfig",
    "PaperVenue",
    "observe_paper",
    "run_paper_venue",
    "settle_currency",
]
