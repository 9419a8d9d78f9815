"""``fundarb universe`` on the bundled data: the table, the asset list file, thresholds, and
the ranked edge recomputed from the raw funding CSV by plain code."""

from __future__ import annotations

import csv
import gzip
import json
import os
import tomllib
from decimal import Decimal
from pathlib import Path

from streams.universe import read_asset_list
from tests.e2e.cli import REPO, fundarb

FUNDING = REPO / "data" / "funding" / "finm33150_2025-12-03_2026-03-07.csv.gz"
DAY = 86_400_000


def _plain_mean_rate_h(venue: str, symbol: str, end: int, hours: int) -> tuple[Decimal, int]:
    with gzip.open(FUNDING, "rt") as f:
        rates = [
            Decimal(r["funding_rate"]) / hours
            for r in csv.DictReader(f)
            if (r["venue"], r["symbol"]) == (venue, symbol)
            and end - 30 * DAY < int(r["funding_time_ms"]) <= end
        ]
    return sum(rates, Decimal(0)) / len(rates), len(rates)


def test_universe_ranks_the_bundled_assets_and_writes_the_list(tmp_path: Path) -> None:
    out = tmp_path / "universe.json"
    args = ["universe", "--venues", "binance,bybit", "--min-volume", "1e8", "--top", "2"]
    proc = fundarb([*args, "--out", str(out)], dict(os.environ), timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert "selected 2 of 5 assets" in proc.stdout and "rank" in proc.stdout
    assert len(doc["assets"]) == 2 and doc["venues"] == ["binance", "bybit"]
    ranking = doc["ranking"]
    assert [r["asset"] for r in ranking if r["selected"]] == doc["assets"]
    edges = [Decimal(r["edge_apr"]) for r in ranking if r["edge_apr"] is not None]
    assert edges == sorted(edges, reverse=True)  # all pass the thresholds here: edge order
    # the SOL row, by plain code from the raw CSV (8-hour settlements on both venues)
    sol = next(r for r in ranking if r["asset"] == "SOL")
    end = doc["as_of_ms"]  # the selection's last funding time
    assert doc["as_of"] == "2026-03-07 08:00"
    binance, n_binance = _plain_mean_rate_h("binance", "SOL/USDT:USDT", end, 8)
    bybit, n_bybit = _plain_mean_rate_h("bybit", "SOL/USDT:USDT", end, 8)
    expected = abs(bybit - binance) * 8760
    assert round(Decimal(sol["edge_apr"]), 12) == round(expected, 12) > 0
    assert {sol["long_venue"], sol["short_venue"]} == {"binance", "bybit"}
    assert sol["long_venue"] == ("binance" if binance < bybit else "bybit")
    assert Decimal(sol["worse_quality"]) == Decimal(min(n_binance, n_bybit)) / 90
    # the list reads back as fundarb live reads it; a TOML list too
    assert read_asset_list(out) == (doc["assets"], ["binance", "bybit"])
    toml_out = tmp_path / "universe.toml"
    proc = fundarb([*args, "--out", str(toml_out)], dict(os.environ), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert tomllib.loads(toml_out.read_text())["assets"] == doc["assets"]


def test_a_volume_threshold_no_leg_meets_selects_nothing_and_says_why(tmp_path: Path) -> None:
    out = tmp_path / "u.toml"
    proc = fundarb(
        ["universe", "--assets", "BTC", "--min-volume", "1e15", "--out", str(out)],
        dict(os.environ),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "selected 0 of 1 assets" in proc.stdout and "fewer than two eligible" in proc.stdout
    assert tomllib.loads(out.read_text())["assets"] == []


def test_live_liquidity_from_recorded_ticker_replies(tmp_path: Path) -> None:
    """--recorded: each leg's volume and depth are the venue's ticker (ccxt's class parsing
    the recorded reply), the history still the files'; recomputed from the reply here."""
    out = tmp_path / "u.json"
    venues = ["--venues", "bybit,binance,okx", "--assets", "BTC"]
    proc = fundarb(
        [
            "universe",
            "--recorded",
            "tests/resources",
            *venues,
            "--min-depth",
            "1e6",
            "--out",
            str(out),
        ],
        dict(os.environ),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    legs = {leg["venue"]: leg for leg in json.loads(out.read_text())["legs"]}
    recorded = json.loads((REPO / "tests/resources/bybit/bybit.json").read_text())
    (case,) = recorded["methods"]["fetchTicker"]
    t = case["parsedResponse"]
    assert t["symbol"] == "BTC/USDT:USDT"
    bybit = legs["bybit"]
    assert Decimal(bybit["quote_volume_24h_usd"]) == Decimal(str(t["quoteVolume"]))
    depth = sum(
        Decimal(str(t[p])) * Decimal(str(t[q]))
        for p, q in (("bid", "bidVolume"), ("ask", "askVolume"))
    )
    assert Decimal(bybit["depth_usd"]) == depth
    # binance's and okx's recorded tickers are spot markets: no perp depth, so a depth
    # threshold leaves BTC with one eligible venue
    assert legs["binance"]["depth_usd"] is None and legs["okx"]["depth_usd"] is None
    assert "selected 0 of 1 assets" in proc.stdout and "binance depth unknown" in proc.stdout
