"""Recorded data → events: the reading rules, data-quality handling, bad files."""

import gzip
from decimal import Decimal as D
from pathlib import Path

import pytest

from producers import history as h
from schemas.events import FundingRateObserved, TickerObserved

FUNDING_HEAD = "venue,symbol,funding_time_ms,funding_rate,mark_price\n"
CANDLE_HEAD = "venue,symbol,market,interval,open_time_ms,open,high,low,close,volume\n"
H = 3_600_000
T0 = 1_764_748_800_000


def write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def funding_file(tmp: Path, rows: list[str], name: str = "f.csv") -> Path:
    return write(tmp / name, FUNDING_HEAD + "".join(r + "\n" for r in rows))


def candle_file(tmp: Path, venue: str = "binance", n: int = 30, name: str = "c.csv") -> Path:
    rows = [
        f"{venue},BTC/USDT:USDT,perp,1h,{T0 - 2 * H + i * H},100,101,99,{100 + i},10"
        for i in range(n)
    ]
    return write(tmp / name, CANDLE_HEAD + "".join(r + "\n" for r in rows))


def events(
    paths: list[Path], window: h.Window | None = None, **kw: object
) -> tuple[list, h.ReplayPlan]:
    p = h.plan(paths, window, **kw)  # type: ignore[arg-type]
    return list(h.merged(p)), p


def test_funding_rows_become_settled_observations_with_the_next_time_known(tmp_path: Path) -> None:
    f = funding_file(
        tmp_path, [f"binance,BTC/USDT:USDT,{T0 + i * 8 * H},1.2e-05," for i in range(3)]
    )
    out, _ = events([f, candle_file(tmp_path)])
    funding = [e for e in out if isinstance(e, FundingRateObserved)]
    assert [e.funding_time for e in funding] == [T0, T0 + 8 * H, T0 + 16 * H]
    assert funding[0].next_funding_time == T0 + 8 * H and funding[-1].next_funding_time == 0
    assert funding[0].funding_rate == D("0.000012") and funding[0].settled


def test_tickers_at_candle_close_with_spread_and_rolling_24h_volume(tmp_path: Path) -> None:
    f = funding_file(tmp_path, [f"binance,BTC/USDT:USDT,{T0},0.0001,"])
    out, _ = events([f, candle_file(tmp_path, n=30)], half_spread=D("0.001"))
    tickers = [e for e in out if isinstance(e, TickerObserved)]
    first = tickers[0]
    assert first.event_time == T0 - 2 * H + H  # open + 1h
    assert (first.bid, first.ask, first.last) == (D("99.9"), D("100.1"), D("100"))
    last = tickers[-1]  # 24 candles in the last 24h: Σ 10 × close for closes 106..129
    assert last.quote_volume_24h == sum(D(10) * (100 + i) for i in range(6, 30))


def test_merge_is_in_event_time_order_with_tickers_before_funding_at_ties(tmp_path: Path) -> None:
    f = funding_file(
        tmp_path, [f"binance,BTC/USDT:USDT,{T0 + i * 8 * H},0.0001," for i in range(2)]
    )
    out, _ = events([f, candle_file(tmp_path, n=12)])
    keys = [(e.event_time, 0 if isinstance(e, TickerObserved) else 1) for e in out]
    assert keys == sorted(keys)


def test_duplicates_are_dropped_and_out_of_order_rows_rejected(tmp_path: Path) -> None:
    rows = [
        f"binance,BTC/USDT:USDT,{T0},0.0001,",
        f"binance,BTC/USDT:USDT,{T0},0.0001,",
        f"binance,BTC/USDT:USDT,{T0 + 8 * H},0.0002,",
        f"binance,BTC/USDT:USDT,{T0 + 4 * H},0.0003,",
        f"binance,BTC/USDT:USDT,{T0 + 40 * H},0.0001,",
    ]
    out, p = events([funding_file(tmp_path, rows), candle_file(tmp_path)])
    q = next(x for x in p.quality if x.kind == "funding")
    assert (q.rows, q.emitted, q.duplicates, q.out_of_order, q.gaps) == (5, 3, 1, 1, 1)
    rejected = [e for e in out if isinstance(e, h.RejectedRow)]
    assert len(rejected) == 1 and rejected[0].error_type == "out_of_order"
    assert rejected[0].raw == f"binance,BTC/USDT:USDT,{T0 + 4 * H},0.0003,".encode()
    assert "line 5" in rejected[0].reason


