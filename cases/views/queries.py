"""Read-side queries the faces and reports use: by number, worklists, monthly counts.

Each is shaped to one index of `Case` so it stays fast at a million cases
(see tests/bench/bench_store.py for the figures).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from tortoise.expressions import Q
from tortoise.functions import Count

from cases.store.models import Case, Status


async def case_by_number(number: str) -> Case | None:
    return await Case.get_or_none(number=number)


@dataclass(frozen=True)
class WorklistCursor:
    """Keyset position: the last row's due time and id (offsets get slow deep into a list)."""

    due_at: datetime
    case_id: int


async def worklist_page(
    *,
    department_id: int | None,
    statuses: Sequence[Status],
    size: int = 20,
    after: WorklistCursor | None = None,
) -> list[Case]:
    """Cases with a running deadline, earliest due first, `size` rows after `after`.

    Uses the (department_id, status, next_due_at) index; cases without a running clock
    (finished, or every clock paused) are not in a worklist.
    """
    query = Case.filter(status__in=list(statuses), next_due_at__isnull=False)
    if department_id is not None:
        query = query.filter(department_id=department_id)
    if after is not None:
        query = query.filter(
            Q(next_due_at__gt=after.due_at.astimezone(UTC))
            | Q(next_due_at=after.due_at.astimezone(UTC), id__gt=after.case_id)
        )
    return await query.order_by("next_due_at", "id").limit(size)


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
