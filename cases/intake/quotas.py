"""Per-citizen limits on filing and uploading, counted from the store itself so that every
process of a deployment sees the same numbers.

Counting and writing are one step: the caller's transaction first locks the citizen's row
(`lock_citizen`), then counts, then writes. A concurrent request of the same citizen waits at
the lock until the first one commits and then counts its row too (PostgreSQL re-reads at each
statement under READ COMMITTED; on SQLite the lock is the database's write lock, which a
write taken first makes every other process wait for). Counted before the lock, 30 concurrent
filings against a limit of 10 stored 30.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.queryset import QuerySet

from cases.errors import TooManyRequests
from cases.store.models import Case, Citizen, EvidenceFile


async def lock_citizen(citizen_id: int, conn: BaseDBAsyncClient) -> None:
    """Hold the citizen's row until `conn`'s transaction ends: a write that changes nothing."""
    await Citizen.filter(id=citizen_id).using_db(conn).update(name=F("name"))


async def check_filing_quota(
    citizen_id: int, now: datetime, per_day: int, conn: BaseDBAsyncClient | None = None
) -> None:
    """TooManyRequests past `per_day` cases in 24 h. With `conn`, counted in the filing's
    transaction, which has locked the citizen first (`lock_citizen`): the count cannot be
    overtaken before the case is written."""
    message = f"您今天已提交 {per_day} 件,请明天再提交;紧急情况请拨打电话反映。"
    recent = Case.filter(citizen_id=citizen_id)
    await _check(recent, now, timedelta(days=1), per_day, message, conn)


async def check_upload_quota(
    citizen_id: int, now: datetime, per_hour: int, conn: BaseDBAsyncClient | None = None
) -> None:
    """TooManyRequests past `per_hour` photos in an hour; `conn` as in check_filing_quota."""
    recent = EvidenceFile.filter(citizen_id=citizen_id)
    message = "上传的照片太多了,请稍后再试。"
    await _check(recent, now, timedelta(hours=1), per_hour, message, conn)


async def _check(
    rows: QuerySet[Any],
    now: datetime,
    window: timedelta,
    limit: int,
    message: str,
    conn: BaseDBAsyncClient | None,
) -> None:
    if conn is not None:
        rows = rows.using_db(conn)
    recent = rows.filter(created_at__gt=now - window)
    if await recent.count() >= limit:
        oldest = await recent.order_by("created_at").first()
        wait = _seconds_until(oldest.created_at + window if oldest else now, now)
        raise TooManyRequests(message, retry_after=wait)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(int((moment - now).total_seconds()) + 1, 1)
