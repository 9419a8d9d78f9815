"""Bitget v2: USDT-M perpetuals (``BTC/USDT:USDT``) and spot, cross margin with auto-loan.

* Funding every 8 h by default, ``fundingRateInterval`` per contract (ccxt ``interval``)
  (https://www.bitget.com/api-doc/contract/market/Get-Current-Funding-Rate).
* ``clientOid`` ≤ 50 chars (https://www.bitget.com/api-doc/contract/trade/Place-Order).
* Spot margin: ``loanType=autoLoan`` to borrow, ``autoRepay`` to repay
  (https://www.bitget.com/api-doc/margin/cross/trade/Cross-Place-Order).
* Credentials include the API passphrase (ccxt ``password``).
* We trade the classic (v2) account — its cross-margin spot params above — so ccxt is told
  the account is not a unified trading account (``uta`` False); otherwise it asks
  ``GET /api/v3/account/settings`` before the first call and switches to the v3 endpoints.
"""

from decimal import Decimal
from types import MappingProxyType

from schemas.venues import ClientIdRule, PublishedFees, VenueSpec

SPEC = VenueSpec(
    id="bitget",
    perp_symbol="{asset}/USDT:USDT",
    spot_symbol="{asset}/USDT",
    funding_interval_h=8,
    settlement="discrete",
    funding_history_sign=1,
    fees=PublishedFees(
        maker=Decimal("0.0002"),
        taker=Decimal("0.0006"),
        source="https://www.bitget.com/fee (USDT-M futures, VIP 0: 0.02 % maker, 0.06 % taker)",
    ),
    client_id=ClientIdRule(field="clientOid", pattern=r"[A-Za-z0-9_#:.-]{1,50}"),
    spot_margin_open=MappingProxyType({"marginMode": "cross", "loanType": "autoLoan"}),
    spot_margin_close=MappingProxyType({"marginMode": "cross", "loanType": "autoRepay"}),
    options=MappingProxyType({"uta": False}),
    credentials=("apiKey", "secret", "password"),
    docs="https://www.bitget.com/api-doc/common/intro",
)
