"""The hospital profile's own clocks, on a store that runs it (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cases.auth.accounts import sync_departments
from cases.errors import PermissionDenied, TransitionNotAllowed, ValidationError
from cases.intake.filing import file_case
from cases.rules import Rules
from cases.store import db
from cases.store.models import Case, CaseClock, CaseEvent, Notice, Status
from cases.views.staff_actions import register_case
from cases.views.worklists import Filters, worklist_page
from cases.workflow.engine import perform
from cases.workflow.loading import load_rules
from cases.workflow.timeline import Actor
from config.settings import Settings
from tests.factories import complaint_form, make_case, make_staff, perform_approved

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


@pytest.mark.parametrize(
    ("claim", "amount", "measures"),
    [
        ("10000", 10000, []),  # 「超过一万元」: not yet
        ("10001", 10001, ["医疗纠纷理赔处理中心"]),
        ("１９,９９９元", 19999, ["医疗纠纷理赔处理中心"]),
        (20000, 20000, ["医疗纠纷理赔处理中心", "医疗纠纷调处中心调解"]),  # 「以上」 includes it
    ],
)
async def test_a_claim_over_the_thresholds_puts_the_measures_before_staff(
    hospital: Rules, claim: object, amount: int, measures: list[str]
) -> None:
    intake = await make_staff("intake", "patient_relations")
    form = complaint_form(category="medical_quality", respondent_name="骨科", claim_amount=claim)
    case = await file_case(hospital, form, intake, channel="visit", now=MONDAY)
    events = await CaseEvent.filter(case_id=case.id, action="claim_rule").order_by("id")
    assert [(words in e.note, e.public) for e, words in zip(events, measures, strict=True)] == [
        (True, False)
    ] * len(measures)
    filed = await CaseEvent.get(case_id=case.id, action="file")
    assert filed.data["claim_amount"] == amount


async def test_a_claim_that_is_not_a_sum_is_refused_in_chinese(hospital: Rules) -> None:
    intake = await make_staff("intake", "patient_relations")
    form = complaint_form(category="medical_quality", respondent_name="骨科", claim_amount="一万")
    with pytest.raises(ValidationError) as refused:
        await file_case(hospital, form, intake, channel="visit", now=MONDAY)
    assert (refused.value.field, refused.value.message) == (
        "claim_amount",
        "索赔金额请填写整数元,例如 15000。",
    )


async def test_the_department_that_receives_a_complaint_owns_it_until_it_hands_over(
    hospital: Rules,
) -> None:
    # 首诉负责制 (001 篇一 第十六条, 003 第六条).
    outpatient = await make_staff("handler", "outpatient")
    form = complaint_form(category="attitude", respondent_name="门诊部挂号处")
    case = await register_case(hospital, outpatient, {**form, "channel": "visit"}, now=MONDAY)
    assert case.department_id == outpatient.department_id
    page = await worklist_page(hospital, outpatient, Filters(), MONDAY + timedelta(hours=1))
    assert case.id in {c.id for c in page.cases}, "it is on the receiving unit's worklist"
    other = await make_staff("handler", "nursing")
    with pytest.raises(PermissionDenied):
        await perform(hospital, case.id, "hand_over", other, note="不是我们的", now=MONDAY)

    moved, event = await perform(
        hospital, case.id, "hand_over", outpatient, note="患者要求赔偿,无法当场协调", now=MONDAY
    )
    assert moved.department_id is None and moved.status == "submitted" and not event.public
    intake = await make_staff("intake", "patient_relations")
    await perform(hospital, case.id, "accept", intake, now=MONDAY + timedelta(hours=1))


async def test_a_receiving_department_may_settle_on_the_spot(hospital: Rules) -> None:
    nursing = await make_staff("handler", "nursing")
    form = complaint_form(category="nursing", respondent_name="七病区护士站")
    case = await register_case(hospital, nursing, {**form, "channel": "visit"}, now=MONDAY)
    closed, event = await perform(
        hospital,
        case.id,
        "answer",
        nursing,
        note="已当面致歉并调整输液时间,患者表示满意",
        now=MONDAY,
    )
    assert closed.status == "closed" and event.actor_id == nursing.id


async def test_without_the_rule_only_intake_registers(store: Rules) -> None:
    handler = await make_staff("handler", "consumer")
    with pytest.raises(PermissionDenied):
        await register_case(store, handler, {**complaint_form(), "channel": "visit"})


async def _replied(hospital: Rules) -> tuple[Case, Actor, Actor, Actor]:
    """A complaint the 行风办 has answered (the reply signed by a leader, 第二十四条)."""
    intake = await make_staff("intake", "patient_relations")
    handler = await make_staff("handler", "conduct")
    leader = await make_staff("leader", "leaders")
    case = await make_case(
        hospital, now=MONDAY, category="attitude", respondent_name="门诊部", contact_name="王芳"
    )
    await perform(hospital, case.id, "accept", intake, now=MONDAY)
    await perform(hospital, case.id, "assign", intake, data={"department": "conduct"}, now=MONDAY)
    await perform(hospital, case.id, "start", handler, now=MONDAY)
    case, _ = await perform_approved(
        hospital, case.id, "reply", handler, leader=leader, note="已约谈当事护士。", now=MONDAY
    )
    assert case.status == Status.REPLIED
    return case, intake, handler, leader


async def test_a_complaint_closes_only_when_the_patient_is_satisfied(hospital: Rules) -> None:
    # 001 篇一 第二十五条: 「来访人对处理结果表示满意或基本满意的可以结案」.
    assert hospital.catalog.satisfaction_kinds == {"complaint"}
    assert "满意或基本满意的可以结案" in hospital.catalog.satisfaction_source
    case, intake, handler, _ = await _replied(hospital)
    close = {"finding": "substantiated"}
    with pytest.raises(ValidationError, match="满意或基本满意的方可结案") as missing:
        await perform(hospital, case.id, "close", intake, data=close, now=MONDAY)
    assert missing.value.field == "satisfaction"
    with pytest.raises(TransitionNotAllowed, match="不满意,重新办理"):
        await perform(
            hospital,
            case.id,
            "close",
            intake,
            data={**close, "satisfaction": "dissatisfied"},
            now=MONDAY,
        )
    assert (await Case.get(id=case.id)).status == Status.REPLIED
    # 不满意: back to the department, with a fresh 5 working days and the patient told.
    later = MONDAY + timedelta(days=1)
    case, event = await perform(
        hospital, case.id, "rehandle", intake, note="患者认为道歉不够,要求科室书面说明", now=later
    )
    assert (case.status, case.closed_at) == (Status.IN_PROGRESS, None)
    assert await Notice.filter(event_id=event.id, kind="reopened").exists()
    handling = await CaseClock.get(case_id=case.id, name="handling", stopped_at__isnull=True)
    assert handling.started_at == later
    await perform_approved(hospital, case.id, "reply", handler, note="科室已书面说明。", now=later)
    case, event = await perform(
        hospital, case.id, "close", intake, data={**close, "satisfaction": "basic"}, now=later
    )
    assert case.status == Status.CLOSED
    assert (event.data["satisfaction"], event.data["satisfaction_name"]) == ("basic", "基本满意")


async def test_only_a_leader_deems_a_case_closed_after_a_written_reply(hospital: Rules) -> None:
    # 第二十五条: 「信访投诉人长期无理取闹的,医院有书面答复的,可以认作结案」.
    case, intake, _, leader = await _replied(hospital)
    deemed = {"finding": "unsubstantiated", "satisfaction": "deemed"}
    with pytest.raises(PermissionDenied, match="须由领导决定"):
        await perform(hospital, case.id, "close", intake, data=deemed, now=MONDAY)
    case, _ = await perform(
        hospital, case.id, "close", leader, note="多次答复,仍纠缠", data=deemed, now=MONDAY
    )
    assert case.status == Status.CLOSED
