"""dYdX v4: USDC-settled perpetuals on the dYdX chain (``BTC/USDC:USDC``, ticker ``BTC-USD``).

Symbols: ccxt 4.5.90 ``dydx.parse_market`` names every perpetual ``<BASE>/USDC:USDC`` (quote
and settle USDC). The bundled funding data writes the same markets ``BTC/USD:USDC`` (the
venue's ``BTC-USD`` ticker, settled in USDC); both are the asset ``BTC``, and live orders use
ccxt's symbol (``perp_symbol``).

* Funding is paid **every hour** (the indexer's ``historicalFunding`` rows are hourly,
  ``nextFundingRate`` of ``/v4/perpetualMarkets`` is the rate of the coming hour)
  (https://docs.dydx.exchange/concepts/trading/funding). The settlement is stamped with the
  block time just after the hour (``effectiveAt`` 05:00:01.053 in ccxt's recorded row); the
  bundled data's dYdX settlements are one hour apart give or take those seconds.
* ccxt 4.5.90's ``dydx`` has no ``fetchFundingRate(s)`` and no ``fetchTicker(s)``: the
  connector reads the market list (``fetchMarkets``, ``GET /v4/perpetualMarkets``), whose
  rows carry ``nextFundingRate``, ``oraclePrice`` (dYdX values positions and funding at the
  oracle price) and ``volume24H`` (USD), and the order book for bid/ask.
* It has no ``fetchMyTrades`` and no ``fetchFundingHistory`` either: our fills and funding
  payments are read from the indexer's ``GET /v4/fills`` and ``GET /v4/fundingPayments``
  through ccxt's implicit ``indexerGetFills`` / ``indexerGetFundingPayments``
  (``account_endpoints="dydx_indexer"``, :mod:`producers.live.account`). A fill carries dYdX's
  ``orderId``, not the ``clientId``: the gateway maps order id → our client order id.
  Funding ``payment`` > 0 is USDC received (``funding_history_sign=1``): the indexer writes
  ``payment = - size × oraclePrice × rate`` with ``size`` the signed net position
  (github.com/dydxprotocol/v4-chain, ``indexer/services/roundtable/src/scripts/
  update_funding_payments.sql`` at commit 0d1509a94c8a944210cd6ecbdd401e8d46da5a34).
  ccxt's ``create_order`` returns as order id a uuid5 of (wallet, subaccount, clientId,
  clobPairId, order flags) in the indexer's namespace (``create_order_id_from_parts``), the
  form of a fill's ``orderId``; not checked against a live indexer here.
* Order placement: ccxt's ``dydx.create_order`` signs a ``MsgPlaceOrder`` with the wallet's
  private key and broadcasts it to a validator node; that cannot be exercised offline (the
  recorded tests stop at reading fills and funding).
* The client order id is ``clientId``, a **uint32** (the protocol's ``OrderId.client_id``;
  ccxt's ``create_order`` reads it as an integer; the recorded orders carry e.g.
  ``"clientId": "522832734"``): https://docs.dydx.exchange/api_integration-indexer/indexer_api.
  We send the first 32 bits of our order hash in decimal.
* No spot. Credentials: the dYdX chain wallet address and its private key.
"""

from decimal import Decimal

from schemas.venues import (
    ClientIdRule,
    FundingRowFields,
    MarketsFeed,
    PublishedFees,
    VenueSpec,
)

SPEC = VenueSpec(
    id="dydx",
    perp_symbol="{asset}/USDC:USDC",
    spot_symbol=None,
    funding_interval_h=1,
    settlement="hourly",
    funding_history_sign=1,
    fees=PublishedFees(
        maker=Decimal("0.0001"),
        taker=Decimal("0.0005"),
        source=(
            "https://docs.dydx.exchange/concepts/trading/fees (fee tier 1, < 1M USD 30-day "
            "volume: 0.01 % maker, 0.05 % taker)"
        ),
    ),
    markets_feed=MarketsFeed(
        funding_rate="nextFundingRate", mark_price="oraclePrice", quote_volume_24h="volume24H"
    ),
    top_of_book_in_ticker=False,
    account_endpoints="dydx_indexer",
    funding_row=FundingRowFields(
        position_qty="signedSize", mark_price="oraclePrice", funding_rate="rate"
    ),
    # a uint32: the hash's first 32 bits in decimal
    client_id=ClientIdRule(field="clientId", pattern=r"[0-9]{1,10}", decimal_bits=32),
    credentials=("walletAddress", "privateKey"),
    docs="https://docs.dydx.exchange/api_integration-indexer/indexer_api",
)
