"""Due-soon and overdue reminders about running deadline clocks ([reminders] in the profile).

The sweep raises each configured point once per clock run (the reminder table is unique on
(clock, point)), for running clocks only: a stopped or paused clock reminds nobody. A point is
raised only while it is current, so a sweep after an outage does not send 即将到期 for a clock
that is already overdue; both overdue points stay current once reached. Each raise writes a
`reminder` event on the case's staff timeline in the same transaction.

Who a reminder is for:
* a handler: their unit's reminders, about cases still with the unit;
* intake: the centre's own (cases not yet with a unit, and the clocks the profile lists in
  `intake_clocks`) and, from every unit, those at points marked `intake = true`;
* leaders and admins: none; their worklist already lists every overdue case.
A reminder is one item: anyone it is shown to may mark it read, which clears it for all of them
(`read_by` says who). Lists leave out reminders whose clock has stopped since: the deadline was
met or no longer applies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from cases.errors import NotFound
from cases.rules import Rules
from cases.store.models import Case, CaseClock, Department, Reminder, Role
from cases.workflow.deadlines import WorkCalendar, compute_due, due_text
from cases.workflow.timeline import Actor, record_event
from config.reminders import DUE_DAY, DUE_SOON, ReminderPoint

log = logging.getLogger(__name__)
DAY = timedelta(days=1)
# Bounded so one sweep cannot hold the database for long after an outage; the rest follow.
REMINDER_BATCH = 200
MAX_LISTED = 100
READ_BY_CHARS = 64  # reminder.read_by


# --- raising ---------------------------------------------------------------------------------


async def raise_reminders(rules: Rules, now: datetime | None = None) -> int:
    """Raise every reminder point the running clocks have reached; returns how many."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    units = {d.id: d for d in await Department.all()}
    raised = 0
    for point in rules.catalog.reminders.points:
        ids = await _reached(rules, point, now)
        clocks = await CaseClock.filter(id__in=ids).order_by("due_at", "id")
        cases = {c.id: c for c in await Case.filter(id__in={k.case_id for k in clocks})}
        for clock in clocks:
            raised += await _raise(rules, point, clock, cases[clock.case_id], units, now)
    return raised


def window(rules: Rules, point: ReminderPoint, now: datetime) -> tuple[datetime | None, datetime]:
    """(after, until]: the due times of the clocks for which `point` is reached and current.

    * due_soon: not yet due, and due within the longest lead a clock can have (the test
      against each clock's own span is SQL, see `_reached`);
    * due_day: not yet due, and the last day is today;
    * overdue + N working days: the N-th working day after the last day has ended, i.e. the
      last day lies before the N-th working day counted back from yesterday.
    """
    today = now.astimezone(rules.timezone).date()
    if point.at == DUE_SOON:
        return now, now + due_soon_lead(rules, point, now)
    if point.at == DUE_DAY:
        return now, rules.calendar.local_midnight(today + DAY)
    if point.working_days == 0:
        return None, now
    back = _workday_back(rules.calendar, today - DAY, point.working_days)
    return None, rules.calendar.local_midnight(back)


def due_soon_lead(rules: Rules, point: ReminderPoint, now: datetime) -> timedelta:
    """How long before its due time a clock can turn due soon: `due_soon_ratio` of the longest
    span a clock of the profile can have (its amount plus the whole extension cap).

    A clock paused for longer than that difference has a longer span; it is reminded late,
    once its due time enters this window, rather than making every sweep read every clock.
    """
    names = rules.catalog.reminders.clocks_of(
        point, {c.name for p in rules.catalog.policies for c in p.clocks}
    )
    spans = [
        compute_due(
            now, c.amount + c.extension_cap, c.unit, rules.calendar, (), c.rollover_holidays
        )
        - now
        for p in rules.catalog.policies
        for c in p.clocks
        if c.name in names
    ]
    return max(spans, default=timedelta(0)) * rules.catalog.due_soon_ratio


def _workday_back(calendar: WorkCalendar, day: date, n: int) -> date:
    """The n-th working day counted back from `day` (itself included)."""
    while True:
        if calendar.is_workday(day):
            n -= 1
            if n == 0:
                return day
        day -= DAY


class SqlValues:
    """Placeholders for the store's dialect, collecting the values in order."""

    def __init__(self) -> None:
        self.conn = connections.get("default")
        self.postgres = self.conn.capabilities.dialect == "postgres"
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        cast = ""
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
            # SQLite keeps times as the UTC text tortoise writes; compare text with text.
            value, cast = (value, "::timestamptz") if self.postgres else (value.isoformat(" "), "")
        elif isinstance(value, float):
            cast = "::float8"
        self.values.append(value)
        return f"${len(self.values)}{cast}" if self.postgres else "?"


