"""Per-citizen limits on filing and uploading, counted from the store itself so that every
process of a deployment sees the same numbers."""

from __future__ import annotations

from datetime import datetime, timedelta

from cases.errors import TooManyRequests
from cases.models import Case, EvidenceFile


async def check_filing_quota(citizen_id: int, now: datetime, per_day: int) -> None:
    since = now - timedelta(days=1)
    recent = Case.filter(citizen_id=citizen_id, created_at__gt=since)
    if await recent.count() >= per_day:
        oldest = await recent.order_by("created_at").first()
        wait = _seconds_until(oldest.created_at + timedelta(days=1) if oldest else now, now)
        raise TooManyRequests(
            f"您今天已提交 {per_day} 件,请明天再提交;紧急情况请拨打电话反映。", retry_after=wait
        )


async def check_upload_quota(citizen_id: int, now: datetime, per_hour: int) -> None:
    since = now - timedelta(hours=1)
    recent = EvidenceFile.filter(citizen_id=citizen_id, created_at__gt=since)
    if await recent.count() >= per_hour:
        oldest = await recent.order_by("created_at").first()
        wait = _seconds_until(oldest.created_at + timedelta(hours=1) if oldest else now, now)
        raise TooManyRequests("上传的照片太多了,请稍后再试。", retry_after=wait)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(int((moment - now).total_seconds()) + 1, 1)
