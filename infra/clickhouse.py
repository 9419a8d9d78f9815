"""The ClickHouse store: one small interface, two backends, the same DDL and SQL for both.

* **chDB** (default): the ClickHouse engine in-process, persisted to a folder
  (``Settings.chdb_path``). No server needed.
* **server**: a ClickHouse server through clickhouse-connect's HTTP client, when
  ``FUNDARB_CLICKHOUSE_URL`` is set (servers 25.8+; clickhouse-connect supports no older).

Both go through clickhouse-connect's client API (``get_client(interface="chdb", path=...)``
for the embedded engine), so ``execute`` / ``insert_arrow`` / ``query`` behave the same.
Bulk inserts are Arrow tables, never SQL string building.

chDB allows one process per data folder and one folder per process
(``shared/notes/kafka-from-maven.md``, ClickHouse notes). A second process would get an opaque
engine error, so the store takes an advisory lock file in the folder first and raises
:class:`StoreLockedError` naming the holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from infra.settings import Settings

LOCK_NAME = ".fundarb-store.lock"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StoreError(RuntimeError):
    """A ClickHouse operation failed; the message carries the engine's reason."""


class StoreLockedError(StoreError):
    """The chDB data folder is held by another process."""


class Store(Protocol):
    """What every component needs from ClickHouse.

    Methods
    -------
    execute(sql)
        Run DDL or a statement with no result (``CREATE``, ``ALTER``, ``OPTIMIZE``...).
    insert_arrow(table, data)
        Append an Arrow table to ``table`` (columns matched by name).
    query(sql, parameters=None) -> QueryResult
        Run a ``SELECT``; ``{name:Type}`` placeholders are bound server-side.
    close()
        Release the connection (and, for chDB, the folder lock).
    """

    backend: str

    def execute(self, sql: str) -> None: ...

    def insert_arrow(self, table: str, data: pa.Table) -> int: ...

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> QueryResult: ...

    def query_arrow(self, sql: str, parameters: dict[str, Any] | None = None) -> pa.Table: ...

    def close(self) -> None: ...


