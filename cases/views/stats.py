"""The rates the rules name, counts, hot spots and time series for a period [start, end).

Each rate is one function whose docstring carries its formula; the same text travels with the
result (`Rate.formula`) so pages and reports show how a figure was made. Every figure is one
aggregate SQL query (COUNT / SUM(CASE ...) / GROUP BY) shaped to an index where the cohort
allows it, so a month over a million cases answers well within a second on SQLite
(tests/bench/bench_stats.py prints the figure). The indexes (migration 0010) hold the columns
most counts read, so they never visit the wide case rows; the monthly report counts
its unit rates once, by unit, and sums those counts for the totals (`shared_counts`).

Rates whose data the store does not record yet (mediation outcome, 查实, 立案, "problem
solved") are returned as `Rate.no_data(...)` and shown as 无数据, never as a number.

Stored times are UTC; on SQLite they are ISO text, so parameters are passed as the same text
(see cases/views/queries.py `month_bounds`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cases.store.db import scan_connection
from cases.store.models import Status, SurveyStatus
from cases.views.queries import month_bounds
from cases.workflow.actions import OUTCOME_OF

S = Status
# Open and past submission: a draft has not been filed.
OPEN_FILED = (S.SUBMITTED, S.NEEDS_INFO, S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS, S.REPLIED)
SATISFIED_LEVELS = ("satisfied", "basic")  # config/survey.toml: 满意, 基本满意
DUPLICATE_REASONS = ("duplicate_open", "duplicate_closed")
MAX_BUCKETS = 400


@dataclass(frozen=True)
class Period:
    """[start, end) as aware datetimes (converted to UTC for the queries)."""

    start: datetime
    end: datetime

    @classmethod
    def month(cls, month: date, tz: ZoneInfo) -> Period:
        start, end = month_bounds(month, tz)
        return cls(start, end)

    def before(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - (self.end - self.start), self.start)


@dataclass(frozen=True)
class Rate:
    """One rate: value = numerator / denominator; None numbers mean the store has no data."""

    key: str
    name: str
    formula: str
    numerator: int | None
    denominator: int | None
    note: str = ""

    @classmethod
    def no_data(cls, key: str, name: str, formula: str, note: str) -> Rate:
        return cls(key, name, formula, None, None, note)

    @property
    def has_data(self) -> bool:
        return self.numerator is not None and self.denominator is not None

    @property
    def value(self) -> float | None:
        """The share in [0, 1]; None without data or with nothing to divide by."""
        if self.numerator is None or not self.denominator:
            return None
        return self.numerator / self.denominator

    def display(self) -> str:
        """「87.5%」, 「无数据」 (not recorded) or 「—」 (no cases in the cohort)."""
        if not self.has_data:
            return "无数据"
        value = self.value
        return "—" if value is None else f"{value * 100:.1f}%"


@dataclass(frozen=True)
class Count:
    key: str
    label: str
    count: int


@dataclass(frozen=True)
class HotSpot:
    key: str
    label: str
    current: int
    previous: int

    @property
    def rise(self) -> int:
        return self.current - self.previous


@dataclass(frozen=True)
class Bucket:
    start: datetime  # local time
    label: str
    count: int


# --- SQL on both databases ------------------------------------------------------------------


class _Sql:
    """Raw aggregate SQL with `?` placeholders, run on SQLite or PostgreSQL."""

    def __init__(self) -> None:
        self.conn = scan_connection()
        self.pg = self.conn.capabilities.dialect == "postgres"

    def _param(self, value: Any) -> Any:
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
            # tortoise stores SQLite datetimes as isoformat(" ") text; compare like with like.
            return value if self.pg else value.isoformat(" ")
        return value

    async def rows(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        if self.pg:
            parts = sql.split("?")
            sql = parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))
        return list(await self.conn.execute_query_dict(sql, [self._param(p) for p in params]))

    def time(self, value: Any) -> datetime:
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return datetime.fromisoformat(str(value)).astimezone(UTC)


def _in(values: Sequence[str]) -> str:
    # Only our own constants reach here (statuses, levels, reason codes), never user input.
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


@dataclass(frozen=True)
class _Cohort:
    source: str  # FROM ... (the case is always `c`)
    where: str  # with `?` for the period bounds
    numerator: str  # condition counted in the numerator
    # The unit a row is credited to: the case's unit, unless the row knows better.
    unit: str = "c.department_id"


_UnitCounts = dict[int | None, tuple[int, int]]
# Cohort counts by unit already made inside `shared_counts()`, by (cohort, parameters).
_shared: ContextVar[dict[tuple[_Cohort, tuple[Any, ...]], _UnitCounts] | None] = ContextVar(
    "stats_shared_counts", default=None
)


@contextmanager
def shared_counts() -> Iterator[None]:
    """Inside the block, a rate once counted by unit (`rates_by_unit`) gives its figure for
    all units or for one unit by summing those counts instead of scanning its cohort again:
    the monthly report's unit table and its totals come from one query per rate (and agree
    even if cases change meanwhile)."""
    token = _shared.set({})
    try:
        yield
    finally:
        _shared.reset(token)


async def _count_rate(
    cohort: _Cohort, params: Sequence[Any], unit: int | None, by_unit: bool = False
) -> _UnitCounts:
    """{department_id or None: (numerator, denominator)}; one row (key None) unless by_unit."""
    shared, memo = _shared.get(), (cohort, tuple(params))
    if shared is not None and memo in shared:
        if by_unit:
            return dict(shared[memo])
        counts = [nd for u, nd in shared[memo].items() if unit is None or u == unit]
        return {None: (sum(n for n, _ in counts), sum(d for _, d in counts))}
    sql = _Sql()
    where, args = cohort.where, list(params)
    if unit is not None:
        where += f" AND {cohort.unit} = ?"
        args.append(unit)
    # `+ 0`: grouping on the bare column lets SQLite walk the unit index and fetch every
    # case row in unit order (seconds at a million cases); a temp b-tree over the cohort is cheap.
    group = f"{cohort.unit} + 0 AS unit, " if by_unit else ""
    query = (
        f"SELECT {group}COUNT(*) AS d, "
        f"COALESCE(SUM(CASE WHEN {cohort.numerator} THEN 1 ELSE 0 END), 0) AS n "
        f"FROM {cohort.source} WHERE {where}"
    )
    if by_unit:
        query += f" GROUP BY {cohort.unit} + 0"
    rows = await sql.rows(query, args)
    found = {(r["unit"] if by_unit else None): (int(r["n"]), int(r["d"])) for r in rows}
    if shared is not None and by_unit and unit is None:
        shared[memo] = found
    return found


async def _rate(
    key: str, name: str, formula: str, cohort: _Cohort, params: Sequence[Any], unit: int | None
) -> Rate:
    n, d = (await _count_rate(cohort, params, unit)).get(None, (0, 0))
    return Rate(key, name, formula, n, d)


def formula_of(func: Any) -> str:
    """The formula line of a rate function's docstring (its first line)."""
    return str(func.__doc__).strip().splitlines()[0]