async def _reached(rules: Rules, point: ReminderPoint, now: datetime) -> list[int]:
    """Ids of running clocks that reached `point` and have no reminder for it yet."""
    sql = SqlValues()
    query = reached_query(sql, rules, point, now)
    return [int(row["id"]) for row in await sql.conn.execute_query_dict(query, sql.values)]


def reached_query(sql: SqlValues, rules: Rules, point: ReminderPoint, now: datetime) -> str:
    """The SQL of `_reached`: one range of the case_clock (stopped_at, due_at) index, and for
    each clock in it a look-up in the reminder's unique (clock_id, point) index."""
    after, until = window(rules, point, now)
    where = ["k.stopped_at IS NULL", f"k.due_at <= {sql(until)}", "k.paused_at IS NULL"]
    if after is not None:
        where.append(f"k.due_at > {sql(after)}")
    if point.at == DUE_DAY:
        # A clock started on its last day (minutes, hours) has nothing to be told at 00:00.
        today = now.astimezone(rules.timezone).date()
        where.append(f"k.started_at <= {sql(rules.calendar.local_midnight(today))}")
    if point.at == DUE_SOON:
        # The worklists' rule (clocks.state_of): less than due_soon_ratio of the span left.
        # Bound in the order they appear: SQLite's placeholders are positional.
        at, ratio = sql(now), sql(float(rules.catalog.due_soon_ratio))
        if sql.postgres:
            where.append(f"k.due_at - {at} <= {ratio} * (k.due_at - k.started_at)")
        else:
            where.append(
                f"julianday(k.due_at) - julianday({at})"
                f" <= {ratio} * (julianday(k.due_at) - julianday(k.started_at))"
            )
    config = rules.catalog.reminders
    if point.clocks:
        where.append(f"k.name IN ({', '.join(sql(n) for n in point.clocks)})")
    if config.skip_clocks:
        where.append(f"k.name NOT IN ({', '.join(sql(n) for n in sorted(config.skip_clocks))})")
    where.append(
        "NOT EXISTS (SELECT 1 FROM reminder r"
        f" WHERE r.clock_id = k.id AND r.point = {sql(point.key)})"
    )
    return (
        f"SELECT k.id FROM case_clock k WHERE {' AND '.join(where)}"
        f" ORDER BY k.due_at LIMIT {sql(REMINDER_BATCH)}"
    )


async def _raise(
    rules: Rules,
    point: ReminderPoint,
    clock: CaseClock,
    case: Case,
    units: dict[int, Department],
    now: datetime,
) -> int:
    """Store the reminder and its timeline event; 0 if a concurrent sweep raised it first."""
    config = rules.catalog.reminders
    unit_id = None if clock.name in config.intake_clocks else case.department_id
    unit = units.get(unit_id) if unit_id is not None else None
    told = [unit.name] if unit else []
    if unit is None or point.intake:
        told.append(_intake_name(rules))
    due = clock.due_at.astimezone(rules.timezone)
    try:
        async with in_transaction() as conn:
            reminder = await Reminder.create(
                case_id=case.id,
                clock_id=clock.id,
                point=point.key,
                department_id=unit_id,
                created_at=now,
                using_db=conn,
            )
            await record_event(
                case,
                "reminder",
                Actor.system(),
                now,
                conn,
                note=f"“{clock.label}”{point.label}(期限 {due_text(due)}),已提醒{'和'.join(told)}。",
                data={
                    "reminder": reminder.id,
                    "point": point.key,
                    "clock": clock.name,
                    "due_at": clock.due_at.astimezone(UTC).isoformat(),
                    "unit": unit.code if unit else "",
                },
                public=False,
            )
    except IntegrityError:
        # The (clock, point) key: another sweep got there first; nothing was written here.
        log.info("reminder %s of clock %s already raised", point.key, clock.id)
        return 0
    return 1


def _intake_name(rules: Rules) -> str:
    units = rules.catalog.departments.values()
    return next((d.name for d in units if d.role == "intake"), "受理中心")


# --- reading and marking read ----------------------------------------------------------------


