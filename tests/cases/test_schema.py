"""The migrated schema is the same on SQLite and PostgreSQL, secondary indexes included
(SQLite rebuilds a table to alter a column and once lost every index that way)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg


def _sqlite_indexes(path: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            (table, row[1])
            for table in tables
            for row in conn.execute(f"PRAGMA index_list('{table}')")
            if row[1].startswith("idx_")
        }


async def test_sqlite_has_every_index_postgresql_has(
    sqlite_template: Path, postgres_url: str
) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        rows = await conn.fetch(
            "SELECT tablename, indexname FROM pg_indexes "
            "WHERE schemaname = 'public' AND indexname LIKE 'idx_%'"
        )
    finally:
        await conn.close()
    on_postgres = {(r["tablename"], r["indexname"]) for r in rows}
    assert ("case", "idx_case_status_3c4829") in on_postgres  # the worklist's index
    assert _sqlite_indexes(sqlite_template) == on_postgres