# --- the rates ------------------------------------------------------------------------------

_FILED = "c.created_at >= ? AND c.created_at < ? AND c.status <> 'draft'"

_ACCEPTANCE = _Cohort(
    '"case" c',
    _FILED + " AND (c.accepted_at IS NOT NULL OR c.reject_reason <> '' OR c.referred_to <> '')",
    "c.accepted_at IS NOT NULL",
)
# A clock run "due in the period" is judged in it: one that stopped (by its own decision) in
# the period, or one still running, unpaused, whose due time fell in the period and has
# passed — late, not missing. Parameters: start, as of, start, as of (`_judged`).
_RUNNING_PAST_DUE = (
    "(k.stopped_at IS NULL AND k.paused_at IS NULL AND k.due_at >= ? AND k.due_at < ?)"
)
_DECIDED = "(c.accepted_at IS NOT NULL OR c.reject_reason <> '' OR c.referred_to <> '')"
_ACCEPTED_ON_TIME = _Cohort(
    'case_clock k JOIN "case" c ON c.id = k.case_id',
    f"k.name = 'acceptance' AND ((k.stopped_at >= ? AND k.stopped_at < ? AND {_DECIDED}) "
    f"OR {_RUNNING_PAST_DUE})",
    "k.stopped_at IS NOT NULL AND k.stopped_at <= k.due_at",
)
_CLOSURE = _Cohort(
    '"case" c',
    "c.accepted_at >= ? AND c.accepted_at < ? AND c.status NOT IN "
    + _in((S.MERGED, S.WITHDRAWN, S.REFERRED_OUT)),
    "c.closed_at IS NOT NULL",
)
_NOT_HANDLED_HERE = _in((S.MERGED, S.WITHDRAWN, S.REFERRED_OUT))
_CLOSED_ON_TIME = _Cohort(
    'case_clock k JOIN "case" c ON c.id = k.case_id',
    "k.name = 'handling' AND ((k.stopped_at >= ? AND k.stopped_at < ? "
    f"AND c.status NOT IN {_NOT_HANDLED_HERE}) OR {_RUNNING_PAST_DUE})",
    "k.stopped_at IS NOT NULL AND k.stopped_at <= k.due_at",
)
# Credited to the unit the window was started for: after a return and a new assignment the
# case's own unit is another one.
_RESPONSE = _Cohort(
    'case_clock k JOIN "case" c ON c.id = k.case_id',
    "k.name = 'return_window' AND ((k.stopped_at >= ? AND k.stopped_at < ?) "
    "OR (k.stopped_at IS NULL AND k.due_at >= ? AND k.due_at < ?))",
    "k.stopped_at IS NOT NULL AND k.stopped_at <= k.due_at",
    unit="k.department_id",
)
_SATISFACTION = _Cohort(
    'rating r JOIN "case" c ON c.id = r.case_id',
    "r.created_at >= ? AND r.created_at < ? AND c.kind = 'complaint' AND c.accepted_at IS NOT NULL",
    "r.overall IN " + _in(SATISFIED_LEVELS),
)
_PARTICIPATION = _Cohort(
    'survey s JOIN "case" c ON c.id = s.case_id',
    f"s.invite_at >= ? AND s.invite_at < ? AND s.status <> '{SurveyStatus.CANCELLED}'",
    f"s.status = '{SurveyStatus.ANSWERED}'",
)
# Findings recorded at closure (config/catalog.py FINDING_CODES) and the kinds the rates name
# (both profiles' codes for 举报 and 投诉).
REPORT_KIND, COMPLAINT_KIND = "report", "complaint"
SUBSTANTIATED = ("substantiated", "partly_substantiated", "case_filed")
CONCLUDED = (*SUBSTANTIATED, "unsubstantiated")
_CLOSED_IN = "c.closed_at >= ? AND c.closed_at < ?"


