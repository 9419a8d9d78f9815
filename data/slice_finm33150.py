"""Rebuild ``funding/finm33150_2025-12-03_2026-03-07.csv.gz`` from the shared source file.

Usage: ``python data/slice_finm33150.py SOURCE`` with SOURCE the shared
``funding/finm33150_2025-03_2026-03_7venues_5coins.csv`` (shared/data/PROVENANCE.md §1).

Rows are copied byte for byte in the source's order (venue, symbol, funding time ascending),
except that Hyperliquid rows get ``SHIFT_MS`` added to ``funding_time_ms`` **before** the window
cut: the source (0xArchive) stamps them one hour before the settlement they belong to
(data/PROVENANCE.md, "Timestamp fix"). Window: funding times ``START_MS <= t < END_MS`` (ms UTC).
The gzip is deterministic (mtime 0, no file name in the header).
"""

import gzip
import sys
from pathlib import Path

START_MS = 1_764_720_000_000  # 2025-12-03 00:00 UTC
END_MS = 1_772_928_000_000  # 2026-03-08 00:00 UTC
SHIFT_MS = {"hyperliquid": 3_600_000}  # +1 h; lighter is aligned already (PROVENANCE.md)
OUT = Path(__file__).resolve().parent / "funding/finm33150_2025-12-03_2026-03-07.csv.gz"


def slice_rows(lines: list[bytes]) -> list[bytes]:
    """Header + the shifted, windowed rows (``lines`` end with ``\\n``)."""
    out = [lines[0]]
    for line in lines[1:]:
        venue, symbol, t, rest = line.split(b",", 3)
        t_ms = int(t) + SHIFT_MS.get(venue.decode(), 0)
        if START_MS <= t_ms < END_MS:
            out.append(b",".join((venue, symbol, str(t_ms).encode(), rest)))
    return out


def main(source: str) -> None:
    rows = slice_rows(Path(source).read_bytes().splitlines(keepends=True))
    with OUT.open("wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as f:
        f.write(b"".join(rows))
    print(f"{OUT}: {len(rows) - 1} rows")


if __name__ == "__main__":
    main(sys.argv[1])
