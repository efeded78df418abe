"""Substantiated complaints against named staff members, counted per calendar year.

The rules attach a measure to the count (one in a year → 诫勉, two → 通报批评, three → 处分);
the thresholds are the profile's [accountability] section. A case counts when it was closed in
the year with a substantiating finding and the closing officer recorded whom it named.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cases.store.models import Case
from cases.views.stats import SUBSTANTIATED
from config.catalog import Catalog


@dataclass(frozen=True)
class StaffTally:
    name: str
    count: int
    measure: str  # the highest threshold reached; "" below the first
    numbers: tuple[str, ...]  # the cases, oldest closure first


def year_bounds(year: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime(year, 1, 1, tzinfo=tz).astimezone(UTC)
    return start, datetime(year + 1, 1, 1, tzinfo=tz).astimezone(UTC)


def measure_for(catalog: Catalog, count: int) -> str:
    reached = [s.measure for s in catalog.sanctions if count >= s.count]
    return reached[-1] if reached else ""


async def substantiated_by_staff(catalog: Catalog, year: int, tz: ZoneInfo) -> list[StaffTally]:
    """Each named staff member with substantiated complaints closed in `year`, most first."""
    start, end = year_bounds(year, tz)
    rows = (
        await Case.filter(
            closed_at__gte=start,
            closed_at__lt=end,
            finding__in=SUBSTANTIATED,
        )
        .exclude(named_staff="")
        .order_by("closed_at", "id")
        .values_list("named_staff", "number")
    )
    by_name: dict[str, list[str]] = {}
    for name, number in rows:
        by_name.setdefault(name, []).append(number)
    tallies = [
        StaffTally(name, len(numbers), measure_for(catalog, len(numbers)), tuple(numbers))
        for name, numbers in by_name.items()
    ]
    return sorted(tallies, key=lambda t: (-t.count, t.name))