def _has_outcome(codes: Sequence[str]) -> str:
    """The case carries one of these outcomes: the finding chosen at closure, or one recorded
    by a decision on the way (立案, 终止调解: cases/workflow/actions.py OUTCOME_OF). A case may carry
    several (mediated and filed), and counts in every rate each one belongs to."""
    actions = [a for a, code in OUTCOME_OF.items() if code in codes]
    recorded = (
        f" OR EXISTS (SELECT 1 FROM case_event e WHERE e.case_id = c.id AND e.action IN {_in(actions)})"
        if actions
        else ""
    )
    return f"(c.finding IN {_in(codes)}{recorded})"


_SUBSTANTIATION = _Cohort(
    '"case" c',
    f"{_CLOSED_IN} AND c.kind = '{REPORT_KIND}' AND {_has_outcome(CONCLUDED)}",
    _has_outcome(SUBSTANTIATED),
)
_CASE_FILING = _Cohort(
    '"case" c',
    f"c.accepted_at >= ? AND c.accepted_at < ? AND c.kind = '{COMPLAINT_KIND}'",
    _has_outcome(("case_filed",)),
)
_MEDIATION = _Cohort(
    '"case" c',
    f"{_CLOSED_IN} AND " + _has_outcome(("mediated", "mediation_failed")),
    _has_outcome(("mediated",)),
)
_REPEAT = _Cohort(
    '"case" c',
    _FILED,
    "(c.duplicate_of_id IS NOT NULL OR c.merged_into_id IS NOT NULL OR c.reject_reason IN "
    + _in(DUPLICATE_REASONS)
    + ")",
)


