"""The shadow ledger: a real backtest, re-priced by plain code of the test's own.

One run of ``fundarb backtest`` (real Kafka broker, real replay, engine, paper venue and the
audit sink into a chDB folder of its own) over two weeks of the bundled data. The test then
takes only the run's **fills** (venue, instrument, side, qty, price, time, liquidity), read
back from ClickHouse with ``fundarb sql``, and recomputes everything else from the raw CSV rows
and ``config/strategy.toml`` with deliberately plain code (csv + gzip + Decimal; nothing from
``projections/`` or ``producers/``):

1. every funding payment. A settlement at ``T`` pays the position held at ``T``: the sum of
   the signed quantities of the fills stamped strictly before ``T`` (a fill stamped at ``T``
   or later did not exist yet). A non-zero position receives ``−qty × mark × rate``, where
   ``mark`` is the row's mark price, else the close of the last candle that closed at or
   before ``T`` on that market (for hyperliquid the binance candles, as the run is told with
   ``--reference-prices``). The set of paid (venue, symbol, T) and every amount must equal
   the run's ``FundingPaid`` events. Amounts are compared exactly: the paper venue does not
   quantize funding (``−qty × mark × rate`` of exact decimals, a few significant digits each),
   and they are read from the raw event payload (``events_raw``), not from the
   ``Decimal(38, 18)`` column;
2. every fee: ``qty × price × rate`` (taker or maker rate of ``[fees.venues]``), quantized to
   1e-8 half-even as the paper venue books it: exactly equal to each stored fill's fee;
3. realised price PnL per leg by average cost, unrealised PnL of the legs still open at the
   end (at the last candle close in the window), fees and funding totals: equal to the run's
   ``summary.json`` and to the last ``PositionChanged`` of each leg; and
   ``total = funding + price − fees − borrow``.

Totals in the summary are Decimal sums in Python's default 28-significant-digit context, so a
sum of many payments of ~26 decimals each is rounded in its last digits (e.g. 35.2399…28004):
totals are compared to 1e-18, per-event amounts exactly.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import itertools
import json
import os
import re
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Broker
from tests.e2e.cli import fundarb

REPO = Path(__file__).resolve().parents[2]
FUNDING_CSV = REPO / "data" / "funding" / "finm33150_2025-12-03_2026-03-07.csv.gz"
PRICES_CSV = REPO / "data" / "prices" / "finm33150_perp_ohlcv_1h_2025-12-02_2026-03-07.csv.gz"
CONFIG = REPO / "config" / "strategy.toml"

# Two weeks over the turn of the year: all six venues with candles in the window (dydx's start
# on 2026-01-22), hourly legs (kraken, lighter, hyperliquid on binance prices) and 8-hourly /
# 4-hourly ones (binance, bybit, okx). With config/strategy.toml this run opens ~10 arbs,
# receives ~480 funding payments (~20 of them on binance/okx) and ends with one arb still open,
# so the unrealised part of the price PnL is checked too.
START, END = "2025-12-22", "2026-01-05"
ASSETS = ("BTC", "ETH", "SOL", "HYPE", "DOGE")
VENUES = ("binance", "bybit", "okx", "kraken", "hyperliquid", "lighter")
REFERENCE = {"hyperliquid": "binance"}
HOURLY = {"kraken", "hyperliquid", "lighter"}
HOUR_MS = 3_600_000
CANDLE_MS = {"1h": HOUR_MS}
USD_LIKE = {"USD", "USDT", "USDC"}
TOTAL_TOLERANCE = Decimal("1e-18")
FEE_STEP = Decimal("1e-8")

Market = tuple[str, str]  # (venue, symbol)


def ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def iso(t: int) -> str:
    return datetime.fromtimestamp(t / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


START_MS, END_MS = ms(START), ms(END)


# ---- the run ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fill:
    time: int
    partition: int
    offset: int
    venue: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    liquidity: str

    @property
    def signed(self) -> Decimal:
        return self.qty if self.side == "buy" else -self.qty


@dataclass(frozen=True)
class Payment:
    qty: Decimal
    mark: Decimal
    rate: Decimal
    amount: Decimal


@dataclass
class Run:
    summary: dict[str, Any]
    fills: list[Fill]
    paid: dict[tuple[str, str, int], Payment]  # the run's FundingPaid, by (venue, symbol, T)
    legs: dict[Market, dict[str, Decimal]]  # the last PositionChanged of each leg


def sql(env: dict[str, str], query: str) -> list[dict[str, str]]:
    """Rows of ``fundarb sql --format csv`` (every value as text)."""
    proc = fundarb(["sql", "--format", "csv", query], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return list(csv.DictReader(io.StringIO(proc.stdout)))


def shadow_config(tmp: Path) -> Path:
    """config/strategy.toml with the latest-rate rule and its thresholds: this test checks the
    ledger (payments, fees, PnL), and that rule trades this window on hourly and 8-hourly legs
    (~10 arbs); the forecast rule of the defaults opens 2 here, both on hourly legs. Fees and
    [forecast] are the file's own."""
    text = CONFIG.read_text()
    # the keys, whatever values the sweep chose for the defaults
    for key, new in (
        ("decide_on", '"current"'),
        ("min_net_apr", '"0.20"'),
        ("max_break_even_h", '"72"'),
    ):
        text, n = re.subn(rf'^{key} = "[^"]*"', f"{key} = {new}", text, count=1, flags=re.M)
        assert n == 1, key
    path = tmp / "strategy.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def run(kafka_broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("shadow")
    env = {
        **os.environ,
        "FUNDARB_BOOTSTRAP": kafka_broker.bootstrap,
        "FUNDARB_CLICKHOUSE_PATH": str(tmp / "clickhouse"),
        "COLUMNS": "200",
    }
    args = [
        "backtest",
        str(FUNDING_CSV),
        str(PRICES_CSV),
        "--from",
        START,
        "--to",
        END,
        "--assets",
        ",".join(ASSETS),
        "--venues",
        ",".join(VENUES),
        "--config",
        str(shadow_config(tmp)),
        "--out",
        str(tmp / "out"),
        "--run-id",
        "shadow",
    ]
    for venue, ref in REFERENCE.items():
        args += ["--reference-prices", f"{venue}={ref}"]
    proc = fundarb(args, env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp / "out" / "summary.json").read_text())
    name = str(summary["topic_prefix"]).rstrip(".")

    fills = [
        Fill(
            int(r["t"]),
            int(r["partition"]),
            int(r["offset"]),
            r["venue"],
            r["instrument"],
            r["side"],
            Decimal(r["qty"]),
            Decimal(r["price"]),
            Decimal(r["fee"]),
            r["fee_currency"],
            r["liquidity"],
        )
        for r in sql(
            env,
            "SELECT toUnixTimestamp64Milli(event_time) AS t, partition, offset, venue, "
            "instrument, side, toString(qty) AS qty, toString(price) AS price, "
            "toString(fee) AS fee, fee_currency, liquidity "
            f"FROM fills FINAL WHERE run = '{name}' ORDER BY t, partition, offset",
        )
    ]
    paid: dict[tuple[str, str, int], Payment] = {}
    for r in sql(
        env,
        "SELECT venue, instrument, JSONExtractInt(payload, 'funding_time') AS t, "
        "JSONExtractString(payload, 'position_qty') AS qty, "
        "JSONExtractString(payload, 'mark_price') AS mark, "
        "JSONExtractString(payload, 'funding_rate') AS rate, "
        "JSONExtractString(payload, 'amount') AS amount "
        f"FROM events_raw FINAL WHERE run = '{name}' AND event_type = 'FundingPaid'",
    ):
        key = (r["venue"], r["instrument"], int(r["t"]))
        assert key not in paid, f"two FundingPaid for {key}"
        paid[key] = Payment(
            Decimal(r["qty"]), Decimal(r["mark"]), Decimal(r["rate"]), Decimal(r["amount"])
        )
    legs = {
        (r["venue"], r["instrument"]): {
            k: Decimal(r[k]) for k in ("qty", "realised_pnl_usd", "fees_usd", "funding_usd")
        }
        for r in sql(
            env,
            "SELECT venue, instrument, "
            + ", ".join(
                f"argMax(JSONExtractString(payload, '{k}'), (event_time, offset)) AS {k}"
                for k in ("qty", "realised_pnl_usd", "fees_usd", "funding_usd")
            )
            + f" FROM events_raw FINAL WHERE run = '{name}' AND event_type = 'PositionChanged' "
            "GROUP BY venue, instrument",
        )
    }
    return Run(summary, fills, paid, legs)


