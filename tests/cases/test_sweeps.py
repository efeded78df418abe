"""Clocks that act when they run out: deemed acceptance and escalation to major."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cases.auth.sessions import citizen_for_token, open_session
from cases.errors import TransitionNotAllowed
from cases.rules import Rules
from cases.store.models import Case, CaseClock, CaseEvent, MpSession, Notice, Status
from cases.workflow.clocks import deadlines_of, last_day, policy_of
from cases.workflow.deadlines import compute_due
from cases.workflow.engine import perform
from cases.workflow.sweeps import apply_expired_clocks, run_sweeps
from cases.workflow.timeline import Actor
from tests.factories import make_case, make_citizen, make_staff, perform_approved

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday


async def test_food_case_not_refused_by_day_5_counts_as_accepted(store: Rules) -> None:
    case = await make_case(store, now=NOW, category="food")
    assert case.policy == "food_drug"
    # Day 5 after Monday 23rd is Saturday 28th, a day off: the period ends with the next
    # working day, Monday 30th (民法典 第二百零三条), at midnight (Shanghai).
    assert await apply_expired_clocks(store, NOW + timedelta(days=6)) == 0
    assert await apply_expired_clocks(store, NOW + timedelta(days=7)) == 0
    assert await apply_expired_clocks(store, NOW + timedelta(days=8)) == 1
    stored = await Case.get(id=case.id)
    assert stored.status == Status.ACCEPTED
    # Accepted as of the day 5 itself, not as of the sweep that noticed it.
    acceptance = await CaseClock.get(case_id=case.id, name="acceptance")
    assert acceptance.due_at < NOW + timedelta(days=8)
    assert stored.accepted_at == acceptance.due_at
    handling = await CaseClock.get(case_id=case.id, name="handling", stopped_at__isnull=True)
    assert handling.started_at == acceptance.due_at
    event = await CaseEvent.get(case_id=case.id, action="deem_accepted")
    assert event.actor_kind == "system" and "受理决定" in event.note
    assert await Notice.filter(event_id=event.id, kind="accepted").exists()
    names = {d.name for d in await deadlines_of(store, stored, NOW + timedelta(days=8))}
    assert "handling" in names and "acceptance" not in names
    assert await apply_expired_clocks(store, NOW + timedelta(days=9)) == 0  # once only


async def test_a_refused_case_is_not_deemed_accepted(store: Rules) -> None:
    case = await make_case(store, now=NOW, category="food")
    intake = await make_staff("intake", "centre")
    await perform_approved(
        store,
        case.id,
        "reject",
        intake,
        note="超时效",
        now=NOW,
        data={"reason_code": "time_barred"},
    )
    await perform(
        store,
        case.id,
        "tell_citizen",
        intake,
        data={"what": "rejected", "means": "letter"},
        now=NOW,
    )
    assert await apply_expired_clocks(store, NOW + timedelta(days=30)) == 0
    assert (await Case.get(id=case.id)).status == Status.REJECTED


async def test_a_food_rejection_never_told_counts_as_accepted(store: Rules) -> None:
    # Seed 000 (食品药品投诉举报管理办法 第十五条): 「未按前款规定告知的,投诉举报自……收到之日起
    # 第5日即为受理」.
    case = await make_case(store, now=NOW, category="food")
    intake = await make_staff("intake", "centre")
    await perform_approved(
        store,
        case.id,
        "reject",
        intake,
        note="超时效",
        now=NOW,
        data={"reason_code": "time_barred"},
    )
    notice_clock = await CaseClock.get(case_id=case.id, name="rejection_notice")
    assert await apply_expired_clocks(store, notice_clock.due_at - timedelta(minutes=1)) == 0
    assert (await Case.get(id=case.id)).status == Status.REJECTED
    assert await apply_expired_clocks(store, notice_clock.due_at) == 1
    stored = await Case.get(id=case.id)
    # Accepted as of day 5 from receipt, not as of the day the 15-day notice clock ran out.
    day_5 = compute_due(case.created_at, 5, "natural_days", store.calendar, (), True)
    assert stored.status == Status.ACCEPTED and stored.accepted_at == day_5
    event = await CaseEvent.get(case_id=case.id, action="deem_accepted")
    assert (event.from_status, event.to_status) == (Status.REJECTED, Status.ACCEPTED)
    assert event.actor_kind == "system" and "不予受理告知" in event.note
    assert event.data["deemed_day"] == last_day(store, day_5)
    assert (await CaseClock.get(id=notice_clock.id)).stopped_at == notice_clock.due_at
    handling = await CaseClock.get(case_id=case.id, name="handling", stopped_at__isnull=True)
    assert handling.started_at == day_5


async def test_the_handling_clock_of_a_deemed_acceptance_counts_from_day_5(store: Rules) -> None:
    # 000 第十五条: 「未按前款规定告知的,投诉举报自……收到之日起第5日即为受理」: the 60 days of
    # 第二十条 run from that day 5, wherever the sweep notices the untold rejection.
    received = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)  # Tuesday, 09:30 in Shanghai
    case = await make_case(store, now=received, category="food")
    intake = await make_staff("intake", "centre")
    await perform_approved(
        store,
        case.id,
        "reject",
        intake,
        note="超时效",
        now=received + timedelta(days=1),
        data={"reason_code": "time_barred"},
    )
    notice_clock = await CaseClock.get(case_id=case.id, name="rejection_notice")
    late_sweep = notice_clock.due_at + timedelta(days=3)  # after an outage
    assert await apply_expired_clocks(store, late_sweep) == 1
    stored = await Case.get(id=case.id)
    rule = next(c for c in policy_of(store, stored).clocks if c.name == "handling")
    day_5 = compute_due(stored.created_at, 5, "natural_days", store.calendar, (), True)
    assert day_5 < notice_clock.due_at
    handling = await CaseClock.get(case_id=case.id, name="handling", stopped_at__isnull=True)
    expected = compute_due(
        day_5, rule.amount, rule.unit, store.calendar, (), rule.rollover_holidays
    )
    assert handling.started_at == day_5 == stored.accepted_at
    assert handling.due_at == expected.astimezone(UTC)
    # The 3-day transfer runs from day 5 too: long overdue once the sweep finds the rejection.
    transfer = await CaseClock.get(case_id=case.id, name="transfer", stopped_at__isnull=True)
    assert transfer.started_at == day_5 and transfer.due_at < late_sweep


async def test_a_deemed_acceptance_needs_an_expired_untold_rejection(store: Rules) -> None:
    case = await make_case(store, now=NOW, category="food")
    intake = await make_staff("intake", "centre")
    await perform_approved(
        store, case.id, "reject", intake, note="x", now=NOW, data={"reason_code": "other"}
    )
    with pytest.raises(TransitionNotAllowed):
        await perform(store, case.id, "deem_accepted", Actor.system(), now=NOW)
    assert (await Case.get(id=case.id)).status == Status.REJECTED


async def test_complaint_open_a_month_after_acceptance_becomes_major(store: Rules) -> None:
    case = await make_case(store, now=NOW)
    intake = await make_staff("intake", "centre")
    await perform(store, case.id, "accept", intake, now=NOW)
    assert await apply_expired_clocks(store, NOW + timedelta(days=30)) == 0
    assert await apply_expired_clocks(store, NOW + timedelta(days=31)) == 1
    stored = await Case.get(id=case.id)
    assert stored.severity == "major"
    event = await CaseEvent.get(case_id=case.id, action="raise_severity")
    assert event.data == {"severity": "major"}


async def test_deadlines_flag_overdue_and_due_soon(store: Rules) -> None:
    case = await make_case(store, now=NOW)
    fresh = {d.name: d for d in await deadlines_of(store, case, NOW)}
    assert not fresh["triage"].overdue and not fresh["triage"].due_soon
    assert fresh["triage"].due_at.tzinfo == store.timezone
    # Triage (1 working day) ends at midnight after Tuesday 24th, Shanghai time.
    soon = {d.name: d for d in await deadlines_of(store, case, NOW + timedelta(hours=37))}
    assert soon["triage"].due_soon and not soon["triage"].overdue
    late = {d.name: d for d in await deadlines_of(store, case, NOW + timedelta(days=2))}
    assert late["triage"].overdue and not late["acceptance"].overdue


async def test_the_sweep_purges_expired_mini_program_sessions(store: Rules) -> None:
    # Issue 16: purge_expired_sessions was never called, so expired sessions piled up.
    citizen = await make_citizen()
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    expired, _ = await open_session(citizen, now - timedelta(hours=3), hours=2)
    live, _ = await open_session(citizen, now - timedelta(hours=1), hours=2)
    assert await MpSession.filter(citizen_id=citizen.id).count() == 2
    await run_sweeps(store, now)
    assert await MpSession.filter(citizen_id=citizen.id).count() == 1
    assert await citizen_for_token(live, now) is not None
    assert await citizen_for_token(expired, now - timedelta(hours=2)) is None  # row is gone