def _as_of(period: Period, now: datetime | None) -> datetime:
    """Running clocks count once due by `now`, which is the period's end at the latest."""
    return min(period.end, (now or datetime.now(UTC)).astimezone(UTC))


def _judged(period: Period, now: datetime | None) -> tuple[datetime, ...]:
    as_of = _as_of(period, now)
    return (period.start, as_of, period.start, as_of)


async def acceptance_rate(period: Period, unit: int | None = None) -> Rate:
    """受理率 = 本期登记且已受理(含视为受理)的件数 ÷ 本期登记且已作出受理决定(受理、视为受理、不予受理、移送)的件数

    Cases still waiting for the decision are left out, so the last days of a period do not
    pull the rate down.
    """
    p = (period.start, period.end)
    return await _rate("acceptance", "受理率", formula_of(acceptance_rate), _ACCEPTANCE, p, unit)


async def on_time_acceptance_rate(
    period: Period, unit: int | None = None, now: datetime | None = None
) -> Rate:
    """按期受理率 = 本期到期的受理决定期限中按期作出决定(受理、不予受理、移送)的次数 ÷ (本期作出决定的次数 + 本期届满仍未决定的次数)(视为受理属超期)

    The acceptance clock stops with the decision, so a late rejection is late; a clock still
    running past its due time (by `now`) is late too, not missing; a clock paused for the
    citizen's supplement is not judged. Policies without that clock (emergency,
    consultations, suggestions) are not in the cohort.
    """
    p = _judged(period, now)
    return await _rate(
        "on_time_acceptance",
        "按期受理率",
        formula_of(on_time_acceptance_rate),
        _ACCEPTED_ON_TIME,
        p,
        unit,
    )


async def closure_rate(period: Period, unit: int | None = None) -> Rate:
    """办结率 = 本期受理的案件中已办结(含已归档)的件数 ÷ 本期受理的件数(已合并、撤回、移送的不计)

    A reopened case is not closed until it is closed again.
    """
    p = (period.start, period.end)
    return await _rate("closure", "办结率", formula_of(closure_rate), _CLOSURE, p, unit)


async def on_time_closure_rate(
    period: Period, unit: int | None = None, now: datetime | None = None
) -> Rate:
    """按期办结率 = 本期到期的办理期限中按期答复的次数 ÷ (本期答复的次数 + 本期届满仍未答复的次数)(已合并、撤回、移送的不计)

    The handling clock stops on the reply; its due time already counts approved extensions
    and closed pauses. A clock still running past its due time (by `now`) is late, not
    missing. A reopened case runs the clock again and each run is judged.
    """
    p = _judged(period, now)
    return await _rate(
        "on_time_closure", "按期办结率", formula_of(on_time_closure_rate), _CLOSED_ON_TIME, p, unit
    )


async def response_rate(period: Period, unit: int | None = None) -> Rate:
    """响应率 = 交办后在签收期限内响应(开始办理或退回)的件数 ÷ (本期响应的交办件数 + 本期签收期限届满仍未响应的交办件数)

    Uses the return-window clock each assignment starts: it stops when the unit starts work
    or returns the case.
    """
    p = (period.start, period.end, period.start, period.end)
    return await _rate("response", "响应率", formula_of(response_rate), _RESPONSE, p, unit)


