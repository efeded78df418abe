"""Supervision (督办台): overdue and due-soon cases of every unit, 催办 and 督办.

Intake and leaders look across units and press a unit, from this list or any working case's
page. A reminder (催办)
and a formal supervision notice (督办, with the centre's instruction) are internal timeline
events of the case: the unit sees them there, the citizen does not.

"Due soon" is the clock's own rule (`clocks.state_of`: less than `due_soon_ratio` of its span
left) applied to the clock behind `Case.next_due_at`. The span is per clock, so the test is
SQL arithmetic on the clock row, found through the (stopped_at, due_at) index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections

from cases.errors import PermissionDenied, TransitionNotAllowed, ValidationError
from cases.rules import Rules
from cases.store.models import Case, CaseEvent, Department, Role
from cases.views.access import case_for_staff
from cases.views.worklists import (
    EPOCH,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    UNASSIGNED,
    WORKING_STATES,
    Cursor,
    Page,
)
from cases.workflow.actions import event_label
from cases.workflow.states import STATUS_LABELS
from cases.workflow.timeline import Actor, record_event

VIEWERS = frozenset({Role.INTAKE, Role.LEADER})
# Who presses a unit: the intake centre, and a leader (from the case page or this list).
SUPERVISORS = frozenset({Role.INTAKE, Role.LEADER})
PRESS_ACTIONS = ("remind", "supervise")
OVERDUE, DUE_SOON = "overdue", "due_soon"
DEFAULT_NOTE_CHARS = 1000


def supervision_label(action: str) -> str:
    """催办 or 督办: the timeline label of a press (config/staff_text.toml)."""
    return event_label(action)


def may_press(actor: Actor, case: Case) -> bool:
    """Whether the actor may 催办/督办 this case now (the case page offers both then)."""
    return actor.role in SUPERVISORS and case.status in WORKING_STATES


def check_viewer(actor: Actor) -> None:
    if actor.role not in VIEWERS:
        raise PermissionDenied("督办台仅供受理中心和领导使用。")


@dataclass(frozen=True)
class UnitCount:
    unit: str  # department code, "" for cases not yet assigned
    name: str
    overdue: int
    due_soon: int


class _Sql:
    """Placeholders for the store's dialect, collecting the values in order."""

    def __init__(self) -> None:
        conn = connections.get("default")
        self.conn = conn
        self.postgres = conn.capabilities.dialect == "postgres"
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str = "") -> str:
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
            # SQLite keeps times as the UTC text tortoise writes; compare text with text.
            value = value if self.postgres else value.isoformat(" ")
        self.values.append(value)
        if not self.postgres:
            return "?"
        return f"${len(self.values)}" + (f"::{cast}" if cast else "")

    def due_soon(self, now: datetime, ratio: float) -> str:
        """Case `c`'s earliest running clock has less than `ratio` of its span left."""
        if self.postgres:
            left = f"k.due_at - {self(now, 'timestamptz')}"
            soon = f"{left} <= {self(ratio, 'float8')} * (k.due_at - k.started_at)"
        else:
            left = f"julianday(k.due_at) - julianday({self(now)})"
            soon = f"{left} <= {self(ratio)} * (julianday(k.due_at) - julianday(k.started_at))"
        return (
            "EXISTS (SELECT 1 FROM case_clock k WHERE k.stopped_at IS NULL"
            " AND k.due_at = c.next_due_at AND k.case_id = c.id AND k.paused_at IS NULL"
            f" AND {soon})"
        )

    def flagged(self, now: datetime, ratio: float, only: str, since: datetime = EPOCH) -> str:
        """Case `c` is overdue and/or due soon (`only`); `since` starts the index range."""
        start = f"c.next_due_at >= {self(since, 'timestamptz')}"
        if only == OVERDUE:
            return f"{start} AND c.next_due_at <= {self(now, 'timestamptz')}"
        if only == DUE_SOON:
            late = f"c.next_due_at > {self(now, 'timestamptz')}"
            return f"{start} AND {late} AND {self.due_soon(now, ratio)}"
        late = f"c.next_due_at <= {self(now, 'timestamptz')}"
        return f"{start} AND ({late} OR {self.due_soon(now, ratio)})"


async def _unit_id(code: str) -> int:
    unit = await Department.get_or_none(code=code)
    if unit is None:
        raise ValidationError("筛选条件无效,请重新选择。", field="unit")
    return unit.id