# ---- the raw data, read plainly ------------------------------------------------------------
def base(symbol: str) -> str:
    return symbol.split("/", 1)[0]


def wanted(venue: str, symbol: str) -> bool:
    return venue in VENUES and base(symbol) in ASSETS


@cache
def funding_rows() -> list[tuple[str, str, int, Decimal, Decimal | None]]:
    """(venue, symbol, T, rate, mark or None) of every settlement in the window, in file order.

    Like any reader of a venue's history: a row at the same time as its predecessor is a
    duplicate, a row older than it is out of order; both are skipped.
    """
    rows = []
    last: dict[Market, int] = {}
    with gzip.open(FUNDING_CSV, "rt", newline="") as f:
        for r in csv.DictReader(f):
            venue, symbol, t = r["venue"], r["symbol"], int(r["funding_time_ms"])
            if not wanted(venue, symbol):
                continue
            if t <= last.get((venue, symbol), -1):
                continue
            last[(venue, symbol)] = t
            if START_MS <= t < END_MS:
                mark = Decimal(r["mark_price"]) if r["mark_price"] else None
                rows.append((venue, symbol, t, Decimal(r["funding_rate"]), mark))
    return rows


@cache
def candle_closes() -> dict[Market, tuple[list[int], list[Decimal]]]:
    """Per market: close times (candle open + interval) in the window and their closes.

    A venue priced from a reference venue gets the reference's candles of the same base asset.
    """
    series: dict[Market, dict[int, Decimal]] = defaultdict(dict)
    with gzip.open(PRICES_CSV, "rt", newline="") as f:
        for r in csv.DictReader(f):
            t = int(r["open_time_ms"]) + CANDLE_MS[r["interval"]]
            if not START_MS <= t < END_MS:
                continue
            series[(r["venue"], r["symbol"])].setdefault(t, Decimal(r["close"]))
    for venue, ref in REFERENCE.items():
        for (v, symbol), closes in list(series.items()):
            if v == ref:
                series[(venue, f"{base(symbol)}/USDC:USDC")] = closes
    return {k: (sorted(s), [s[t] for t in sorted(s)]) for k, s in series.items()}