async def satisfaction_rate(period: Period, unit: int | None = None) -> Rate:
    """满意率 = 本期收到的已受理投诉办结评价中(满意 + 基本满意)的份数 ÷ 本期收到的已受理投诉办结评价份数

    The county rules supervise 「有效投诉处理满意度」 (000 县局规范 第三十一条): the verdicts
    on complaints that were accepted and closed (a rating is only asked after a closure).
    Unanswered surveys are not answers: they are in neither number (see 参评率).
    """
    p = (period.start, period.end)
    return await _rate(
        "satisfaction", "满意率", formula_of(satisfaction_rate), _SATISFACTION, p, unit
    )


async def participation_rate(
    period: Period, unit: int | None = None, now: datetime | None = None
) -> Rate:
    """参评率 = 本期发出的满意度评价邀请中已评价(含电话回访)的份数 ÷ 本期发出的邀请份数(案件重新办理而撤销的不计)

    Stands beside 满意率 so a high satisfaction on few answers shows as such. Invitations
    still waiting for their send time (after `now`) are not counted.
    """
    p = (period.start, _as_of(period, now))
    return await _rate(
        "participation", "参评率", formula_of(participation_rate), _PARTICIPATION, p, unit
    )


async def repeat_complaint_rate(period: Period, unit: int | None = None) -> Rate:
    """重复投诉率 = 本期登记案件中疑似重复(系统标记)、合并办理或以重复投诉举报为由不予受理的件数 ÷ 本期登记的件数"""
    p = (period.start, period.end)
    return await _rate("repeat", "重复投诉率", formula_of(repeat_complaint_rate), _REPEAT, p, unit)


def resolution_rate() -> Rate:
    """解决率 = 回访中表示问题已解决的件数 ÷ 回访有答复的件数"""
    return Rate.no_data(
        "resolution",
        "解决率",
        formula_of(resolution_rate),
        "回访只问满意程度,没有“问题是否解决”的答复,暂无数据。",
    )


async def substantiation_rate(period: Period, unit: int | None = None) -> Rate:
    """举报查实率 = 本期办结的举报中查实(属实、部分属实、转立案查处)的件数 ÷ 本期办结且记录了核查结论的举报件数

    The conclusion is the finding recorded at closure (the profile's [findings]); a report
    closed with another finding, or none, is in neither number.
    """
    p = (period.start, period.end)
    return await _rate(
        "substantiation", "举报查实率", formula_of(substantiation_rate), _SUBSTANTIATION, p, unit
    )


async def case_filing_rate(period: Period, unit: int | None = None) -> Rate:
    """投诉转案率 = 本期受理的投诉中办结时转为立案查处的件数 ÷ 本期受理的投诉件数

    Complaints still being handled are in the denominator: the rate of a recent period rises
    as its complaints close.
    """
    p = (period.start, period.end)
    return await _rate(
        "case_filing", "投诉转案率", formula_of(case_filing_rate), _CASE_FILING, p, unit
    )


async def mediation_success_rate(period: Period, unit: int | None = None) -> Rate:
    """调解成功率 = 本期办结的调解成功件数 ÷ 本期办结且调解终结(调解成功或调解不成)的件数"""
    p = (period.start, period.end)
    return await _rate(
        "mediation", "调解成功率", formula_of(mediation_success_rate), _MEDIATION, p, unit
    )


async def all_rates(
    period: Period, unit: int | None = None, now: datetime | None = None
) -> list[Rate]:
    """Every rate the rules name, in the order the report shows them (clocks judged as of
    `now`, at the latest the period's end)."""
    return [
        await acceptance_rate(period, unit),
        await on_time_acceptance_rate(period, unit, now),
        await closure_rate(period, unit),
        await on_time_closure_rate(period, unit, now),
        await response_rate(period, unit),
        resolution_rate(),
        await satisfaction_rate(period, unit),
        await participation_rate(period, unit, now),
        await repeat_complaint_rate(period, unit),
        await substantiation_rate(period, unit),
        await case_filing_rate(period, unit),
        await mediation_success_rate(period, unit),
    ]


