"""``fundarb sweep``: strategy parameters searched over one replay, judged walk-forward.

One pass over the decoded market events (:func:`producers.history.merged`, the backtest's
replay order) feeds N :class:`streams.simulation.Simulation` instances, one per candidate
config (the engine fold is pure: N strategy states over one market stream). No broker: the
sweep compares candidates; ``fundarb backtest`` is the record of one config.

Candidates: the cartesian product of ``--param key=v1,v2,…`` over the base config (dotted
keys into the strategy file: ``entry.min_net_apr``, ``forecast.half_life_h``), or a
deterministic random sample of it (``--random N --seed S``, :class:`random.Random`).

Windows and walk-forward: each candidate runs continuously over the whole span (as it would
be deployed); a window's figures are the differences of the run's PnL parts at the window's
ends (exact ``Decimal``), and its arbs are the ones opened in it (their money to the end of
the run). ``--folds K`` cuts the span into K + 1 equal windows; split i chooses on window i
(train, in-sample) the candidate with the best total PnL and measures it on window i + 1
(test, out-of-sample). ``--train-until DATE`` adds one split: train before DATE, test after.

Deterministic: candidates, their order, and every figure depend only on the data and flags.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from producers import history
from producers.history import RejectedRow
from producers.paper import PaperConfig
from projections import engine as eng
from schemas.config import StrategyConfig
from schemas.events import Event
from streams.backtest import fit_ttls
from streams.simulation import Simulation

ZERO = Decimal(0)


# ---- candidates ----------------------------------------------------------------------------
def parse_params(items: Iterable[str]) -> dict[str, list[str]]:
    """``["entry.min_net_apr=0.1,0.2", …]`` → ``{"entry.min_net_apr": ["0.1", "0.2"]}``.

    Raises ``ValueError`` for an item without ``=`` or without values."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key.strip() or not vals:
            raise ValueError(f"--param {item!r}: expected KEY=V1,V2,… (e.g. entry.min_net_apr=0.1)")
        out[key.strip()] = vals
    return out


def _set(data: dict[str, Any], dotted: str, value: str) -> None:
    *path, last = dotted.split(".")
    node = data
    for part in path:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"{dotted}: {part} is not a table")
    node[last] = {"true": True, "false": False}.get(value.lower(), value)


def candidates(
    base: dict[str, Any], grid: dict[str, list[str]], sample: int | None = None, seed: int = 0
) -> list[tuple[dict[str, str], StrategyConfig]]:
    """Every (assignment, validated config) of the grid over ``base`` (the strategy file's
    data without ``[backtest]``), in grid order; ``sample`` picks that many at random
    (seeded). Raises ``ValueError`` naming the assignment when a config is invalid."""
    keys = sorted(grid)
    combos = [
        dict(zip(keys, vals, strict=True)) for vals in itertools.product(*(grid[k] for k in keys))
    ]
    if sample is not None and sample < len(combos):
        picked = sorted(random.Random(seed).sample(range(len(combos)), sample))
        combos = [combos[i] for i in picked]
    out = []
    for combo in combos:
        data = json.loads(json.dumps(base))
        for k, v in combo.items():
            _set(data, k, v)
        try:
            config = StrategyConfig.model_validate(data)
        except Exception as exc:
            raise ValueError(f"{combo}: {exc}") from exc
        out.append((combo, config))
    return out


# ---- windows -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Split:
    """One walk-forward split: choose on ``train`` (ms, half-open), measure on ``test``."""

    name: str
    train: tuple[int, int]
    test: tuple[int, int]


def walk_forward(start: int, end: int, folds: int, train_until: int | None = None) -> list[Split]:
    """``folds`` rolling splits over ``[start, end)`` cut into ``folds + 1`` equal windows
    (whole hours), plus one train-until split when ``train_until`` is inside the span."""
    hour = 3_600_000
    splits = []
    if folds > 0:
        step = (end - start) // (folds + 1) // hour * hour
        cuts = [start + i * step for i in range(folds + 1)] + [end]
        for i in range(folds):
            splits.append(
                Split(f"fold {i + 1}", (cuts[i], cuts[i + 1]), (cuts[i + 1], cuts[i + 2]))
            )
    if train_until is not None and start < train_until < end:
        splits.append(Split("train-until", (start, train_until), (train_until, end)))
    return splits


