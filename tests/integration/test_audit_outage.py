"""The audit sink rides out a broker outage: stopped for about a minute under a running sink,
the broker comes back and the sink goes on to store exactly the records on the run's topics."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from pathlib import Path

from consumers.audit import AuditResult, apply_ddl, audit_topics
from infra import kafka_local
from infra.clickhouse import ClickHouseStore
from infra.kafka_io import create_topics
from infra.settings import Settings
from tests.market import T0, H, two_venue_history
from tests.worker_proc import own_broker_settings, publish


class SinkThread(threading.Thread):
    """``audit_topics`` (not draining: it runs until stopped) on its own event loop."""

    def __init__(self, settings: Settings, store: ClickHouseStore) -> None:
        super().__init__(daemon=True)
        self.settings, self.store = settings, store
        self.error: BaseException | None = None
        self.result: AuditResult | None = None
        self._stop_requested = threading.Event()

    def run(self) -> None:
        async def main() -> None:
            task = asyncio.create_task(audit_topics(self.settings, store=self.store))
            while not self._stop_requested.is_set() and not task.done():
                await asyncio.sleep(0.2)
            if task.done():
                self.result = task.result()  # raises what stopped it
                return
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test
            self.error = exc

    def stop(self) -> None:
        self._stop_requested.set()
        self.join(timeout=60)


def _rows(store: ClickHouseStore, settings: Settings) -> int:
    return int(
        store.query(
            "SELECT count() FROM events_raw FINAL WHERE run = {r:String}",
            {"r": settings.topic_prefix.rstrip(".")},
        ).scalar()
    )


def _wait_rows(store: ClickHouseStore, settings: Settings, n: int, sink: SinkThread) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert sink.is_alive(), f"the sink stopped: {sink.error!r} {sink.result}"
        if _rows(store, settings) >= n:
            return
        time.sleep(0.5)
    raise AssertionError(f"{_rows(store, settings)} rows of {n} after 180 s")


def test_the_audit_sink_rides_out_a_broker_outage(
    tmp_path: Path, chdb_store: ClickHouseStore
) -> None:
    broker = own_broker_settings(tmp_path / "broker")
    kafka_local.up(broker)
    settings = Settings(
        bootstrap_servers=broker.bootstrap, topic_prefix=f"t-audit-out-{uuid.uuid4().hex[:6]}."
    )
    before = two_venue_history(n=3)
    after = two_venue_history(n=2, start=T0 + 48 * H)
    sink = SinkThread(settings, chdb_store)
    try:
        apply_ddl(chdb_store)  # the tables exist before the test first counts rows
        asyncio.run(create_topics(settings))
        asyncio.run(publish(settings, before))
        sink.start()
        _wait_rows(chdb_store, settings, len(before), sink)
        kafka_local.down(broker)
        time.sleep(55)  # past the ~40 s request timeouts
        assert sink.is_alive(), f"the sink stopped during the outage: {sink.error!r}"
        kafka_local.up(broker)
        asyncio.run(publish(settings, after))
        _wait_rows(chdb_store, settings, len(before) + len(after), sink)
    finally:
        sink.stop()
        kafka_local.down(broker)
    assert sink.error is None, repr(sink.error)
    # exactly the records on the topics: redeliveries replace themselves (ReplacingMergeTree)
    assert _rows(chdb_store, settings) == len(before) + len(after)