def _twice(period: Period, _now: datetime | None) -> tuple[datetime, ...]:
    return (period.start, period.end) * 2


def _once(period: Period, _now: datetime | None) -> tuple[datetime, ...]:
    return (period.start, period.end)


# Rates that belong to a handling unit, with their cohorts and parameters (per-unit table).
UNIT_RATES: tuple[tuple[str, str, Any, _Cohort, Any], ...] = (
    ("closure", "办结率", closure_rate, _CLOSURE, _once),
    ("on_time_closure", "按期办结率", on_time_closure_rate, _CLOSED_ON_TIME, _judged),
    ("response", "响应率", response_rate, _RESPONSE, _twice),
    ("satisfaction", "满意率", satisfaction_rate, _SATISFACTION, _once),
)


async def rates_by_unit(
    period: Period, now: datetime | None = None
) -> dict[int | None, dict[str, Rate]]:
    """The unit rates for every unit with data: {department_id: {key: Rate}} (one query each)."""
    out: dict[int | None, dict[str, Rate]] = {}
    for key, name, func, cohort, params_of in UNIT_RATES:
        params = params_of(period, now)
        for unit, (n, d) in (await _count_rate(cohort, params, None, by_unit=True)).items():
            out.setdefault(unit, {})[key] = Rate(key, name, formula_of(func), n, d)
    return out


# --- counts ---------------------------------------------------------------------------------

DIMENSIONS = {
    "kind": "c.kind",
    "category": "c.category",
    "channel": "c.channel",
    "unit": "c.department_id",
    "status": "c.status",
}


async def counts_by(dimension: str, period: Period, unit: int | None = None) -> dict[Any, int]:
    """Cases filed in the period counted by kind, category, channel, unit or status."""
    column = DIMENSIONS[dimension]
    where = _FILED
    args: list[Any] = [period.start, period.end]
    if unit is not None:
        where += " AND c.department_id = ?"
        args.append(unit)
    rows = await _Sql().rows(
        f'SELECT {column} AS k, COUNT(*) AS n FROM "case" c WHERE {where} GROUP BY {column}',
        args,
    )
    return {r["k"]: int(r["n"]) for r in rows}


async def count_filed(period: Period, unit: int | None = None) -> int:
    return sum((await counts_by("kind", period, unit)).values())


async def top_respondents(period: Period, limit: int = 10) -> list[Count]:
    """The respondents most complained about in the period (by normalised name)."""
    rows = await _Sql().rows(
        'SELECT c.respondent_key AS k, MIN(c.respondent_name) AS label, COUNT(*) AS n FROM "case" c '
        f"WHERE {_FILED} AND c.respondent_key <> '' "
        "GROUP BY c.respondent_key ORDER BY n DESC, k LIMIT ?",
        [period.start, period.end, limit],
    )
    return [Count(r["k"], r["label"], int(r["n"])) for r in rows]


async def hot_spots(
    dimension: str, period: Period, previous: Period | None = None, limit: int = 10
) -> list[HotSpot]:
    """Respondents or categories rising fastest: largest count(period) − count(previous)
    first (ties: the larger current count); only those that rose."""
    previous = previous or period.before()
    if previous.end != period.start:
        raise ValueError("the previous period must end where the period starts")
    if dimension == "respondent":
        column, label = "c.respondent_key", "MIN(c.respondent_name)"
    elif dimension == "category":
        column, label = "c.category", "c.category"
    else:
        raise ValueError(f"no hot spots by {dimension!r}")
    # PostgreSQL cannot order by an expression over output aliases: wrap the grouping.
    rows = await _Sql().rows(
        f"SELECT * FROM (SELECT {column} AS k, {label} AS label, "
        "SUM(CASE WHEN c.created_at >= ? THEN 1 ELSE 0 END) AS cur, "
        "SUM(CASE WHEN c.created_at < ? THEN 1 ELSE 0 END) AS prev "
        'FROM "case" c WHERE c.created_at >= ? AND c.created_at < ? '
        f"AND c.status <> 'draft' AND {column} <> '' "
        f"GROUP BY {column}) t ORDER BY cur - prev DESC, cur DESC, k LIMIT ?",
        [period.start, period.start, previous.start, period.end, limit],
    )
    spots = [HotSpot(r["k"], r["label"], int(r["cur"]), int(r["prev"])) for r in rows]
    return [s for s in spots if s.rise > 0]


