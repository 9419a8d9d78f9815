"""Data-quality counts per series and the notes and flags the quality report shows (never
silent: duplicates, out-of-order and invalid rows, gaps, interval changes, partial price
coverage)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from producers.history.base import DAY_MS, Window
from projections.funding import MS_PER_HOUR

if TYPE_CHECKING:  # the plan holds the quality counts: a type only, no import cycle
    from producers.history.planning import ReplayPlan


@dataclass
class SeriesQuality:
    """Counts for one (kind, venue, symbol) series; times in ms UTC.

    ``longest_gap_ms`` is the longest gap's length (time between the rows around it, 0 when
    there is none) and ``longest_gap_from`` the time of the row before it.
    """

    kind: str
    venue: str
    symbol: str
    rows: int = 0
    emitted: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    invalid: int = 0
    gaps: int = 0
    interval_changes: int = 0
    longest_gap_ms: int = 0
    longest_gap_from: int = 0
    first_time: int = 0
    last_time: int = 0
    notes: list[str] = field(default_factory=list)
    # findings that are not counts (an excluded series, prices covering part of the window):
    # they flag the series in the quality report like a non-zero count does
    findings: list[str] = field(default_factory=list)

    def gap(self, start: int, length_ms: int) -> None:
        """Count a gap of ``length_ms`` after the row at ``start``; keep the longest."""
        self.gaps += 1
        if length_ms > self.longest_gap_ms:
            self.longest_gap_ms, self.longest_gap_from = length_ms, start


def coverage_notes(p: ReplayPlan, window: Window) -> list[str]:
    """Price series that cover only part of their funding's time (their pairs go stale there).

    Call after the plan's streams were read (it uses the counted first/last times). Each
    price series is compared with its own funding series clipped to the window, or, when it has
    none (spot, a reference venue's prices), with the span of all funding in the window, so an
    open window (no ``--to``) is bounded by the data: lighter's prices stopping on 2026-01-24
    while its funding runs to March is a finding either way. One day of slack. Each finding is
    added to the series' ``findings`` (the quality report flags it); the notes group a venue's
    series that end (or start) on the same day, so the bundled window gives a few lines, not 30.
    """
    lo, hi = max(window.start, 0), window.end
    funding = {
        (q.venue, q.symbol): (max(lo, q.first_time), min(hi - 1, q.last_time))
        for q in p.quality
        if q.kind == "funding" and q.emitted
    }
    if funding:
        overall = (min(a for a, _ in funding.values()), max(b for _, b in funding.values()))
    else:
        overall = (lo, hi - 1)
    groups: dict[tuple[str, str, str], list[tuple[SeriesQuality, int]]] = {}
    gaps: list[str] = []
    for q in p.quality:
        if q.gaps:
            gaps.append(
                f"{q.venue} {q.symbol}: {q.gaps} gap{'s' * (q.gaps > 1)} in {q.kind}, longest "
                f"{q.longest_gap_ms / MS_PER_HOUR:g} h after {iso(q.longest_gap_from)}"
            )
        if q.kind != "candles" or not q.emitted:
            continue
        first, last = funding.get((q.venue, q.symbol), overall)
        if 0 < first < 2**62 and q.first_time > first + DAY_MS:
            q.findings.append(f"prices start {iso(q.first_time)}, funding {iso(first)}")
            groups.setdefault((q.venue, "start", iso(q.first_time)[:10]), []).append((q, first))
        if 0 < last < 2**62 - 1 and q.last_time < last - DAY_MS:
            q.findings.append(f"prices end {iso(q.last_time)}, funding {iso(last)}")
            groups.setdefault((q.venue, "end", iso(q.last_time)[:10]), []).append((q, last))
    out = []
    for (venue, which, _day), found in groups.items():
        symbols = ", ".join(sorted(q.symbol for q, _ in found))
        if which == "start":
            at, bound = max(q.first_time for q, _ in found), min(b for _, b in found)
            out.append(
                f"{venue} {symbols}: prices start {iso(at)} while funding starts {iso(bound)}: "
                "no pairs with them before"
            )
        else:
            at, bound = min(q.last_time for q, _ in found), max(b for _, b in found)
            out.append(
                f"{venue} {symbols}: prices end {iso(at)} while funding runs to {iso(bound)}: "
                "their pairs go stale after"
            )
    return out + gaps


def iso(ms: int) -> str:
    """ms UTC as ``YYYY-MM-DD HH:MM`` (for messages)."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def as_dict(q: SeriesQuality) -> dict[str, Any]:
    return {k: v for k, v in q.__dict__.items()}


FINDING_COUNTS = ("duplicates", "out_of_order", "invalid", "gaps", "interval_changes")


def has_findings(q: dict[str, Any]) -> bool:
    """A series (as :func:`as_dict` gives it) the quality report should flag."""
    return any(q.get(k) for k in FINDING_COUNTS) or bool(q.get("findings"))
