"""Position book of one asset, folded from FillExecuted and FundingPaid (DESIGN §5).

Per (venue, instrument) leg: signed quantity (base units, > 0 long), average entry price
(quote per base), realised price PnL, fees, funding received, borrow paid. Per arb
(``correlation_id``): its legs, net delta in base units and USD, cumulative funding, fees,
price PnL, age.

Money is USD with USDT/USDC/USD quotes taken at par (the quotes of the venues traded). Fees
charged in the base asset are valued at the fill price. A ``FundingPaid`` on a **spot**
instrument is margin borrow interest (it is booked as borrow, a cost).

PnL attribution (exact, Decimal): ``total = funding + price_pnl − fees − borrow`` where
``price_pnl = realised + unrealised`` (unrealised marked at the latest mark seen).

Realised PnL (average-cost method): closing ``c`` units of a position with average entry
``avg`` at ``price`` realises ``c × (price − avg)`` for a long and ``c × (avg − price)`` for a
short; a fill that crosses zero closes the old side and opens the rest at ``price``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TypeVar

from projections.slots import SlotsState
from schemas.events import Event, FillExecuted, FundingPaid
from schemas.types import Side, base_asset, is_inverse, is_spot

USD_LIKE = frozenset({"USD", "USDT", "USDC"})
ZERO = Decimal(0)
LegKey = tuple[str, str]


class UnsupportedFeeCurrencyError(ValueError):
    """A fee in a currency the book cannot value (neither a USD stablecoin nor the base)."""


class InverseContractError(ValueError):
    """A fill or payment on an inverse (coin-margined) contract: its money is in the coin and
    the book's math is USD-linear, so it is refused rather than mis-valued."""


@dataclass(slots=True)
class Leg(SlotsState):
    """One (venue, instrument) position with its cumulative money parts (USD). Read-only by
    convention (a slots class, :mod:`projections.slots`: one is built per ticker of a held
    leg)."""

    venue: str
    instrument: str
    qty: Decimal = ZERO
    avg_entry_price: Decimal = ZERO
    realised_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    borrow: Decimal = ZERO
    mark: Decimal | None = None
    arb_id: str | None = None  # the arb holding this leg now

    def unrealised_pnl(self, mark: Decimal | None = None) -> Decimal:
        price = mark if mark is not None else self.mark
        if price is None or self.qty == 0:
            return ZERO
        return self.qty * (price - self.avg_entry_price)


@dataclass(frozen=True)
class ArbLedger:
    """Money and exposure of one arb across its legs (USD)."""

    arb_id: str
    legs: tuple[LegKey, ...] = ()
    opened_at: int = 0
    last_fill_at: int = 0
    realised_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    borrow: Decimal = ZERO
    fills: int = 0


@dataclass(frozen=True)
class PnL:
    """PnL parts (USD). ``total`` is by construction their exact sum."""

    funding: Decimal
    price: Decimal
    fees: Decimal
    borrow: Decimal

    @property
    def total(self) -> Decimal:
        return self.funding + self.price - self.fees - self.borrow


def reference_price(legs: list[Leg]) -> Decimal:
    """The mean of the legs' marks (entry price for a leg without a mark), quote currency.

    One price for the asset, so that net exposure is a base quantity valued once; the mean
    is symmetric in the legs (no leg's venue is privileged). 0 when no leg has a price.
    """
    prices = [
        leg.mark if leg.mark is not None else leg.avg_entry_price
        for leg in legs
        if leg.mark is not None or leg.avg_entry_price
    ]
    return sum(prices, ZERO) / len(prices) if prices else ZERO


class AppliedIds:
    """A persistent set of ids (the fill and funding ids a book has folded).

    ``with_id`` returns a new set in amortised O(log n) instead of copying every id
    (``frozenset | {id}`` copied the whole, ever-growing set on each fill and funding payment,
    which made the fold slower as a run went on): the ids live in levels of 1, 2, 4, … ids,
    merged like a binary counter. Compares equal to a ``frozenset`` of the same ids; pickles
    as one ``frozenset`` (snapshots of older books, which hold a ``frozenset``, still load).
    """

    __slots__ = ("_levels",)

    def __init__(self, ids: Iterable[str] = ()) -> None:
        flat = frozenset(ids)
        self._levels: tuple[frozenset[str], ...] = (flat,) if flat else ()

    def __contains__(self, item: object) -> bool:
        return any(item in level for level in self._levels)

    def with_id(self, item: str) -> AppliedIds:
        """This set and ``item`` (the same set when ``item`` is in it already)."""
        if item in self:
            return self
        levels = [*self._levels, frozenset((item,))]
        while len(levels) > 1 and len(levels[-2]) <= len(levels[-1]):
            top = levels.pop()
            levels[-1] = levels[-1] | top
        new = AppliedIds.__new__(AppliedIds)
        new._levels = tuple(levels)
        return new

    def __iter__(self) -> Iterator[str]:
        for level in self._levels:
            yield from level

    def __len__(self) -> int:
        return sum(len(level) for level in self._levels)

    def frozen(self) -> frozenset[str]:
        return frozenset().union(*self._levels)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AppliedIds):
            return self.frozen() == other.frozen()
        if isinstance(other, frozenset | set):
            return self.frozen() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.frozen())

    def __repr__(self) -> str:
        return f"AppliedIds({sorted(self)!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (AppliedIds, (self.frozen(),))


