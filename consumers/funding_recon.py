"""Funding reconciliation per settlement: what each held perp position should have been paid
beside what the venue reports paid.

For every settlement ``T`` of a perp leg we held (``FundingRateObserved.funding_time``), the
**expected** payment is :func:`projections.funding.funding_payment` of

* the position going into the settlement: the leg's last ``PositionChanged.qty`` with event
  time before ``T`` (base units, signed: > 0 long);
* the mark at settlement: the observation's ``mark_price``, else the last ticker mark (or mid)
  before ``T`` (quote currency);
* the rate at settlement: the last observation of ``T`` made at or before ``T``; a ``settled``
  observation (the venue's settled value) replaces it whenever it arrives;

that is ``−qty × mark × rate`` (> 0 received, < 0 paid: the sign of ``FundingPaid.amount``,
https://www.binance.com/en/support/faq/360033525031 — longs pay shorts when the rate is
positive). The **paid** side is the venue's ``FundingPaid.amount`` for the same (venue,
instrument, ``funding_time``) (``acct.funding``, from the venue's funding history).

Each settlement resolves to one :class:`Settlement` with a status:

============== ==================================================================
``matched``    ``|paid − expected| ≤ max(tolerance_usd, tolerance_frac × |expected|)``
``mismatch``   beyond the tolerance, same sign (wrong size: position, interval, rate)
``mis_signed`` paid and expected both beyond ``tolerance_usd`` with opposite signs
``missed``     a position was held, ``grace_ms`` of event time passed after ``T``,
               and the venue reported no payment
``unexpected`` a payment beyond ``tolerance_usd`` for a settlement without a position
============== ==================================================================

A payment without an observation of its rate is valued with the rate and mark the payment
row carries (the venue's, or the connector's view where the venue sends none). Spot rows
(borrow interest) are not funding and are ignored. Pure and deterministic: the same events
in the same order give the same settlements; all times are event time (ms UTC).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from decimal import Decimal

from projections.funding import funding_payment
from schemas import events as ev
from schemas.types import is_spot

Leg = tuple[str, str]  # (venue, instrument)
Key = tuple[str, str, int]  # (venue, instrument, funding_time ms)
STATUSES = ("matched", "mismatch", "mis_signed", "missed", "unexpected")


@dataclass(frozen=True)
class Settlement:
    """One reconciled settlement (amounts in the perp's settle currency, ms UTC times)."""

    venue: str
    instrument: str
    funding_time: int
    position_qty: Decimal
    mark_price: Decimal | None
    funding_rate: Decimal | None
    expected: Decimal
    paid: Decimal | None  # None: the venue reported nothing
    status: str
    cause: ev.Event  # the event that resolved it (the payment, or the one that passed grace)

    @property
    def difference(self) -> Decimal:
        """``paid − expected`` (a missed payment counts as 0 paid)."""
        return (self.paid or Decimal(0)) - self.expected


def classify(
    expected: Decimal, paid: Decimal | None, tolerance_usd: Decimal, tolerance_frac: Decimal
) -> str:
    """The status of one settlement (module docstring table). Pure."""
    if paid is None:
        return "matched" if abs(expected) <= tolerance_usd else "missed"
    if abs(expected) <= tolerance_usd:
        return "matched" if abs(paid) <= tolerance_usd else "unexpected"
    if abs(paid) > tolerance_usd and (paid > 0) != (expected > 0):
        return "mis_signed"
    if abs(paid - expected) <= max(tolerance_usd, tolerance_frac * abs(expected)):
        return "matched"
    return "mismatch"


@dataclass
class _Rate:
    observed_at: int
    rate: Decimal
    mark: Decimal | None
    settled: bool


@dataclass
class FundingReconciler:
    """Folds events into settlements (module docstring); :meth:`on_event` returns those that
    the event resolved. Feed it ``md.funding``, ``md.tickers``, ``derived.positions`` and
    ``acct.funding``; other events only advance the event-time clock (for ``missed``)."""

    tolerance_usd: Decimal = Decimal("0.0001")
    tolerance_frac: Decimal = Decimal("0.05")
    grace_ms: int = 3_600_000
    max_history: int = 10_000  # position changes kept per leg
    positions: dict[Leg, list[tuple[int, Decimal]]] = field(default_factory=dict)
    marks: dict[Leg, list[tuple[int, Decimal]]] = field(default_factory=dict)
    rates: dict[Key, _Rate] = field(default_factory=dict)
    resolved: set[Key] = field(default_factory=set)

    def qty_before(self, leg: Leg, t: int) -> Decimal:
        """The leg's position going into ``t`` (its last change strictly before ``t``)."""
        return _before(self.positions.get(leg, []), t) or Decimal(0)

    def mark_before(self, leg: Leg, t: int) -> Decimal | None:
        """The leg's last ticker mark (or mid) at or before ``t``."""
        return _before(self.marks.get(leg, []), t + 1)

    def on_event(self, event: ev.Event) -> list[Settlement]:
        out: list[Settlement] = []
        leg = (event.venue, event.instrument)
        perp = "/" in event.instrument and not is_spot(event.instrument)
        if isinstance(event, ev.PositionChanged) and perp:
            _insert(self.positions.setdefault(leg, []), event.event_time, event.qty)
            del self.positions[leg][: -self.max_history]
        elif isinstance(event, ev.TickerObserved) and perp:
            mark = event.mark_price or (event.bid + event.ask) / 2
            _insert(self.marks.setdefault(leg, []), event.event_time, mark)
            del self.marks[leg][: -self.max_history]
        elif isinstance(event, ev.FundingRateObserved) and perp and event.funding_time:
            key = (event.venue, event.instrument, event.funding_time)
            last = self.rates.get(key)
            in_time = event.event_time <= event.funding_time or event.settled
            newer = (
                last is None
                or event.settled
                or (not last.settled and event.event_time >= last.observed_at)
            )
            if key not in self.resolved and in_time and newer:
                self.rates[key] = _Rate(
                    event.event_time, event.funding_rate, event.mark_price, event.settled
                )
        elif isinstance(event, ev.FundingPaid) and perp:
            out.append(self._paid(event))
        return out + self._missed(event)

    def _expected(
        self, key: Key, rate: Decimal | None, mark: Decimal | None
    ) -> tuple[Decimal, Decimal]:
        qty = self.qty_before((key[0], key[1]), key[2])
        if qty == 0 or rate is None or mark is None:
            return qty, Decimal(0)
        return qty, funding_payment(qty, mark, rate)

    def _paid(self, paid: ev.FundingPaid) -> Settlement:
        key = (paid.venue, paid.instrument, paid.funding_time)
        known = self.rates.get(key)
        rate = known.rate if known is not None else paid.funding_rate
        mark = (known.mark if known is not None else None) or self.mark_before(
            (key[0], key[1]), key[2]
        )
        mark = mark or paid.mark_price
        qty, expected = self._expected(key, rate, mark)
        self.resolved.add(key)
        self.rates.pop(key, None)
        status = classify(expected, paid.amount, self.tolerance_usd, self.tolerance_frac)
        return Settlement(*key, qty, mark, rate, expected, paid.amount, status, paid)

    def _missed(self, now_event: ev.Event) -> list[Settlement]:
        now = now_event.event_time
        out = []
        for key in sorted(k for k in self.rates if k[2] + self.grace_ms <= now):
            if key in self.resolved:
                continue
            known = self.rates.pop(key)
            mark = known.mark or self.mark_before((key[0], key[1]), key[2])
            qty, expected = self._expected(key, known.rate, mark)
            self.resolved.add(key)
            if qty == 0:
                continue  # nothing held: nothing due, nothing to report
            status = classify(expected, None, self.tolerance_usd, self.tolerance_frac)
            out.append(Settlement(*key, qty, mark, known.rate, expected, None, status, now_event))
        return out


def _before(series: list[tuple[int, Decimal]], t: int) -> Decimal | None:
    i = bisect.bisect_left(series, t, key=lambda item: item[0])
    return series[i - 1][1] if i else None


def _insert(series: list[tuple[int, Decimal]], t: int, value: Decimal) -> None:
    """Keep ``series`` sorted by time (records of several topics arrive interleaved); the
    later of two changes at the same time wins."""
    i = bisect.bisect_right(series, t, key=lambda item: item[0])
    series.insert(i, (t, value))
