"""Bybit v5: linear perpetuals (``BTC/USDT:USDT``) and spot, unified trading account.

* Funding every 8 h by default; ``fundingIntervalHour`` per instrument, which ccxt turns into
  ``interval`` (https://bybit-exchange.github.io/docs/v5/market/instrument).
* Funding history is ``GET /v5/execution/list?execType=Funding``: ``execFee`` > 0 is **paid**
  (a fee), ``feeRate`` the settled rate, ``execQty`` × ``side`` the position, ``execPrice`` the
  mark it was valued at (https://bybit-exchange.github.io/docs/v5/order/execution). ccxt keeps
  ``execFee`` as ``amount``, so the sign is flipped here.
* ``orderLinkId`` ≤ 36 chars of ``[A-Za-z0-9_-]``
  (https://bybit-exchange.github.io/docs/v5/order/create-order).
* Spot margin on the unified account: ``isLeverage=1`` borrows and repays automatically
  (https://bybit-exchange.github.io/docs/v5/order/create-order).
* Websocket: the public linear stream's ``tickers.<symbol>`` topic (ccxt.pro ``watch_tickers``)
  sends a snapshot then deltas of the REST ticker's fields, ``fundingRate``,
  ``nextFundingTime``, ``markPrice``, ``bid1Price``/``ask1Price`` included; ccxt merges the
  deltas into the snapshot (https://bybit-exchange.github.io/docs/v5/websocket/public/ticker).
* We run on the unified trading account (UTA); telling ccxt so saves it two account-info
  requests before the first private call.
"""

from decimal import Decimal
from types import MappingProxyType

from schemas.venues import ClientIdRule, FillFilter, FundingRowFields, PublishedFees, VenueSpec

SPEC = VenueSpec(
    id="bybit",
    perp_symbol="{asset}/USDT:USDT",
    spot_symbol="{asset}/USDT",
    funding_interval_h=8,
    settlement="discrete",
    funding_history_sign=-1,
    fees=PublishedFees(
        maker=Decimal("0.0002"),
        taker=Decimal("0.00055"),
        source=(
            "https://www.bybit.com/en/help-center/article/Trading-Fee-Structure "
            "(derivatives, non-VIP, 2025-2026)"
        ),
    ),
    client_id=ClientIdRule(field="orderLinkId", pattern=r"[A-Za-z0-9_-]{1,36}"),
    # execution/list lists funding settlements, ADL and bust trades too: only Trade is a fill
    fill_filter=FillFilter(field="execType", fills=("Trade",)),
    # execType=Funding rows: execQty the position (side Sell = short), execPrice the price it
    # was valued at (execValue = execQty × execPrice), feeRate the settled rate
    funding_row=FundingRowFields(
        position_qty="execQty",
        short_when=("side", "Sell"),
        mark_price="execPrice",
        funding_rate="feeRate",
    ),
    spot_margin_open=MappingProxyType({"isLeverage": 1}),
    spot_margin_close=MappingProxyType({"isLeverage": 1}),
    options=MappingProxyType({"enableUnifiedAccount": True, "enableUnifiedMargin": False}),
    credentials=("apiKey", "secret"),
    docs="https://bybit-exchange.github.io/docs/v5/intro",
)
