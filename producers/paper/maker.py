"""The paper venue's maker fill model: when a resting limit order (GTC or post-only) fills.

Pure and small on purpose (:mod:`producers.paper` calls it; issue 19, seeds/002 "maker/taker
assignment"). The model, per quote the venue sees after the order rests:

* a **post-only** order that would take liquidity when it arrives — a buy at or above the ask,
  a sell at or below the bid — is refused (``post_only_would_cross``), as Binance's ``GTX``,
  Bybit's ``PostOnly`` and OKX's ``post_only`` do (:func:`would_take`);
* a resting order fills, **in full, at its own limit price, as maker**, once the market
  **trades through** its price: the opposite side of a later quote reaches it (a buy when the
  ask falls to or below the limit, a sell when the bid rises to or above it) — that quote
  could only exist if every order ahead of ours at that price had been filled
  (:func:`trades_through`).

Queue-position caveats (why this is optimistic and pessimistic at once):

* touching is not enough: a quote whose bid merely *equals* our resting buy says our price is
  the best bid, not that anyone sold to us — we may be behind the whole queue, so no fill;
* a real venue fills an order at its price as soon as enough volume trades there, often
  without the opposite touch crossing it (e.g. a candle's low equal to our bid): the model does
  not see trades, only quotes — the backtest's tickers are candle closes ± a half-spread, with no
  high or low — so it waits for the close to cross, which fills fewer and later orders than a
  venue would (pessimistic for fill rate);
* once crossed it fills the whole remainder at the limit, as if no one else were ahead and the
  market's move left our price untouched (optimistic for size and price; no adverse selection
  beyond the move itself). A resting order therefore fills exactly when a hedge would pay the
  worst of the move: maker-first trades the half-spread and the maker/taker fee difference for
  that adverse selection.
"""

from __future__ import annotations

from decimal import Decimal

from schemas.types import Side


def would_take(side: Side, limit_price: Decimal, bid: Decimal, ask: Decimal) -> bool:
    """Whether a limit order at ``limit_price`` would take liquidity against ``bid``/``ask``
    (quote per base) on arrival: a buy at or above the ask, a sell at or below the bid."""
    return limit_price >= ask if side is Side.buy else limit_price <= bid


def trades_through(side: Side, limit_price: Decimal, bid: Decimal, ask: Decimal) -> bool:
    """Whether a later quote ``bid``/``ask`` fills a resting order at ``limit_price`` (module
    docstring): the opposite touch reached the order's price — the same test as
    :func:`would_take`, applied to a quote that arrived after the order rested."""
    return would_take(side, limit_price, bid, ask)