def _applied_with(applied: AppliedIds | frozenset[str], item: str) -> AppliedIds:
    if not isinstance(applied, AppliedIds):  # a book from an older snapshot
        applied = AppliedIds(applied)
    return applied.with_id(item)


@dataclass(slots=True)
class PositionBook(SlotsState):
    """All positions of one asset. Immutable by convention (a slots class,
    :mod:`projections.slots`); ``apply`` returns a new book."""

    asset: str
    legs: Mapping[LegKey, Leg] = field(default_factory=dict)
    arbs: Mapping[str, ArbLedger] = field(default_factory=dict)
    # venue fill ids and funding ids already folded (a frozenset in books of older snapshots)
    applied: AppliedIds | frozenset[str] = field(default_factory=AppliedIds)

    # -- reading --
    def leg(self, venue: str, instrument: str) -> Leg:
        return self.legs.get((venue, instrument)) or Leg(venue, instrument)

    def arb_legs(self, arb_id: str) -> list[Leg]:
        ledger = self.arbs.get(arb_id)
        return [self.leg(*k) for k in ledger.legs] if ledger else []

    def net_delta_base(self, arb_id: str) -> Decimal:
        """Sum of the arb's leg quantities (base units); 0 when hedged."""
        return sum((leg.qty for leg in self.arb_legs(arb_id)), ZERO)

    def net_delta_usd(self, arb_id: str) -> Decimal:
        """Net base quantity × one reference price (USD): the arb's exposure to the asset.

        A hedged arb (net base qty 0) reads 0 however far its venues' marks are apart; summing
        per-venue notionals would read the basis between venues as one-legged exposure.
        The reference price is :func:`reference_price` over the arb's legs.
        """
        legs = self.arb_legs(arb_id)
        net = sum((leg.qty for leg in legs), ZERO)
        return net * reference_price(legs) if net else ZERO

    def net_delta_usd_all(self) -> Decimal:
        """Net base quantity of every leg of the asset × :func:`reference_price` (USD)."""
        legs = [leg for leg in self.legs.values() if leg.qty]
        net = sum((leg.qty for leg in legs), ZERO)
        return net * reference_price(legs) if net else ZERO

    def arb_pnl(self, arb_id: str) -> PnL:
        ledger = self.arbs.get(arb_id)
        if ledger is None:
            return PnL(ZERO, ZERO, ZERO, ZERO)
        unrealised = sum(
            (leg.unrealised_pnl() for leg in self.arb_legs(arb_id) if leg.arb_id == arb_id), ZERO
        )
        return PnL(ledger.funding, ledger.realised_pnl + unrealised, ledger.fees, ledger.borrow)

    def pnl(self) -> PnL:
        """The asset's PnL over all legs."""
        legs = list(self.legs.values())
        return PnL(
            funding=sum((x.funding for x in legs), ZERO),
            price=sum((x.realised_pnl + x.unrealised_pnl() for x in legs), ZERO),
            fees=sum((x.fees for x in legs), ZERO),
            borrow=sum((x.borrow for x in legs), ZERO),
        )


def _fee_usd(fill: FillExecuted) -> Decimal:
    ccy = fill.fee_currency.upper()
    if ccy in USD_LIKE:
        return fill.fee
    if ccy == base_asset(fill.instrument).upper():
        return fill.fee * fill.price
    raise UnsupportedFeeCurrencyError(
        f"fill {fill.fill_id}: fee currency {fill.fee_currency} is neither a USD stablecoin "
        f"nor the base asset of {fill.instrument}"
    )


def _trade(leg: Leg, signed_qty: Decimal, price: Decimal) -> tuple[Leg, Decimal]:
    """Apply a trade of ``signed_qty`` at ``price``; returns the new leg and realised PnL."""
    old = leg.qty
    new = old + signed_qty
    realised = ZERO
    if old == 0 or (old > 0) == (signed_qty > 0):
        # opening or adding: weighted average entry
        avg = (abs(old) * leg.avg_entry_price + abs(signed_qty) * price) / abs(new)
    else:
        closed = min(abs(signed_qty), abs(old))
        direction = Decimal(1) if old > 0 else Decimal(-1)
        realised = closed * (price - leg.avg_entry_price) * direction
        if new == 0:
            avg = ZERO
        elif (new > 0) == (old > 0):
            avg = leg.avg_entry_price  # partial close keeps the average
        else:
            avg = price  # crossed zero: the remainder opened at this price
    return replace(
        leg, qty=new, avg_entry_price=avg, realised_pnl=leg.realised_pnl + realised
    ), realised


