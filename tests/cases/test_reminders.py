"""Due-soon and overdue reminders: each point once at its time (working days across National Day
2026), current points only, running clocks only, concurrent sweeps, the timeline, and who may
see and mark which reminder."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from cases.errors import NotFound
from cases.rules import Rules
from cases.store.models import Case, CaseClock, CaseEvent, Reminder
from cases.workflow.engine import perform
from cases.workflow.reminders import (
    SqlValues,
    mark_all_read,
    mark_read,
    raise_reminders,
    reached_query,
    unread_reminders,
)
from cases.workflow.sweeps import run_sweeps
from cases.workflow.timeline import Actor
from tests.factories import department_id, make_case, make_staff, perform_approved

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


ACCEPTED = local(8, 1, 10)  # the handling clock (60 natural days) runs out at 2026-10-01 00:00


async def unit_case(rules: Rules, unit: str = "consumer", **form: str) -> tuple[Case, Actor]:
    """A complaint accepted and assigned to `unit` at ACCEPTED; returns it and a unit handler."""
    case = await make_case(rules, now=ACCEPTED, **form)
    intake = await make_staff("intake", "centre")
    await perform(rules, case.id, "accept", intake, now=ACCEPTED)
    data = {"department": unit}
    case, _ = await perform(rules, case.id, "assign", intake, data=data, now=ACCEPTED)
    return case, await make_staff("handler", unit)


async def points_of(case: Case) -> list[str]:
    return [r.point for r in await Reminder.filter(case_id=case.id).order_by("id")]


async def test_each_point_fires_once_at_its_time_across_national_day(store: Rules) -> None:
    case, _ = await unit_case(store)
    handling = await CaseClock.get(case_id=case.id, name="handling")
    assert handling.due_at == local(10, 1)
    steps = [
        # 60 d 14 h span, due soon with a fifth of it left: from 09-18 21:12.
        (local(9, 18, 21, 10), []),
        (local(9, 18, 21, 15), ["due_soon"]),
        (local(9, 29, 23, 59), []),
        (local(9, 30), ["due_day"]),
        (local(9, 30, 23, 59), []),
        (local(10, 1), ["overdue"]),
        # Working days after the last day (09-30): 10-08, 10-09 and Saturday 10-10 (调休).
        (local(10, 10, 23, 59), []),
        (local(10, 11), ["overdue_3wd"]),
        (local(12, 31), []),
    ]
    seen: list[str] = []
    for now, expected in steps:
        assert await raise_reminders(store, now) == len(expected), now
        assert await raise_reminders(store, now) == 0, now  # a second sweep adds nothing
        seen += expected
        assert await points_of(case) == seen
    reminders = await Reminder.filter(case_id=case.id)
    # Only the handling clock: the return window and the escalation clock are skipped.
    assert {r.clock_id for r in reminders} == {handling.id}
    assert {r.department_id for r in reminders} == {await department_id("consumer")}
    events = await CaseEvent.filter(case_id=case.id, action="reminder").order_by("id")
    assert [e.data["point"] for e in events] == seen
    assert not any(e.public for e in events)
    assert events[0].actor_kind == "system"
    assert events[0].note == "“办理”即将到期(期限 2026-09-30 24:00),已提醒消费者权益保护科。"
    assert events[2].note == (
        "“办理”已超期(期限 2026-09-30 24:00),已提醒消费者权益保护科和投诉举报中心。"
    )
    assert events[0].at == local(9, 18, 21, 15)


async def test_after_an_outage_only_current_points_fire(store: Rules) -> None:
    case, _ = await unit_case(store)
    # Through run_sweeps, as the worker calls it.
    assert await run_sweeps(store, local(10, 12)) >= 2
    assert await points_of(case) == ["overdue", "overdue_3wd"]


async def test_the_intake_centres_clocks_remind_intake(store: Rules) -> None:
    case = await make_case(store, now=local(9, 29, 10))  # Tuesday; triage ends 09-30 24:00
    assert await raise_reminders(store, local(9, 30)) == 1
    reminder = await Reminder.get(case_id=case.id)
    clock = await CaseClock.get(id=reminder.clock_id)
    assert (clock.name, reminder.point, reminder.department_id) == ("triage", "due_day", None)
    event = await CaseEvent.get(case_id=case.id, action="reminder")
    assert event.note.endswith("已提醒投诉举报中心。")
    # A unit's clock listed in intake_clocks goes to intake even when the case has a unit.
    ours = replace(store.catalog.reminders, intake_clocks=frozenset({"handling"}))
    rules = replace(store, catalog=replace(store.catalog, reminders=ours))
    assigned, _ = await unit_case(rules)
    assert await raise_reminders(rules, local(10, 1)) >= 1
    handling = await CaseClock.get(case_id=assigned.id, name="handling")
    assert (await Reminder.get(clock_id=handling.id, point="overdue")).department_id is None


async def test_stopped_and_paused_clocks_remind_nobody(store: Rules) -> None:
    case, handler = await unit_case(store)
    await perform(store, case.id, "start", handler, now=ACCEPTED)
    await perform(store, case.id, "pause_clock", handler, note="送检", now=local(9, 1))
    assert await raise_reminders(store, local(10, 12)) == 0
    await perform(store, case.id, "resume_clock", handler, now=local(10, 12))
    handling = await CaseClock.get(case_id=case.id, name="handling")
    assert handling.due_at == local(11, 11)  # 41 paused days later
    assert await raise_reminders(store, local(10, 12)) == 0  # a fifth of 101 days is 20
    await perform(store, case.id, "reply", handler, note="已调解。", now=local(10, 13))
    # The result told the same day (seed 004: within 2 days of the conclusion): nothing runs.
    told = {"what": "result", "means": "phone"}
    await perform(store, case.id, "tell_citizen", handler, data=told, now=local(10, 13))
    assert await raise_reminders(store, local(12, 31)) == 0
    assert not await Reminder.exists(case_id=case.id)


async def test_concurrent_sweeps_raise_each_reminder_once(store: Rules) -> None:
    case, _ = await unit_case(store)
    await asyncio.gather(*(raise_reminders(store, local(10, 1)) for _ in range(3)))
    assert await points_of(case) == ["overdue"]
    assert await CaseEvent.filter(case_id=case.id, action="reminder").count() == 1


async def test_each_unit_sees_and_marks_only_its_own(store: Rules) -> None:
    mine, handler = await unit_case(store)
    theirs, other = await unit_case(store, "food", category="food")
    fresh = await make_case(store, now=local(9, 29, 10))  # unassigned: intake's triage
    intake = await make_staff("intake", "centre")
    leader = await make_staff("leader", "leaders")
    await raise_reminders(store, local(9, 18, 22))  # due soon: the units' only
    await raise_reminders(store, local(9, 30))  # due day: both units and intake's triage
    now = local(9, 30, 9)

    listed = await unread_reminders(store, handler, now)
    assert listed.count == 2
    assert [(r.number, r.label) for r in listed.reminders] == [
        (mine.number, "今日到期"),
        (mine.number, "即将到期"),
    ]
    first = listed.reminders[0]
    assert (first.clock_label, first.due_text, first.unit_name) == (
        "办理",
        "2026-09-30 24:00",
        "消费者权益保护科",
    )
    assert {r.number for r in (await unread_reminders(store, other, now)).reminders} == {
        theirs.number
    }
    # Intake: its own triage reminder; the units' due-soon and due-day are theirs alone.
    assert [r.number for r in (await unread_reminders(store, intake, now)).reminders] == [
        fresh.number
    ]
    assert (await unread_reminders(store, leader, now)).count == 0

    # Another unit's reminder is "not found", exactly like one that does not exist.
    with pytest.raises(NotFound) as foreign:
        await mark_read(store, other, first.id, now)
    with pytest.raises(NotFound) as missing:
        await mark_read(store, other, 999_999, now)
    assert foreign.value.message == missing.value.message
    assert (await Reminder.get(id=first.id)).read_at is None

    done = await mark_read(store, handler, first.id, now)
    assert done.read_at == now and done.read_by == handler.name
    assert (await mark_read(store, handler, first.id, local(9, 30, 10))).read_at == now
    assert (await unread_reminders(store, handler, now)).count == 1
    assert await mark_all_read(store, handler, now) == 1
    assert (await unread_reminders(store, handler, now)).count == 0
    assert (await unread_reminders(store, other, now)).count == 2  # untouched

    # Overdue points are marked intake = true: intake sees the units' too, and may read them.
    await raise_reminders(store, local(10, 1))
    overdue = (await unread_reminders(store, intake, now)).reminders
    assert {r.number for r in overdue if r.label == "已超期"} == {
        mine.number,
        theirs.number,
        fresh.number,
    }
    await mark_read(store, intake, next(r.id for r in overdue if r.number == mine.number), now)
    assert [r.label for r in (await unread_reminders(store, handler, now)).reminders] == []


async def test_reminders_of_a_case_that_left_the_unit_or_whose_clock_stopped_are_hidden(
    store: Rules,
) -> None:
    case, handler = await unit_case(store)
    assert await raise_reminders(store, local(9, 30)) == 2  # due soon and due today
    assert (await unread_reminders(store, handler, local(9, 30))).count == 2
    await perform(store, case.id, "start", handler, now=local(9, 30, 9))
    await perform(store, case.id, "reply", handler, note="已调解。", now=local(9, 30, 10))
    assert (await unread_reminders(store, handler, local(9, 30, 11))).count == 0
    # The case moved to another unit: the old unit cannot open its reminders any more.
    other, _ = await unit_case(store)
    await raise_reminders(store, local(10, 1))
    reminder = await Reminder.get(case_id=other.id, point="overdue")
    await Case.filter(id=other.id).update(department_id=await department_id("food"))
    with pytest.raises(NotFound):
        await mark_read(store, handler, reminder.id, local(10, 1))


async def test_the_sweep_reads_index_ranges_only(store: Rules) -> None:
    sql = SqlValues()
    if sql.postgres:
        return  # the plan asserted is SQLite's; PostgreSQL plans by table statistics
    for point in store.catalog.reminders.points:
        sql = SqlValues()
        query = reached_query(sql, store, point, local(10, 1))
        rows = await sql.conn.execute_query_dict(f"EXPLAIN QUERY PLAN {query}", sql.values)
        plan = " | ".join(row["detail"] for row in rows)
        assert "SEARCH k USING INDEX idx_case_clock_stopped" in plan, plan
        assert "SEARCH r USING COVERING INDEX sqlite_autoindex_reminder" in plan, plan
        assert "SCAN" not in plan, plan


async def test_a_rejection_told_to_the_citizen_raises_no_overdue_reminder(store: Rules) -> None:
    # The clock of 「15日内以适当方式……告知」 (seed 000, 第十五条) stops once the citizen is told;
    # one never told is flagged to the intake centre.
    intake = await make_staff("intake", "centre")
    told = await make_case(store, now=ACCEPTED)
    untold = await make_case(store, now=ACCEPTED)
    for case in (told, untold):
        await perform_approved(
            store,
            case.id,
            "reject",
            intake,
            note="已过一年",
            data={"reason_code": "over_one_year"},
            now=ACCEPTED,
        )
    await perform(
        store,
        told.id,
        "tell_citizen",
        intake,
        data={"what": "rejected", "means": "phone"},
        now=local(8, 3, 9),
    )
    clock = await CaseClock.get(case_id=untold.id, name="rejection_notice")
    await run_sweeps(store, clock.due_at)
    assert await points_of(told) == []
    assert await points_of(untold) == ["overdue"]
    reminder = await Reminder.get(case_id=untold.id)
    assert reminder.clock_id == clock.id
    assert reminder.department_id is None  # the intake centre's own queue
