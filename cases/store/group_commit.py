"""Group commit for the SQLite store: many transactions, one COMMIT, one fsync, off the loop.

With `synchronous=FULL` every COMMIT waits for the disk (1.5–4 ms here), and with statements
run inline (sqlite_inline.py) it waited on the event loop, freezing every other request. Here a
transaction is a *member* of the batch that is open on the store's one connection:

- it enters under the connection's lock (as tortoise's own SQLite transactions do, so members
  never interleave), opens the batch with BEGIN if none is open, and runs in a SAVEPOINT;
- leaving without error it RELEASEs its savepoint, hands the lock on and waits: its work is
  not durable yet, so its caller must not answer yet;
- leaving with an error it rolls back to its savepoint: only its own work is undone;
- a committer, started by the first member that waits, queues for the lock behind the members
  already waiting (they join this batch; later ones form the next), then COMMITs in a thread,
  holding the lock so nobody touches the connection meanwhile, while the loop goes on parsing
  and verifying requests; every waiting member is released, or fails if the COMMIT failed;
- a statement outside any transaction first commits the open batch, so it never reads or
  writes beside work that is not durable.

Exactly-once holds as before: a push's receipt is written in the push's own member, so the
receipt and the push's effects become durable in the same COMMIT or not at all.
"""

from __future__ import annotations

import asyncio
import sqlite3
from itertools import count
from typing import Any, Protocol

from tortoise.backends.base.client import ConnectionWrapper, TransactionContext
from tortoise.backends.sqlite.client import SqliteTransactionWrapper
from tortoise.connection import get_connections
from tortoise.exceptions import OperationalError, TransactionManagementError


class InlineConnection(Protocol):
    """What the batch needs of the connection (cases/store/sqlite_inline.py)."""

    @property
    def in_transaction(self) -> bool: ...

    async def execute(self, sql: str, parameters: Any = None) -> Any: ...

    async def commit_off_loop(self) -> None: ...

    def rollback_now(self) -> None: ...


class InlineSqliteClient(Protocol):
    """The store's client: its one connection, the lock over it, and its batch."""

    _lock: asyncio.Lock
    _connection: Any
    batch: Batch
    connection_name: str

    async def create_connection(self, with_db: bool) -> None: ...


_names = count()


class Batch:
    """The transaction open on the connection and the members waiting for its COMMIT."""

    def __init__(self) -> None:
        self.open = False
        self.waiting: list[asyncio.Future[None]] = []
        self.committer: asyncio.Task[None] | None = None
        # How many COMMITs and how many members they carried (the mean batch size, logged).
        self.commits = 0
        self.members = 0

    async def begin(self, conn: InlineConnection) -> None:
        if not self.open:
            await conn.execute("BEGIN")
            self.open = True

    async def commit(self, conn: InlineConnection) -> None:
        """COMMIT the open batch off the loop (the caller holds the connection's lock) and
        release its members; on failure roll back and fail them all.

        Cancelled meanwhile (the server shutting down), the COMMIT still runs to its end in
        its thread and its outcome is still what the members are told: never "failed" for
        work that is on disk, never done for work that is not."""
        if not self.open:
            return
        waiting = self._close()
        commit = asyncio.ensure_future(conn.commit_off_loop())
        try:
            await asyncio.shield(commit)
        except asyncio.CancelledError:
            await asyncio.wait([commit])
            self._settle(conn, waiting, commit)
            raise
        except Exception:
            pass  # settled below, from the COMMIT's own outcome
        self._settle(conn, waiting, commit)

    def _settle(
        self,
        conn: InlineConnection,
        waiting: list[asyncio.Future[None]],
        commit: asyncio.Future[None],
    ) -> None:
        failure = commit.exception()
        if failure is not None:
            conn.rollback_now()
        else:
            self.commits += 1
            self.members += len(waiting)
        _release(waiting, failure)

    def committed_elsewhere(self) -> None:
        """A script (a migration's DDL) made sqlite3 COMMIT the open transaction before it
        ran: every member waiting in it is durable now."""
        _release(self._close(), None)

    def fail_all(self, exc: BaseException) -> None:
        """SQLite rolled the whole transaction back under a member (disk full, I/O error):
        every member already released in it is lost and must say so."""
        _release(self._close(), exc)

    def _close(self) -> list[asyncio.Future[None]]:
        """The transaction is over: its members, to be told how it ended."""
        waiting, self.waiting = self.waiting, []
        self.open = False
        return waiting


