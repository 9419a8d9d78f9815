"""The strategies an engine runs side by side: ``[[strategies]]`` in the strategy file.

Each entry names its ``kind`` (the plug-in under ``projections/strategies/<kind>/``) and a
unique ``id`` (stamped on its intents as ``strategy_id`` and hashed into its client order ids).
Loading refuses an unknown ``kind`` (pydantic's discriminated-union error lists the known
ones) and an unknown key of a known kind by name. A strategy file without ``[[strategies]]``
runs the funding arbitrage alone, as before plug-ins (``[entry]``, ``[exits]``,
``[capacity]`` and ``[forecast]`` are its tables). Units are in the names, as in
:mod:`schemas.config`. Adding a kind: docs/adding-a-strategy.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.types import PositiveDec, Symbol, is_spot

#: a strategy id: short, lowercase, safe in ids and topic keys
StrategyId = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")]

#: the funding arbitrage's default id (intents of schema v1, written before plug-ins, are its)
FUNDING_ARB_ID = "funding_arb"


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def markets(self) -> tuple[tuple[str, str], ...]:
        """(venue, instrument) markets this strategy owns alone (no other strategy trades
        them: a venue holds one position per market, so two strategies there would net)."""
        return ()


class FundingArbSpec(_Spec):
    """The cross-venue funding-rate arbitrage (``projections/strategies/funding_arb/``).

    Its parameters are the file's top-level ``[entry]``, ``[exits]``, ``[capacity]`` and
    ``[forecast]`` tables (one funding arbitrage per engine). It never trades a market another
    strategy owns (:meth:`_Spec.markets`).
    """

    kind: Literal["funding_arb"] = "funding_arb"
    id: StrategyId = FUNDING_ARB_ID


#: Grid bounds: beyond them a value is a typo, not a grid.
MAX_GRID_LEVELS = 50
MAX_GRID_SKEW = Decimal("0.9")


class GridSpec(_Spec):
    """A perpetual-futures grid on one market (``projections/strategies/grid/``).

    ``venue`` / ``instrument``: the market (a perp, ``BASE/QUOTE:SETTLE``); the grid owns it.
    ``qty_per_level``: base units added or removed per level crossed; the position is
    ``level × qty_per_level`` with ``level`` in ``[-levels, levels]`` (> 0 long).
    Spacing: ``atr_mult × ATR(atr_periods hourly ranges)`` clamped to
    ``[min_spacing_frac, max_spacing_frac] × price``. ``skew`` in ``[0, MAX_GRID_SKEW]``:
    at inventory ``level`` the step that adds inventory is ``1 + skew × |level| / levels``
    spacings away and the one that reduces it ``1 − skew × |level| / levels`` (inventory skew).
    ``stop_levels``: at the inventory cap, a further adverse move of this many spacings closes
    the grid and re-centres it on the price (a stop, so a trend cannot hold the cap forever).
    """

    kind: Literal["grid"] = "grid"
    id: StrategyId
    venue: str = Field(min_length=1, max_length=32)
    instrument: Symbol
    qty_per_level: PositiveDec
    levels: int = Field(default=5, ge=1, le=MAX_GRID_LEVELS)
    atr_periods: int = Field(default=24, ge=1, le=1000)
    atr_mult: PositiveDec = Field(default=Decimal("1"), le=100)
    min_spacing_frac: PositiveDec = Field(default=Decimal("0.002"), le=Decimal("0.5"))
    max_spacing_frac: PositiveDec = Field(default=Decimal("0.05"), le=Decimal("0.5"))
    skew: Decimal = Field(default=Decimal("0.5"), ge=0, le=MAX_GRID_SKEW)
    stop_levels: int = Field(default=2, ge=1, le=MAX_GRID_LEVELS)

    @field_validator("instrument")
    @classmethod
    def _perp_only(cls, value: str) -> str:
        if is_spot(value):
            raise ValueError(
                f"grid instrument {value} is spot: the grid holds short inventory, so it "
                "trades a perpetual (BASE/QUOTE:SETTLE)"
            )
        return value

    @model_validator(mode="after")
    def _spacing_ordered(self) -> GridSpec:
        if self.min_spacing_frac > self.max_spacing_frac:
            raise ValueError("min_spacing_frac exceeds max_spacing_frac")
        return self

    def markets(self) -> tuple[tuple[str, str], ...]:
        return ((self.venue, self.instrument),)


#: one ``[[strategies]]`` entry, chosen by its ``kind``
StrategySpec = Annotated[FundingArbSpec | GridSpec, Field(discriminator="kind")]


def default_strategies() -> list[FundingArbSpec | GridSpec]:
    """What a strategy file without ``[[strategies]]`` runs: the funding arbitrage alone."""
    return [FundingArbSpec()]


def check_strategies(specs: list[FundingArbSpec | GridSpec], venues: set[str]) -> None:
    """Refuse a set of strategies that cannot run side by side (``ValueError`` naming why):
    duplicate ids, more than one funding arbitrage, a market owned twice, a grid on a venue
    without fees (``venues``: the fee table's venues)."""
    ids = [s.id for s in specs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"strategies: duplicate id(s) {', '.join(dupes)}")
    if sum(isinstance(s, FundingArbSpec) for s in specs) > 1:
        raise ValueError(
            "strategies: one funding_arb per engine (it trades every venue's legs; a second "
            "would share its positions)"
        )
    owned: dict[tuple[str, str], str] = {}
    for s in specs:
        for market in s.markets():
            if market in owned:
                raise ValueError(
                    f"strategies: {s.id} and {owned[market]} both own {market[0]} {market[1]}"
                )
            owned[market] = s.id
    for s in specs:
        if isinstance(s, GridSpec) and s.venue not in venues:
            raise ValueError(f"strategies: {s.id} trades {s.venue}, which has no fees")
