"""Candle volume units of the recorded price files: contracts → base units (pure).

The normalized candle format (``data/PROVENANCE.md``) holds ``volume`` in base units, and the
event builder reads a ticker's ``quote_volume_24h`` as Σ volume × close. The finm33150 candles
(``data/candles.parquet`` of github.com/0xknxwledge/group-m-finm33150-final, fetched with ccxt's
``fetch_ohlcv``) hold each venue's volume "as returned", and OKX returns swap candle volume in
**contracts** (ccxt's okx ``parseOHLCV`` reads ``vol``, the contract count, for SWAP markets;
OKX ``GET /api/v5/market/candles``: ``vol`` = contracts for derivatives). Read as base units,
OKX's BTC leg showed ~8e11 USD of 24 h volume. One contract is ``ctVal`` base units (OKX
``GET /api/v5/public/instruments``): BTC-USDT-SWAP 0.01 BTC (tests/resources/okx/markets.json),
ETH 0.1, SOL 1, DOGE 1000, HYPE 0.1. Checked on the bundled slice (median over the 2,160 hours
both venues have): with these, OKX's hourly base volume is 0.39–0.82 × Binance's for all five
coins; read raw it was 52× (BTC), 8× (ETH), 4× (HYPE) and 0.0007× (DOGE).

The aha-hh 8 h file's OKX rows are in base units already (its OKX BTC linear perp trades about
what Bybit's does), so the sizes are keyed by source file (name prefix, any extension), not by
venue alone.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

#: file-name prefix → {(venue, symbol): base units per contract} of its contract-volume series
CONTRACT_VOLUME_SIZES: dict[str, dict[tuple[str, str], Decimal]] = {
    "finm33150_perp_ohlcv_": {
        ("okx", "BTC/USDT:USDT"): Decimal("0.01"),
        ("okx", "ETH/USDT:USDT"): Decimal("0.1"),
        ("okx", "SOL/USDT:USDT"): Decimal("1"),
        ("okx", "DOGE/USDT:USDT"): Decimal("1000"),
        ("okx", "HYPE/USDT:USDT"): Decimal("0.1"),
    },
}


def volume_contract_size(path: Path, venue: str, symbol: str) -> Decimal:
    """Base units per unit of the ``volume`` column of ``venue``/``symbol`` candles in the file
    at ``path``: the contract size where that file records contracts, else 1."""
    for prefix, sizes in CONTRACT_VOLUME_SIZES.items():
        if path.name.startswith(prefix):
            return sizes.get((venue, symbol), Decimal(1))
    return Decimal(1)