# --- time series ----------------------------------------------------------------------------


def bucket_starts(period: Period, grain: str, tz: ZoneInfo) -> list[datetime]:
    """Local starts of the day / week (Monday) / month buckets covering the period."""
    first = period.start.astimezone(tz)
    day = first.date()
    if grain == "week":
        day -= timedelta(days=day.weekday())
    elif grain == "month":
        day = day.replace(day=1)
    elif grain != "day":
        raise ValueError(f"unknown grain {grain!r}")
    starts = []
    end = period.end.astimezone(tz)
    while (start := datetime(day.year, day.month, day.day, tzinfo=tz)) < end:
        starts.append(max(start, first))
        if grain == "day":
            day += timedelta(days=1)
        elif grain == "week":
            day += timedelta(days=7)
        else:
            day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        if len(starts) > MAX_BUCKETS:
            raise ValueError(f"more than {MAX_BUCKETS} buckets: choose a coarser grain")
    return starts


async def time_series(
    period: Period, grain: str, tz: ZoneInfo, unit: int | None = None
) -> list[Bucket]:
    """Cases filed per local day, week or month, zeros included (one query: a CASE over the
    bucket boundaries, so local midnights are right in either database)."""
    starts = bucket_starts(period, grain, tz)
    if not starts:
        return []
    whens = " ".join(f"WHEN c.created_at < ? THEN {i}" for i in range(len(starts) - 1))
    bucket = f"CASE {whens} ELSE {len(starts) - 1} END" if whens else "0"
    where = _FILED
    args: list[Any] = [period.start, period.end]
    if unit is not None:
        where += " AND c.department_id = ?"
        args.append(unit)
    rows = await _Sql().rows(
        f'SELECT {bucket} AS b, COUNT(*) AS n FROM "case" c WHERE {where} GROUP BY 1',
        [*starts[1:], *args],
    )
    found = {int(r["b"]): int(r["n"]) for r in rows}
    fmt = {"day": "%Y-%m-%d", "week": "%Y-%m-%d 周", "month": "%Y-%m"}[grain]
    return [Bucket(s, s.strftime(fmt), found.get(i, 0)) for i, s in enumerate(starts)]


# --- overdue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverdueCase:
    number: str
    kind: str
    category: str
    status: str
    department_id: int | None
    respondent_name: str
    due_at: datetime


async def overdue_cases(as_of: datetime, limit: int = 500) -> list[OverdueCase]:
    """Open cases whose earliest running deadline passed before `as_of`, most overdue first."""
    sql = _Sql()
    rows = await sql.rows(
        "SELECT c.number, c.kind, c.category, c.status, c.department_id, c.respondent_name, "
        'c.next_due_at FROM "case" c WHERE c.status IN '
        + _in(OPEN_FILED)
        + " AND c.next_due_at < ? ORDER BY c.next_due_at, c.id LIMIT ?",
        [as_of, limit],
    )
    return [
        OverdueCase(
            r["number"],
            r["kind"],
            r["category"],
            str(r["status"]),
            r["department_id"],
            r["respondent_name"],
            sql.time(r["next_due_at"]),
        )
        for r in rows
    ]


async def overdue_by_unit(as_of: datetime) -> dict[int | None, int]:
    rows = await _Sql().rows(
        'SELECT c.department_id AS unit, COUNT(*) AS n FROM "case" c WHERE c.status IN '
        + _in(OPEN_FILED)
        + " AND c.next_due_at < ? GROUP BY c.department_id",
        [as_of],
    )
    return {r["unit"]: int(r["n"]) for r in rows}
