"""Connecting the case store: tortoise configuration, start-up checks and migrations."""

from __future__ import annotations

import logging
from typing import Any

from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate as tortoise_migrate
from tortoise.migrations.executor import MigrationExecutor

log = logging.getLogger(__name__)

# SQLite PRAGMAs the case store relies on (WAL for concurrent readers, FULL so an accepted
# case survives a power cut, foreign keys so the timeline cannot point at nothing).
SQLITE_PRAGMAS = {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}


def tortoise_config(database_url: str) -> dict[str, Any]:
    url = database_url
    if url.startswith("sqlite://") and "?" not in url:
        url += "?synchronous=FULL&busy_timeout=5000"
    return {
        "connections": {"default": url},
        "apps": {
            "cases": {
                "models": ["cases.models"],
                "migrations": "cases.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def open_store(database_url: str) -> None:
    """Connect and check the database; does not create or alter tables (see migrate_store).

    The store is process-wide (tortoise's global fallback): aiohttp starts it in one task,
    serves requests in others and closes it in yet another.
    """
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    if database_url.startswith("sqlite://"):
        await check_sqlite_pragmas()


async def close_store() -> None:
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
    """True when the database answers a trivial query."""
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception as exc:  # any driver error means "not reachable" to the health check
        log.warning("database ping failed: %s: %s", exc.__class__.__name__, exc)
        return False
    return True
