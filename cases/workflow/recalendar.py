"""Running clocks brought in line with the calendar after it changed.

The calendar changes only when a server starts with a new `holidays` release or a new
`[years.YYYY]` in the holidays file (the State Council's schedule for 2027, say); the sweep
runs this once at start. Every clock whose due time moves is updated, and the move is written
on the case's staff timeline, so a clerk sees why a deadline changed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from cases.rules import Rules
from cases.store.models import Case, CaseClock
from cases.workflow.clocks import recompute_due, running_clocks
from cases.workflow.deadlines import CALENDAR_UNITS, due_text
from cases.workflow.timeline import Actor, record_event

# Bounded pages so that a store of many open cases is never held for long.
PAGE = 500


class _CaseMoved(Exception):
    """The case changed while its clock was recomputed: roll back, retry at the next start."""


async def recompute_for_calendar(rules: Rules, now: datetime | None = None) -> int:
    """Recompute every running day-based clock; returns how many moved.

    Idempotent, and safe with several processes: each move is a compare-and-set on the clock's
    old due time and on the case version, in one transaction with its timeline event.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    moved, after_id = 0, 0
    while True:
        page = (
            await CaseClock.filter(
                stopped_at__isnull=True, unit__in=sorted(CALENDAR_UNITS), id__gt=after_id
            )
            .order_by("id")
            .limit(PAGE)
        )
        if not page:
            return moved
        after_id = page[-1].id
        for clock in page:
            due = recompute_due(rules, clock)
            if due != clock.due_at:
                moved += await _move(rules, clock, due, now)


async def _move(rules: Rules, clock: CaseClock, due: datetime, now: datetime) -> int:
    case = await Case.get(id=clock.case_id)
    try:
        async with in_transaction() as conn:
            updated = (
                await CaseClock.filter(id=clock.id, due_at=clock.due_at, stopped_at__isnull=True)
                .using_db(conn)
                .update(due_at=due)
            )
            if updated != 1:
                raise _CaseMoved
            running = await running_clocks(case, conn)
            next_due = min((c.due_at for c in running if c.paused_at is None), default=None)
            bumped = (
                await Case.filter(id=case.id, version=case.version)
                .using_db(conn)
                .update(version=case.version + 1, next_due_at=next_due)
            )
            if bumped != 1:
                raise _CaseMoved
            old, new = (t.astimezone(rules.timezone) for t in (clock.due_at, due))
            await record_event(
                case,
                "recalendar",
                Actor.system(),
                now,
                conn,
                note=f"工作日历已更新:“{clock.label}”期限由 {due_text(old)} 改为 {due_text(new)}。",
                data={
                    "clock": clock.name,
                    "from": clock.due_at.astimezone(UTC).isoformat(),
                    "to": due.astimezone(UTC).isoformat(),
                },
                public=False,
            )
    except _CaseMoved:
        return 0
    return 1
