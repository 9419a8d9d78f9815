"""Prometheus metrics of the live side (prometheus-client; scraped at ``/metrics``).

One definition per series, shared by every process that exports it: the live process
(connectors, order gateway, paper venue) and the worker (:mod:`streams.metrics`). Each process
serves its own ``/metrics`` with :func:`serve` (prometheus-client's own HTTP server); Prometheus
scrapes both (``infra/prometheus.yml``) and ``infra/grafana/fundarb.json`` charts them.

Labels are low-cardinality by construction: ``venue`` (the configured venues), ``asset`` (the
configured assets: a base asset like ``BTC``, never a market symbol or an order id),
``stream`` (``funding``, ``tickers``, ``account``), ``reason`` (the
:class:`schemas.types.RejectReason` values or a ccxt exception class name for retries),
``kind`` (``spot``/``perp``/``net``), ``part`` (PnL parts).

Units are in the names (Prometheus conventions): ``_seconds``, ``_usd``, ``_ratio``,
``_bps``, rates as decimals (0.0001 = 0.01 %) per the venue's own funding interval, APRs as
decimals per year (0.10 = 10 %/yr).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import start_http_server

from schemas.events import PlaceOrder
from schemas.types import Side

# ---- feeds (connectors) --------------------------------------------------------------------
FEED_STALENESS = Gauge(
    "fundarb_feed_staleness_seconds",
    "Seconds since the stream's last successful read (our clock), set at every poll",
    ["venue", "stream"],
)
FEED_LAG = Gauge(
    "fundarb_feed_lag_seconds",
    "Arrival time minus the venue's own event time of the stream's latest item",
    ["venue", "stream"],
)
FEED_LAST_OK = Gauge(
    "fundarb_feed_last_success_timestamp_seconds",
    "Unix time of the stream's last successful read",
    ["venue", "stream"],
)
FEED_FAILURES = Counter(
    "fundarb_feed_failures_total", "Failed reads of a stream (any ccxt error)", ["venue", "stream"]
)
WS_RECONNECTS = Counter(
    "fundarb_ws_reconnects_total",
    "Websocket streams that failed and were opened again (each with one REST fallback poll)",
    ["venue"],
)
FEED_STALE = Gauge(
    "fundarb_feed_stale", "1 while the venue's feed is stale (stale_feed tripped)", ["venue"]
)
DEAD_LETTERS = Counter(
    "fundarb_feed_dead_letters_total", "Venue rows the parsers refused", ["venue", "stream"]
)
FUNDING_RATE = Gauge(
    "fundarb_funding_rate",
    "Latest funding rate per the venue's own interval (decimal, > 0: longs pay shorts)",
    ["venue", "asset"],
)
FUNDING_APR = Gauge(
    "fundarb_funding_rate_apr",
    "Latest funding rate annualised: rate × 24/interval_h × 365 (decimal per year)",
    ["venue", "asset"],
)
MARGIN_RATIO = Gauge(
    "fundarb_margin_ratio",
    "Venue-reported margin ratio of the perp position (maintenance margin / collateral)",
    ["venue", "asset"],
)
LIQUIDATION_DISTANCE = Gauge(
    "fundarb_liquidation_distance_ratio",
    "|mark − liquidation price| / mark of the perp position (0.2 = 20 % move to liquidation)",
    ["venue", "asset"],
)

# ---- orders (gateway, paper venue) ---------------------------------------------------------
ORDER_RETRIES = Counter(
    "fundarb_order_retries_total",
    "Order submits sent again after a refused or ambiguous attempt (reason: ccxt error class)",
    ["venue", "reason"],
)
ORDER_FAILURES = Counter(
    "fundarb_order_failures_total", "Orders rejected, by rejection reason", ["venue", "reason"]
)
FILLS = Counter("fundarb_fills_total", "Fills reported", ["venue", "hedge"])
HEDGE_LATENCY = Histogram(
    "fundarb_hedge_latency_seconds",
    "Hedge order: venue fill time minus the hedge command's event time (decision to fill)",
    ["venue"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
SLIPPAGE = Histogram(
    "fundarb_slippage_bps",
    "Fill price against the reference at placement (limit price, else mid), basis points; "
    "> 0 worse than the reference, the le=0 bucket at or better than it",
    ["venue"],
    # no negative bound: prometheus-client drops _sum from a histogram with one (OpenMetrics)
    buckets=(0, 1, 2, 5, 10, 20, 50, 100, 250),
)

# ---- worker (streams.metrics) --------------------------------------------------------------
SPREAD_APR = Gauge(
    "fundarb_spread_apr",
    "Best pair's funding spread of the asset, annualised (decimal per year)",
    ["asset"],
)
SPREAD_HOURLY = Gauge(
    "fundarb_spread_rate_hourly",
    "Best pair's funding spread of the asset per hour (decimal)",
    ["asset"],
)
EXPOSURE = Gauge(
    "fundarb_exposure_usd",
    "Position value by leg kind (signed: qty × mark), net = spot + perp",
    ["asset", "kind"],
)
OPEN_ARBS = Gauge("fundarb_open_arbs", "Arbs the strategy holds open")
PNL = Gauge("fundarb_pnl_usd", "Portfolio PnL by part (USD)", ["part"])
WORKER_FOLDED = Gauge("fundarb_worker_folded", "Records folded by the worker since it started")
WORKER_BUFFERED = Gauge("fundarb_worker_buffered", "Records waiting in the worker's sequencer")
WORKER_UNACKED = Gauge("fundarb_worker_unacked", "Records folded but not yet acked")
WORKER_CAUGHT_UP = Gauge("fundarb_worker_caught_up", "1 when every input is read to its end")
WORKER_EVENT_TIME = Gauge(
    "fundarb_worker_event_time_seconds", "The worker's event-time clock (Unix seconds)"
)

_lock = threading.Lock()
_servers: dict[int, Any] = {}


def serve(port: int, addr: str = "127.0.0.1", registry: CollectorRegistry = REGISTRY) -> int:
    """Serve ``/metrics`` on ``addr:port`` (prometheus-client's HTTP server, a daemon thread).

    Idempotent per port. ``port`` 0 picks a free port; the bound port is returned.

    Raises
    ------
    OSError
        The port is taken (or not bindable).
    """
    with _lock:
        if port and port in _servers:
            return port
        server, _thread = start_http_server(port, addr=addr, registry=registry)
        bound = int(server.server_port)
        _servers[bound] = server
        return bound


def serving() -> set[int]:
    """The ports :func:`serve` is serving on."""
    with _lock:
        return set(_servers)


def stop(port: int) -> None:
    """Stop the server :func:`serve` started on ``port`` (no-op when none)."""
    with _lock:
        server = _servers.pop(port, None)
    if server is not None:
        server.shutdown()
        server.server_close()


def seconds(ms: int | float) -> float:
    """Milliseconds → seconds (float)."""
    return float(ms) / 1000.0


def annualised(rate: Decimal, interval_h: int) -> float:
    """A funding rate per ``interval_h`` hours as a decimal per year (365 days)."""
    return float(rate) * 24.0 / interval_h * 365.0


def slippage_bps(side: Side, price: Decimal, reference: Decimal) -> Decimal:
    """Fill ``price`` against ``reference`` in basis points, > 0 worse (a buy above it, a sell
    below it). Pure.

    Raises
    ------
    decimal.DivisionByZero
        ``reference`` is 0.
    """
    sign = 1 if side is Side.buy else -1
    return sign * (price - reference) / reference * 10_000


def observe_fill(
    venue: str, cmd: PlaceOrder, price: Decimal, fill_time_ms: int, reference: Decimal | None
) -> None:
    """Metrics of one fill of our order ``cmd``: slippage against ``reference`` (limit price
    or mid at placement; skipped when unknown or not > 0) and, for a hedge, the latency from
    the command's event time to the fill's venue time (seconds, never negative)."""
    if reference is not None and reference > 0:
        SLIPPAGE.labels(venue).observe(float(slippage_bps(cmd.side, price, reference)))
    if cmd.is_hedge:
        HEDGE_LATENCY.labels(venue).observe(seconds(max(0, fill_time_ms - cmd.event_time)))


def names(registry: CollectorRegistry = REGISTRY) -> set[str]:
    """Every series name ``registry``'s fundarb metrics expose, labelled children or not:
    a counter's ``_total``, a histogram's ``_bucket``/``_sum``/``_count``, a gauge's name."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    out: set[str] = set()
    for family in registry.collect():
        if family.name.startswith("fundarb_"):
            out.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return out


def defined() -> Iterable[Any]:
    """The fundarb collectors of this module (for the dashboard test)."""
    return [v for v in globals().values() if isinstance(v, Gauge | Counter | Histogram)]
