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

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F

from cases.errors import TooManyRequests
from cases.store.models import Case, Citizen, EvidenceFile


async def lock_citizen(citizen_id: int, conn: BaseDBAsyncClient) -> None:
    """Hold the citizen's row until `conn`'s transaction ends: a write that changes nothing."""
    await Citizen.filter(id=citizen_id).using_db(conn).update(name=F("name"))


async def check_filing_quota(
    citizen_id: int, now: datetime, per_day: int, conn: BaseDBAsyncClient | None = None
) -> None:
    """TooManyRequests past `per_day` cases in 24 h. With `conn` (the filing's transaction)
    the citizen is locked first, so the count cannot be overtaken before the case is written."""
    if conn is not None:
        await lock_citizen(citizen_id, conn)
    since = now - timedelta(days=1)
    recent = Case.filter(citizen_id=citizen_id, created_at__gt=since)
    if conn is not None:
        recent = recent.using_db(conn)
    if await recent.count() >= per_day:
        oldest = await recent.order_by("created_at").first()
        wait = _seconds_until(oldest.created_at + timedelta(days=1) if oldest else now, now)
        raise TooManyRequests(
            f"您今天已提交 {per_day} 件,请明天再提交;紧急情况请拨打电话反映。", retry_after=wait
        )


async def check_upload_quota(
    citizen_id: int, now: datetime, per_hour: int, conn: BaseDBAsyncClient | None = None
) -> None:
    """TooManyRequests past `per_hour` photos in an hour; `conn` as in check_filing_quota."""
    if conn is not None:
        await lock_citizen(citizen_id, conn)
    since = now - timedelta(hours=1)
    recent = EvidenceFile.filter(citizen_id=citizen_id, created_at__gt=since)
    if conn is not None:
        recent = recent.using_db(conn)
    if await recent.count() >= per_hour:
        oldest = await recent.order_by("created_at").first()
        wait = _seconds_until(oldest.created_at + timedelta(hours=1) if oldest else now, now)
        raise TooManyRequests("上传的照片太多了,请稍后再试。", retry_after=wait)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(int((moment - now).total_seconds()) + 1, 1)
