"""Kraken Futures: multi-collateral linear perpetuals (``BTC/USD:USD``, ``PF_XBTUSD``).

Our venue id is ``kraken`` (the bundled funding and price data name it so); ccxt's class for
the futures venue is ``krakenfutures`` (ccxt's ``kraken`` is the spot exchange), hence
``ccxt_id``. ccxt maps the flexible (``PF_``) perpetuals to ``<BASE>/USD:USD`` — the symbols
the bundled data uses (``kraken,BTC/USD:USD``); ``PI_`` inverse perps (``BTC/USD:BTC``) are
not traded (the position book refuses inverse contracts).

* Funding is paid **every hour**; the tickers endpoint's ``fundingRate`` is an *absolute*
  rate (USD per contract per hour) and ``fundingRatePrediction`` the next one
  (https://docs.kraken.com/api/docs/futures-api/trading/get-tickers); the historical rates
  carry both ``fundingRate`` (absolute) and ``relativeFundingRate``
  (https://docs.kraken.com/api/docs/futures-api/trading/historical-funding-rates). ccxt
  4.5.90 ``krakenfutures.parse_funding_rate`` divides the absolute rate by ``markPrice`` into
  a relative rate per hour (clamped to ±25 %), sets ``interval`` ``1h`` and no funding time,
  so we stamp the next whole hour (``settlement="hourly"``). The bundled funding data agrees:
  2,258 of the 2,261 gaps between its kraken BTC settlements are exactly one hour.
* Funding payments are the account log's ``funding rate change`` rows (ccxt
  ``fetchFundingHistory``, https://docs.kraken.com/api-reference/account-history/get-account-log):
  ``realized_funding`` > 0 is received (the row's ``new_balance`` − ``old_balance``), with the
  ``mark_price`` it was valued at; its ``funding_rate`` is again the *absolute* rate, so the
  relative rate follows from the amount and the position (``−amount / (qty × mark)``).
* Fills (``GET /fills``) carry no fee: ccxt estimates it from the market's maker/taker rate.
* ``cliOrdId`` ≤ 100 chars (https://docs.kraken.com/api/docs/futures-api/trading/send-order).
* No spot legs here (Kraken spot margin is another API). Credentials: API key and secret.
"""

from decimal import Decimal

from schemas.venues import ClientIdRule, FundingRowFields, PublishedFees, VenueSpec

SPEC = VenueSpec(
    id="kraken",
    ccxt_id="krakenfutures",
    perp_symbol="{asset}/USD:USD",
    spot_symbol=None,
    funding_interval_h=1,
    settlement="hourly",
    funding_history_sign=1,
    fees=PublishedFees(
        maker=Decimal("0.0002"),
        taker=Decimal("0.0005"),
        source=(
            "Kraken Futures fee schedule, first tier (< 100k USD 30-day volume), as in ccxt's "
            "recorded krakenfutures fetchTradingFees reply (ts/src/test/static/response/"
            "krakenfutures.json: makerFee 0.02, takerFee 0.05 percent at usdVolume 0)"
        ),
    ),
    funding_row=FundingRowFields(mark_price="mark_price"),  # position: the connector's view
    client_id=ClientIdRule(field="cliOrdId", pattern=r"[A-Za-z0-9_-]{1,100}"),
    credentials=("apiKey", "secret"),
    docs="https://docs.kraken.com/api/docs/futures-api/trading/",
)
