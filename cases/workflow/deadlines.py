"""Working-day calendar and deadline arithmetic: the one module that counts time.

Rules encoded here (see config/ for the amounts):
* Day-based periods do not count the day on which they start (民法典 第二百零一条:
  「开始的当日不计入,自下一日开始计算」); a period of N days ends at the end of day N.
* Working days follow China's official calendar from `holidays` (python-holidays): the statutory
  holidays of any year by law — lunar ones and the 补假 for a holiday on a weekend included
  (《全国年节及纪念日放假办法》第六条) — and, for years whose State Council schedule it carries,
  the 调休 working weekends. The holidays file's `[years.YYYY]` adds or corrects a year.
* A year with no published schedule (neither in the package nor in the file) is *provisional*:
  its statutory holidays still count, and every deadline that depends on it is shown as 暂定.
* Natural-day periods may roll over holidays (民法典 第二百零三条: a last day that is a legal
  holiday moves to the day after the holiday ends) when the clock asks for it.
* Paused intervals (appraisal, waiting for the citizen) do not count.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays as holidays_lib

Interval = tuple[datetime, datetime]
DAY = timedelta(days=1)
# The units whose due time depends on the calendar (natural days only when they roll over).
CALENDAR_UNITS = frozenset({"working_days", "natural_days"})


@dataclass(frozen=True)
class YearTable:
    """One year's official holidays and adjusted working days, from the holidays file.

    With `complete`, days not listed follow Monday–Friday and the package is not asked; without
    it the listed days correct the package's table. Either way the year counts as published.
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
        table = YearTable(
            holidays=frozenset(_as_date(d) for d in entry.get("holidays", ())),
            workdays=frozenset(_as_date(d) for d in entry.get("workdays", ())),
            complete=bool(entry.get("complete", True)),
        )
        stray = sorted(d for d in table.holidays | table.workdays if d.year != int(year))
        if stray:
            raise ValueError(f"[years.{year}] lists a day of another year: {stray[0]}")
        tables[int(year)] = table
    return tables


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def package_published_years() -> frozenset[int]:
    """Years whose State Council schedule (调休 included) the installed `holidays` carries.

    python-holidays keeps each year's published arrangement in `ChinaStaticHolidays`; a year
    missing there is computed from the law alone. If a release renames that table, every year
    is treated as provisional: deadlines are then shown as 暂定, never silently wrong.
    """
    from holidays.countries import china

    table = getattr(getattr(china, "ChinaStaticHolidays", None), "special_public_holidays", {})
    return frozenset(int(y) for y in table)


@dataclass(frozen=True)
class YearCalendar:
    """What `complaint-desk calendar YEAR` prints: a year's days off and 调休 workdays."""

    year: int
    days_off: dict[date, str]  # every listed day off, weekends included, with its name
    workdays: frozenset[date]  # weekends made working days
    official: bool
    source: str


@dataclass
class WorkCalendar:
    """Answers "is this a working day?" for any date, never raising for unknown years."""

    timezone: ZoneInfo
    overrides: dict[int, YearTable] = field(default_factory=dict)
    # Years the package carries the published schedule of; None: ask the installed package.
    published: frozenset[int] | None = field(default=None, repr=False)
    _years: dict[int, tuple[dict[date, str], frozenset[date]]] = field(
        default_factory=dict, repr=False
    )

    def __post_init__(self) -> None:
        if self.published is None:
            self.published = package_published_years()

    def _package_year(self, year: int) -> tuple[dict[date, str], frozenset[date]]:
        cached = self._years.get(year)
        if cached is None:
            table = holidays_lib.China(years=year, language="zh_CN")
            days_off = {d: str(name) for d, name in table.items() if d.year == year}
            workdays = frozenset(d for d in table.weekend_workdays if d.year == year)
            cached = self._years[year] = (days_off, workdays)
        return cached

    def is_workday(self, day: date) -> bool:
        table = self.overrides.get(day.year)
        if table is not None:
            if day in table.holidays:
                return False
            if day in table.workdays:
                return True
            if table.complete:
                return day.weekday() < 5
        days_off, workdays = self._package_year(day.year)
        if day in workdays:
            return True
        return day.weekday() < 5 and day not in days_off

    def is_official(self, year: int) -> bool:
        """True once the year's State Council schedule is known (package or holidays file)."""
        return year in self.overrides or year in (self.published or ())

    def provisional_years(self, years: Iterable[int]) -> list[int]:
        return sorted(y for y in set(years) if not self.is_official(y))

    def provisional_years_ahead(self, now: datetime) -> list[int]:
        """This year and next, where not yet published: what staff and operators are told."""
        year = now.astimezone(self.timezone).year
        return self.provisional_years((year, year + 1))

    def is_provisional(self, due: datetime, unit: str, rollover_holidays: bool = True) -> bool:
        """A deadline is provisional when it counts days of a year not yet published."""
        if unit not in CALENDAR_UNITS or (unit == "natural_days" and not rollover_holidays):
            return False
        last_day = (due - timedelta(microseconds=1)).astimezone(self.timezone).date()
        return not self.is_official(last_day.year)

    def year_calendar(self, year: int) -> YearCalendar:
        """The year as it is counted: days off (with names), 调休 workdays, and its status."""
        days_off, workdays = dict(self._package_year(year)[0]), set(self._package_year(year)[1])
        table = self.overrides.get(year)
        if table is not None:
            if table.complete:
                days_off, workdays = {}, set()
            for d in table.holidays:
                days_off[d] = days_off.get(d) or "放假(配置文件)"
                workdays.discard(d)
            for d in table.workdays:
                days_off.pop(d, None)
                if d.weekday() >= 5:
                    workdays.add(d)
        if table is not None:
            source = f"holidays file [years.{year}]"
        elif self.is_official(year):
            source = f"python-holidays {holidays_lib.__version__}"
        else:
            source = f"python-holidays {holidays_lib.__version__}, statutory holidays only"
        return YearCalendar(
            year=year,
            days_off=dict(sorted(days_off.items())),
            workdays=frozenset(workdays),
            official=self.is_official(year),
            source=source,
        )

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


def due_text(due: datetime) -> str:
    """A local due time as staff read it: a day-based deadline ends at 24:00 of its last day."""
    if (due.hour, due.minute, due.second, due.microsecond) == (0, 0, 0, 0):
        return f"{due - DAY:%Y-%m-%d} 24:00"
    return f"{due:%Y-%m-%d %H:%M}"


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
