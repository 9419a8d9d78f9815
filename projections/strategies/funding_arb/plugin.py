"""The funding arbitrage as a plug-in (:class:`projections.strategies.base.Strategy`).

A thin adapter over :func:`projections.strategies.funding_arb.strategy.decide`: its
parameters are the strategy file's ``[entry]``, ``[exits]``, ``[capacity]`` and
``[forecast]`` tables, and it never enters a pair with a leg on a market another strategy
owns (``reserved``: a venue nets the positions of one market, so two strategies there would
trade against each other's inventory).
"""

from __future__ import annotations

from dataclasses import dataclass

from projections.board import FeedKey, candidate_pairs
from projections.positions import PositionBook
from projections.strategies.base import Breakers, MarketView
from projections.strategies.funding_arb import strategy as st
from schemas.config import StrategyConfig
from schemas.events import Event
from schemas.strategy_specs import FundingArbSpec


@dataclass(frozen=True)
class FundingArb:
    """The cross-venue funding-rate arbitrage (module docstring of ``strategy.py``)."""

    spec: FundingArbSpec
    config: StrategyConfig
    reserved: frozenset[FeedKey] = frozenset()
    delta_neutral: bool = True

    @property
    def id(self) -> str:
        return self.spec.id

    def initial_state(self) -> st.StrategyState:
        return st.StrategyState()

    def decide(
        self,
        state: st.StrategyState,
        market: MarketView,
        book: PositionBook,
        breakers: Breakers,
        now: int,
        cause: str | None,
    ) -> tuple[st.StrategyState, list[Event]]:
        pairs = market.pairs
        if self.reserved:
            if pairs is None:
                pairs = candidate_pairs(market.board, self.config, now)
            pairs = [
                q for q in pairs if q.long not in self.reserved and q.short not in self.reserved
            ]
        return st.decide(
            market.asset,
            market.board,
            book,
            state,
            self.config,
            now,
            cause,
            breakers,
            pairs,
            strategy_id=self.id,
        )

    def stale(self, state: st.StrategyState, market: MarketView, now: int) -> str | None:
        plan = state.live_for(market.asset)
        if plan is None:
            return None
        return st.stale_leg(plan, market.board, self.config, now)