def mark_at(closes: dict[Market, tuple[list[int], list[Decimal]]], m: Market, t: int) -> Decimal:
    """The close of the last candle that closed at or before ``t`` on market ``m``."""
    times, prices = closes[m]
    i = bisect.bisect_right(times, t)
    assert i > 0, f"no candle closed at or before {iso(t)} on {m}"
    return prices[i - 1]


def fee_rates() -> dict[str, dict[str, Decimal]]:
    table = tomllib.loads(CONFIG.read_text())["fees"]["venues"]
    return {v: {k: Decimal(x) for k, x in rates.items()} for v, rates in table.items()}


# ---- the shadow ledger -----------------------------------------------------------------------
def position_before(fills: list[Fill], m: Market, t: int) -> Decimal:
    return sum((f.signed for f in fills if (f.venue, f.symbol) == m and f.time < t), Decimal(0))


def shadow_payments(run: Run) -> dict[tuple[str, str, int], Payment]:
    closes = candle_closes()
    out = {}
    for venue, symbol, t, rate, row_mark in funding_rows():
        qty = position_before(run.fills, (venue, symbol), t)
        if qty == 0:
            continue
        mark = row_mark if row_mark is not None else mark_at(closes, (venue, symbol), t)
        out[(venue, symbol, t)] = Payment(qty, mark, rate, -(qty * mark * rate))
    return out


