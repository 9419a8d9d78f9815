"""OKX swap candles in the finm33150 price file count contracts (producers/history/units.py):
a ticker's 24 h quote volume is recomputed here from the bundled CSV's raw rows with plain code,
each contract worth OKX's ``ctVal`` (tests/resources/okx/markets.json for BTC-USDT-SWAP)."""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal as D
from pathlib import Path

from producers import history as h
from schemas.events import TickerObserved

ROOT = Path(__file__).resolve().parents[2]
PRICES = ROOT / "data/prices/finm33150_perp_ohlcv_1h_2025-12-02_2026-03-07.csv.gz"
OKX_MARKETS = ROOT / "tests/resources/okx/markets.json"
H = 3_600_000


def okx_btc_rows(n: int) -> tuple[str, list[list[str]]]:
    """The bundled file's header and its first ``n`` OKX BTC rows, as text columns."""
    with gzip.open(PRICES, "rt") as f:
        reader = csv.reader(f)
        header = ",".join(next(reader))
        rows = [r for r in reader if r[0] == "okx" and r[1] == "BTC/USDT:USDT"][:n]
    return header, rows


def replay(tmp: Path, name: str, header: str, rows: list[list[str]]) -> list[TickerObserved]:
    prices = tmp / name
    with gzip.open(prices, "wt") as f:
        f.write(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
    funding = tmp / "funding.csv"
    first_close = int(rows[0][4]) + H
    funding.write_text(
        f"venue,symbol,funding_time_ms,funding_rate,mark_price\nokx,BTC/USDT:USDT,{first_close},0.0001,\n"
    )
    out = list(h.merged(h.plan([funding, prices])))
    return [e for e in out if isinstance(e, TickerObserved)]


def btc_contract_size() -> D:
    markets = json.loads(OKX_MARKETS.read_text())["markets"]
    (m,) = [m for m in markets if m["id"] == "BTC-USDT-SWAP"]
    return D(m["info"]["ctVal"])


def test_okx_btc_24h_quote_volume_is_contracts_times_ctval_times_close(tmp_path: Path) -> None:
    header, rows = okx_btc_rows(30)
    tickers = replay(tmp_path, PRICES.name, header, rows)
    assert len(tickers) == 30
    ct_val = btc_contract_size()
    assert ct_val == D("0.01")
    for i, ticker in enumerate(tickers):
        last_day = rows[max(0, i - 23) : i + 1]  # the candles closed in the 24 h up to this one
        plain = sum(D(r[9]) * ct_val * D(r[8]) for r in last_day)
        assert ticker.quote_volume_24h == plain, i
    # a plausible day of OKX BTC swap trading (billions of USD), not ~8e11 USD
    day = tickers[-1].quote_volume_24h
    assert day is not None and D("1e8") < day < D("1e11")


def test_another_file_of_the_same_rows_reads_base_units(tmp_path: Path) -> None:
    # aha-hh's OKX rows are in base units already: only the finm33150 file is converted
    header, rows = okx_btc_rows(3)
    tickers = replay(tmp_path, "aha-hh_spot_perp_ohlcv_8h_x.csv.gz", header, rows)
    assert tickers[-1].quote_volume_24h == sum(D(r[9]) * D(r[8]) for r in rows)


def test_the_contract_sizes_apply_to_okx_alone() -> None:
    path = Path("data/prices/finm33150_perp_ohlcv_1h_2025-03_2026-03.parquet")
    assert h.volume_contract_size(path, "okx", "DOGE/USDT:USDT") == D(1000)
    assert h.volume_contract_size(path, "binance", "BTC/USDT:USDT") == D(1)
    assert h.volume_contract_size(Path("prices.csv"), "okx", "BTC/USDT:USDT") == D(1)
