"""Which plug-in serves which ``[[strategies]]`` kind, and the plug-ins of a config.

Adding a kind: its spec in :mod:`schemas.strategy_specs`, its package under
``projections/strategies/<kind>/``, one line in :data:`KINDS` (docs/adding-a-strategy.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from projections.strategies.base import Strategy
from projections.strategies.funding_arb.plugin import FundingArb
from projections.strategies.grid.strategy import Grid
from schemas.config import StrategyConfig
from schemas.strategy_specs import FundingArbSpec, GridSpec


def _funding_arb(spec: Any, config: StrategyConfig) -> Strategy[Any]:
    assert isinstance(spec, FundingArbSpec)
    reserved = frozenset(m for s in config.strategies for m in s.markets())
    return FundingArb(spec, config, reserved)


def _grid(spec: Any, config: StrategyConfig) -> Strategy[Any]:
    assert isinstance(spec, GridSpec)
    return Grid(spec, config)


#: kind → builder ``(spec, config) -> plug-in``
KINDS: dict[str, Callable[[Any, StrategyConfig], Strategy[Any]]] = {
    "funding_arb": _funding_arb,
    "grid": _grid,
}

# config → its plug-ins, built once per config object (the engine asks on every decision).
# The entry keeps the config alive, so its id() is not reused while it is cached.
_BUILT: dict[int, tuple[StrategyConfig, tuple[Strategy[Any], ...]]] = {}
_MAX_BUILT = 64


def plugins(config: StrategyConfig) -> tuple[Strategy[Any], ...]:
    """The strategies of ``config`` in ``[[strategies]]`` order, built from their specs.

    Raises ``KeyError`` for a kind without a plug-in (config loading refuses unknown kinds,
    so only a spec class added without its plug-in gets here).
    """
    hit = _BUILT.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1]
    built = tuple(KINDS[spec.kind](spec, config) for spec in config.strategies)
    if len(_BUILT) >= _MAX_BUILT:
        _BUILT.clear()
    _BUILT[id(config)] = (config, built)
    return built


_DIRECTIONAL: dict[int, tuple[StrategyConfig, frozenset[str]]] = {}


def directional_ids(config: StrategyConfig) -> frozenset[str]:
    """Ids of the strategies that hold delta on purpose (``delta_neutral`` false); computed
    once per config object, as :func:`plugins` (the engine asks on every decision)."""
    hit = _DIRECTIONAL.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1]
    ids = frozenset(p.id for p in plugins(config) if not p.delta_neutral)
    if len(_DIRECTIONAL) >= _MAX_BUILT:
        _DIRECTIONAL.clear()
    _DIRECTIONAL[id(config)] = (config, ids)
    return ids