@dataclass(frozen=True)
class ReminderItem:
    """One reminder as staff see it, with its clock's current due time (local)."""

    id: int
    number: str
    point: str
    label: str
    clock: str
    clock_label: str
    due_at: datetime
    due_text: str
    overdue: bool
    unit: str
    unit_name: str
    created_at: datetime
    read_at: datetime | None
    read_by: str

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "case": self.number,
            "point": self.point,
            "label": self.label,
            "clock": self.clock,
            "clock_label": self.clock_label,
            "due_at": self.due_at.isoformat(),
            "overdue": self.overdue,
            "unit": self.unit or None,
            "unit_name": self.unit_name,
            "created_at": self.created_at.isoformat(),
            "read_at": self.read_at.isoformat() if self.read_at else None,
            "read_by": self.read_by,
        }


@dataclass(frozen=True)
class Unread:
    count: int
    reminders: list[ReminderItem]  # the latest first, at most the limit asked for


async def _scopes(rules: Rules, actor: Actor) -> list[Q]:
    """The reminders `actor` may see, as disjoint conditions that each read one range of the
    reminder (department_id, read_at) index (an OR of them would scan the table)."""
    if actor.role == Role.HANDLER:
        unit = actor.department_id or -1  # a handler without a unit sees nothing
        return [Q(department_id=unit, case__department_id=unit)]
    if actor.role != Role.INTAKE:
        return []
    scopes = [Q(department_id__isnull=True)]
    points = rules.catalog.reminders.intake_points
    if points:
        units = await Department.all().values_list("id", flat=True)
        scopes.append(Q(department_id__in=list(units), point__in=list(points)))
    return scopes


async def unread_reminders(
    rules: Rules, actor: Actor, now: datetime, limit: int = MAX_LISTED
) -> Unread:
    """The actor's unread reminders about clocks still running: how many, and the latest."""
    total, found = 0, []
    for scope in await _scopes(rules, actor):
        query = Reminder.filter(scope, read_at__isnull=True, clock__stopped_at__isnull=True)
        total += await query.count()
        found += await query.order_by("-created_at", "-id").limit(limit)
    found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    return Unread(total, await _items(rules, found[:limit], now))


async def mark_read(rules: Rules, actor: Actor, reminder_id: int, now: datetime) -> ReminderItem:
    """Mark one reminder read (again is harmless). Another unit's reminder is 'not found',
    exactly like one that does not exist."""
    for scope in await _scopes(rules, actor):
        reminder = await Reminder.filter(scope, id=reminder_id).first()
        if reminder is not None:
            break
    else:
        raise NotFound("没有找到这条提醒。", field="id")
    await Reminder.filter(id=reminder.id, read_at__isnull=True).update(
        read_at=now.astimezone(UTC), read_by=actor.name[:READ_BY_CHARS]
    )
    await reminder.refresh_from_db()
    return (await _items(rules, [reminder], now))[0]


async def mark_all_read(rules: Rules, actor: Actor, now: datetime) -> int:
    """Mark every unread reminder of the actor read; returns how many."""
    done = 0
    for scope in await _scopes(rules, actor):
        ids = await Reminder.filter(scope, read_at__isnull=True).values_list("id", flat=True)
        if ids:
            done += await Reminder.filter(id__in=list(ids), read_at__isnull=True).update(
                read_at=now.astimezone(UTC), read_by=actor.name[:READ_BY_CHARS]
            )
    return done


async def _items(rules: Rules, reminders: list[Reminder], now: datetime) -> list[ReminderItem]:
    if not reminders:
        return []
    cases = {c.id: c for c in await Case.filter(id__in={r.case_id for r in reminders})}
    clocks = {k.id: k for k in await CaseClock.filter(id__in={r.clock_id for r in reminders})}
    units = {d.id: d for d in await Department.all()}
    config, tz = rules.catalog.reminders, rules.timezone
    items = []
    for r in reminders:
        clock, point = clocks[r.clock_id], config.point(r.point)
        unit = units.get(r.department_id) if r.department_id is not None else None
        due = clock.due_at.astimezone(tz)
        items.append(
            ReminderItem(
                id=r.id,
                number=cases[r.case_id].number,
                point=r.point,
                label=point.label if point else r.point,
                clock=clock.name,
                clock_label=clock.label,
                due_at=due,
                due_text=due_text(due),
                overdue=clock.due_at <= now,
                unit=unit.code if unit else "",
                unit_name=unit.name if unit else _intake_name(rules),
                created_at=r.created_at.astimezone(tz),
                read_at=r.read_at.astimezone(tz) if r.read_at else None,
                read_by=r.read_by,
            )
        )
    return items