def _release(waiting: list[asyncio.Future[None]], failure: BaseException | None) -> None:
    """Tell each waiting member its work is durable, or (with `failure`) that it is lost."""
    for fut in waiting:
        if fut.done():
            continue
        if failure is None:
            fut.set_result(None)
        else:
            fut.set_exception(_CommitFailed(failure))


class _CommitFailed(OperationalError):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"group commit failed: {cause}")
        self.__cause__ = cause


class FlushingConnectionWrapper(ConnectionWrapper):  # type: ignore[type-arg]
    """A statement outside a transaction: commit the open batch first."""

    def __init__(self, lock: asyncio.Lock, client: InlineSqliteClient) -> None:
        super().__init__(lock, client)  # type: ignore[arg-type]
        self._batch = client.batch

    async def __aenter__(self) -> Any:
        connection = await super().__aenter__()
        try:
            await self._batch.commit(connection)
        except BaseException:
            self._lock.release()
            raise
        return connection


class GroupTransactionWrapper(SqliteTransactionWrapper):
    """One member: its statements run inside its savepoint of the open batch."""

    def __init__(self, client: InlineSqliteClient) -> None:
        super().__init__(client)  # type: ignore[arg-type]
        self._batch = client.batch
        self._member = f"member_{next(_names)}"

    async def begin(self) -> None:
        await self._batch.begin(self._connection)  # type: ignore[arg-type]
        await self._connection.execute(f"SAVEPOINT {self._member}")

    async def rollback(self) -> None:
        if self._finalized:
            raise TransactionManagementError("Transaction already finalised")
        self._finalized = True
        conn: InlineConnection = self._connection  # type: ignore[assignment]
        if not conn.in_transaction:
            return  # SQLite already rolled everything back (see __aexit__)
        await conn.execute(f"ROLLBACK TO {self._member}")
        await conn.execute(f"RELEASE {self._member}")

    async def commit(self) -> None:
        """Release the member into the batch (a script may have committed it already)."""
        if self._finalized:
            raise TransactionManagementError("Transaction already finalised")
        self._finalized = True
        conn: InlineConnection = self._connection  # type: ignore[assignment]
        if conn.in_transaction:
            await conn.execute(f"RELEASE {self._member}")


class GroupTransactionContext(TransactionContext):
    __slots__ = ("connection", "connection_name", "token", "_client")

    def __init__(self, client: InlineSqliteClient) -> None:
        self._client = client
        self.connection = GroupTransactionWrapper(client)
        self.connection_name = client.connection_name

    async def __aenter__(self) -> GroupTransactionWrapper:
        client = self._client
        await client._lock.acquire()
        try:
            if not client._connection:
                await client.create_connection(with_db=True)
            self.connection._connection = client._connection
            await self.connection.begin()
        except BaseException:
            client._lock.release()
            raise
        self.token = get_connections().set(self.connection_name, self.connection)
        return self.connection

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        client, batch = self._client, self._client.batch
        conn: InlineConnection = client._connection  # type: ignore[assignment]
        joined = False
        fut: asyncio.Future[None] | None = None
        try:
            if not self.connection._finalized:
                if exc_type is not None:
                    await self.connection.rollback()
                else:
                    await self.connection.commit()
                    joined = conn.in_transaction  # else a script committed it already
            if not conn.in_transaction and batch.open:
                # An error made SQLite roll back the whole transaction, others' work too.
                batch.fail_all(exc_val or sqlite3.OperationalError("transaction rolled back"))
                joined = False
            if joined:
                fut = asyncio.get_running_loop().create_future()
                batch.waiting.append(fut)
                if batch.committer is None or batch.committer.done():
                    batch.committer = asyncio.create_task(_commit_soon(client))
        except BaseException:
            if conn.in_transaction and not batch.waiting:
                conn.rollback_now()
                batch.open = False
            raise
        finally:
            get_connections().reset(self.token)
            client._lock.release()
        if fut is not None:
            # Durable only once the batch commits: the caller answers after this.
            await asyncio.shield(fut)


async def _commit_soon(client: InlineSqliteClient) -> None:
    """Queue for the lock behind the members already waiting for it, then commit them all."""
    async with client._lock:
        await client.batch.commit(client._connection)  # type: ignore[arg-type]
