"""Connecting the case store: tortoise configuration, start-up checks and migrations."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.migrations.api.migrate import migrate as tortoise_migrate
from tortoise.migrations.executor import MigrationExecutor

log = logging.getLogger(__name__)

# SQLite PRAGMAs the case store relies on (WAL for concurrent readers, FULL so an accepted
# case survives a power cut, foreign keys so the timeline cannot point at nothing). The WAL
# stays bounded: checkpointed every 1000 pages (SQLite's default) and cut back to 16 KiB
# after each reset (tortoise's journal_size_limit), so it never grows with the store's age.
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": 2,
    "foreign_keys": 1,
    "journal_size_limit": 16384,
    "wal_autocheckpoint": 1000,
}


def _sqlite_credentials(database_url: str) -> dict[str, Any]:
    url = database_url
    if "?" not in url:
        url += "?synchronous=FULL&busy_timeout=5000"
    credentials: dict[str, Any] = expand_db_url(url)["credentials"]
    return credentials


def tortoise_config(database_url: str) -> dict[str, Any]:
    connection: str | dict[str, Any] = database_url
    if database_url.startswith("sqlite://"):
        # Statements run on the event loop, without aiosqlite's thread hop: cases/store/sqlite_inline.py
        connection = {
            "engine": "cases.store.sqlite_inline",
            "credentials": _sqlite_credentials(database_url),
        }
    return {
        "connections": {"default": connection},
        "apps": {
            "cases": {
                "models": ["cases.store.models"],
                "migrations": "cases.store.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# Long read-only scans (statistics, the monthly report) on SQLite: a second connection on
# aiosqlite's thread, so a scan never holds up the event loop the store's inline statements
# run on. PostgreSQL's driver never blocks the loop: scans use the store's own pool.
_scans: SqliteClient | None = None


async def open_store(database_url: str) -> None:
    """Connect and check the database; does not create or alter tables (see migrate_store).

    The store is process-wide (tortoise's global fallback): aiohttp starts it in one task,
    serves requests in others and closes it in yet another.
    """
    global _scans
    # tortoise caches compiled INSERTs per connection name, not per dialect: a process that
    # opens SQLite and then PostgreSQL (the test suite, a store copy) would send `?` to asyncpg.
    EXECUTOR_CACHE.clear()
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    if database_url.startswith("sqlite://"):
        await check_sqlite_pragmas()
        credentials = {**_sqlite_credentials(database_url), "query_only": 1}
        _scans = SqliteClient(connection_name="scans", **credentials)


def scan_connection() -> BaseDBAsyncClient:
    """Where long read-only queries run (see `_scans`)."""
    return _scans if _scans is not None else connections.get("default")


async def close_store() -> None:
    global _scans
    if _scans is not None:
        await _scans.close()
        _scans = None
    await Tortoise.close_connections()


async def migrate_store(database_url: str) -> None:
    """Apply every pending schema migration (SQLite and PostgreSQL alike)."""
    await tortoise_migrate(config=tortoise_config(database_url))
    await Tortoise.close_connections()


async def pending_migrations(database_url: str) -> list[str]:
    """Migrations not yet applied to the open store (empty when the schema is current)."""
    apps = tortoise_config(database_url)["apps"]
    steps = await MigrationExecutor(connections.get("default"), apps).plan()
    return [f"{s.migration.app_label}.{s.migration.name}" for s in steps if not s.backward]


async def check_sqlite_pragmas() -> dict[str, Any]:
    conn = connections.get("default")
    found: dict[str, Any] = {}
    for name, expected in SQLITE_PRAGMAS.items():
        _, rows = await conn.execute_query(f"PRAGMA {name}")
        value = next(iter(dict(rows[0]).values()))
        found[name] = value
        if str(value).lower() != str(expected):
            raise RuntimeError(f"SQLite PRAGMA {name} is {value!r}, expected {expected!r}")
    log.info("sqlite pragmas: %s", found)
    return found


async def ping() -> bool:
    """True when the database answers a trivial query. On SQLite it asks on the scan
    connection: the store's own one is held by a transaction that waits for a lock."""
    try:
        await scan_connection().execute_query("SELECT 1")
    except Exception as exc:  # any driver error means "not reachable" to the health check
        log.warning("database ping failed: %s: %s", exc.__class__.__name__, exc)
        return False
    return True


# How long the health check lets a write lock last before calling the store busy: longer than
# any of the store's own transactions (milliseconds), far shorter than /healthz's 1 s.
BUSY_PROBE_SECONDS = 0.2


async def store_busy(database_url: str) -> bool:
    """True while another connection (a backup, a script) keeps SQLite's write lock, so writes
    wait and fail: reads still work in WAL mode, which is why `ping` cannot tell. The probe
    runs in a thread on a connection of its own; on PostgreSQL, never busy."""
    if not database_url.startswith("sqlite://"):
        return False
    path = _sqlite_credentials(database_url)["file_path"]

    def probe() -> bool:
        conn = sqlite3.connect(path, timeout=BUSY_PROBE_SECONDS, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            return "locked" in str(exc) or "busy" in str(exc)
        finally:
            conn.close()
        return False

    return await asyncio.to_thread(probe)
