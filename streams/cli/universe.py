"""``fundarb universe``: rank assets across venues and write the list ``fundarb live`` reads
(logic in :mod:`streams.universe`)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from streams.cli.common import DEFAULT_DATA, csv_set, fail, out, parse_time


def universe_cmd(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FILES...",
            help="Funding and candle files or folders (default: the bundled finm33150 window).",
        ),
    ] = None,
    venues: Annotated[
        str | None, typer.Option(metavar="V,W", help="Comma-separated venues (default: all).")
    ] = None,
    assets: Annotated[
        str | None, typer.Option(metavar="A,B", help="Comma-separated candidate assets.")
    ] = None,
    lookback_days: Annotated[
        float, typer.Option(metavar="DAYS", min=1, help="Funding history window (days).")
    ] = 30.0,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", metavar="DATE", help="End of the lookback (default: data end)."),
    ] = None,
    min_volume: Annotated[
        float,
        typer.Option(metavar="USD", min=0, help="Least 24 h quote volume on each leg (USD)."),
    ] = 0.0,
    min_quality: Annotated[
        float,
        typer.Option(
            metavar="FRAC", min=0, max=1, help="Least settlements observed / expected (0-1)."
        ),
    ] = 0.8,
    min_edge_apr: Annotated[
        float, typer.Option(metavar="APR", help="Least trailing-mean spread (fraction/year).")
    ] = 0.0,
    min_depth: Annotated[
        float,
        typer.Option(metavar="USD", min=0, help="Least top-of-book depth on each leg (USD)."),
    ] = 0.0,
    top: Annotated[int, typer.Option(metavar="N", min=1, help="Assets to select.")] = 10,
    live_tickers: Annotated[
        bool,
        typer.Option(
            "--live-tickers", help="Volume and depth from the venues' tickers now (ccxt)."
        ),
    ] = False,
    recorded: Annotated[
        Path | None,
        typer.Option(
            "--recorded",
            metavar="DIR",
            help="Volume and depth from recorded ticker replies in DIR/<venue>/ (offline).",
        ),
    ] = None,
    out_file: Annotated[
        Path,
        typer.Option(
            "--out", metavar="FILE", help="Asset list for fundarb live (.toml, or .json)."
        ),
    ] = Path("universe.toml"),
) -> None:
    """Rank assets across venues by liquidity on both legs, funding history quality and
    forecast edge (trailing-mean spread); write the asset list `fundarb live` reads."""
    from rich.table import Table

    from producers import history
    from projections.universe import UniverseRules
    from streams.universe import measure, select, write_asset_list

    rules = UniverseRules(
        min_quote_volume_24h_usd=Decimal(str(min_volume)),
        min_history_quality=Decimal(str(min_quality)),
        min_depth_usd=Decimal(str(min_depth)),
        min_edge_apr=Decimal(str(min_edge_apr)),
        top_n=top,
    )
    try:
        legs, end = measure(
            paths or list(DEFAULT_DATA),
            lookback_days=lookback_days,
            as_of=parse_time(as_of, 0) if as_of else None,
            assets=csv_set(assets),
            venues=csv_set(venues),
        )
    except history.HistoryError as exc:
        raise fail(exc) from exc
    if recorded is not None or live_tickers:
        import asyncio

        from streams.live import ccxt_exchange
        from streams.universe import recorded_tickers, venue_liquidity, with_liquidity

        asked = sorted(csv_set(venues) or {leg.venue for leg in legs})
        factory = recorded_tickers(recorded) if recorded is not None else ccxt_exchange
        liquidity = asyncio.run(venue_liquidity(asked, sorted({x.asset for x in legs}), factory))
        legs = with_liquidity(legs, liquidity)
        out.print(f"volume and depth from {len(liquidity)} venue tickers now", highlight=False)
    ranks = select(legs, rules)
    table = Table(
        "rank",
        "asset",
        "edge APR",
        "long",
        "short",
        "thinner 24h vol USD",
        "quality",
        "eligible venues",
        "left out because",
        title=f"universe as of {history.iso(end)} UTC, {lookback_days:g} days of funding",
    )
    for r in ranks:
        table.add_row(
            str(r.rank or "-"),
            r.asset,
            "-" if r.edge_apr is None else f"{r.edge_apr:+.2%}",
            r.long_venue or "-",
            r.short_venue or "-",
            "unknown" if r.thinner_volume_24h_usd is None else f"{r.thinner_volume_24h_usd:,.0f}",
            "-" if r.worse_quality is None else f"{r.worse_quality:.0%}",
            ",".join(r.eligible_venues),
            r.reason,
        )
    out.print(table)
    write_asset_list(out_file, ranks, end, rules, legs)
    chosen = [r.asset for r in ranks if r.selected]
    out.print(f"selected {len(chosen)} of {len(ranks)} assets: {','.join(chosen) or 'none'}")
    out.print(f"wrote {out_file}: fundarb live --assets-file {out_file}", highlight=False)