@dataclass
class LegLedger:
    qty: Decimal = Decimal(0)
    avg: Decimal = Decimal(0)
    realised: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)


def shadow_legs(fills: list[Fill]) -> dict[Market, LegLedger]:
    """Average cost per leg: adding re-averages, reducing realises against the average,
    crossing zero closes the old side and opens the rest at the fill price."""
    legs: dict[Market, LegLedger] = defaultdict(LegLedger)
    for f in fills:  # in time order (then partition, offset: the order the venue filled them)
        leg = legs[(f.venue, f.symbol)]
        leg.fees += f.fee
        q = f.signed
        if leg.qty == 0 or (leg.qty > 0) == (q > 0):
            new = leg.qty + q
            leg.avg = (abs(leg.qty) * leg.avg + abs(q) * f.price) / abs(new)
            leg.qty = new
            continue
        closed = min(abs(q), abs(leg.qty))
        sign = 1 if leg.qty > 0 else -1
        leg.realised += closed * (f.price - leg.avg) * sign
        new = leg.qty + q
        if new == 0:
            leg.avg = Decimal(0)
        elif (new > 0) != (leg.qty > 0):
            leg.avg = f.price
        leg.qty = new
    return legs


def last_close(m: Market) -> Decimal:
    closes = candle_closes()
    return closes[m][1][-1]


def close_to(a: Decimal, b: Decimal) -> bool:
    with localcontext() as ctx:
        ctx.prec = 80
        return abs(a - b) <= TOTAL_TOLERANCE


def exact_sum(values: list[Decimal]) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 80
        return sum(values, Decimal(0))


def money(run: Run, key: str) -> Decimal:
    return Decimal(str(run.summary[key]))


# ---- the checks ------------------------------------------------------------------------------
def test_the_run_trades_on_hourly_and_8_hourly_legs(run: Run) -> None:
    """The window is worth checking: several arbs, payments on both kinds of schedule."""
    assert run.summary["arbs_opened"] >= 5
    assert len(run.fills) == run.summary["fills"] >= 20
    assert len(run.paid) == run.summary["funding_payments"]
    expected = shadow_payments(run)
    assert sum(1 for v, _, _ in expected if v in HOURLY) >= 100
    assert sum(1 for v, _, _ in expected if v not in HOURLY) >= 10
    assert not any(":" not in f.symbol for f in run.fills), "spot legs: borrow is not shadowed"
    assert any(leg.qty != 0 for leg in shadow_legs(run.fills).values())  # unrealised is checked


def test_every_fee_is_qty_times_price_times_the_configured_rate(run: Run) -> None:
    rates = fee_rates()
    wrong = []
    for f in run.fills:
        assert f.liquidity in ("taker", "maker"), f
        assert f.fee_currency.upper() in USD_LIKE, f
        rate = rates[f.venue][f.liquidity]
        expected = (f.qty * f.price * rate).quantize(FEE_STEP, rounding=ROUND_HALF_EVEN)
        if f.fee != expected:
            wrong.append(
                f"{iso(f.time)} {f.venue} {f.symbol} {f.side} {f.qty} @ {f.price} "
                f"{f.liquidity}: fee {f.fee}, expected {expected} (rate {rate})"
            )
    assert not wrong, f"{len(wrong)} of {len(run.fills)} fees differ:\n" + "\n".join(wrong)
    total = sum((f.fee for f in run.fills), Decimal(0))
    assert total == money(run, "fees_usd")
    assert money(run, "borrow_usd") == 0


def test_price_pnl_by_average_cost_per_leg_and_in_total(run: Run) -> None:
    legs = shadow_legs(run.fills)
    wrong = []
    for m, leg in sorted(legs.items()):
        stored = run.legs.get(m)
        if stored is None:
            wrong.append(f"{m}: no PositionChanged in the store")
            continue
        for name, mine, theirs in (
            ("qty", leg.qty, stored["qty"]),
            ("realised", leg.realised, stored["realised_pnl_usd"]),
            ("fees", leg.fees, stored["fees_usd"]),
        ):
            if mine != theirs:
                wrong.append(f"{m} {name}: shadow {mine}, run {theirs}")
    assert not wrong, "legs differ from their last PositionChanged:\n" + "\n".join(wrong)
    realised = sum((leg.realised for leg in legs.values()), Decimal(0))
    unrealised = sum(
        (leg.qty * (last_close(m) - leg.avg) for m, leg in legs.items() if leg.qty != 0),
        Decimal(0),
    )
    reported = money(run, "price_pnl_usd")
    assert realised + unrealised == reported, (
        f"price PnL: shadow realised {realised} + unrealised {unrealised} "
        f"= {realised + unrealised}, run {reported}"
    )


