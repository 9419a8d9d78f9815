"""Paradex: USD-quoted, USDC-settled perpetuals (``BTC/USD:USDC``, ``BTC-USD-PERP``).

* Funding **accrues continuously** against a funding index; ``funding_rate`` of the markets
  summary is the amount for a whole funding period (``funding_period_hours``, 8 h by
  default), so there is no settlement time: the connector stamps the next hour as the
  accrual snapshot (https://docs.paradex.trade/risk-system/funding-mechanism).
* ``client_id`` ≤ 64 chars (https://docs.paradex.trade/api/prod/orders/new).
* No spot margin. Credentials: the Starknet/Ethereum account and its private key.
"""

from decimal import Decimal

from schemas.venues import ClientIdRule, PublishedFees, VenueSpec

SPEC = VenueSpec(
    id="paradex",
    perp_symbol="{asset}/USD:USDC",
    spot_symbol=None,
    funding_interval_h=8,
    settlement="continuous",
    funding_history_sign=1,
    fees=PublishedFees(
        maker=Decimal("0"),
        taker=Decimal("0.0002"),
        source="https://docs.paradex.trade (trading fees, retail perps; table of 2025-2026)",
    ),
    client_id=ClientIdRule(field="client_id", pattern=r"[A-Za-z0-9_-]{1,64}"),
    credentials=("walletAddress", "privateKey"),
    docs="https://docs.paradex.trade/api/prod",
)
