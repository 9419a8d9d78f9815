"""Hyperliquid: USDC perpetuals (``BTC/USDC:USDC``); no spot margin, so no spot legs here.

* Funding settles **every hour**; the ``funding`` of ``metaAndAssetCtxs`` is the hourly rate
  and the venue sends no funding time, ccxt stamps the next hour
  (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/funding).
* Funding history (``userFunding``): ``usdc`` > 0 received, with ``szi`` (signed size) and
  ``fundingRate``.
* ``cloid`` is a 128-bit hex string ``0x`` + 32 hex digits
  (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/exchange-endpoint).
* Market orders are IOC limits around a reference price; ccxt needs that price.
* Credentials: the wallet address and the API wallet's private key.
* ccxt options: no builder-fee approval and no referral are signed on the user's wallet
  (``approvedBuilderFee``, ``refSet``), and the account is not in unified-margin mode.
"""

from types import MappingProxyType

from producers.venue import VenueSpec

SPEC = VenueSpec(
    id="hyperliquid",
    perp_symbol="{asset}/USDC:USDC",
    spot_symbol=None,
    funding_interval_h=1,
    settlement="hourly",
    funding_history_sign=1,
    client_id_pattern=r"0x[0-9a-f]{32}",
    venue_client_id_field="cloid",
    market_order_needs_price=True,
    options=MappingProxyType(
        {
            "approvedBuilderFee": True,
            "builderFee": False,
            "refSet": True,
            "enableUnifiedMargin": False,
        }
    ),
    credentials=("walletAddress", "privateKey"),
    docs="https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api",
)