def test_total_is_funding_plus_price_minus_fees_minus_borrow(run: Run) -> None:
    funding, price = money(run, "funding_pnl_usd"), money(run, "price_pnl_usd")
    fees, borrow = money(run, "fees_usd"), money(run, "borrow_usd")
    total = money(run, "total_pnl_usd")
    # exactly, in the Decimal arithmetic the run uses (28 significant digits) ...
    assert funding + price - fees - borrow == total
    # ... and to 1e-18 in exact arithmetic (the last of 28 digits is rounded)
    assert close_to(exact_sum([funding, price, -fees, -borrow]), total)


def describe(p: Payment | None, side: str) -> str:
    if p is None:
        return f"{side}: none"
    return f"{side}: qty {p.qty} × mark {p.mark} × rate {p.rate} → {p.amount}"


def nearest_fill_ms(run: Run, m: Market, t: int, after: bool) -> str:
    times = [f.time - t for f in run.fills if (f.venue, f.symbol) == m]
    near = [d for d in times if (d >= 0 if after else d < 0)]
    if not near:
        return ""
    d = min(near) if after else max(near)
    return f" (nearest fill {'at/after' if after else 'before'} T: {d:+d} ms)"


def test_every_funding_payment_is_the_position_held_at_settlement(run: Run) -> None:
    expected = shadow_payments(run)
    missing = sorted(set(expected) - set(run.paid))
    extra = sorted(set(run.paid) - set(expected))
    different = sorted(k for k in set(expected) & set(run.paid) if expected[k] != run.paid[k])
    # the amounts must match, not only the inputs: compare them on their own too
    amounts = sorted(
        k for k in set(expected) & set(run.paid) if expected[k].amount != run.paid[k].amount
    )
    lines = []
    for k in missing:
        lines.append(
            f"MISSED {k[0]} {k[1]} {iso(k[2])}: {describe(expected[k], 'shadow')}; "
            f"run paid nothing{nearest_fill_ms(run, k[:2], k[2], after=True)}"
        )
    for k in extra:
        lines.append(
            f"EXTRA  {k[0]} {k[1]} {iso(k[2])}: shadow position at T is 0; "
            f"{describe(run.paid[k], 'run')}{nearest_fill_ms(run, k[:2], k[2], after=True)}"
        )
    for k in different:
        lines.append(
            f"DIFF   {k[0]} {k[1]} {iso(k[2])}: {describe(expected[k], 'shadow')}; "
            f"{describe(run.paid[k], 'run')}"
        )
    assert not (missing or extra or different or amounts), (
        f"{len(expected)} payments due, {len(run.paid)} paid: {len(missing)} missed, "
        f"{len(extra)} paid to a position that did not exist at T, {len(different)} with other "
        f"inputs ({len(amounts)} other amounts)\n" + "\n".join(lines)
    )


def test_funding_totals_match_the_shadow(run: Run) -> None:
    expected = shadow_payments(run)
    shadow_total = exact_sum([p.amount for p in expected.values()])
    run_total = exact_sum([p.amount for p in run.paid.values()])
    reported = money(run, "funding_pnl_usd")
    assert close_to(run_total, reported), "the summary is not the sum of the run's own payments"
    per_leg: dict[Market, list[Decimal]] = defaultdict(list)
    for (venue, symbol, _), p in expected.items():
        per_leg[(venue, symbol)].append(p.amount)
    wrong = [
        f"{m}: shadow {exact_sum(per_leg.get(m, []))}, run {stored['funding_usd']}"
        for m, stored in sorted(run.legs.items())
        if not close_to(exact_sum(per_leg.get(m, [])), stored["funding_usd"])
    ]
    assert close_to(shadow_total, reported) and not wrong, (
        f"funding: shadow {shadow_total}, run {reported} (diff {reported - shadow_total})\n"
        + "\n".join(wrong)
    )


