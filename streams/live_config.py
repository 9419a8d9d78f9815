"""What ``fundarb live`` runs when no flag says otherwise: the strategy file's ``[live]`` table.

Like ``[backtest]`` for the backtest, ``[live]`` selects venues and assets (or an asset list
file written by ``fundarb universe``) and the feed settings; flags win over the file, the
file over the defaults, and an unknown key is refused by name::

    [live]
    venues = ["binance", "bybit"]
    assets = ["BTC", "ETH"]            # or: assets_file = "universe.toml"
    paper = true
    poll_s = 5.0
    stale_after_s = 60.0
    websocket = false
    metrics_port = 9100
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.universe import read_asset_list


class LiveSelection(BaseModel):
    """``[live]`` in the strategy file (units in names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    venues: list[str] | None = None
    assets: list[str] | None = None
    assets_file: Path | None = None  # relative to the working directory
    paper: bool | None = None
    poll_s: float | None = Field(default=None, ge=0.2, le=3600, allow_inf_nan=False)
    stale_after_s: float | None = Field(default=None, ge=1, le=86_400, allow_inf_nan=False)
    websocket: bool | None = None
    metrics_port: int | None = Field(default=None, ge=0, le=65535)


@dataclass(frozen=True)
class LiveChoice:
    """The venues and assets in force, and where each came from (for the start line)."""

    venues: list[str]
    assets: list[str]
    source: str


class LiveSelectionError(ValueError):
    """No venues or no assets from any source, or an unreadable asset list (one line)."""


def _split(text: str | None) -> list[str] | None:
    items = [x.strip() for x in text.split(",") if x.strip()] if text else []
    return items or None


def choose(
    sel: LiveSelection, venues_flag: str | None, assets_flag: str | None, assets_file: Path | None
) -> LiveChoice:
    """Flags, then the asset list file given by flag, then ``[live]``'s lists, then its
    ``assets_file``. Venues not named anywhere come from the asset list file (the venues of
    the pairs ``fundarb universe`` selected).

    Raises
    ------
    LiveSelectionError
        Nothing names the venues or the assets, or the asset list cannot be read.
    """
    file_assets: list[str] | None = None
    file_venues: list[str] | None = None
    path = assets_file or (None if assets_flag or sel.assets else sel.assets_file)
    if path is not None:
        try:
            file_assets, file_venues = read_asset_list(path)
        except ValueError as exc:
            raise LiveSelectionError(str(exc)) from None
    assets = _split(assets_flag) or file_assets or sel.assets
    venues = _split(venues_flag) or sel.venues or file_venues
    if not venues:
        raise LiveSelectionError(
            "no venues: pass --venues V,W or set venues in the strategy file's [live] table"
        )
    if not assets:
        raise LiveSelectionError(
            "no assets: pass --assets A,B or --assets-file FILE (fundarb universe writes one), "
            "or set assets / assets_file in the strategy file's [live] table"
        )
    source = "flags"
    if not assets_flag:
        source = f"asset list {path}" if path is not None and file_assets else "strategy file"
    return LiveChoice(
        venues=[v.strip().lower() for v in venues],
        assets=[a.strip().upper() for a in assets],
        source=source,
    )


def load_live_selection(path: Path | None) -> LiveSelection:
    """``[live]`` of the strategy file at ``path`` (empty when None or absent).

    Raises ``ValueError`` (pydantic's, naming the key) for an unknown key or a bad value and
    for an unreadable file.
    """
    import tomllib

    if path is None:
        return LiveSelection()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(str(exc)) from None
    try:
        return LiveSelection.model_validate(data.get("live", {}))
    except ValidationError as exc:
        raise ValueError("; ".join(_problem(e) for e in exc.errors())) from None


def _problem(error: Any) -> str:
    """One pydantic error as ``unknown key 'x'`` or ``key: message``."""
    where = ".".join(str(p) for p in error.get("loc", ()))
    if error.get("type") == "extra_forbidden":
        known = ", ".join(LiveSelection.model_fields)
        return f"unknown key {where!r} (known: {known})"
    return f"{where}: {error.get('msg')}"
