"""The statistics dashboard: who may see whose figures, and the figures of one period for one
unit or for all, gathered from cases/views/stats.py and named for people.

Intake, leaders and admins see every unit and may narrow to one; a handler sees their own
unit only (asking for another is refused, as supervision refuses them). The monthly report
(cases/views/report.py) is for the same viewers.

Two rankings of stats.py, the respondents most complained about and the rising hot spots,
count every unit: they are shown only when no unit is chosen, so a unit's view never shows
another unit's respondents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from cases.errors import PermissionDenied, ValidationError
from cases.rules import Rules
from cases.store.models import Department, Role
from cases.views import report, stats
from cases.views.stats import Bucket, Count, HotSpot, Period, Rate
from cases.workflow.timeline import Actor

STATS_VIEWERS = frozenset({Role.INTAKE, Role.LEADER, Role.ADMIN})
GRAINS = {"day": "按日", "week": "按周", "month": "按月"}
DAY_GRAIN_MAX_DAYS = 62  # up to two months a column per day reads well; then weeks
WEEK_GRAIN_MAX_DAYS = 366
# Dates the store can hold in any time zone; beyond them date arithmetic overflows.
EARLIEST, LATEST = date(1970, 1, 1), date(2199, 12, 31)
TOP = 10
OVERDUE_LISTED = 500
NO_UNIT = "未交办"
CLOSED_STATES = ("closed", "archived")


@dataclass(frozen=True)
class Filters:
    """The dashboard's choice: local dates [first, last] (both included), a unit code ("" for
    all, or a handler's own) and a grain ("" chooses by the period's length)."""

    first: date
    last: date
    unit: str = ""
    grain: str = ""
    whole_month: bool = False

    @classmethod
    def month(cls, month: date, unit: str = "", grain: str = "") -> Filters:
        first = month.replace(day=1)
        following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
        return cls(first, following - timedelta(days=1), unit, grain, whole_month=True)


@dataclass(frozen=True)
class Unit:
    code: str
    name: str


@dataclass(frozen=True)
class OverdueGroup:
    """One unit's open cases past their deadline (`total` may exceed the rows listed)."""

    unit: str  # department code, "" for cases not yet assigned
    name: str
    total: int
    cases: list[report.OverdueRow]


@dataclass(frozen=True)
class Dashboard:
    title: str
    filters: Filters
    period: Period
    grain: str
    unit: Unit | None  # None: every unit
    may_choose_unit: bool
    units: list[Unit]  # the unit filter's choices
    as_of: datetime  # local; the overdue figures are as of this moment
    filed: int
    closed: int  # of the cases filed in the period, closed (or archived) by now
    rates: list[Rate]
    series: list[Bucket]
    by_kind: list[Count]
    by_category: list[Count]
    by_channel: list[Count]
    by_unit: list[Count]  # key: department code ("" unassigned); empty when a unit is chosen
    top_respondents: list[Count] | None  # None: not shown for one unit (see the docstring)
    rising_respondents: list[HotSpot] | None
    rising_categories: list[HotSpot] | None
    overdue: list[OverdueGroup]

    @property
    def overdue_total(self) -> int:
        return sum(g.total for g in self.overdue)

    @property
    def label(self) -> str:
        """「2026年11月」 or 「2026-11-03 至 2026-11-20」."""
        f = self.filters
        if f.whole_month:
            return f"{f.first.year}年{f.first.month}月"
        return f"{f.first:%Y-%m-%d} 至 {f.last:%Y-%m-%d}"


def check_stats_viewer(actor: Actor) -> None:
    """Every staff role sees statistics (handlers their unit's only)."""
    if actor.role not in STATS_VIEWERS and actor.role != Role.HANDLER:
        raise PermissionDenied("没有查看统计的权限。")


def check_report_viewer(actor: Actor) -> None:
    if actor.role not in STATS_VIEWERS:
        raise PermissionDenied("月报仅供受理中心、领导和管理员查看。")


async def unit_for(actor: Actor, code: str) -> Department | None:
    """The unit whose figures `actor` asks for (None: all units); a handler gets their own.

    An unknown code is a bad filter (422); another unit's code from a handler is refused (403).
    """
    check_stats_viewer(actor)
    unit = await Department.get_or_none(code=code) if code else None
    if code and unit is None:
        raise ValidationError("没有这个承办单位,请重新选择。", field="unit")
    if actor.role != Role.HANDLER:
        return unit
    if actor.department_id is None or (unit is not None and unit.id != actor.department_id):
        raise PermissionDenied("只能查看本单位的统计。", field="unit")
    return await Department.get(id=actor.department_id)


def check_dates(filters: Filters) -> None:
    for name, day in (("from", filters.first), ("to", filters.last)):
        if not EARLIEST <= day <= LATEST:
            raise ValidationError(
                f"日期请在 {EARLIEST:%Y-%m-%d} 至 {LATEST:%Y-%m-%d} 之间。", field=name
            )
    if filters.first > filters.last:
        raise ValidationError("开始日期不能晚于结束日期。", field="from")


def period_of(filters: Filters, rules: Rules) -> Period:
    check_dates(filters)
    tz = rules.timezone
    start = datetime(filters.first.year, filters.first.month, filters.first.day, tzinfo=tz)
    after = filters.last + timedelta(days=1)
    return Period(start, datetime(after.year, after.month, after.day, tzinfo=tz))


