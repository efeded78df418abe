"""How the store talks to SQLite: short statements inline on the loop, long scans on a thread."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from cases.rules import Rules
from cases.store import db
from cases.store.models import Citizen
from cases.store.sqlite_inline import InlineConnection
from tests.conftest import _truncate


def _sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite://"):
        pytest.skip("SQLite's connections only")


async def _thread_of(conn: object) -> int:
    """The id of the thread that runs a statement on `conn`."""
    _, rows = await conn.execute_query("SELECT thread_ident() AS t")  # type: ignore[attr-defined]
    return int(rows[0]["t"])


async def test_store_statements_run_on_the_event_loop_thread(
    store: Rules, database_url: str
) -> None:
    _sqlite_only(database_url)
    conn = connections.get("default")
    assert isinstance(conn._connection, InlineConnection)
    conn._connection._conn.create_function("thread_ident", 0, threading.get_ident)
    assert await _thread_of(conn) == threading.get_ident()


async def test_pragmas_hold_on_the_inline_connection(store: Rules, database_url: str) -> None:
    _sqlite_only(database_url)
    assert await db.check_sqlite_pragmas() == db.SQLITE_PRAGMAS


async def test_a_failed_transaction_leaves_nothing_behind(store: Rules) -> None:
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await Citizen.create(oa_openid="oRolledBack")
            raise RuntimeError("the push failed half-way")
    assert not await Citizen.exists(oa_openid="oRolledBack")
    await Citizen.create(oa_openid="oKept")
    assert await Citizen.exists(oa_openid="oKept")


async def test_scans_run_off_the_loop_and_cannot_write(store: Rules, database_url: str) -> None:
    _sqlite_only(database_url)
    scans = db.scan_connection()
    assert scans is not connections.get("default")
    await scans.execute_query("SELECT 1")  # connects lazily
    await scans._connection.create_function("thread_ident", 0, threading.get_ident)
    assert await _thread_of(scans) != threading.get_ident()
    await Citizen.create(oa_openid="oCommitted")
    rows = await scans.execute_query_dict("SELECT COUNT(*) AS n FROM citizen")
    assert rows[0]["n"] == 1  # sees what the store committed
    with pytest.raises(OperationalError, match="readonly"):
        await scans.execute_query("DELETE FROM citizen")


async def test_postgres_scans_share_the_store_pool(store: Rules, database_url: str) -> None:
    if database_url.startswith("sqlite://"):
        pytest.skip("PostgreSQL only")
    assert db.scan_connection() is connections.get("default")


@pytest.mark.postgres
async def test_one_process_writes_to_sqlite_then_postgres(
    tmp_path: Path, sqlite_template: Path, postgres_url: str
) -> None:
    """tortoise caches compiled INSERTs per connection name: opening PostgreSQL after SQLite in
    one process (as the suite's workers do) must not send SQLite's `?` placeholders to asyncpg."""
    sqlite_path = tmp_path / "first.sqlite3"
    shutil.copy(sqlite_template, sqlite_path)
    await _truncate(postgres_url)
    for url in (f"sqlite://{sqlite_path}", postgres_url):
        await db.open_store(url)
        try:
            await Citizen.create(oa_openid="oBothStores")
            assert await Citizen.exists(oa_openid="oBothStores")
        finally:
            await db.close_store()
