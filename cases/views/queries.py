"""Local months as UTC bounds, and one month's cases counted by category and status.

The counts read the `created_at` index of `Case`, so they stay fast at a million cases
(see tests/bench/bench_store.py for the figures).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from tortoise.functions import Count

from cases.store.models import Case


def month_bounds(month: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local month containing `month` as [start, end) aware datetimes."""
    start = datetime(month.year, month.month, 1, tzinfo=tz)
    nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    end = datetime(nxt.year, nxt.month, 1, tzinfo=tz)
    # Stored times are UTC text on SQLite: compare with UTC values, not local ones.
    return start.astimezone(UTC), end.astimezone(UTC)


async def monthly_counts(month: date, tz: ZoneInfo) -> dict[tuple[str, str], int]:
    """Cases filed in the local month, counted by (category, status)."""
    start, end = month_bounds(month, tz)
    rows = (
        await Case.filter(created_at__gte=start, created_at__lt=end)
        .annotate(n=Count("id"))
        .group_by("category", "status")
        .values("category", "status", "n")
    )
    return {(r["category"], str(r["status"])): int(r["n"]) for r in rows}
