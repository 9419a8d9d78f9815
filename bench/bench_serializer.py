"""Serializer throughput against raw fastavro schemaless on the same records, same run.

The mix mirrors a backtest's input: mostly funding and ticker observations, some fills and
orders. ``decode`` includes invariant validation (pydantic: the edge's decode);
``decode_trusted`` builds the same events without re-validation (internal topics, issue 18's
"internal decode" target); ``decode_record`` is the wrapper without building events (framing,
schema-id lookup, Avro, upcast) to show where the cost is.

    python bench/bench_serializer.py
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fastavro

from bench.common import row, save, summarise
from schemas.avro import load_avsc
from schemas.serde import HEADER, Serializer, to_record
from tests import stubs

N = 20_000


def main() -> None:
    ser = Serializer()
    mix = [
        stubs.funding_observed,
        stubs.ticker_observed,
        stubs.ticker_observed,
        stubs.funding_observed,
        stubs.fill_executed,
        stubs.place_order,
    ]
    events = [mix[i % len(mix)](event_time=stubs.T0 + i) for i in range(N)]
    encoded = [ser.encode(e) for e in events]
    # baseline inputs: the same records as plain dicts, schemas parsed once
    parsed = {t: fastavro.parse_schema(load_avsc(t.__name__, 1)) for t in {type(e) for e in events}}
    raw_in = [(parsed[type(e)], to_record(e)) for e in events]
    raw_payloads = [
        (parsed[type(e)], b[HEADER.size :]) for e, b in zip(events, encoded, strict=True)
    ]

    def enc() -> int:
        for e in events:
            ser.encode(e)
        return N

    def raw_enc() -> int:
        for schema, record in raw_in:
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, schema, record)
            buf.getvalue()
        return N

    def dec() -> int:
        for b in encoded:
            ser.decode(b)
        return N

    def dec_trusted() -> int:
        for b in encoded:
            ser.decode_trusted(b)
        return N

    def dec_record() -> int:
        for b in encoded:
            ser.decode_record(b)
        return N

    def raw_dec() -> int:
        for schema, payload in raw_payloads:
            fastavro.schemaless_reader(io.BytesIO(payload), schema)
        return N

    # CPU time, each run of every variant interleaved with the others: on a shared machine
    # whose load swings several-fold within a minute, wall-time medians measured one variant
    # after the other compare different machines
    fns = {"raw_enc": raw_enc, "enc": enc, "raw_dec": raw_dec, "trusted": dec_trusted}
    fns |= {"validated": dec, "record": dec_record}
    rates: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(7):
        for name, fn in fns.items():
            start = time.process_time()
            n = fn()
            rates[name].append(n / (time.process_time() - start))
    r = {k: summarise(v) for k, v in rates.items()}
    rows = []
    print(f"serializer: {N:,} events per run, median of 7 interleaved runs, CPU time")
    rows.append(row("encode", r["enc"], r["raw_enc"], 0.70))
    rows.append(row("decode_trusted (internal topics)", r["trusted"], r["raw_dec"], 0.70))
    rows.append(row("decode (validated, the edge)", r["validated"], r["raw_dec"], None))
    rows.append(row("decode_record (no validation)", r["record"], r["raw_dec"], None))
    print(f"saved {save('serializer', rows)}")


if __name__ == "__main__":
    main()
