"""Binance: USDⓈ-M perpetuals (``BTC/USDT:USDT``) and spot (``BTC/USDT``).

Short spot legs trade on cross margin.


* Funding every 8 h, 4 h on some contracts (``fundingIntervalHours`` of
  ``GET /fapi/v1/fundingInfo``; HYPE is 4 h in our data): https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Get-Funding-Rate-Info
* Funding history is the ``FUNDING_FEE`` income ledger: ``income`` > 0 is received
  (https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Get-Income-History).
  It carries no position size, rate or mark, so the connector supplies them from its view.
* ``newClientOrderId`` ≤ 36 chars of ``[.A-Z:/a-z0-9_-]``
  (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Order).
* Websocket funding: the mark price stream ``<symbol>@markPrice@1s`` (ccxt.pro
  ``watch_mark_prices``) carries ``r`` (funding rate), ``T`` (next funding time), ``p``
  (mark), ``i`` (index), ``P`` (estimated settle price), ``E`` (event time), the fields of
  ``GET /fapi/v1/premiumIndex`` under short names
  (https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream);
  it has no bid/ask, so tickers stay on the REST poll.
* Spot short on margin: ``POST /sapi/v1/margin/order`` (ccxt routes there on ``marginMode``)
  with ``sideEffectType=MARGIN_BUY`` to borrow and ``AUTO_REPAY`` to repay
  (https://developers.binance.com/docs/margin_trading/trade/Margin-Account-New-Order).
"""

from decimal import Decimal
from types import MappingProxyType

from schemas.venues import ClientIdRule, PublishedFees, VenueSpec

SPEC = VenueSpec(
    id="binance",
    perp_symbol="{asset}/USDT:USDT",
    spot_symbol="{asset}/USDT",
    funding_interval_h=8,
    interval_overrides_h=MappingProxyType({"HYPE": 4}),
    settlement="discrete",
    funding_history_sign=1,
    fees=PublishedFees(
        maker=Decimal("0.0002"),
        taker=Decimal("0.0005"),
        source=(
            "https://www.binance.com/en/fee/futureFee "
            "(USDⓈ-M perpetuals, regular user / VIP 0, 2025-2026)"
        ),
    ),
    client_id=ClientIdRule(field="newClientOrderId", pattern=r"[.A-Z:/a-z0-9_-]{1,36}"),
    spot_margin_open=MappingProxyType({"marginMode": "cross", "sideEffectType": "MARGIN_BUY"}),
    spot_margin_close=MappingProxyType({"marginMode": "cross", "sideEffectType": "AUTO_REPAY"}),
    credentials=("apiKey", "secret"),
    docs="https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info",
)
