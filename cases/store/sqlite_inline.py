"""Tortoise's SQLite client with each statement run on the event loop instead of a thread.

aiosqlite sends every statement to its own thread and back: two cross-thread wake-ups that
cost about 350 µs on a small virtual machine, ten times what an indexed read or write of the
case store takes inside SQLite. The chat-bot issues several such statements per push, so the
hop, not SQLite, set its speed. Run inline, a statement costs its SQLite time and nothing else.

The price is that a statement blocks the loop while it runs. The store's statements are short
(indexed, one case at a time); the long scans of the statistics and the monthly report go
through `cases.store.db.scan_connection()`, a separate connection that keeps aiosqlite's thread. A write
that meets another process's write lock (a backup, a CLI command, a stuck script) must not wait
on the loop: SQLite's own busy handler would block every request for the whole busy timeout
(5 s: the bot answered 500 and /healthz hung, issue 15). So the connection's busy timeout is 0
and a statement refused with "database is locked" is retried here, sleeping between tries, until
the configured busy timeout has passed; meanwhile the loop serves everyone else.

The engine is chosen in `cases.store.db.tortoise_config`; PostgreSQL is unaffected.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from tortoise.backends.base.client import ConnectionWrapper, TransactionContext
from tortoise.backends.sqlite.client import SqliteClient

from cases.store.group_commit import (
    Batch,
    FlushingConnectionWrapper,
    GroupTransactionContext,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
# Without a busy_timeout in the database URL, a locked store is waited for this long.
DEFAULT_BUSY_SECONDS = 5.0
# First pause after "database is locked", doubled up to the longest pause.
FIRST_PAUSE_SECONDS, LONGEST_PAUSE_SECONDS = 0.002, 0.05

# The store holds citizens' names, phones and reports: readable by its owner only, like the
# media and the backups. SQLite gives its -wal and -shm files the main file's mode.
DB_FILE_MODE = 0o600
_COMPANIONS = ("", "-wal", "-shm", "-journal")


def make_private(filename: str) -> None:
    """Create the database file with mode 0600 (whatever the umask), or bring an existing
    one and its companions down to it."""
    if filename == ":memory:" or filename.startswith("file:"):
        return
    os.close(os.open(filename, os.O_RDWR | os.O_CREAT, DB_FILE_MODE))
    for suffix in _COMPANIONS:
        try:
            os.chmod(filename + suffix, DB_FILE_MODE)
        except FileNotFoundError:
            continue


def commit_connection(conn: sqlite3.Connection) -> None:
    """COMMIT: where the disk is waited for (a seam the tests slow down or break)."""
    conn.commit()


class _Cursor:
    """What tortoise does with a cursor from `execute`: close it."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """The part of `aiosqlite.Connection` that tortoise uses, run synchronously."""

    def __init__(
        self, conn: sqlite3.Connection, busy_seconds: float = DEFAULT_BUSY_SECONDS
    ) -> None:
        self._conn = conn
        self._busy_seconds = busy_seconds
        # Told when a script committed the open transaction (the group commit's batch).
        self.on_implicit_commit: Callable[[], None] | None = None

    async def _patiently(self, work: Callable[[], T], *, off_loop: bool = False) -> T:
        """Run `work`; while the store is locked by another connection, wait without blocking
        the loop, up to the busy timeout (then SQLite's own error). `off_loop`: run it in a
        thread (a COMMIT's fsync must not hold the loop)."""
        deadline = 0.0
        pause = FIRST_PAUSE_SECONDS
        while True:
            try:
                return await asyncio.to_thread(work) if off_loop else work()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                now = time.monotonic()
                deadline = deadline or now + self._busy_seconds
                if now >= deadline:
                    raise
                await asyncio.sleep(min(pause, deadline - now))
                pause = min(pause * 2, LONGEST_PAUSE_SECONDS)

    @property
    def total_changes(self) -> int:
        return self._conn.total_changes

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> _Cursor:
        return _Cursor(await self._patiently(lambda: self._conn.execute(sql, parameters or ())))

    async def execute_insert(self, sql: str, parameters: Sequence[Any]) -> sqlite3.Row | None:
        cursor = await self._patiently(lambda: self._conn.execute(sql, parameters))
        cursor.execute("SELECT last_insert_rowid()")
        row: sqlite3.Row | None = cursor.fetchone()
        return row

    async def execute_fetchall(
        self, sql: str, parameters: Sequence[Any] | None = None
    ) -> list[sqlite3.Row]:
        return await self._patiently(lambda: self._conn.execute(sql, parameters or ()).fetchall())

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> None:
        rows = list(parameters)
        if not self._conn.in_transaction:
            # Outside a transaction each row commits alone: a retry could write one twice.
            self._conn.executemany(sql, rows)
            return
        # Inside one, only the first write waits for the lock, before any row is written.
        await self._patiently(lambda: self._conn.executemany(sql, rows))

    async def executescript(self, script: str) -> None:
        in_batch = self._conn.in_transaction
        self._conn.executescript(script)  # sqlite3 COMMITs an open transaction first
        if in_batch and self.on_implicit_commit is not None:
            self.on_implicit_commit()

    async def create_function(self, name: str, arity: int, func: Callable[..., Any]) -> None:
        self._conn.create_function(name, arity, func)

    async def commit(self) -> None:
        await self._patiently(self._conn.commit)

    async def commit_off_loop(self) -> None:
        """COMMIT in a thread (the group commit holds the connection's lock meanwhile)."""
        await self._patiently(lambda: commit_connection(self._conn), off_loop=True)

    def rollback_now(self) -> None:
        self._conn.rollback()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()


class InlineSqliteClient(SqliteClient):
    """The store's SQLite client: inline statements, transactions grouped into one COMMIT
    (cases/store/group_commit.py)."""

    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        self.batch = Batch()

    def acquire_connection(self) -> ConnectionWrapper:  # type: ignore[type-arg]
        return FlushingConnectionWrapper(self._lock, self)

    def _in_transaction(self) -> TransactionContext:
        return GroupTransactionContext(self)

    async def close(self) -> None:
        if self._connection:
            async with self._lock:
                await self.batch.commit(self._connection)  # type: ignore[arg-type]
        if self.batch.commits:
            log.info(
                "group commit: %d transactions in %d commits (mean batch %.1f)",
                self.batch.members,
                self.batch.commits,
                self.batch.members / self.batch.commits,
            )
        await super().close()

    async def create_connection(self, with_db: bool) -> None:  # noqa: ARG002 (tortoise's signature)
        if self._connection:
            return
        make_private(self.filename)
        # check_same_thread off: the group commit runs COMMIT in a thread while it holds the
        # connection's lock, so the connection is still used by one thread at a time.
        conn = sqlite3.connect(
            self.filename, isolation_level=None, timeout=0, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        busy_ms = float(self.pragmas.get("busy_timeout", DEFAULT_BUSY_SECONDS * 1000))
        inline = InlineConnection(conn, busy_ms / 1000)
        inline.on_implicit_commit = self.batch.committed_elsewhere
        self._connection = inline  # type: ignore[assignment]
        for pragma, value in self.pragmas.items():
            if pragma != "busy_timeout":  # waited for in InlineConnection, off the loop
                conn.execute(f"PRAGMA {pragma}={value}").close()
        await self._post_connect()


client_class = InlineSqliteClient
