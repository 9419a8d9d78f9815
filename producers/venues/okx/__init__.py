"""OKX: USDT-margined swaps (``BTC/USDT:USDT``, ``BTC-USDT-SWAP``) and spot, cross margin.

* Funding every 8 h (4 h on some contracts, HYPE in our data); ccxt derives ``interval`` from
  ``fundingTime``/``nextFundingTime`` (https://www.okx.com/docs-v5/en/#public-data-rest-api-get-funding-rate).
* Funding history is the bills ledger (type 8): ``balChg`` > 0 received.
* ``clOrdId`` 1–32 alphanumerics (https://www.okx.com/docs-v5/en/#order-book-trading-trade-post-place-order).
* Spot margin: ``tdMode=cross``; borrowing is automatic in multi-currency and portfolio
  margin account modes.
* Credentials include the API passphrase (ccxt ``password``).
"""

from decimal import Decimal
from types import MappingProxyType

from schemas.venues import ClientIdRule, PublishedFees, VenueSpec

SPEC = VenueSpec(
    id="okx",
    perp_symbol="{asset}/USDT:USDT",
    spot_symbol="{asset}/USDT",
    funding_interval_h=8,
    interval_overrides_h=MappingProxyType({"HYPE": 4}),
    settlement="discrete",
    funding_history_sign=1,
    fees=PublishedFees(
        maker=Decimal("0.0002"),
        taker=Decimal("0.0005"),
        source="https://www.okx.com/fees (perpetual swaps, regular user Lv1, 2025-2026)",
    ),
    client_id=ClientIdRule(field="clOrdId", pattern=r"[A-Za-z0-9]{1,32}"),
    spot_margin_open=MappingProxyType({"marginMode": "cross"}),
    spot_margin_close=MappingProxyType({"marginMode": "cross"}),
    credentials=("apiKey", "secret", "password"),
    docs="https://www.okx.com/docs-v5/en/",
)