K = TypeVar("K", str, LegKey)
V = TypeVar("V")


def _set(mapping: Mapping[K, V], key: K, value: V) -> dict[K, V]:
    new = dict(mapping)
    if key in new:  # replacing a value keeps the (sorted) order: no re-sort per update
        new[key] = value
        return new
    new[key] = value
    return dict(sorted(new.items()))


def apply(book: PositionBook, event: Event) -> PositionBook:
    """Fold a fill or a funding payment. A fill/funding id seen before is a no-op.

    Raises
    ------
    UnsupportedFeeCurrencyError
        The fee cannot be valued in USD.
    InverseContractError
        The instrument is an inverse (coin-margined) contract.
    ValueError
        The event is about another asset.
    """
    if is_inverse(event.instrument):
        # coin-margined: PnL and fees in the coin; valuing them as USD-linear is silently wrong
        raise InverseContractError(
            f"{event.venue} {event.instrument} is an inverse (coin-margined) contract: "
            "not supported (USD-linear money math only)"
        )
    if base_asset(event.instrument) != book.asset:
        raise ValueError(f"{event.instrument} is not {book.asset}")
    if isinstance(event, FillExecuted):
        return _apply_fill(book, event)
    if isinstance(event, FundingPaid):
        return _apply_funding(book, event)
    return book


def _apply_fill(book: PositionBook, fill: FillExecuted) -> PositionBook:
    dedup = f"fill:{fill.venue}:{fill.fill_id}"
    if dedup in book.applied:
        return book
    key = (fill.venue, fill.instrument)
    fee = _fee_usd(fill)
    signed = fill.qty if fill.side is Side.buy else -fill.qty
    leg, realised = _trade(book.leg(*key), signed, fill.price)
    arb_id = fill.correlation_id or leg.arb_id
    leg = replace(
        leg,
        fees=leg.fees + fee,
        mark=fill.price if leg.mark is None else leg.mark,
        arb_id=arb_id if leg.qty != 0 else leg.arb_id,
    )
    legs = _set(book.legs, key, leg)
    arbs = book.arbs
    if arb_id is not None:
        ledger = book.arbs.get(arb_id) or ArbLedger(arb_id, opened_at=fill.event_time)
        ledger = replace(
            ledger,
            legs=ledger.legs if key in ledger.legs else (*ledger.legs, key),
            last_fill_at=max(ledger.last_fill_at, fill.event_time),
            realised_pnl=ledger.realised_pnl + realised,
            fees=ledger.fees + fee,
            fills=ledger.fills + 1,
        )
        arbs = _set(book.arbs, arb_id, ledger)
    return replace(book, legs=legs, arbs=arbs, applied=_applied_with(book.applied, dedup))


def _apply_funding(book: PositionBook, paid: FundingPaid) -> PositionBook:
    dedup = f"funding:{paid.venue}:{paid.funding_id}"
    if dedup in book.applied:
        return book
    key = (paid.venue, paid.instrument)
    leg = book.leg(*key)
    borrow = is_spot(paid.instrument)
    # borrow interest is a cost (positive), funding is income (received > 0)
    # built directly, not with dataclasses.replace: a payment lands on every settlement
    leg = Leg(
        leg.venue,
        leg.instrument,
        leg.qty,
        leg.avg_entry_price,
        leg.realised_pnl,
        leg.fees,
        leg.funding if borrow else leg.funding + paid.amount,
        leg.borrow - paid.amount if borrow else leg.borrow,
        paid.mark_price,
        leg.arb_id,
    )
    legs = _set(book.legs, key, leg)
    arb_id = paid.correlation_id or leg.arb_id
    arbs = book.arbs
    if arb_id is not None:
        ledger = book.arbs.get(arb_id) or ArbLedger(arb_id, opened_at=paid.event_time)
        ledger = ArbLedger(
            ledger.arb_id,
            ledger.legs,
            ledger.opened_at,
            ledger.last_fill_at,
            ledger.realised_pnl,
            ledger.fees,
            ledger.funding if borrow else ledger.funding + paid.amount,
            ledger.borrow - paid.amount if borrow else ledger.borrow,
            ledger.fills,
        )
        arbs = _set(book.arbs, arb_id, ledger)
    return PositionBook(book.asset, legs, arbs, _applied_with(book.applied, dedup))


def mark(book: PositionBook, venue: str, instrument: str, price: Decimal) -> PositionBook:
    """Record the latest mark of a leg (for unrealised PnL and delta in USD)."""
    key = (venue, instrument)
    if key not in book.legs:
        return book
    old = book.legs[key]
    leg = Leg(  # not dataclasses.replace: this runs on every ticker
        old.venue,
        old.instrument,
        old.qty,
        old.avg_entry_price,
        old.realised_pnl,
        old.fees,
        old.funding,
        old.borrow,
        price,
        old.arb_id,
    )
    return PositionBook(book.asset, _set(book.legs, key, leg), book.arbs, book.applied)
