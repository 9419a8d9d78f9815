"""A tiny engine for tests: the executor, the paper venue and the position book of one asset,
wired in event order without a broker (the pure parts the backtest folds), recording every
event it saw so a test can audit them or check them against each other."""

from __future__ import annotations

from decimal import Decimal

from producers.paper import PaperVenue
from projections import executor as ex
from projections import positions as pos
from schemas.config import ExecutionConfig
from schemas.events import Event, FillExecuted, FundingPaid, PlaceOrder, TargetLeg
from schemas.types import MarketType
from tests import stubs

H = 3_600_000


def leg(venue: str, instrument: str, qty: Decimal) -> TargetLeg:
    return TargetLeg(
        venue=venue, instrument=instrument, market_type=MarketType.perp, target_qty=qty
    )


class Loop:
    """Executor ⇄ paper venue ⇄ position book of ``asset``; ``events`` holds everything."""

    def __init__(self, venue: PaperVenue, config: ExecutionConfig, asset: str = "BTC") -> None:
        self.venue = venue
        self.config = config
        self.state = ex.ExecutorState(asset)
        self.book = pos.PositionBook(asset)
        self.quotes: dict[tuple[str, str], ex.Quote] = {}
        self.events: list[Event] = []
        self.placed: list[PlaceOrder] = []
        self.fills: list[FillExecuted] = []
        self.payments: list[FundingPaid] = []

    def market(
        self,
        t: int,
        mids: dict[tuple[str, str], Decimal],
        rates: dict[tuple[str, str], Decimal] | None = None,
    ) -> None:
        """Quotes (mid ± 0.05) at ``t``, and settled funding at ``rates`` when given."""
        for (v, inst), mid in mids.items():
            bid, ask = mid - Decimal("0.05"), mid + Decimal("0.05")
            self.quotes[(v, inst)] = ex.Quote(bid, ask)
            self.book = pos.mark(self.book, v, inst, mid)
            self._venue(
                stubs.ticker_observed(
                    venue=v, instrument=inst, bid=bid, ask=ask, mark_price=mid, event_time=t
                )
            )
            if rates is not None and (v, inst) in rates:
                self._venue(
                    stubs.funding_observed(
                        venue=v,
                        instrument=inst,
                        funding_rate=rates[(v, inst)],
                        mark_price=mid,
                        funding_time=t,
                        next_funding_time=t + 8 * H,
                        event_time=t,
                    )
                )
        self.reconcile(t)

    def intent(self, e: Event) -> None:
        self.events.append(e)
        self.state = ex.apply(self.state, e)
        self.reconcile(e.event_time)

    def reconcile(self, t: int) -> None:
        for i in range(50):
            self.state, cmds = ex.reconcile(self.state, self.quotes, self.config, t + i)
            if not cmds:
                return
            for c in cmds:
                if isinstance(c, PlaceOrder):
                    self.placed.append(c)
                self._venue(c)

    def _venue(self, e: Event) -> None:
        self.events.append(e)
        for out in self.venue.on_event(e):
            self.events.append(out)
            if isinstance(out, FillExecuted):
                self.book = pos.apply(self.book, out)
                self.fills.append(out)
            elif isinstance(out, FundingPaid):
                self.book = pos.apply(self.book, out)
                self.payments.append(out)
            self.state = ex.apply(self.state, out)
