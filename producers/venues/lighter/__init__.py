"""Lighter: USDC perpetuals (``ETH/USDC:USDC``, integer ``market_id``).

* Funding settles **every hour**; ``GET /api/v1/funding-rates`` lists rates of several
  exchanges (an ``exchange`` field per row): only ``exchange == "lighter"`` rows are Lighter's
  (https://apidocs.lighter.xyz/reference/funding-rates).
* Settled rates (``GET /api/v1/fundings``) come as a **magnitude plus the side that pays**:
  ``rate`` ≥ 0 in percent of notional for the hour, ``direction`` ``long`` or ``short``,
  ``timestamp`` in seconds (field names: Lighter's OpenAPI model ``Funding``, as generated in
  the lighter-rust SDK; units and convention: the df-lighter-core SDK's docs,
  https://docs.rs/crate/df-lighter-core/latest/source/src/markets/funding.rs). The parser
  signs it explicitly (+ when longs pay), see ``settled_funding``; the connector polls the
  last hours of them beside the live estimate (``VenueConnector._settled``).
* The ticker (``orderBookDetails``) has no bid/ask: the connector reads the order book.
* The client order id is an integer ``client_order_index`` < 2^48 (the executor sends the
  first 48 bits of its hash in decimal) (https://apidocs.lighter.xyz/docs/trading).
* No spot margin. Credentials: the API key's private key; the account and API-key index are
  ccxt options (default 0), set with ``FUNDARB_LIGHTER_OPTIONS='{"accountIndex": "7"}'``.
"""

from decimal import Decimal
from types import MappingProxyType

from schemas.venues import ClientIdRule, PublishedFees, SettledFundingFields, VenueSpec

SPEC = VenueSpec(
    id="lighter",
    perp_symbol="{asset}/USDC:USDC",
    spot_symbol=None,
    funding_interval_h=1,
    settlement="hourly",
    funding_history_sign=1,
    fees=PublishedFees(
        maker=Decimal("0"),
        taker=Decimal("0"),
        source="https://docs.lighter.xyz (fees: standard accounts pay no trading fees)",
    ),
    client_id=ClientIdRule(field="client_order_index", pattern=r"[0-9]{1,15}", decimal_bits=48),
    settled_funding=SettledFundingFields(
        rate="rate",
        paid_by="direction",
        time="timestamp",
        rate_scale=Decimal("0.01"),  # percent
        time_scale_ms=1000,  # seconds
    ),
    top_of_book_in_ticker=False,
    options=MappingProxyType({"accountIndex": "0", "apiKeyIndex": "0"}),
    credentials=("privateKey",),
    docs="https://apidocs.lighter.xyz/",
)
