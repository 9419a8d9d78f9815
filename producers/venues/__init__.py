"""The venue registry: one package per venue, discovered, each a :class:`schemas.venues.VenueSpec`.

``producers/venues/<venue>/__init__.py`` holds everything about one venue — symbols, funding
interval and settlement, published fees with their source, client-order-id rule, parse
quirks, websocket channel, ccxt id, options, credentials — as a module-level ``SPEC``, with
the doc links its values come from. Nothing else names venues: the pure parsers
(:mod:`producers.parse`), the gateway, the connector, the default fee table
(:data:`schemas.config.DEFAULT_FEES`) and the executor's client order ids
(:func:`projections.executor.client_order_id`) all read the spec. Adding a venue is adding a
package (``docs/adding-a-venue.md``); ``tests/unit/test_venue_registry.py`` checks every
registered venue has each part.

This package is pure data: it imports only :mod:`schemas.venues` and the standard library
(an import contract in ``pyproject.toml`` checks it), which is why the core may read it.
"""

from __future__ import annotations

import importlib
import pkgutil

from schemas.venues import VenueSpec

__all__ = ["VENUES", "UnknownVenueError", "VenueSpec", "venue_spec"]


class UnknownVenueError(KeyError):
    """A venue id with no spec (the message lists the supported ones)."""


class VenuePackageError(TypeError):
    """A venue package without a valid ``SPEC`` (or one whose id is not its folder's name)."""


def _discover() -> dict[str, VenueSpec]:
    """Every subpackage's ``SPEC``, by venue id, in alphabetical order of the packages."""
    out: dict[str, VenueSpec] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if not isinstance(spec, VenueSpec):
            raise VenuePackageError(f"{module.__name__} has no SPEC (a schemas.venues.VenueSpec)")
        if spec.id != info.name:
            raise VenuePackageError(f"{module.__name__}.SPEC.id is {spec.id!r}, not {info.name!r}")
        out[spec.id] = spec
    return out


VENUES: dict[str, VenueSpec] = _discover()


def venue_spec(venue: str) -> VenueSpec:
    """The spec of ``venue``.

    Raises
    ------
    UnknownVenueError
        ``venue`` is not one of :data:`VENUES`.
    """
    try:
        return VENUES[venue]
    except KeyError:
        raise UnknownVenueError(
            f"unknown venue {venue!r}: supported are {', '.join(sorted(VENUES))}"
        ) from None
