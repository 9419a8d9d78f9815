"""Pickling for the fold's slots dataclasses (issue 18).

The per-event state objects (feeds, boards, legs, books) are ``@dataclass(slots=True)``,
read-only by convention, instead of frozen dataclasses: a frozen dataclass's ``__init__``
sets every field through ``object.__setattr__``, ~4× the cost, and one is built per market
event. A pickle written while they were frozen dataclasses (a version-1 worker snapshot,
``streams/snapshot_codec.py``) holds their ``__dict__``; :class:`SlotsState` loads that and
its own pickles alike. The JSON snapshot layout is by field and unchanged.
"""

from __future__ import annotations

from dataclasses import fields


class SlotsState:
    """Base of a slots dataclass: pickles its fields as a dict, loads a dict state."""

    __slots__ = ()

    def __getstate__(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]  # a dataclass subclass

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
