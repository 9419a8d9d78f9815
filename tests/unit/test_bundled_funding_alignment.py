"""The bundled finm33150 funding file: hourly venues' rows are stamped at their settlement hour.

Kraken Futures is the reference (the venue's own historical funding). A series stamped one hour
early correlates best with Kraken at lag +1 h (its row at h matches Kraken's at h + 1 h): a
one-hour look-ahead in a backtest. Plain stdlib on purpose: this checks the data, not the code.
"""

import csv
import gzip
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

FILE = Path(__file__).resolve().parents[2] / "data/funding/finm33150_2025-12-03_2026-03-07.csv.gz"
H = 3_600_000
ASSETS = ("BTC", "ETH", "SOL", "HYPE", "DOGE")
LAGS = range(-2, 3)


def hourly_rates() -> dict[tuple[str, str], dict[int, float]]:
    """{(venue, asset): {hour index: rate}} for the hourly venues (floats: statistics only)."""
    out: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    with gzip.open(FILE, "rt", newline="") as f:
        for row in csv.DictReader(f):
            if row["venue"] in ("kraken", "hyperliquid", "lighter"):
                hour = (int(row["funding_time_ms"]) + H // 2) // H  # venues jitter by ms
                out[(row["venue"], row["symbol"].split("/")[0])][hour] = float(row["funding_rate"])
    return out


def pooled_lag_correlations(
    rates: dict[tuple[str, str], dict[int, float]], venue: str
) -> dict[int, float]:
    """Pearson correlation of ``venue`` at hour h with Kraken at h + lag, pooled over assets."""
    out = {}
    for lag in LAGS:
        xs: list[float] = []
        ys: list[float] = []
        for asset in ASSETS:
            ref, own = rates[("kraken", asset)], rates[(venue, asset)]
            common = sorted(h for h in own if h + lag in ref)
            xs += [own[h] for h in common]
            ys += [ref[h + lag] for h in common]
        out[lag] = statistics.correlation(xs, ys)
    return out


@pytest.mark.parametrize("venue", ["hyperliquid", "lighter"])
def test_hourly_venue_correlates_best_with_kraken_at_lag_zero(venue: str) -> None:
    corr = pooled_lag_correlations(hourly_rates(), venue)
    best = max(corr, key=corr.__getitem__)
    assert best == 0, f"{venue}: best lag {best} h, correlations by lag {corr}"
