"""Working-day calendar and deadline arithmetic: the one module that counts time.

Rules encoded here (see config/ for the amounts):
* Day-based periods do not count the day on which they start (民法典 第二百零一条:
  「开始的当日不计入,自下一日开始计算」); a period of N days ends at the end of day N.
* Working days follow China's official calendar with adjusted working weekends (调休), from
  `chinese-calendar`, overridable per year from config; for a year nobody has published we
  fall back to Monday–Friday and log a warning once per year.
* Natural-day periods may roll over holidays (民法典 第二百零三条: a last day that is a legal
  holiday moves to the day after the holiday ends) when the clock asks for it.
* Paused intervals (appraisal, waiting for the citizen) do not count.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)

Interval = tuple[datetime, datetime]
DAY = timedelta(days=1)


@dataclass(frozen=True)
class YearTable:
    """One year's official holidays and adjusted working days.

    With `complete`, days not listed follow Monday–Friday and chinese-calendar is not asked.
    """

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    complete: bool = True


def load_year_tables(path: Path) -> dict[int, YearTable]:
    """Read a holidays TOML: [years.2027] holidays = [...] workdays = [...] complete = true."""
    with path.open("rb") as f:
        raw = tomllib.load(f)
    tables: dict[int, YearTable] = {}
    for year, entry in raw.get("years", {}).items():
        tables[int(year)] = YearTable(
            holidays=frozenset(_as_date(d) for d in entry.get("holidays", ())),
            workdays=frozenset(_as_date(d) for d in entry.get("workdays", ())),
            complete=bool(entry.get("complete", True)),
        )
    return tables


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


@dataclass
class WorkCalendar:
    """Answers "is this a working day?" for any date, never raising for unknown years."""

    timezone: ZoneInfo
    overrides: dict[int, YearTable] = field(default_factory=dict)
    _warned_years: set[int] = field(default_factory=set, repr=False)

    def is_workday(self, day: date) -> bool:
        table = self.overrides.get(day.year)
        if table is not None:
            if day in table.holidays:
                return False
            if day in table.workdays:
                return True
            if table.complete:
                return day.weekday() < 5
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned_years:
                self._warned_years.add(day.year)
                log.warning(
                    "no official holiday table for %d: counting Monday-Friday as working days; "
                    "add [years.%d] to the holidays file when the State Council publishes it",
                    day.year,
                    day.year,
                )
            return day.weekday() < 5

    def next_workday(self, day: date) -> date:
        """The first working day on or after `day`."""
        while not self.is_workday(day):
            day += DAY
        return day

    def local_midnight(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=self.timezone)


def compute_due(
    start: datetime,
    amount: int,
    unit: str,
    calendar: WorkCalendar,
    pauses: Sequence[Interval] = (),
    rollover_holidays: bool = False,
) -> datetime:
    """The instant a clock of `amount` `unit`s started at `start` runs out.

    `pauses` are closed intervals that do not count. For day units the result is the local
    midnight that ends the last counted day. Raises ValueError for an unknown unit.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if unit in ("minutes", "hours"):
        span = timedelta(minutes=amount) if unit == "minutes" else timedelta(hours=amount)
        return _run_continuous(start, span, pauses)
    counts: Callable[[date], bool]
    if unit == "natural_days":
        counts = _always
    elif unit == "working_days":
        counts = calendar.is_workday
    else:
        raise ValueError(f"unknown clock unit {unit!r}")
    first_day = start.astimezone(calendar.timezone).date() + DAY
    due = _run_days(calendar.local_midnight(first_day), amount, counts, calendar, pauses)
    if rollover_holidays and unit == "natural_days":
        last_day = (due - timedelta(microseconds=1)).astimezone(calendar.timezone).date()
        if not calendar.is_workday(last_day):
            due = calendar.local_midnight(calendar.next_workday(last_day) + DAY)
    return due


def _always(_day: date) -> bool:
    return True


def _run_continuous(start: datetime, span: timedelta, pauses: Sequence[Interval]) -> datetime:
    """Walk forward from start until `span` of unpaused time has passed."""
    due = start + span
    for p_start, p_end in sorted(pauses):
        if p_end <= start or p_start >= due:
            continue
        due += p_end - max(p_start, start)
    return due


def _run_days(
    cursor: datetime,
    days: int,
    counts: Callable[[date], bool],
    calendar: WorkCalendar,
    pauses: Sequence[Interval],
) -> datetime:
    """Consume `days` whole counting days from `cursor`, skipping paused time on counting days.

    Time is budgeted in seconds so a pause of half a working day moves the due time by half a
    day; days that do not count (weekends, holidays) cost nothing.
    """
    budget = timedelta(days=days)
    tz = calendar.timezone
    ordered = sorted(pauses)
    while True:
        day = cursor.astimezone(tz).date()
        day_end = calendar.local_midnight(day + DAY)
        if counts(day):
            usable = (day_end - cursor) - _overlap(cursor, day_end, ordered)
            if usable >= budget:
                return _advance_within_day(cursor, budget, ordered)
            budget -= usable
        cursor = day_end


def _advance_within_day(
    cursor: datetime, budget: timedelta, pauses: Sequence[Interval]
) -> datetime:
    due = cursor + budget
    for p_start, p_end in pauses:
        if p_end <= cursor or p_start >= due:
            continue
        due += p_end - max(p_start, cursor)
    return due


def _overlap(start: datetime, end: datetime, pauses: Iterable[Interval]) -> timedelta:
    total = timedelta()
    for p_start, p_end in pauses:
        lo, hi = max(start, p_start), min(end, p_end)
        if hi > lo:
            total += hi - lo
    return total


@dataclass(frozen=True)
class ClockState:
    due_at: datetime
    overdue: bool
    due_soon: bool
    remaining: timedelta


def clock_state(
    started_at: datetime, due_at: datetime, now: datetime, due_soon_ratio: float
) -> ClockState:
    """Overdue once past due; due soon once less than `due_soon_ratio` of the span is left."""
    remaining = due_at - now
    span = due_at - started_at
    return ClockState(
        due_at=due_at,
        overdue=remaining <= timedelta(0),
        due_soon=timedelta(0) < remaining <= span * due_soon_ratio,
        remaining=remaining,
    )