def test_a_truncated_last_line_is_an_invalid_row_not_a_crash(tmp_path: Path) -> None:
    f = write(
        tmp_path / "f.csv",
        FUNDING_HEAD + f"binance,BTC/USDT:USDT,{T0},0.0001,\nbinance,BTC/USDT:USDT,17647",
    )
    out, p = events([f, candle_file(tmp_path)])
    assert [e.error_type for e in out if isinstance(e, h.RejectedRow)] == ["invalid"]
    assert next(x for x in p.quality if x.kind == "funding").invalid == 1


def test_a_truncated_gzip_is_a_clear_error(tmp_path: Path) -> None:
    good = funding_file(
        tmp_path,
        [f"binance,BTC/USDT:USDT,{T0 + i * H},0.0001," for i in range(2000)],
        name="f.csv.gz",
    )
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(h.HistoryError, match="truncated or corrupt"):
        h.plan([cut])


def test_a_venue_without_prices_is_refused_by_name_unless_a_reference_is_chosen(
    tmp_path: Path,
) -> None:
    f = funding_file(
        tmp_path, [f"hyperliquid,BTC/USDC:USDC,{T0 + i * H},0.00001," for i in range(3)]
    )
    with pytest.raises(h.MissingPricesError, match="hyperliquid BTC/USDC:USDC"):
        h.plan([f, candle_file(tmp_path)])
    out, p = events([f, candle_file(tmp_path)], reference_prices={"hyperliquid": "binance"})
    tickers = [e for e in out if isinstance(e, TickerObserved) and e.venue == "hyperliquid"]
    assert tickers and tickers[0].instrument == "BTC/USDC:USDC"
    assert any("binance" in n for n in p.notes)


def test_mark_prices_on_funding_rows_stand_in_for_missing_candles(tmp_path: Path) -> None:
    f = funding_file(
        tmp_path, [f"okx,BTC/USDT:USDT,{T0 + i * 8 * H},0.0001,9000{i}" for i in range(3)]
    )
    out, _ = events([f])
    tickers = [e for e in out if isinstance(e, TickerObserved)]
    assert [t.mark_price for t in tickers] == [D("90000"), D("90001"), D("90002")]


def test_unknown_format_and_missing_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(h.HistoryError, match="neither the funding format"):
        h.plan([write(tmp_path / "x.csv", "a,b,c\n1,2,3\n")])
    with pytest.raises(h.HistoryError, match="no such file"):
        h.plan([tmp_path / "nope.csv"])


def test_window_and_filters(tmp_path: Path) -> None:
    rows = [f"binance,BTC/USDT:USDT,{T0 + i * 8 * H},0.0001," for i in range(5)]
    rows += [f"binance,ETH/USDT:USDT,{T0 + i * 8 * H},0.0001," for i in range(5)]
    f = funding_file(tmp_path, rows)
    eth = write(
        tmp_path / "e.csv",
        CANDLE_HEAD
        + "".join(f"binance,ETH/USDT:USDT,perp,1h,{T0 + i * H},1,1,1,1,1\n" for i in range(40)),
    )
    window = h.Window(start=T0 + 8 * H, end=T0 + 24 * H, assets=frozenset({"BTC"}))
    out, _ = events([f, candle_file(tmp_path), eth], window)
    funding = [e for e in out if isinstance(e, FundingRateObserved)]
    assert [(e.instrument, e.funding_time) for e in funding] == [
        ("BTC/USDT:USDT", T0 + 8 * H),
        ("BTC/USDT:USDT", T0 + 16 * H),
    ]
    assert all(window.start <= e.event_time < window.end for e in out)


