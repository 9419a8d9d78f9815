"""Queries on a chDB folder another process holds: the holder answers them.

chDB is ClickHouse in-process: one process per data folder (the engine locks the folder, as
a ClickHouse server locks ``<path>/status``; ClickHouse issue #29607: "Multiple instances
cannot work correctly with shared filesystem") and one folder per process, while several
sessions *within* the holding process may query the same folder concurrently (chDB docs,
"connection/path rules", ClickHouse PR #116008). So a second process cannot open the store
while ``fundarb live`` writes it, and copying a folder mid-merge is no consistent snapshot.

The holder (``fundarb live``) serves read-only queries instead, over HTTP on 127.0.0.1 only,
to callers holding the token written beside the folder lock:
``<folder>/.fundarb-query.json`` = ``{"pid", "port", "token"}`` (mode 0600: only this user
can read it), removed on exit. ``fundarb sql`` finds the folder locked, reads that file and
posts the query there; the holder runs it on its own connection with ClickHouse's
``readonly = 1`` (a write, DDL or ``SET`` is refused by the engine) and
``max_execution_time`` bounded, between its own writes (queries and the audit sink share the
process's one event loop, so a long query delays the sink, never corrupts it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from infra.clickhouse import QueryResult, Store, StoreError

ENDPOINT_NAME = ".fundarb-query.json"
#: the longest a served query may run (s): the holder's pipeline waits for it
MAX_EXECUTION_S = 30


def endpoint_path(folder: Path) -> Path:
    return Path(folder).resolve() / ENDPOINT_NAME


def _plain(value: Any) -> Any:
    """A JSON value for a ClickHouse result cell (Decimal and times as text, exact)."""
    if isinstance(value, decimal.Decimal | dt.datetime | dt.date | uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@contextlib.asynccontextmanager
async def serve_queries(store: Store, folder: Path) -> AsyncIterator[int]:
    """Serve read-only queries on ``store`` while the block runs; yields the port."""
    from aiohttp import web

    token = secrets.token_urlsafe(24)

    async def handle(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response({"error": "bad token"}, status=403)
        try:
            body = await request.json()
            result = store.query(
                str(body["query"]),
                body.get("parameters") or None,
                settings={"readonly": 1, "max_execution_time": MAX_EXECUTION_S},
            )
        except (StoreError, KeyError, ValueError) as exc:
            return web.json_response({"error": str(exc).splitlines()[0]}, status=400)
        return web.json_response(
            {"columns": result.columns, "types": result.types, "rows": _plain(result.rows)}
        )

    app = web.Application()
    app.router.add_post("/query", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]  # started: it has a server
    path = endpoint_path(folder)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": os.getpid(), "port": port, "token": token}, f)
    try:
        yield port
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        await runner.cleanup()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def query_holder(
    folder: Path, sql: str, parameters: dict[str, Any] | None = None, timeout_s: float = 60
) -> QueryResult | None:
    """Run ``sql`` through the process holding ``folder``; None when no holder serves
    queries (no endpoint file, or its process is gone).

    Raises
    ------
    StoreError
        The holder refused the query (the engine's reason) or did not answer.
    """
    import httpx

    try:
        info = json.loads(endpoint_path(folder).read_text())
    except (OSError, ValueError):
        return None
    if not _alive(int(info.get("pid", 0))):
        return None
    try:
        reply = httpx.post(
            f"http://127.0.0.1:{int(info['port'])}/query",
            json={"query": sql, "parameters": parameters},
            headers={"Authorization": f"Bearer {info['token']}"},
            timeout=timeout_s,
        )
        body = reply.json()
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise StoreError(f"the process holding {folder} did not answer the query: {exc}") from exc
    if reply.status_code != 200:
        raise StoreError(f"{body.get('error', reply.status_code)} (served by pid {info['pid']})")
    return QueryResult(body["columns"], body["types"], body["rows"])


class HeldStore:
    """A read-only :class:`~infra.clickhouse.Store` stand-in that sends queries to the
    process holding the folder (what ``fundarb sql`` uses while ``fundarb live`` runs)."""

    backend = "chdb (served by the process holding the folder)"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        result = query_holder(self.folder, sql, parameters)
        if result is None:
            raise StoreError(f"the process holding {self.folder} stopped serving queries")
        return result

    def execute(self, sql: str) -> None:
        # the holder created its tables; anything else would be a write, refused here
        if not sql.lstrip().upper().startswith("CREATE TABLE IF NOT EXISTS"):
            raise StoreError("read-only: the store is held by another process")

    def close(self) -> None:
        return None


def held_store(folder: Path) -> HeldStore | None:
    """A :class:`HeldStore` when a live holder of ``folder`` serves queries, else None."""
    try:
        info = json.loads(endpoint_path(folder).read_text())
    except (OSError, ValueError):
        return None
    return HeldStore(folder) if _alive(int(info.get("pid", 0))) else None
