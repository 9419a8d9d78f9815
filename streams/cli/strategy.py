"""The strategy file: its config (:class:`schemas.config.StrategyConfig`) and its
``[backtest]`` table, the data selection that backtest and sweep resolve against their flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from streams.cli.common import DEFAULT_DATA, default_refs, fail, parse_window

if TYPE_CHECKING:
    from producers.history import Window
    from schemas.config import StrategyConfig


def strategy_file(path: Path) -> dict[str, Any]:
    """The TOML table of a strategy file; a missing or unparsable file exits 1 with its name."""
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail(f"strategy file {path} does not exist") from None
    except Exception as exc:
        raise fail(f"strategy file {path}: {exc}") from exc


def load_strategy_config(path: Path | None) -> StrategyConfig:
    """A StrategyConfig from a strategy TOML file (defaults when ``path`` is None); its
    ``[backtest]`` table is the backtest's selection (:func:`load_backtest_selection`)."""
    from schemas.config import StrategyConfig

    if path is None:
        return StrategyConfig()
    if path.suffix == ".json":  # a config in force, written by a run (backtest --engine worker)
        try:
            return StrategyConfig.model_validate_json(path.read_text(encoding="utf-8"))
        except Exception as exc:
            raise fail(f"strategy file {path}: {exc}") from exc
    data = strategy_file(path)
    data.pop("backtest", None)
    data.pop("live", None)  # fundarb live's selection (streams/live_config.py)
    try:
        return StrategyConfig.model_validate(data)
    except Exception as exc:
        raise fail(f"strategy file {path}: {exc}") from exc


class BacktestSelection(BaseModel):
    """``[backtest]`` in the strategy file: what to replay, overridden by the flags."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    data: list[Path] | None = None  # files or folders, relative to the working directory
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    assets: list[str] | None = None
    venues: list[str] | None = None
    reference_prices: dict[str, str] | None = None


def load_backtest_selection(path: Path | None) -> BacktestSelection:
    """The ``[backtest]`` table of ``path`` (empty without a file); an unknown key exits 1."""
    if path is None:
        return BacktestSelection()
    try:
        return BacktestSelection.model_validate(strategy_file(path).get("backtest", {}))
    except Exception as exc:
        raise fail(f"strategy file {path}: [backtest]: {exc}") from exc


@dataclass(frozen=True)
class DataSelection:
    """The data a backtest or sweep replays: the flags, else the strategy file's
    ``[backtest]``, else the bundled window (:func:`resolve_selection`)."""

    #: the files given (flags or ``[backtest] data``); ``None``: the bundled window
    given_paths: list[Path] | None
    window: Window
    #: venue → the venue whose candles price it
    reference_prices: dict[str, str]

    @property
    def paths(self) -> list[Path]:
        """The files to read: the ones given, else the bundled window."""
        return self.given_paths or list(DEFAULT_DATA)


def resolve_selection(
    config: Path | None,
    paths: list[Path] | None,
    start: str | None,
    end: str | None,
    assets: str | None,
    venues: str | None,
    reference_prices: dict[str, str] | None = None,
) -> DataSelection:
    """Flags win over the strategy file's ``[backtest]`` table, key by key; the bundled data's
    default reference prices apply when neither names any (a note says so). Raises
    ``typer.Exit`` (1) on a bad file and ``typer.BadParameter`` on a bad date."""
    sel = load_backtest_selection(config)
    paths = paths or sel.data
    start = start or sel.from_
    end = end or sel.to
    assets = assets or (",".join(sel.assets) if sel.assets else None)
    venues = venues or (",".join(sel.venues) if sel.venues else None)
    refs = default_refs(paths, reference_prices or dict(sel.reference_prices or {}), venues)
    window = parse_window(start, end, assets, venues)
    return DataSelection(given_paths=paths, window=window, reference_prices=refs)
