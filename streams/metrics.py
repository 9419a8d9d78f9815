"""The worker's Prometheus metrics: its status and what its engine state says.

:func:`publish` is called by the worker's status timer (``streams/worker.py``, once a second)
and is the only hook there. On its first call with ``settings.worker_metrics_port`` set
(``FUNDARB_WORKER_METRICS_PORT``) it starts prometheus-client's HTTP server on
``127.0.0.1:<port>`` (``/metrics``); then each call sets, from the worker's status and engine
state (:mod:`infra.metrics` defines the series):

* the worker's progress: records folded, buffered, unacked, caught up, its event-time clock;
* the strategy: open arbs, PnL by part (USD);
* per asset: the best pair's funding spread (per hour and annualised, from the last
  ``SpreadUpdated`` the engine emitted) and the exposure in USD by leg kind
  (``spot``, ``perp``: Σ signed qty × the leg's mark, entry price when no mark yet; ``net``
  their sum).

The worker's own loop is untouched: reading its state costs one pass over the open legs.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from infra import metrics as m
from infra.settings import Settings
from projections import engine as eng
from projections.funding import HOURS_PER_YEAR
from schemas.types import is_spot

log = logging.getLogger(__name__)
_served: set[int] = set()


def exposure(state: eng.EngineState) -> dict[str, dict[str, Decimal]]:
    """Per asset, ``{"spot", "perp", "net"}`` → signed USD value of the legs. Pure."""
    out: dict[str, dict[str, Decimal]] = {}
    for asset, book in state.books.items():
        parts = {"spot": Decimal(0), "perp": Decimal(0)}
        for leg in book.legs.values():
            price = leg.mark if leg.mark is not None else leg.avg_entry_price
            parts["spot" if is_spot(leg.instrument) else "perp"] += leg.qty * price
        out[asset] = {**parts, "net": parts["spot"] + parts["perp"]}
    return out


def publish(worker: Any, settings: Settings) -> None:
    """Start the server once (when a port is set) and set the worker's gauges (module doc).

    A port that cannot be bound is logged once and metrics stay off for this process: the
    worker never stops over its metrics.
    """
    port = settings.worker_metrics_port
    if port is None:
        return
    if port not in _served:
        _served.add(port)
        try:
            m.serve(port)
        except OSError as exc:
            log.error("worker metrics: cannot serve 127.0.0.1:%s (%s); metrics off", port, exc)
    if port not in m.serving():
        return
    status = worker.status()
    m.WORKER_FOLDED.set(status.get("folded", 0))
    m.WORKER_BUFFERED.set(status["buffered"])
    m.WORKER_UNACKED.set(status["unacked"])
    m.WORKER_CAUGHT_UP.set(1 if status["caught_up"] else 0)
    m.WORKER_EVENT_TIME.set(m.seconds(status["event_time"] or 0))
    m.OPEN_ARBS.set(status["open_arbs"])
    state = worker.state
    if state is None:
        return
    pnl = eng.pnl(state)
    for part in ("funding", "price", "fees", "borrow"):
        m.PNL.labels(part).set(float(getattr(pnl, part)))
    m.PNL.labels("total").set(float(pnl.total))
    for asset, sig in state.spreads.items():
        apr = sig[2] if len(sig) > 2 and isinstance(sig[2], Decimal) else None
        if apr is not None:
            m.SPREAD_APR.labels(asset).set(float(apr))
            m.SPREAD_HOURLY.labels(asset).set(float(apr / HOURS_PER_YEAR))
    for asset, parts in exposure(state).items():
        for kind, usd in parts.items():
            m.EXPOSURE.labels(asset, kind).set(float(usd))
