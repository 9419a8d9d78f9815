"""The strategy plug-in contract: what the engine calls, and what it passes.

A strategy is a pure decider over its own state (DESIGN §6 item 2, seeds/000 "target
state"): ``decide(state, market, book, breakers, now, cause) -> (state, intents)``.

* ``state``: this strategy's state (:meth:`Strategy.initial_state` before its first decision);
  an immutable value that can say which assets it holds (:meth:`StrategyStateLike.assets`),
  cut itself to one asset (``for_asset``) and be merged back (``merged``), so the worker
  persists it per asset beside the rest of the engine's slice;
* ``market``: the asset's :class:`MarketView` at ``now`` (its funding board: funding, tickers;
  the ranked candidate pairs when the engine has them);
* ``book``: the asset's position book (fills and funding already folded);
* ``breakers``: the open circuit breakers as strategies see them (:class:`Breakers`);
* ``now``: the decision's event time (ms UTC), never the wall clock; ``cause``: the
  ``event_id`` of the input that triggered it.

Intents are ``TargetPositionSet`` / ``ExitRequested`` stamped with the strategy's ``id``
(``strategy_id``); the executor works one target per (strategy, asset) at a time, so two
strategies on one asset never block each other. Same inputs, same intents, same bytes.
How to add one: docs/adding-a-strategy.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Self, TypeVar

from projections.board import AssetBoard, PairQuote
from projections.positions import PositionBook
from schemas.events import Event


@dataclass(frozen=True)
class Breakers:
    """Open circuit breakers as the strategies see them (from the risk agent)."""

    pause_entries: frozenset[str] = frozenset()  # assets, or "*" for all
    force_exit: frozenset[str] = frozenset()

    def paused(self, asset: str) -> bool:
        return asset in self.pause_entries or "*" in self.pause_entries or self.forced(asset)

    def forced(self, asset: str) -> bool:
        return asset in self.force_exit or "*" in self.force_exit


@dataclass(frozen=True)
class MarketView:
    """What a strategy sees of one asset's market at a decision.

    ``pairs`` are the board's candidate pairs at the decision's time
    (:func:`projections.board.candidate_pairs`) when the engine ranked them already, else
    ``None`` (a strategy that needs them ranks the board itself).
    """

    asset: str
    board: AssetBoard
    pairs: list[PairQuote] | None = None


class StrategyStateLike(Protocol):
    """A strategy's state as the engine handles it (slicing for per-asset snapshots)."""

    def assets(self) -> set[str]:
        """Every asset this state holds something for."""
        ...

    def for_asset(self, asset: str) -> Self:
        """The part of this state that belongs to ``asset``."""
        ...

    @classmethod
    def merged(cls, parts: list[Self]) -> Self:
        """One state from per-asset parts (the inverse of :meth:`for_asset`)."""
        ...


S = TypeVar("S", bound=StrategyStateLike)


class Strategy(Protocol[S]):
    """A strategy plug-in, built from its ``[[strategies]]`` entry and the shared config."""

    @property
    def id(self) -> str:
        """The ``[[strategies]]`` id, stamped on every intent as ``strategy_id``."""
        ...

    @property
    def delta_neutral(self) -> bool:
        """True when the strategy's targets are hedged (net delta ≈ 0): the engine's
        one-legged exposure breaker watches them. A directional strategy (a grid) holds delta
        on purpose."""
        ...

    def initial_state(self) -> S:
        """The state before the first decision."""
        ...

    def decide(
        self,
        state: S,
        market: MarketView,
        book: PositionBook,
        breakers: Breakers,
        now: int,
        cause: str | None,
    ) -> tuple[S, list[Event]]:
        """Decide on ``market.asset`` at event time ``now`` (ms UTC); see the module docstring."""
        ...

    def stale(self, state: S, market: MarketView, now: int) -> str | None:
        """Why a live target of this strategy on ``market.asset`` cannot be monitored (a leg
        without fresh prices), or ``None``: the engine trips ``stale_feed`` on it."""
        ...