# ---- the run -------------------------------------------------------------------------------
@dataclass
class Candidate:
    """One candidate's simulation and its PnL parts sampled at the window boundaries."""

    params: dict[str, str]
    sim: Simulation
    marks: dict[int, tuple[Decimal, Decimal, Decimal, Decimal]] = field(default_factory=dict)

    def mark(self, t: int) -> None:
        p = eng.pnl(self.sim.state)
        self.marks[t] = (p.funding, p.price, p.fees, p.borrow)


def run(
    plan: history.ReplayPlan,
    configs: list[tuple[dict[str, str], StrategyConfig]],
    boundaries: list[int],
    candle_ms: int,
    on_event: Callable[[int], None] = lambda _t: None,
    paper: PaperConfig | None = None,
) -> list[Candidate]:
    """Feed every market event of ``plan`` once to one simulation per config; sample each
    candidate's PnL just before every boundary time (after everything due before it)."""
    cands = [
        Candidate(params, Simulation(fit_ttls(cfg, candle_ms)[0], paper or PaperConfig()))
        for params, cfg in configs
    ]
    pending = sorted(set(boundaries))
    for item in history.merged(plan):
        if isinstance(item, RejectedRow):
            continue
        event: Event = item
        while pending and event.event_time >= pending[0]:
            for c in cands:
                c.sim.advance_to(pending[0])
                c.mark(pending[0])
            pending.pop(0)
        for c in cands:
            c.sim.feed(event)
        on_event(event.event_time)
    for c in cands:
        c.sim.finish()
    for t in pending:
        for c in cands:
            c.mark(t)
    return cands


class WindowFigures(BaseModel):
    """One candidate's money in one window (``total = funding + price − fees − borrow``)."""

    model_config = ConfigDict(frozen=True)

    total_usd: Decimal
    funding_usd: Decimal
    price_usd: Decimal
    fees_usd: Decimal
    arbs: int  # opened in the window
    closed_filled: int  # of those, closed with fills
    covered_fees: int  # of those, whose funding paid their fees
    covered_share: Decimal | None  # covered_fees / closed_filled (None: none closed)


class CandidateRow(BaseModel):
    """A candidate's in-sample (train) and out-of-sample (test) figures in one split."""

    model_config = ConfigDict(frozen=True)

    candidate: int  # its index in the grid
    params: dict[str, str]
    train: WindowFigures
    test: WindowFigures


class SplitResult(BaseModel):
    """One walk-forward split: its windows (ms, half-open), every candidate, the one chosen
    on the train window."""

    model_config = ConfigDict(frozen=True)

    split: str
    train: tuple[int, int]
    test: tuple[int, int]
    chosen: int  # index into rows
    rows: list[CandidateRow]


def window_figures(c: Candidate, window: tuple[int, int]) -> WindowFigures:
    """Money of ``c`` in ``window`` (PnL parts at its end − at its start) and its arbs."""
    a, b = window
    fa, pa, ea, ba = c.marks[a]
    fb, pb, eb, bb = c.marks[b]
    funding, price, fees, borrow = fb - fa, pb - pa, eb - ea, bb - ba
    state = c.sim.state
    arbs = [x for x in state.strategy.arbs.values() if a <= x.opened_at < b]
    filled = []
    for arb in arbs:
        book = state.books.get(arb.asset)
        ledger = book.arbs.get(arb.arb_id) if book else None
        if ledger is not None and ledger.fills and arb.status == "closed":
            filled.append(ledger)
    covered = sum(1 for x in filled if x.funding >= x.fees)
    return WindowFigures(
        total_usd=funding + price - fees - borrow,
        funding_usd=funding,
        price_usd=price,
        fees_usd=fees,
        arbs=len(arbs),
        closed_filled=len(filled),
        covered_fees=covered,
        covered_share=(Decimal(covered) / len(filled)) if filled else None,
    )