def test_parquet_in_the_same_columns_reads_like_csv(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "f.parquet"
    pq.write_table(
        pa.table(
            {
                "venue": ["binance"] * 3,
                "symbol": ["BTC/USDT:USDT"] * 3,
                "funding_time_ms": [T0 + i * 8 * H for i in range(3)],
                "funding_rate": ["0.0001", "-0.00002", "0.00003"],
                "mark_price": [None, None, None],
            }
        ),
        path,
    )
    out, _ = events([path, candle_file(tmp_path)])
    funding = [e for e in out if isinstance(e, FundingRateObserved)]
    assert [e.funding_rate for e in funding] == [D("0.0001"), D("-0.00002"), D("0.00003")]
    assert funding[0].next_funding_time == T0 + 8 * H


BUNDLED_FUNDING = (
    Path(__file__).resolve().parents[2] / "data/funding/finm33150_2025-12-03_2026-03-07.csv.gz"
)


def test_a_gap_in_an_hourly_series_is_counted_not_read_as_a_long_interval() -> None:
    # the bundled Lighter BTC series: hourly, with 17 holes of 2–144 h (2025-12-11 01:00 → 105 h)
    run = next(
        r for r in h.index([BUNDLED_FUNDING]) if (r.venue, r.symbol) == ("lighter", "BTC/USDC:USDC")
    )
    q = h.SeriesQuality("funding", run.venue, run.symbol)
    out = [e for _, e in h.funding_events(run, q, h.Window()) if isinstance(e, FundingRateObserved)]
    before_gap = next(e for e in out if e.funding_time == 1_765_414_800_000)  # 2025-12-11 01:00
    assert before_gap.next_funding_time == before_gap.funding_time + H  # was + 105 h
    assert all(e.next_funding_time - e.funding_time == H for e in out[:-1])
    assert (q.gaps, q.interval_changes, q.longest_gap_ms) == (17, 0, 144 * H)
    notes = h.coverage_notes(h.ReplayPlan([], [q], 0, []), h.Window())
    assert notes == [
        "lighter BTC/USDC:USDC: 17 gaps in funding, longest 144 h after 2025-12-21 14:00"
    ]


def test_an_interval_change_is_confirmed_by_two_deltas_and_a_gap_by_one(tmp_path: Path) -> None:
    hours = [0, 4, 8, 16, 24, 32, 72, 80]  # 4 h, then 8 h from 8 h on, then 40 h without data
    f = funding_file(tmp_path, [f"binance,HYPE/USDT:USDT,{T0 + x * H},0.0001," for x in hours])
    run = h.index([f])[0]
    q = h.SeriesQuality("funding", run.venue, run.symbol)
    out = [e for _, e in h.funding_events(run, q, h.Window()) if isinstance(e, FundingRateObserved)]
    steps = [(e.next_funding_time - e.funding_time) // H if e.next_funding_time else 0 for e in out]
    assert steps == [4, 4, 4, 8, 8, 8, 8, 0]  # the first 8 h waits for a second one
    assert (q.gaps, q.interval_changes, q.longest_gap_ms) == (1, 1, 40 * H)


def bybit_funding(tmp: Path, *, marks: bool = True) -> Path:
    """Bybit's recorded LTC funding executions as funding rows (tests/resources/bybit,
    fetchFundingHistory): ``execTime``, ``feeRate`` = the settled rate, ``execPrice`` = the mark
    price the fee was computed at (execFee = execQty × execPrice × feeRate). 14 settlements, 8 h
    apart, with one 56 h hole."""
    import json

    case = json.loads((Path(__file__).parents[1] / "resources/bybit/bybit.json").read_text())
    rows = case["methods"]["fetchFundingHistory"][0]["httpResponse"]["result"]["list"]
    return funding_file(
        tmp,
        [
            f"bybit,LTC/USDT:USDT,{r['execTime']},{r['feeRate']},{r['execPrice'] if marks else ''}"
            for r in sorted(rows, key=lambda r: int(r["execTime"]))
        ],
    )


def test_settlement_mark_prices_are_a_coarse_price_path_flagged_in_the_report(
    tmp_path: Path,
) -> None:
    f = bybit_funding(tmp_path)
    out, p = events([f], half_spread=D("0.001"))
    kinds = [(e.event_time, type(e).__name__) for e in out]
    # one ticker per settlement, sorted before the settlement's funding at the same instant
    assert kinds == [
        (t, k) for t, _ in kinds[::2] for k in ("TickerObserved", "FundingRateObserved")
    ]
    first = out[0]
    assert isinstance(first, TickerObserved) and first.event_time == 1_710_374_400_000
    assert (first.bid, first.ask, first.last, first.mark_price) == (
        D("97.07283"),
        D("97.26717"),
        D("97.17"),
        D("97.17"),
    )
    assert first.quote_volume_24h is None  # unknown, not zero: a volume floor excludes the leg
    note = "bybit LTC/USDT:USDT: no candles, price path from 14 settlement mark prices (coarse)"
    assert note in p.notes
    assert note in next(q for q in p.quality if q.kind == "marks").notes
    _, p = events([f], h.Window(start=1_710_777_600_000))
    assert any("from 6 settlement mark prices" in n for n in p.notes)  # counted in the window


def test_funding_without_any_prices_replays_but_does_not_backtest(tmp_path: Path) -> None:
    f = bybit_funding(tmp_path, marks=False)
    out, p = events([f], need_prices=False)
    assert [type(e).__name__ for e in out] == ["FundingRateObserved"] * 14
    assert any(n.startswith("bybit LTC/USDT:USDT: no price series") for n in p.notes)
    with pytest.raises(h.MissingPricesError, match="bybit LTC/USDT:USDT") as refused:
        h.plan([f])  # a backtest needs a price path: refused, on one line
    assert "\n" not in str(refused.value)


def test_the_replay_command_publishes_funding_without_prices(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from streams.cli import app

    result = CliRunner().invoke(
        app, ["replay", str(bybit_funding(tmp_path, marks=False)), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "14 events would be published" in result.output


# ---- selection checks (before any broker), inverse contracts, coverage --------------------
def _two_venues(tmp: Path) -> list[Path]:
    rows = [
        f"{v},{a}/USDT:USDT,{T0 + i * 8 * H},0.0001,"
        for v in ("binance", "okx")
        for a in ("BTC", "ETH")
        for i in range(3)
    ]
    return [funding_file(tmp, rows), candle_file(tmp), candle_file(tmp, "okx", name="o.csv")]


def test_filters_match_case_insensitively(tmp_path: Path) -> None:
    window = h.Window(assets=frozenset({"btc"}), venues=frozenset({"Binance"}))
    out, _ = events(_two_venues(tmp_path), window)
    funding = [e for e in out if isinstance(e, FundingRateObserved)]
    assert {(e.venue, e.instrument) for e in funding} == {("binance", "BTC/USDT:USDT")}


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (
            h.Window(assets=frozenset({"NOSUCH"})),
            "no data for assets NOSUCH; the data has BTC, ETH",
        ),
        (
            h.Window(venues=frozenset({"binance", "kraken"})),
            "no data for venues kraken; the data has binance, okx",
        ),
        (
            h.Window(start=T0 + 1000 * H),
            "window 2026-01-14 00:00 → … is outside the data (2025-12-03 06:00 → 2025-12-04 11:00)",
        ),
        (h.Window(start=T0, end=T0), "is empty"),
    ],
)
def test_a_selection_of_nothing_is_one_line_naming_what_the_data_has(
    tmp_path: Path, window: h.Window, message: str
) -> None:
    runs = h.index(_two_venues(tmp_path))
    with pytest.raises(h.EmptySelectionError) as caught:
        h.admit(runs, window)  # pure over the index: what the CLI checks before a broker
    assert message in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(h.EmptySelectionError):
        h.plan(_two_venues(tmp_path), window)


def _aha_like(tmp: Path) -> list[Path]:
    """Linear and inverse perps of one venue, as in the aha-hh data."""
    f = funding_file(
        tmp,
        [
            f"binance,{s},{T0 + i * 8 * H},0.0001,"
            for s in ("BTC/USD:BTC", "BTC/USDT:USDT")
            for i in range(3)
        ],
    )
    c = write(
        tmp / "c8.csv",
        CANDLE_HEAD
        + "".join(
            f"binance,{s},{m},8h,{T0 - 8 * H + i * 8 * H},100,101,99,100,10\n"
            for s, m in (("BTC/USD:BTC", "perp_inverse"), ("BTC/USDT:USDT", "perp"))
            for i in range(4)
        ),
    )
    return [f, c]


def test_inverse_contracts_are_excluded_with_a_note_and_a_finding(tmp_path: Path) -> None:
    out, p = events(_aha_like(tmp_path))
    assert {e.instrument for e in out if not isinstance(e, h.RejectedRow)} == {"BTC/USDT:USDT"}
    assert p.notes == [
        "inverse (coin-margined) contracts are not supported: excluded binance BTC/USD:BTC"
    ]
    flagged = [q for q in p.quality if h.has_findings(h.as_dict(q))]
    assert {(q.kind, q.symbol) for q in flagged} == {
        ("funding", "BTC/USD:BTC"),
        ("candles", "BTC/USD:BTC"),
    }
    assert h.candle_interval_ms(p) == 8 * H


def test_a_selection_of_only_inverse_contracts_is_an_error(tmp_path: Path) -> None:
    inverse_only = write(
        tmp_path / "inv.csv",
        FUNDING_HEAD + "".join(f"binance,BTC/USD:BTC,{T0 + i * 8 * H},0.0001,\n" for i in range(3)),
    )
    with pytest.raises(h.EmptySelectionError, match=r"only those: binance BTC/USD:BTC$"):
        h.plan([inverse_only, _aha_like(tmp_path)[1]])


def test_prices_ending_before_the_funding_are_a_finding_even_without_a_window_end(
    tmp_path: Path,
) -> None:
    """The bundled window has no --to by default; lighter's prices stop weeks before its
    funding does. That used to be silent unless --to was given."""
    f = funding_file(
        tmp_path, [f"binance,BTC/USDT:USDT,{T0 + i * 8 * H},0.0001," for i in range(12)]
    )
    _out, p = events([f, candle_file(tmp_path, n=30)])  # prices for ~1 day of 4
    notes = h.coverage_notes(p, h.Window())
    assert len(notes) == 1 and "binance BTC/USDT:USDT: prices end 2025-12-04 12:00" in notes[0]
    assert "funding runs to 2025-12-07 00:00" in notes[0]
    q = next(x for x in p.quality if x.kind == "candles")
    assert h.has_findings(h.as_dict(q)) and q.findings


def test_absurd_values_in_a_data_file_are_invalid_rows_with_a_reason(tmp_path: Path) -> None:
    # the replay builds events without validation (model_construct): its parser is the edge
    rows = [
        f"binance,BTC/USDT:USDT,{T0},0.0001,",
        f"binance,BTC/USDT:USDT,{T0 + 8 * H},1E+400000,",
        f"binance,BTC/USDT:USDT,{T0 + 16 * H},5,",  # 500 % per interval
        f"binance,BTC/USDT:USDT,{T0 + 24 * H},0.0001,1E+100000000",
        f"binance,BTC/USDT:USDT,{T0 + 32 * H},0.0002,",
    ]
    candles = CANDLE_HEAD + "".join(
        f"binance,BTC/USDT:USDT,perp,1h,{T0 - 2 * H + i * H},100,101,99,100,"
        f"{'100000000000000' if i == 5 else '10'}\n"
        for i in range(30)
    )
    out, _ = events([funding_file(tmp_path, rows), write(tmp_path / "c.csv", candles)])
    funding = [e for e in out if isinstance(e, FundingRateObserved)]
    assert [e.funding_rate for e in funding] == [D("0.0001"), D("0.0002")]
    reasons = [e.reason for e in out if isinstance(e, h.RejectedRow)]
    assert len(reasons) == 4, reasons
    assert any("exponent" in r for r in reasons) and any("funding rate" in r for r in reasons)
    assert any("quote volume" in r for r in reasons)
    assert all(t.quote_volume_24h < D("1e15") for t in out if isinstance(t, TickerObserved))
