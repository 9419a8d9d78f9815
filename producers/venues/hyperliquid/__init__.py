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

from decimal import Decimal
from types import MappingProxyType

from schemas.venues import ClientIdRule, FundingRowFields, PublishedFees, VenueSpec

SPEC = VenueSpec(
    id="hyperliquid",
    perp_symbol="{asset}/USDC:USDC",
    spot_symbol=None,
    funding_interval_h=1,
    settlement="hourly",
    funding_history_sign=1,
    fees=PublishedFees(
        maker=Decimal("0.00015"),
        taker=Decimal("0.00045"),
        source=(
            "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/fees "
            "(perps, tier 0: 0.015 % maker, 0.045 % taker)"
        ),
    ),
    client_id=ClientIdRule(field="cloid", pattern=r"0x[0-9a-f]{32}", prefix="0x", hex_digits=32),
    # userFunding: delta.szi signed size, delta.fundingRate, delta.usdc = -szi × mark × rate
    funding_row=FundingRowFields(
        position_qty="szi", funding_rate="fundingRate", amount="usdc", within="delta"
    ),
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
