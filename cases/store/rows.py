"""The few rows every chat push touches, in plain parametrised SQL (issue 17).

A dialogue step reads the citizen by openid and their draft, saves the draft, and writes the
push's receipt and nonce. Through the ORM each of these cost 300–500 µs of query building
and model plumbing, several times what SQLite takes to run them; here each is one prepared
statement, the same text on SQLite and PostgreSQL (`?` becomes `$n` for asyncpg), and the
rows come back as the same model instances the ORM would build. The draft's save is one
upsert, and both receipts one INSERT. Everything else keeps the ORM.

Statements run on the connection of the current transaction (tortoise's context), so they
join a push's transaction, and SQLite's group commit, like any other.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from cases.store.models import Citizen, ConversationState

_CITIZEN_COLUMNS = "id, unionid, oa_openid, mp_openid, name, phone, created_at, oa_last_seen_at"
_CITIZEN_BY = {
    "oa_openid": f"SELECT {_CITIZEN_COLUMNS} FROM citizen WHERE oa_openid = ? LIMIT 1",
    "mp_openid": f"SELECT {_CITIZEN_COLUMNS} FROM citizen WHERE mp_openid = ? LIMIT 1",
}
_DRAFT = "SELECT id, openid, state, data, updated_at FROM conversation_state WHERE openid = ?"
_SAVE_DRAFT = (
    "INSERT INTO conversation_state (openid, state, data, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (openid) DO UPDATE SET "
    "state = excluded.state, data = excluded.data, updated_at = excluded.updated_at"
)
_DISCARD_DRAFT = "DELETE FROM conversation_state WHERE openid = ?"
_RECEIPTS = "INSERT INTO push_receipt (\"key\", reply, created_at) VALUES (?, ?, ?), (?, '', ?)"


_DRAFT_DATA: Any = ConversationState._meta.fields_map["data"]


def _db() -> BaseDBAsyncClient:
    return connections.get("default")


def _sqlite(db: BaseDBAsyncClient) -> bool:
    return db.capabilities.dialect == "sqlite"


@cache
def _numbered(sql: str) -> str:
    """asyncpg's placeholders: the n-th `?` becomes `$n`."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


def _time(db: BaseDBAsyncClient, value: datetime) -> Any:
    # As tortoise stores it on SQLite (str(datetime): '2026-12-08 04:01:00.810493+00:00');
    # asyncpg takes the datetime itself.
    return str(value) if _sqlite(db) else value


async def _query(db: BaseDBAsyncClient, sql: str, values: list[Any]) -> list[Any]:
    _, rows = await db.execute_query(sql if _sqlite(db) else _numbered(sql), values)
    return list(rows)


async def citizen_by(field: str, openid: str) -> Citizen | None:
    """The citizen with this channel's openid (`oa_openid` or `mp_openid`), if any."""
    db = _db()
    rows = await _query(db, _CITIZEN_BY[field], [openid])
    return Citizen._init_from_db(**dict(rows[0])) if rows else None


async def draft_of(openid: str) -> ConversationState | None:
    db = _db()
    rows = await _query(db, _DRAFT, [openid])
    return ConversationState._init_from_db(**dict(rows[0])) if rows else None


async def save_draft(openid: str, state: str, data: dict[str, Any], now: datetime) -> None:
    """One upsert: the citizen's dialogue state, whether or not a draft was there."""
    db = _db()
    text = _DRAFT_DATA.encoder(data)  # as the ORM writes it
    await _query(db, _SAVE_DRAFT, [openid, state, text, _time(db, now)])


async def discard_draft(openid: str) -> None:
    db = _db()
    await _query(db, _DISCARD_DRAFT, [openid])


async def write_receipts(key: str, reply: str, nonce_key: str, now: datetime) -> None:
    """The push's receipt (with its answer) and its request's nonce, in one statement: either
    key seen before raises IntegrityError and writes neither."""
    db = _db()
    at = _time(db, now)
    await _query(db, _RECEIPTS, [key, reply, at, nonce_key, at])