class QueryResult:
    """Rows of a query with their column names and ClickHouse types."""

    def __init__(
        self, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        self.columns = list(columns)
        self.types = list(types)
        self.rows = [tuple(r) for r in rows]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def scalar(self) -> Any:
        if not self.rows:
            raise StoreError("query returned no rows")
        return self.rows[0][0]

    def __len__(self) -> int:
        return len(self.rows)


class ClickHouseStore:
    """A :class:`Store` over a clickhouse-connect client (server or embedded chDB).

    Parameters
    ----------
    client
        A clickhouse-connect client.
    backend
        ``"chdb"`` or ``"server"`` (for messages and tests).
    database
        Database every unqualified name refers to; created if missing.
    lock
        Open lock file held for the life of the store (chDB only).
    """

    def __init__(self, client: Any, backend: str, database: str, lock: Any = None) -> None:
        self._client = client
        self.backend = backend
        self.database = database
        self._lock = lock

    def database_view(self, database: str) -> ClickHouseStore:
        """A store on the same connection bound to another database (created if missing).

        Used to isolate tests and runs inside one chDB folder (one folder per process).
        """
        self.execute(f"CREATE DATABASE IF NOT EXISTS {_check_ident(database)}")
        return ClickHouseStore(self._client, self.backend, database, lock=None)

    def _bind(self) -> None:
        # views share one client: point it at this store's database before each call
        if self._client.database != self.database:
            self._client.database = self.database

    # -- interface --
    def execute(self, sql: str) -> None:
        self._bind()
        try:
            self._client.command(sql)
        except Exception as exc:
            raise StoreError(
                f"{self.backend}: {_first_line(exc)}\nSQL: {sql.strip()[:500]}"
            ) from exc

    def insert_arrow(self, table: str, data: pa.Table) -> int:
        if data.num_rows == 0:
            return 0
        self._bind()
        try:
            self._client.insert_arrow(table, data, database=self.database)
        except Exception as exc:
            raise StoreError(f"{self.backend}: insert into {table}: {_first_line(exc)}") from exc
        return int(data.num_rows)

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> QueryResult:
        self._bind()
        try:
            res = self._client.query(sql, parameters=parameters, settings=settings)
        except Exception as exc:
            raise StoreError(
                f"{self.backend}: {_first_line(exc)}\nSQL: {sql.strip()[:500]}"
            ) from exc
        types = [t.name for t in res.column_types]
        return QueryResult(res.column_names, types, res.result_rows)

    def query_arrow(self, sql: str, parameters: dict[str, Any] | None = None) -> pa.Table:
        self._bind()
        try:
            return self._client.query_arrow(sql, parameters=parameters)
        except Exception as exc:
            raise StoreError(
                f"{self.backend}: {_first_line(exc)}\nSQL: {sql.strip()[:500]}"
            ) from exc

    def close(self) -> None:
        if self._lock is None and self.backend == "chdb":
            return  # a database view: the owning store closes the shared connection
        with contextlib.suppress(Exception):
            self._client.close()
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
                self._lock.close()
            self._lock = None

    def __enter__(self) -> ClickHouseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_ident(name: str) -> str:
    if not _IDENT.match(name):
        raise StoreError(f"invalid database name {name!r}: use [A-Za-z_][A-Za-z0-9_]*")
    return name


def _lock_folder(path: Path) -> Any:
    path.mkdir(parents=True, exist_ok=True)
    handle = open(path / LOCK_NAME, "a+")  # noqa: SIM115 - held for the store's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise StoreLockedError(
            f"the ClickHouse data folder {path} is in use by another process ({holder}). "
            "chDB allows one process per folder: stop that process (e.g. a running "
            "`fundarb audit` or backtest), or point FUNDARB_CLICKHOUSE_PATH at another folder, "
            "or use a ClickHouse server with FUNDARB_CLICKHOUSE_URL."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle


def open_chdb(path: Path, database: str = "fundarb") -> ClickHouseStore:
    """Open (or create) an embedded chDB store persisted in ``path``.

    Raises
    ------
    StoreLockedError
        Another process holds the folder.
    StoreError
        The engine could not start (e.g. this process already has another folder open).
    """
    import clickhouse_connect

    path = Path(path).resolve()
    lock = _lock_folder(path)
    try:
        client = clickhouse_connect.get_client(interface="chdb", path=str(path))
        client.command(f"CREATE DATABASE IF NOT EXISTS {_check_ident(database)}")
        client.database = database
    except Exception as exc:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        msg = _first_line(exc)
        if "already initialized with path" in msg:
            raise StoreError(
                f"this process already has another chDB folder open; chDB allows one folder "
                f"per process ({msg})"
            ) from exc
        if "Cannot lock file" in msg or "EmbeddedServer" in msg:
            raise StoreLockedError(
                f"the ClickHouse data folder {path} could not be opened, probably because "
                f"another process holds it ({msg})"
            ) from exc
        raise StoreError(f"chDB at {path}: {msg}") from exc
    return ClickHouseStore(client, "chdb", database, lock)


def open_server(url: str, database: str = "fundarb") -> ClickHouseStore:
    """Connect to a ClickHouse server by URL (``http[s]://user:pass@host:port[/db]``)."""
    import clickhouse_connect

    try:
        client = clickhouse_connect.get_client(dsn=url)
        client.command(f"CREATE DATABASE IF NOT EXISTS {_check_ident(database)}")
        client.database = database
    except Exception as exc:
        # never echo the URL: it may carry a password
        raise StoreError(f"ClickHouse server: {_first_line(exc)}") from exc
    return ClickHouseStore(client, "server", database)


def open_store(settings: Settings, database: str = "fundarb") -> ClickHouseStore:
    """The store the settings select: the server when a URL is set, else chDB in a folder."""
    if settings.clickhouse_url is not None:
        return open_server(settings.clickhouse_url.get_secret_value(), database)
    return open_chdb(settings.chdb_path, database)


@contextlib.contextmanager
def store_session(settings: Settings, database: str = "fundarb") -> Iterator[ClickHouseStore]:
    """``with store_session(settings) as store: ...`` — opens and always closes the store."""
    store = open_store(settings, database)
    try:
        yield store
    finally:
        store.close()
