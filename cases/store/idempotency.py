"""Idempotency keys: a retried submission gets the first answer again, never a second case.

The record is written in the same transaction as the effect (insert-first would block a
concurrent twin until commit, and its unique key then fails it): a retry either finds the
stored answer or, if the first attempt rolled back, acts as if it were new. A concurrent twin
looks again once it holds the lock the first one held (cases/intake/filing.py: the citizen's)
and answers as the first did.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from cases.errors import CaseError, ValidationError
from cases.store.models import IdempotencyRecord

MAX_KEY_CHARS = 64
# What a request was answered: its status and its JSON body.
Answer = tuple[int, dict[str, Any]]


class KeyReused(CaseError):
    """The same key came with a different request: a client bug, never a retry."""

    code = "idempotency_key_reused"
    status = 422


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise ValidationError(
            f"Idempotency-Key 须为 1–{MAX_KEY_CHARS} 个字符(建议使用 UUID)。",
            field="Idempotency-Key",
        )
    return key


def fingerprint(request: Mapping[str, Any]) -> str:
    """A stable digest of what was asked (key order and spacing do not matter)."""
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def stored_answer(
    citizen_id: int, key: str, request_hash: str, conn: BaseDBAsyncClient | None = None
) -> Answer | None:
    """The answer kept for this key, or None; KeyReused if the request differs."""
    records = IdempotencyRecord.filter(citizen_id=citizen_id, key=key)
    record = await (records.using_db(conn) if conn else records).first()
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise KeyReused("这个 Idempotency-Key 已用于另一份提交。", field="Idempotency-Key")
    return record.status, record.body


async def remember_answer(
    citizen_id: int,
    key: str,
    request_hash: str,
    status: int,
    body: dict[str, Any],
    conn: BaseDBAsyncClient,
) -> None:
    await IdempotencyRecord.create(
        citizen_id=citizen_id,
        key=key,
        request_hash=request_hash,
        status=status,
        body=body,
        using_db=conn,
    )