def grain_of(filters: Filters, period: Period, rules: Rules) -> str:
    """The grain asked for, else days for up to two months, weeks up to a year, then months."""
    grain = filters.grain
    if grain and grain not in GRAINS:
        raise ValidationError("显示方式应为按日、按周或按月。", field="grain")
    if not grain:
        days = (filters.last - filters.first).days + 1
        grain = (
            "day"
            if days <= DAY_GRAIN_MAX_DAYS
            else ("week" if days <= WEEK_GRAIN_MAX_DAYS else "month")
        )
    try:
        stats.bucket_starts(period, grain, rules.timezone)
    except ValueError:
        raise ValidationError("时间段太长,请按周或按月显示,或缩短时间段。", field="grain") from None
    return grain


def previous_period(filters: Filters, period: Period, rules: Rules) -> Period:
    """What hot spots compare with: the previous calendar month, else the same length before."""
    if not filters.whole_month:
        return period.before()
    first = filters.first
    return Period.month(
        date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1), rules.timezone
    )


async def build_dashboard(rules: Rules, actor: Actor, filters: Filters, now: datetime) -> Dashboard:
    """The figures `actor` may see for the filters; overdue cases are those open at `now`."""
    chosen = await unit_for(actor, filters.unit)
    period = period_of(filters, rules)
    grain = grain_of(filters, period, rules)
    catalog, tz = rules.catalog, rules.timezone
    departments = {d.id: d for d in await Department.all().order_by("id")}
    unit_id = chosen.id if chosen else None

    kinds = {k: v.name for k, v in catalog.kinds.items()}
    categories = {k: v.name for k, v in catalog.categories.items()}
    by_status = await stats.counts_by("status", period, unit_id)
    everywhere = chosen is None
    previous = previous_period(filters, period, rules)
    return Dashboard(
        title=catalog.title,
        filters=filters,
        period=period,
        grain=grain,
        unit=Unit(chosen.code, chosen.name) if chosen else None,
        may_choose_unit=actor.role in STATS_VIEWERS,
        units=_choices(actor, departments),
        as_of=now.astimezone(tz),
        filed=sum(by_status.values()),
        closed=sum(by_status.get(s, 0) for s in CLOSED_STATES),
        rates=await stats.all_rates(period, unit_id, now),
        series=await stats.time_series(period, grain, tz, unit_id),
        by_kind=_named(await stats.counts_by("kind", period, unit_id), kinds),
        by_category=_named(await stats.counts_by("category", period, unit_id), categories),
        by_channel=_named(await stats.counts_by("channel", period, unit_id), catalog.channels),
        by_unit=await _by_unit(period, departments) if everywhere else [],
        top_respondents=await stats.top_respondents(period, TOP) if everywhere else None,
        rising_respondents=(
            await stats.hot_spots("respondent", period, previous, TOP) if everywhere else None
        ),
        rising_categories=(
            [
                HotSpot(s.key, categories.get(s.key, s.key), s.current, s.previous)
                for s in await stats.hot_spots("category", period, previous, TOP)
            ]
            if everywhere
            else None
        ),
        overdue=await _overdue(rules, departments, unit_id, now),
    )


def _choices(actor: Actor, departments: dict[int, Department]) -> list[Unit]:
    if actor.role == Role.HANDLER:
        own = departments.get(actor.department_id or -1)
        return [Unit(own.code, own.name)] if own else []
    return [Unit(d.code, d.name) for d in departments.values() if d.role == "handling"]


def _named(counts: dict[str, int], names: dict[str, str]) -> list[Count]:
    """Largest first; a code the profile no longer names is shown as itself."""
    return sorted(
        (Count(k, names.get(k, k), n) for k, n in counts.items()), key=lambda c: (-c.count, c.key)
    )


async def _by_unit(period: Period, departments: dict[int, Department]) -> list[Count]:
    counts = await stats.counts_by("unit", period)
    named = [
        Count(
            departments[u].code if u in departments else "",
            departments[u].name if u in departments else NO_UNIT,
            n,
        )
        for u, n in counts.items()
    ]
    return sorted(named, key=lambda c: (-c.count, c.label))


async def _overdue(
    rules: Rules, departments: dict[int, Department], unit_id: int | None, now: datetime
) -> list[OverdueGroup]:
    """Open cases past their deadline, grouped by unit, the unit with most first."""
    catalog, tz = rules.catalog, rules.timezone
    totals = await stats.overdue_by_unit(now)
    if unit_id is not None:
        totals = {unit_id: totals[unit_id]} if unit_id in totals else {}
    listed: dict[int | None, list[report.OverdueRow]] = {u: [] for u in totals}
    for o in await stats.overdue_cases(now, OVERDUE_LISTED):
        if o.department_id not in listed:
            continue
        unit = departments.get(o.department_id or -1)
        listed[o.department_id].append(
            report.OverdueRow(
                number=o.number,
                kind=catalog.kinds[o.kind].name if o.kind in catalog.kinds else o.kind,
                category=(
                    catalog.categories[o.category].name
                    if o.category in catalog.categories
                    else o.category
                ),
                unit=unit.name if unit else NO_UNIT,
                respondent=o.respondent_name,
                due_at=o.due_at.astimezone(tz),
                days_overdue=(now.astimezone(UTC) - o.due_at).days,
            )
        )
    groups = []
    for u, total in totals.items():
        unit = departments.get(u or -1)
        groups.append(
            OverdueGroup(
                unit.code if unit else "", unit.name if unit else NO_UNIT, total, listed[u]
            )
        )
    return sorted(groups, key=lambda g: (-g.total, g.name))


async def monthly_report(
    rules: Rules, actor: Actor, month: date, now: datetime
) -> report.MonthlyReport:
    """The monthly report of cases/views/report.py, for those who may read it."""
    check_report_viewer(actor)
    if not EARLIEST <= month <= LATEST:
        raise ValidationError(f"月份请在 {EARLIEST:%Y-%m} 至 {LATEST:%Y-%m} 之间。", field="month")
    return await report.build_monthly_report(rules, month, now)
