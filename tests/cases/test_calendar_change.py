"""The calendar as clerks live it: natural-day periods that end on a day off, deadlines in a
year whose schedule is not published (暂定), and the recount once an operator enters it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cases.rules import Rules
from cases.store.models import Case, CaseClock, CaseEvent
from cases.views.worklists import rows_of
from cases.workflow.actions import event_label
from cases.workflow.clocks import citizen_deadline, deadlines_of
from cases.workflow.deadlines import WorkCalendar, YearTable
from cases.workflow.engine import perform
from cases.workflow.recalendar import recompute_for_calendar
from config.catalog import load_catalog
from tests.factories import make_case, make_staff, perform_approved

SH = ZoneInfo("Asia/Shanghai")


def local(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, tzinfo=SH)


def end_of(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=SH) + timedelta(days=1)


@pytest.mark.parametrize("profile", ["market_regulation", "hospital"])
def test_every_natural_day_clock_of_the_shipped_profiles_rolls_over(profile: str) -> None:
    # 民法典 第二百零三条; no shipped rule says otherwise.
    catalog = load_catalog(profile)
    natural = [c for p in catalog.policies for c in p.clocks if c.unit == "natural_days"]
    assert natural and all(c.rollover_holidays for c in natural), [
        c.name for c in natural if not c.rollover_holidays
    ]


async def test_food_acceptance_ending_on_national_day_moves_to_the_next_working_day(
    store: Rules,
) -> None:
    # Filed Saturday 26 Sep 2026: day 5 is 1 Oct, National Day; 1–7 Oct are off, so the
    # acceptance decision is due by the end of Thursday 8 Oct.
    case = await make_case(store, now=local(2026, 9, 26), category="food")
    clock = await CaseClock.get(case_id=case.id, name="acceptance")
    assert clock.due_at.astimezone(SH) == end_of(2026, 10, 8)


async def test_rejection_notice_ending_on_a_sunday_moves_to_monday(store: Rules) -> None:
    case = await make_case(store, now=local(2026, 11, 2))
    intake = await make_staff("intake", "centre")
    # Rejected Friday 6 Nov: day 15 is Saturday 21 Nov, so the notice is due by Monday 23rd.
    await perform_approved(
        store,
        case.id,
        "reject",
        intake,
        note="超时效",
        now=local(2026, 11, 6),
        data={"reason_code": "time_barred"},
    )
    clock = await CaseClock.get(case_id=case.id, name="rejection_notice")
    assert clock.due_at.astimezone(SH) == end_of(2026, 11, 23)


def _rules(store: Rules, **calendar: object) -> Rules:
    return Rules(
        catalog=store.catalog, calendar=WorkCalendar(timezone=SH, **calendar), survey=store.survey
    )  # type: ignore[arg-type]


async def test_a_deadline_in_an_unpublished_year_is_provisional_until_entered(
    store: Rules,
) -> None:
    filed = local(2026, 12, 28)
    before = _rules(store, published=frozenset({2026}))
    case = await make_case(before, now=filed)
    now = filed + timedelta(hours=1)
    # The 7-working-day acceptance clock ends 7 Jan 2027; the triage clock ends in 2026.
    shown = {d.name: d for d in await deadlines_of(before, case, now)}
    assert shown["acceptance"].due_at == end_of(2027, 1, 7)
    assert shown["acceptance"].provisional and not shown["triage"].provisional
    [row] = await rows_of(before, [await Case.get(id=case.id)], now)
    assert row.deadline is not None and row.deadline.due_at == end_of(2026, 12, 29)
    assert row.as_json()["deadline"]["provisional"] is False  # type: ignore[index]

    entered = _rules(store, published=frozenset({2026}), overrides={2027: YearTable()})
    shown = {d.name: d for d in await deadlines_of(entered, case, now)}
    assert not shown["acceptance"].provisional
    # The citizen's own date (mini-program, 查询, notices) carries the mark too.
    told = await citizen_deadline(before, case, now)
    assert told is not None and told.name == "acceptance" and told.provisional
    told = await citizen_deadline(entered, case, now)
    assert told is not None and not told.provisional


async def test_entering_the_schedule_recounts_open_clocks_and_says_so(store: Rules) -> None:
    filed = local(2026, 12, 28)
    case = await make_case(store, now=filed)
    acceptance = await CaseClock.get(case_id=case.id, name="acceptance")
    assert acceptance.due_at.astimezone(SH) == end_of(2027, 1, 7)
    version = (await Case.get(id=case.id)).version

    # The operator enters a schedule that also gives Monday 4 Jan 2027 off.
    schedule = YearTable(holidays=frozenset({date(2027, 1, 1), date(2027, 1, 4)}), complete=False)
    entered = _rules(store, overrides={2027: schedule})
    now = datetime(2027, 1, 2, 2, tzinfo=UTC)
    assert await recompute_for_calendar(entered, now) == 1

    moved = await CaseClock.get(id=acceptance.id)
    assert moved.due_at.astimezone(SH) == end_of(2027, 1, 8)
    stored = await Case.get(id=case.id)
    assert stored.version == version + 1
    # The triage clock (29 Dec) is untouched and still the earliest.
    triage = await CaseClock.get(case_id=case.id, name="triage")
    assert stored.next_due_at == triage.due_at
    event = await CaseEvent.get(case_id=case.id, action="recalendar")
    assert not event.public and event.actor_kind == "system"
    assert event.note == "工作日历已更新:“受理决定”期限由 2027-01-07 24:00 改为 2027-01-08 24:00。"
    assert event_label("recalendar") == "工作日历更新"
    # A second start (or a second process) finds nothing left to move.
    assert await recompute_for_calendar(entered, now) == 0
    assert await CaseEvent.filter(case_id=case.id, action="recalendar").count() == 1


async def test_stopped_clocks_are_history_and_not_recounted(store: Rules) -> None:
    case = await make_case(store, now=local(2026, 12, 28))
    intake = await make_staff("intake", "centre")
    await perform(store, case.id, "accept", intake, now=local(2026, 12, 29))
    acceptance = await CaseClock.get(case_id=case.id, name="acceptance")
    schedule = YearTable(holidays=frozenset({date(2027, 1, 4)}), complete=False)
    await recompute_for_calendar(_rules(store, overrides={2027: schedule}))
    assert (await CaseClock.get(id=acceptance.id)).due_at == acceptance.due_at
