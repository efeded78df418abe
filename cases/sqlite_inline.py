"""Tortoise's SQLite client with each statement run on the event loop instead of a thread.

aiosqlite sends every statement to its own thread and back: two cross-thread wake-ups that
cost about 350 µs on a small virtual machine, ten times what an indexed read or write of the
case store takes inside SQLite. The chat-bot issues several such statements per push, so the
hop, not SQLite, set its speed. Run inline, a statement costs its SQLite time and nothing else.

The price is that a statement blocks the loop while it runs. The store's statements are short
(indexed, one case at a time); the long scans of the statistics and the monthly report go
through `cases.db.scan_connection()`, a separate connection that keeps aiosqlite's thread. A write
that meets another process's write lock waits up to the busy timeout on the loop: on SQLite
the deadline worker runs in-process by default, so there is no other writer.

The engine is chosen in `cases.db.tortoise_config`; PostgreSQL is unaffected.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tortoise.backends.sqlite.client import SqliteClient

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


class _Cursor:
    """What tortoise does with a cursor from `execute`: close it."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """The part of `aiosqlite.Connection` that tortoise uses, run synchronously."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @property
    def total_changes(self) -> int:
        return self._conn.total_changes

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> _Cursor:
        return _Cursor(self._conn.execute(sql, parameters or ()))

    async def execute_insert(self, sql: str, parameters: Sequence[Any]) -> sqlite3.Row | None:
        cursor = self._conn.execute(sql, parameters)
        cursor.execute("SELECT last_insert_rowid()")
        row: sqlite3.Row | None = cursor.fetchone()
        return row

    async def execute_fetchall(
        self, sql: str, parameters: Sequence[Any] | None = None
    ) -> list[sqlite3.Row]:
        return self._conn.execute(sql, parameters or ()).fetchall()

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, parameters)

    async def executescript(self, script: str) -> None:
        self._conn.executescript(script)

    async def create_function(self, name: str, arity: int, func: Callable[..., Any]) -> None:
        self._conn.create_function(name, arity, func)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()


class InlineSqliteClient(SqliteClient):
    async def create_connection(self, with_db: bool) -> None:  # noqa: ARG002 (tortoise's signature)
        if self._connection:
            return
        make_private(self.filename)
        conn = sqlite3.connect(self.filename, isolation_level=None)
        conn.row_factory = sqlite3.Row
        self._connection = InlineConnection(conn)  # type: ignore[assignment]
        for pragma, value in self.pragmas.items():
            conn.execute(f"PRAGMA {pragma}={value}").close()
        await self._post_connect()


client_class = InlineSqliteClient
