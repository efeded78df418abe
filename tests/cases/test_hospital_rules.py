"""The hospital profile's own clocks, on a store that runs it (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cases import db
from cases.accounts import sync_departments
from cases.models import CaseClock
from cases.rules import Rules, load_rules
from cases.workflow import perform
from config.settings import Settings
from tests.factories import make_case, make_staff

SH = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 2, 10, tzinfo=SH)


@pytest.fixture
async def hospital(make_settings: Callable[..., Settings]) -> AsyncIterator[Rules]:
    settings = make_settings(organisation__profile="hospital")
    rules = load_rules(settings)
    await db.open_store(settings.database_url)
    await sync_departments(rules.catalog)
    yield rules
    await db.close_store()


def end_of(day: datetime) -> datetime:
    return day.replace(hour=0) + timedelta(days=1)


async def test_feedback_is_due_five_working_days_after_receipt_not_acceptance(
    hospital: Rules,
) -> None:
    # 信访制度 第二十一条 「一般应当于5个工作日内向投诉人反馈」, counted from receipt (第十九条).
    case = await make_case(
        hospital, now=MONDAY, category="attitude", respondent_name="门诊部", contact_name="王芳"
    )
    feedback = await CaseClock.get(case_id=case.id, name="handling")
    # Tue 3, Wed 4, Thu 5, Fri 6, Mon 9 November.
    assert feedback.due_at.astimezone(SH) == end_of(datetime(2026, 11, 9, tzinfo=SH))
    intake = await make_staff("intake", "patient_relations")
    await perform(hospital, case.id, "accept", intake, now=MONDAY + timedelta(days=2))
    running = await CaseClock.filter(case_id=case.id, name="handling", stopped_at__isnull=True)
    assert [c.id for c in running] == [feedback.id], "acceptance does not restart the clock"


async def test_waiting_for_the_patients_supplement_does_not_count(hospital: Rules) -> None:
    case = await make_case(
        hospital, now=MONDAY, category="attitude", respondent_name="门诊部", contact_name="王芳"
    )
    intake = await make_staff("intake", "patient_relations")
    await perform(hospital, case.id, "request_info", intake, note="请补充就诊时间", now=MONDAY)
    citizen_back = datetime(2026, 11, 9, tzinfo=SH)  # Monday 9th, 00:00: Tue–Fri paused
    await perform(hospital, case.id, "supplement", intake, note="11月1日上午", now=citizen_back)
    feedback = await CaseClock.get(case_id=case.id, name="handling")
    # Mon 9 … Fri 13 November count.
    assert feedback.due_at.astimezone(SH) == end_of(datetime(2026, 11, 13, tzinfo=SH))