# ---- the forecast's accuracy, recomputed from the raw funding rows -------------------------
def _pearson_slope(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    n = len(pairs)
    mf = sum(f for f, _ in pairs) / n
    mr = sum(r for _, r in pairs) / n
    sff = sum((f - mf) ** 2 for f, _ in pairs)
    srr = sum((r - mr) ** 2 for _, r in pairs)
    sfr = sum((f - mf) * (r - mr) for f, r in pairs)
    return sfr / (sff * srr) ** 0.5, sfr / sff


def test_forecast_accuracy_recomputed_from_the_raw_funding_rows(run: Run) -> None:
    """summary.forecast_accuracy: every cross-venue pair of one asset, sampled each UTC day,
    an EWMA of the settlements at or before the day (config/strategy.toml's [forecast]) vs the
    settled funding of the next 24 h / 168 h; by plain float code from the CSV rows."""
    params = tomllib.loads(CONFIG.read_text())["forecast"]
    half_life, window = float(params["half_life_h"]), int(params["window_h"])
    shrink = float(params.get("shrink", "0"))
    assert params.get("prior", "zero") == "zero"  # the recompute below shrinks toward 0
    series: dict[Market, list[tuple[int, float]]] = defaultdict(list)
    with gzip.open(FUNDING_CSV, "rt") as fh:
        for row in csv.DictReader(fh):
            t = int(row["funding_time_ms"])
            asset = row["symbol"].split("/")[0]
            if row["venue"] in VENUES and asset in ASSETS and START_MS <= t < END_MS:
                series[(row["venue"], row["symbol"])].append((t, float(row["funding_rate"])))
    interval: dict[Market, int] = {}
    for key, pts in series.items():
        pts.sort()
        gaps: dict[int, int] = defaultdict(int)
        for (a, _), (b, _) in itertools.pairwise(pts):
            gaps[round((b - a) / HOUR_MS)] += 1
        interval[key] = min(gaps, key=lambda h: (-gaps[h], h))

    def forecast(key: Market, t: int) -> float:
        past = [(u, r) for u, r in series[key] if u <= t]
        latest = past[-1][0]
        num = den = 0.0
        for u, r in past:
            age = (latest - u) // HOUR_MS
            if age < window:
                w = 0.5 ** (age / half_life) if half_life else 1.0
                num += w * r
                den += w
        return (1 - shrink) * num / den / interval[key]

    def realised(key: Market, t: int, h: int) -> float | None:
        pts = series[key]
        if pts[-1][0] < t + h * HOUR_MS:
            return None
        return sum(r for u, r in pts if t < u <= t + h * HOUR_MS) / h

    day = 24 * HOUR_MS
    acc = run.summary["forecast_accuracy"]
    for h in (24, 168):
        pairs: list[tuple[float, float]] = []
        keys = sorted(series)
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                if a[0] == b[0] or a[1].split("/")[0] != b[1].split("/")[0]:
                    continue
                t = (max(series[a][0][0], series[b][0][0]) + day - 1) // day * day
                while (ra := realised(a, t, h)) is not None and (
                    rb := realised(b, t, h)
                ) is not None:
                    pairs.append((forecast(b, t) - forecast(a, t), rb - ra))
                    t += day
        got = acc[f"{h}h"]["forecast"]
        assert got["samples"] == len(pairs) > 100
        corr, slope = _pearson_slope(pairs)
        assert abs(got["correlation"] - corr) < 1e-5
        assert abs(got["slope"] - slope) < 1e-5
        signed = [(f, r) for f, r in pairs if f != 0 and r != 0]
        hits = sum(1 for f, r in signed if (f > 0) == (r > 0)) / len(signed)
        assert abs(got["sign_hit_rate"] - hits) <= 1 / len(signed) + 1e-6