def evaluate(cands: list[Candidate], splits: list[Split]) -> list[SplitResult]:
    """Per split: every candidate's in- and out-of-sample figures and the one chosen on the
    train window (best total; ties: the earlier candidate)."""
    out = []
    for s in splits:
        rows = [
            CandidateRow(
                candidate=i,
                params=c.params,
                train=window_figures(c, s.train),
                test=window_figures(c, s.test),
            )
            for i, c in enumerate(cands)
        ]
        chosen = max(range(len(rows)), key=lambda i: (rows[i].train.total_usd, -i))
        out.append(SplitResult(split=s.name, train=s.train, test=s.test, chosen=chosen, rows=rows))
    return out


def jsonable(x: Any) -> Any:
    if isinstance(x, Decimal):
        return format(x, "f")
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    return x


# ---- the page ------------------------------------------------------------------------------
def html_page(result: list[SplitResult], title: str) -> str:
    """In-sample vs out-of-sample total PnL per candidate and split (plotly.js embedded)."""
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs

    fig = go.Figure()
    for split in result:
        rows = split.rows
        fig.add_trace(
            go.Scatter(
                x=[float(r.train.total_usd) for r in rows],
                y=[float(r.test.total_usd) for r in rows],
                mode="markers",
                name=split.split,
                text=[json.dumps(r.params) for r in rows],
                hovertemplate="%{text}<br>in-sample %{x:.2f} USD<br>out-of-sample %{y:.2f} USD",
            )
        )
        ch = rows[split.chosen]
        fig.add_trace(
            go.Scatter(
                x=[float(ch.train.total_usd)],
                y=[float(ch.test.total_usd)],
                mode="markers",
                marker={"size": 14, "symbol": "star"},
                name=f"{split.split}: chosen",
                text=[json.dumps(ch.params)],
                hovertemplate="%{text}<br>in-sample %{x:.2f}<br>out-of-sample %{y:.2f}",
            )
        )
    fig.update_layout(
        title=title, xaxis_title="in-sample total PnL (USD)", yaxis_title="out-of-sample (USD)"
    )
    tables = []
    for split in result:
        head = (
            "<tr><th>#</th><th>params</th><th>train total</th><th>train funding</th>"
            "<th>train fees</th><th>test total</th><th>test funding</th><th>test fees</th>"
            "<th>test covered</th></tr>"
        )
        body = []
        for r in split.rows:
            mark = " ★" if r.candidate == split.chosen else ""
            t, o = r.train, r.test
            body.append(
                f"<tr><td>{r.candidate}{mark}</td><td>{json.dumps(r.params)}</td>"
                f"<td>{t.total_usd:.2f}</td><td>{t.funding_usd:.2f}</td>"
                f"<td>{t.fees_usd:.2f}</td><td>{o.total_usd:.2f}</td>"
                f"<td>{o.funding_usd:.2f}</td><td>{o.fees_usd:.2f}</td>"
                f"<td>{o.covered_fees}/{o.closed_filled}</td></tr>"
            )
        tables.append(f"<h2>{split.split}</h2><table border=1>{head}{''.join(body)}</table>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>fundarb sweep</title>"
        f"<script>{get_plotlyjs()}</script></head><body><h1>{title}</h1>"
        f"{fig.to_html(full_html=False, include_plotlyjs=False, div_id='sweep')}"
        f"{''.join(tables)}</body></html>"
    )


def write(out_dir: Path, result: list[SplitResult], meta: dict[str, Any]) -> tuple[Path, Path]:
    """``sweep.json`` (figures as exact decimal strings) and ``sweep.html`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / "sweep.json"
    splits = [s.model_dump() for s in result]  # Decimals kept: jsonable writes them exactly
    js.write_text(json.dumps(jsonable({**meta, "splits": splits}), indent=1, sort_keys=True))
    page = out_dir / "sweep.html"
    page.write_text(
        html_page(
            result,
            f"fundarb sweep: {len(result[0].rows)} candidates" if result else "fundarb sweep",
        )
    )
    return js, page