async def supervision_page(
    rules: Rules,
    actor: Actor,
    now: datetime,
    *,
    unit: str = "",
    only: str = "",
    after: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """Overdue and due-soon working cases of all units, earliest due first (keyset pages).

    `unit` is a department code or UNASSIGNED; `only` is OVERDUE, DUE_SOON or "" for both.
    """
    check_viewer(actor)
    if only not in ("", OVERDUE, DUE_SOON):
        raise ValidationError("筛选条件无效,请重新选择。", field="only")
    size = max(1, min(size, MAX_PAGE_SIZE))
    if after is not None and after.due_at is None:
        raise ValidationError("翻页参数无效,请回到第一页。", field="cursor")
    unit_id = await _unit_id(unit) if unit and unit != UNASSIGNED else None
    sql = _Sql()
    # One ordered index range per status, merged: "status IN (...)" would sort every row.
    branches = []
    for n, status in enumerate(sorted(WORKING_STATES)):
        since = after.due_at if after is not None and after.due_at is not None else EPOCH
        where = [f"c.status = {sql(str(status))}"]
        where.append(sql.flagged(now, rules.catalog.due_soon_ratio, only, since))
        if unit == UNASSIGNED:
            where.append("c.department_id IS NULL")
        elif unit_id is not None:
            where.append(f"c.department_id = {sql(unit_id)}")
        if after is not None:
            later, case_id = sql(since, "timestamptz"), sql(after.case_id)
            where.append(f"(c.next_due_at > {later} OR c.id > {case_id})")
        branches.append(
            f'SELECT * FROM (SELECT c.id, c.next_due_at FROM "case" c WHERE {" AND ".join(where)}'
            f" ORDER BY c.next_due_at, c.id LIMIT {sql(size + 1)}) AS b{n}"
        )
    query = f"{' UNION ALL '.join(branches)} ORDER BY 2, 1 LIMIT {sql(size + 1)}"
    ids = [row["id"] for row in await sql.conn.execute_query_dict(query, sql.values)]
    found = {case.id: case for case in await Case.filter(id__in=ids)}
    cases = [found[i] for i in ids if i in found]
    more = len(cases) > size
    return Page(cases[:size], Cursor.after(cases[size - 1]) if more else None)


async def unit_counts(rules: Rules, actor: Actor, now: datetime) -> list[UnitCount]:
    """Overdue and due-soon working cases per unit (units with none are left out)."""
    check_viewer(actor)
    sql = _Sql()
    late = sql(now, "timestamptz")
    statuses = ", ".join(sql(str(s)) for s in sorted(WORKING_STATES))
    query = (
        f"SELECT c.department_id AS unit, COUNT(*) AS total,"
        f" SUM(CASE WHEN c.next_due_at <= {late} THEN 1 ELSE 0 END) AS overdue"
        f' FROM "case" c WHERE c.status IN ({statuses})'
        f" AND {sql.flagged(now, rules.catalog.due_soon_ratio, '')}"
        " GROUP BY c.department_id"
    )
    rows = await sql.conn.execute_query_dict(query, sql.values)
    units = {d.id: d for d in await Department.all()}
    counts = []
    for row in rows:
        unit = units.get(row["unit"]) if row["unit"] is not None else None
        overdue = int(row["overdue"] or 0)
        counts.append(
            UnitCount(
                unit=unit.code if unit else "",
                name=unit.name if unit else "未交办",
                overdue=overdue,
                due_soon=int(row["total"]) - overdue,
            )
        )
    return sorted(counts, key=lambda c: (-c.overdue, -c.due_soon, c.name))


async def remind(rules: Rules, actor: Actor, number: str, note: str, now: datetime) -> CaseEvent:
    """催办: an internal reminder to the unit on the case's timeline; the note is optional."""
    return await _press(rules, actor, number, "remind", note, now)


async def supervise(rules: Rules, actor: Actor, number: str, note: str, now: datetime) -> CaseEvent:
    """督办: a formal supervision notice with the centre's instruction (required)."""
    return await _press(rules, actor, number, "supervise", note, now)


async def _press(
    rules: Rules, actor: Actor, number: str, action: str, note: str, now: datetime
) -> CaseEvent:
    # The case first, as `perform` does: a case the actor cannot see is "not found".
    case = await case_for_staff(actor, number)
    label = supervision_label(action)
    if actor.role not in SUPERVISORS:
        raise PermissionDenied(f"只有受理中心和领导可以{label}。", field="action")
    if case.status not in WORKING_STATES:
        raise TransitionNotAllowed(
            f"案件当前状态为“{STATUS_LABELS[case.status]}”,无需{label}。", field="action"
        )
    note = note.strip()
    if action == "supervise" and not note:
        raise ValidationError("请填写督办意见。", field="note")
    limit = rules.catalog.limits.max_chars.get("note", DEFAULT_NOTE_CHARS)
    if len(note) > limit:
        raise ValidationError(f"说明请不超过 {limit} 字。", field="note")
    unit = await Department.get_or_none(id=case.department_id) if case.department_id else None
    data: dict[str, Any] = {"department": unit.code if unit else ""}
    if case.next_due_at is not None:
        data["due_at"] = case.next_due_at.astimezone(UTC).isoformat()
    return await record_event(
        case, action, actor, now.astimezone(UTC), None, note=note, data=data, public=False
    )
