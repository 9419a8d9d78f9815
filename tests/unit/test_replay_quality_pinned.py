"""The replay's outputs and quality report on a bundled slice with hostile rows, pinned.

The pins were computed by ``main`` at 3c5d15d (before the row checks outside the window were
made cheaper, issue 18 item 5), not by the code under test: the quality counts of every series
(rows, emitted, duplicates, out-of-order, invalid, gaps, interval changes, times), every refused
row's reason, and a digest of every record the replay publishes (topic, key, Avro value,
timestamp). Rows of each kind sit before, inside and after the window: the cheaper path only
runs outside it.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from bench.common import FILES
from infra.settings import Settings
from producers import history as h
from producers.replay import encoded
from schemas.serde import Serializer

H = 3_600_000
DAY = 24 * H
START = 1_764_720_000_000 + 20 * DAY  # 2025-12-23: bundled rows on both sides of the window
WINDOW = h.Window(START, START + 3 * DAY, venues=frozenset({"okx", "kraken", "lighter"}))

#: hostile rows, each at a time before (-), inside (0) or after (+) the window; every format
#: the cheaper path reads as text: E notation, signs, underscores, non-ASCII digits, the bound
_BAD_FUNDING = [
    (-3, "1E+400000", ""),
    (-2, "5", ""),
    (-1, "0.0001", "-1"),
    (1, "0.0001", "1E+100000000"),
    (2, "+1", ""),  # ±100 %: the edge, valid
    (3, "-1.0", "0"),
    (4, "1e-31", ""),  # exponent beyond ±30
    (5, "٠.0001", ""),  # an Arabic-Indic zero: Decimal parses it
    (6, "0.000_1", ""),
    (7, "1.5e-1", "99999999999999.99"),
    (8, "-0", "1e15"),
    (9, "0.00010000000000000000000000000000000000000000001", ""),  # > 40 places
    (10, "nan", ""),
    (11, "1.0000000001", ""),
]
_BAD_CANDLES = [
    ("99", "-0"),
    ("0", "1"),
    ("0.000", "1"),
    ("99999999.9", "9999999.99"),  # below 10^15, just
    ("99999999.9", "99999999.99"),  # above: quote volume refused
    ("9.999999999999999999", "99999999999999.9999999"),  # rounds up to 10^15
    ("1e3", "1"),
    ("+5", "1"),
    ("5", "1_0"),
    ("١٢", "3"),
    ("12", "0.00000000000000000000000000000000000000000000001"),
    ("inf", "1"),
    ("12", ""),
]

#: computed by main at 3c5d15d (see the module docstring)
MAIN_ITEMS = 1188
MAIN_RECORDS_SHA256 = "98977c4f7f6373b87e7af1c346b9efa95c15b9313be34b8076c2145c4cd3b917"
MAIN_REFUSED = [
    (6, "kraken ZZZ/USD:USD line 6: mark price -1 is not positive"),
    (24, "kraken ZZZ/USD:USD line 24: 'inf' is not finite (NaN and infinity are refused)"),
    (8, "kraken ZZZ/USD:USD line 8: '1E+100000000': exponent outside ±30 refused"),
    (26, "kraken ZZZ/USD:USD line 26: '' is not a decimal number"),
    (
        28,
        "kraken ZZZ/USD:USD line 28: candle 1766426400000 is before the previous row's 1766484000000",
    ),
    (29, "kraken ZZZ/USD:USD line 29: unknown candle interval '2h'"),
    (31, "kraken ZZZ/USD:USD line 31: expected 10 columns, got 11"),
    (12, "kraken ZZZ/USD:USD line 12: mark price 0 is not positive"),
    (34, "kraken ZZZ/USD:USD line 34: close 0 / volume 1 out of range"),
    (36, "kraken ZZZ/USD:USD line 36: close 0 / volume 1 out of range"),
    (14, "kraken ZZZ/USD:USD line 14: '1e-31': exponent outside ±30 refused"),
    (40, "kraken ZZZ/USD:USD line 40: quote volume 1.000000E+16 is not below 1E+15"),
    (54, "kraken ZZZ/USD:USD line 54: 'inf' is not finite (NaN and infinity are refused)"),
    (56, "kraken ZZZ/USD:USD line 56: '' is not a decimal number"),
    (
        58,
        "kraken ZZZ/USD:USD line 58: candle 1766556000000 is before the previous row's 1766613600000",
    ),
    (59, "kraken ZZZ/USD:USD line 59: unknown candle interval '2h'"),
    (61, "kraken ZZZ/USD:USD line 61: expected 10 columns, got 11"),
    (64, "kraken ZZZ/USD:USD line 64: close 0 / volume 1 out of range"),
    (66, "kraken ZZZ/USD:USD line 66: close 0 / volume 1 out of range"),
    (70, "kraken ZZZ/USD:USD line 70: quote volume 1.000000E+16 is not below 1E+15"),
]
#: (kind, venue, symbol, rows, emitted, duplicates, out_of_order, invalid, gaps,
#: interval_changes, longest_gap_ms, longest_gap_from, first_time, last_time)
MAIN_QUALITY = [
    (
        "candles",
        "kraken",
        "BTC/USD:USD",
        2000,
        72,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1765512000000,
        1772708400000,
    ),
    (
        "candles",
        "kraken",
        "DOGE/USD:USD",
        2000,
        72,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1765515600000,
        1772712000000,
    ),
    (
        "candles",
        "kraken",
        "ETH/USD:USD",
        2000,
        72,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1765512000000,
        1772708400000,
    ),
    (
        "candles",
        "kraken",
        "HYPE/USD:USD",
        2000,
        72,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1765515600000,
        1772712000000,
    ),
    (
        "candles",
        "kraken",
        "SOL/USD:USD",
        2000,
        72,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1765515600000,
        1772712000000,
    ),
    (
        "candles",
        "kraken",
        "ZZZ/USD:USD",
        90,
        28,
        24,
        2,
        14,
        5,
        0,
        68400000,
        1766487600000,
        1766430000000,
        1766761200000,
    ),
    (
        "candles",
        "lighter",
        "BTC/USDC:USDC",
        689,
        0,
        0,
        0,
        0,
        16,
        0,
        385200000,
        1766408400000,
        1764756000000,
        1769281200000,
    ),
    (
        "candles",
        "lighter",
        "DOGE/USDC:USDC",
        689,
        0,
        0,
        0,
        0,
        16,
        0,
        385200000,
        1766408400000,
        1764756000000,
        1769281200000,
    ),
    (
        "candles",
        "lighter",
        "ETH/USDC:USDC",
        689,
        0,
        0,
        0,
        0,
        16,
        0,
        385200000,
        1766408400000,
        1764756000000,
        1769281200000,
    ),
    (
        "candles",
        "lighter",
        "HYPE/USDC:USDC",
        689,
        0,
        0,
        0,
        0,
        16,
        0,
        385200000,
        1766408400000,
        1764756000000,
        1769281200000,
    ),
    (
        "candles",
        "lighter",
        "SOL/USDC:USDC",
        689,
        0,
        0,
        0,
        0,
        16,
        0,
        385200000,
        1766408400000,
        1764756000000,
        1769281200000,
    ),
    (
        "candles",
        "okx",
        "BTC/USDT:USDT",
        2160,
        72,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1764936000000,
        1772708400000,
    ),
    (
        "candles",
        "okx",
        "DOGE/USDT:USDT",
        2160,
        72,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1764939600000,
        1772712000000,
    ),
    (
        "candles",
        "okx",
        "ETH/USDT:USDT",
        2160,
        72,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1764936000000,
        1772708400000,
    ),
    (
        "candles",
        "okx",
        "HYPE/USDT:USDT",
        2160,
        72,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1764939600000,
        1772712000000,
    ),
    (
        "candles",
        "okx",
        "SOL/USDT:USDT",
        2160,
        72,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1764939600000,
        1772712000000,
    ),
    (
        "funding",
        "kraken",
        "BTC/USD:USD",
        2262,
        72,
        0,
        0,
        0,
        3,
        0,
        7200000,
        1764835200000,
        1764720000000,
        1772870400000,
    ),
    (
        "funding",
        "kraken",
        "DOGE/USD:USD",
        2262,
        72,
        0,
        0,
        0,
        3,
        0,
        7200000,
        1764835200000,
        1764720000000,
        1772870400000,
    ),
    (
        "funding",
        "kraken",
        "ETH/USD:USD",
        2262,
        72,
        0,
        0,
        0,
        3,
        0,
        7200000,
        1764835200000,
        1764720000000,
        1772870400000,
    ),
    (
        "funding",
        "kraken",
        "HYPE/USD:USD",
        2262,
        72,
        0,
        0,
        0,
        3,
        0,
        7200000,
        1764835200000,
        1764720000000,
        1772870400000,
    ),
    (
        "funding",
        "kraken",
        "SOL/USD:USD",
        2262,
        72,
        0,
        0,
        0,
        3,
        0,
        7200000,
        1764835200000,
        1764720000000,
        1772870400000,
    ),
    ("funding", "kraken", "ZZZ/USD", 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    (
        "funding",
        "kraken",
        "ZZZ/USD:USD",
        90,
        6,
        7,
        0,
        4,
        1,
        2,
        144000000,
        1766599200000,
        1766426400000,
        1766916000000,
    ),
    (
        "funding",
        "lighter",
        "BTC/USDC:USDC",
        1557,
        0,
        0,
        0,
        0,
        17,
        0,
        518400000,
        1766325600000,
        1764943200000,
        1772870400000,
    ),
    (
        "funding",
        "lighter",
        "DOGE/USDC:USDC",
        1603,
        0,
        0,
        0,
        0,
        15,
        0,
        518400000,
        1766325600000,
        1764943200000,
        1772870400000,
    ),
    (
        "funding",
        "lighter",
        "ETH/USDC:USDC",
        1582,
        0,
        0,
        0,
        0,
        15,
        0,
        518400000,
        1766325600000,
        1764943200000,
        1772870400000,
    ),
    (
        "funding",
        "lighter",
        "HYPE/USDC:USDC",
        1550,
        0,
        0,
        0,
        0,
        18,
        0,
        518400000,
        1766325600000,
        1764943200000,
        1772870400000,
    ),
    (
        "funding",
        "lighter",
        "SOL/USDC:USDC",
        1580,
        0,
        0,
        0,
        0,
        16,
        0,
        518400000,
        1766325600000,
        1764943200000,
        1772870400000,
    ),
    ("funding", "okx", "BTC/USDT:USDT", 283, 9, 0, 0, 0, 0, 0, 0, 0, 1764748800000, 1772870400000),
    ("funding", "okx", "DOGE/USDT:USDT", 283, 9, 0, 0, 0, 0, 0, 0, 0, 1764748800000, 1772870400000),
    ("funding", "okx", "ETH/USDT:USDT", 283, 9, 0, 0, 0, 0, 0, 0, 0, 1764748800000, 1772870400000),
    (
        "funding",
        "okx",
        "HYPE/USDT:USDT",
        565,
        18,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1764748800000,
        1772870400000,
    ),
    ("funding", "okx", "SOL/USDT:USDT", 283, 9, 0, 0, 0, 0, 0, 0, 0, 1764748800000, 1772870400000),
]


def _slice(tmp: Path) -> list[Path]:
    """The bundled files' okx/kraken/lighter rows, plus one funding and one candle series of
    hostile rows (with duplicates, out-of-order rows and a gap) on both sides of the window."""
    out = []
    for src in FILES:
        with gzip.open(src, "rt") as f:
            head, *rows = f.read().splitlines()
        keep = [r for r in rows if r.split(",", 1)[0] in ("okx", "kraken", "lighter")]
        path = tmp / src.name.replace(".gz", "")
        path.write_text("\n".join([head, *keep]) + "\n")
        out.append(path)
    funding = ["venue,symbol,funding_time_ms,funding_rate,mark_price"]
    for when in (-1, 0, 1):
        base = START + (when + 1) * 3 * DAY // 2 - DAY // 4  # before, inside, after
        t = base
        for i, (_, rate, mark) in enumerate(_BAD_FUNDING):
            funding.append(f"kraken,ZZZ/USD:USD,{t},{rate},{mark}")
            funding.append(f"kraken,ZZZ/USD:USD,{t},0.0002,")  # duplicate time
            t += 8 * H if i != 6 else 40 * H  # one gap
        funding.append(f"kraken,ZZZ/USD:USD,{base},0.0001,")  # out of order
        funding.append(f"kraken,ZZZ/USD,{t},0.0001,5")  # spot: a series of its own
        funding.append(f"kraken,ZZZ/USD:USD,{t + 8 * H},0.0001,5")
    candles = ["venue,symbol,market,interval,open_time_ms,open,high,low,close,volume"]
    for when in (-1, 0, 1):
        base = START + (when + 1) * 3 * DAY // 2 - DAY // 4
        t = base
        for i, (close, volume) in enumerate(_BAD_CANDLES):
            candles.append(f"kraken,ZZZ/USD:USD,perp,1h,{t},1,1,1,{close},{volume}")
            candles.append(f"kraken,ZZZ/USD:USD,perp,1h,{t},1,1,1,7,1")  # duplicate
            t += H if i != 4 else 5 * H
        candles.append(f"kraken,ZZZ/USD:USD,perp,1h,{base},1,1,1,7,1")  # out of order
        candles.append(f"kraken,ZZZ/USD:USD,perp,2h,{t},1,1,1,7,1")  # unknown interval
        candles.append(f"kraken,ZZZ/USD:USD,perp,4h,{t},1,1,1,7,1")  # interval change
        candles.append(f"kraken,ZZZ/USD:USD,perp,1h,{t + 4 * H},1,1,1,7,1,1")  # 11 columns
    (tmp / "hostile_f.csv").write_text("\n".join(funding) + "\n")
    (tmp / "hostile_c.csv").write_text("\n".join(candles) + "\n")
    return [*out, tmp / "hostile_f.csv", tmp / "hostile_c.csv"]


def test_outputs_and_quality_report_equal_mains_on_a_slice_with_hostile_rows(
    tmp_path: Path,
) -> None:
    p = h.plan(_slice(tmp_path), WINDOW, need_prices=False)  # the spot series has none
    items = list(h.merged(p))
    reasons = [(r.line, r.reason) for r in items if isinstance(r, h.RejectedRow)]
    digest = hashlib.sha256()
    for (topic, key, value, ts, _), _event in encoded(Settings(), iter(items), Serializer()):
        digest.update(repr((topic, key, value, ts)).encode())
    n = len(items)
    quality = sorted(
        tuple(v for k, v in h.as_dict(q).items() if k not in ("notes", "findings"))
        for q in p.quality
    )
    assert quality == MAIN_QUALITY
    assert reasons == MAIN_REFUSED
    assert (n, digest.hexdigest()) == (MAIN_ITEMS, MAIN_RECORDS_SHA256)


def test_replayed_events_are_what_model_construct_builds(tmp_path: Path) -> None:
    """The replay builds its events without pydantic's ``model_construct`` (issue 18 item 5):
    each is the object ``model_construct`` builds from the same fields (order, fields set,
    extra and private slots included)."""
    p = h.plan(_slice(tmp_path), WINDOW, need_prices=False)
    events = [e for e in h.merged(p) if not isinstance(e, h.RejectedRow)]
    assert len(events) > 1000
    for e in events:
        ref = type(e).model_construct(**e.__dict__)
        assert list(e.__dict__.items()) == list(ref.__dict__.items())
        assert e.model_fields_set == ref.model_fields_set
        assert (e.__pydantic_extra__, e.__pydantic_private__) == (
            ref.__pydantic_extra__,
            ref.__pydantic_private__,
        )
        assert e == ref
