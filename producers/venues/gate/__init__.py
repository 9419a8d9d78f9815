"""Gate: USDT perpetual futures (``BTC/USDT:USDT``, ``BTC_USDT``) and spot, cross margin.

* Funding every 8 h by default, ``funding_interval`` (seconds) per contract, which ccxt turns
  into ``interval`` (https://www.gate.io/docs/developers/apiv4/#get-a-single-contract).
* The client order id is ``text``: it must start with ``t-`` and be ≤ 30 chars in all
  (https://www.gate.io/docs/developers/apiv4/#create-an-order).
* Spot margin: ``account=cross_margin`` with ``auto_borrow`` / ``auto_repay`` — the classic
  account's cross margin, so ccxt is told the account is not unified (``unifiedAccount``
  False; otherwise it asks ``GET /account/detail`` before the first private call).
"""

from decimal import Decimal
from types import MappingProxyType

from schemas.venues import ClientIdRule, PublishedFees, VenueSpec

SPEC = VenueSpec(
    id="gate",
    perp_symbol="{asset}/USDT:USDT",
    spot_symbol="{asset}/USDT",
    funding_interval_h=8,
    settlement="discrete",
    funding_history_sign=1,
    fees=PublishedFees(
        maker=Decimal("0.0002"),
        taker=Decimal("0.0005"),
        source="https://www.gate.io/fee (perpetual futures, VIP 0: 0.02 % maker, 0.05 % taker)",
    ),
    client_id=ClientIdRule(
        field="text", pattern=r"t-[A-Za-z0-9_.-]{1,28}", prefix="t-", hex_digits=26
    ),
    spot_margin_open=MappingProxyType({"marginMode": "cross", "auto_borrow": True}),
    spot_margin_close=MappingProxyType({"marginMode": "cross", "auto_repay": True}),
    options=MappingProxyType({"unifiedAccount": False}),
    credentials=("apiKey", "secret"),
    docs="https://www.gate.io/docs/developers/apiv4/",
)
