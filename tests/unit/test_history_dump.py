"""Topic dumps: what DumpWriter records, index_dump and dump_events read back (no broker)."""

import gzip
import json
from pathlib import Path

import pytest

from producers import history as h
from schemas.serde import Serializer
from tests import stubs


@pytest.mark.parametrize("name", ["run.jsonl", "run.jsonl.gz"])
def test_a_written_dump_replays_its_market_events_in_order(tmp_path: Path, name: str) -> None:
    ser = Serializer()
    tickers = [
        stubs.ticker_observed(event_id=stubs.eid(f"t{i}"), event_time=stubs.T0 + i * 1000)
        for i in range(3)
    ]
    other = stubs.place_order(client_order_id="c1")  # not market data: skipped, counted
    path = tmp_path / name
    with h.DumpWriter(path) as writer:
        for offset, event in enumerate([tickers[0], other, tickers[1], tickers[2]]):
            writer.write("md.tickers", 0, offset, event.event_time, b"k", ser.encode(event))
    assert writer.records == 4
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt") as f:
        first = json.loads(f.readline())
    assert first["topic"] == "md.tickers" and first["offset"] == 0 and first["key"] == "aw=="

    (run,) = h.index_dump(path)
    assert (run.venue, run.symbol, run.rows) == ("md.tickers", "0", 4)
    q = h.SeriesQuality("dump", run.venue, run.symbol)
    events = [item for _key, item in h.dump_events(run, q, h.Window())]
    assert events == tickers
    assert q.emitted == 3 and q.notes == ["1 records of other event types skipped"]


def test_writing_outside_the_with_block_is_refused(tmp_path: Path) -> None:
    writer = h.DumpWriter(tmp_path / "x.jsonl")
    with pytest.raises(RuntimeError, match="outside its with block"):
        writer.write("md.tickers", 0, 0, 0, None, b"")
