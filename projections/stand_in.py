"""The stand-in quote of a venue whose own price feed has gone quiet (pure).

Recorded price series have gaps while the venue kept trading (the bundled Lighter candles stop
for 4–106 h at a time, shared/data/PROVENANCE.md). Filling or pricing an order against a quote
hours old books price PnL no venue would pay: on the bundled window three Lighter/Kraken arbs
showed ~700 USD of it, their Lighter legs sold at a 5–45 h old price while the market had moved
3–5 %. Both the executor (its limit prices) and the paper venue (its fills) therefore price a
leg whose own quote is older than ``max_age_ms`` against the same stand-in:

* mid = the median mid of the OTHER venues' quotes of the same base asset and market type (perp
  or spot) that are at most ``max_age_ms`` old (mean of the two middle ones for an even count);
* the own last quote's relative half-spread kept around it: ``bid = mid × (1 − h)``,
  ``ask = mid × (1 + h)``, ``h = (ask − bid) / 2 / mid_own``.

The assumption is that the venue traded at the other venues' median (the cross-venue basis of
one asset's perps is a few bp on the bundled data); it is an approximation, not a recorded price.
With no fresh quote elsewhere the own last quote stands.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from schemas.types import base_asset, is_spot

ZERO = Decimal(0)

#: (venue, instrument, bid, ask, quote time in ms UTC)
QuoteRow = tuple[str, str, Decimal, Decimal, int]


def stand_in_quote(
    own: QuoteRow, others: Iterable[QuoteRow], now: int, max_age_ms: int
) -> tuple[Decimal, Decimal]:
    """``(bid, ask)`` to price ``own``'s leg at ``now`` (ms UTC): ``own``'s while it is at
    most ``max_age_ms`` old, else the stand-in of the module docstring. ``others`` may include
    ``own`` (skipped by venue) and any other asset's rows (skipped)."""
    venue, instrument, bid, ask, at = own
    if now - at <= max_age_ms:
        return bid, ask
    base, spot = base_asset(instrument), is_spot(instrument)
    mids = sorted(
        (b + a) / 2
        for v, i, b, a, t in others
        if v != venue and now - t <= max_age_ms and is_spot(i) == spot and base_asset(i) == base
    )
    if not mids:
        return bid, ask
    n = len(mids)
    mid = mids[n // 2] if n % 2 else (mids[n // 2 - 1] + mids[n // 2]) / 2
    own_mid = (bid + ask) / 2
    half = (ask - bid) / 2 / own_mid if own_mid > 0 else ZERO
    return mid * (1 - half), mid * (1 + half)
