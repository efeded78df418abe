"""Decisions that go out only after a leader approves them (issue 13), SQLite and PostgreSQL.

000 县局规范 第十八条: 不予受理 and 移送其他机关 「经法制机构核审、报分管局长批准后,由承办机构
负责回复投诉举报人、移送至其他机关」; 001 篇一 第二十四条: replies 「分管院领导审签后发出」.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cases.auth.accounts import sync_departments
from cases.errors import PermissionDenied, TransitionNotAllowed, ValidationError
from cases.rules import Rules
from cases.store import db
from cases.store.models import Case, CaseClock, CaseEvent, Notice, Status
from cases.views.worklists import Filters, pending_draft_ids, worklist_page
from cases.workflow.actions import citizen_note
from cases.workflow.engine import perform
from cases.workflow.history import DRAFT_EVENT, pending_draft
from cases.workflow.loading import load_rules
from config.settings import Settings
from tests.factories import make_case, make_staff

S = Status
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
LATER = NOW + timedelta(hours=3)
REJECTION = {"note": "投诉事项已超过一年。", "data": {"reason_code": "over_one_year"}}


async def _clocks(case_id: int) -> list[tuple[str, datetime, datetime | None]]:
    rows = await CaseClock.filter(case_id=case_id).order_by("id")
    return [(c.name, c.due_at, c.stopped_at) for c in rows]


async def test_a_rejection_by_intake_waits_for_the_leader(store: Rules) -> None:
    case = await make_case(store, now=NOW)
    intake = await make_staff("intake", "centre")
    leader = await make_staff("leader", "leaders")
    clocks = await _clocks(case.id)

    drafted, event = await perform(store, case.id, "reject", intake, now=NOW, **REJECTION)

    # Nothing reaches the citizen and nothing moves: status, clocks, notices stay as they were.
    assert event.action == DRAFT_EVENT and not event.public
    assert event.data["action"] == "reject" and event.data["note"] == REJECTION["note"]
    stored = await Case.get(id=case.id)
    assert (stored.status, stored.reject_reason) == (S.SUBMITTED, "")
    assert drafted.version == case.version + 1
    assert await _clocks(case.id) == clocks
    assert not await Notice.filter(case_id=case.id, kind="rejected").exists()
    assert (await pending_draft(stored)) is not None

    # A second draft while one waits is refused.
    with pytest.raises(TransitionNotAllowed) as exc:
        await perform(store, case.id, "reject", intake, now=NOW, **REJECTION)
    assert "待审批" in exc.value.message

    rejected, applied = await perform(store, case.id, "approve_draft", leader, now=LATER)

    assert rejected.status == S.REJECTED and rejected.reject_reason == "over_one_year"
    assert (applied.action, applied.actor_id) == ("reject", leader.id)
    assert applied.data["approved_draft"] == event.id and applied.at == LATER
    notice = await Notice.get(event_id=applied.id)
    assert notice.kind == "rejected"
    assert citizen_note(applied) == REJECTION["note"]  # the citizen reads the draft's text
    assert await CaseClock.filter(case_id=case.id, name="rejection_notice").exists()
    assert (await pending_draft(rejected)) is None
    timeline = await CaseEvent.filter(case_id=case.id).order_by("id").values_list("action")
    assert [a for (a,) in timeline][-3:] == [DRAFT_EVENT, "reject", "approve_draft"]


async def test_a_refused_draft_goes_back_with_the_reason(store: Rules) -> None:
    case = await make_case(store, now=NOW)
    intake = await make_staff("intake", "centre")
    leader = await make_staff("leader", "leaders")
    await perform(store, case.id, "reject", intake, now=NOW, **REJECTION)

    with pytest.raises(ValidationError):  # a refusal says why
        await perform(store, case.id, "refuse_draft", leader, now=LATER)
    _, refusal = await perform(
        store, case.id, "refuse_draft", leader, note="理由不充分,请核实购买日期。", now=LATER
    )

    assert refusal.note == "理由不充分,请核实购买日期。" and not refusal.public
    assert refusal.data["action"] == "reject"
    stored = await Case.get(id=case.id)
    assert stored.status == S.SUBMITTED
    assert not await Notice.filter(case_id=case.id, event_id=refusal.id).exists()
    assert not await Notice.filter(case_id=case.id, kind="rejected").exists()
    with pytest.raises(TransitionNotAllowed):  # nothing left to approve
        await perform(store, case.id, "approve_draft", leader, now=LATER)
    # The drafter may draft again, and this one goes through.
    _, again = await perform(store, case.id, "reject", intake, now=LATER, **REJECTION)
    assert again.action == DRAFT_EVENT
    rejected, _ = await perform(store, case.id, "approve_draft", leader, now=LATER)
    assert rejected.status == S.REJECTED


async def test_a_draft_is_checked_at_once_and_goes_stale_when_the_case_moves_on(
    store: Rules,
) -> None:
    case = await make_case(store, now=NOW)
    intake = await make_staff("intake", "centre")
    leader = await make_staff("leader", "leaders")
    handler = await make_staff("handler", "consumer")
    events = await CaseEvent.filter(case_id=case.id).count()
    # A draft that could never be approved is refused now, and nothing is written.
    with pytest.raises(ValidationError) as exc:
        await perform(store, case.id, "reject", intake, note="x", data={"reason_code": "nope"})
    assert exc.value.field == "reason_code"
    with pytest.raises(PermissionDenied):  # only a leader approves
        await perform(store, case.id, "approve_draft", handler, now=NOW)
    assert await CaseEvent.filter(case_id=case.id).count() == events

    await perform(store, case.id, "reject", intake, now=NOW, **REJECTION)
    await perform(store, case.id, "withdraw", intake, now=LATER)
    with pytest.raises(TransitionNotAllowed) as stale:
        await perform(store, case.id, "approve_draft", leader, now=LATER)
    assert stale.value.message == "草稿提交后案件已变为“已撤回”,该草稿已失效,不能批准。"


async def test_a_leader_rejecting_directly_needs_no_approval(store: Rules) -> None:
    case = await make_case(store, now=NOW)
    leader = await make_staff("leader", "leaders")
    rejected, event = await perform(store, case.id, "reject", leader, now=NOW, **REJECTION)
    assert (rejected.status, event.action) == (S.REJECTED, "reject")
    assert (await Notice.get(event_id=event.id)).kind == "rejected"


async def test_a_units_referral_waits_and_the_citizen_reads_whom_to_contact(store: Rules) -> None:
    case = await make_case(store, now=NOW)
    intake = await make_staff("intake", "centre")
    handler = await make_staff("handler", "consumer")
    leader = await make_staff("leader", "leaders")
    await perform(store, case.id, "accept", intake, now=NOW)
    await perform(store, case.id, "assign", intake, now=NOW, data={"department": "consumer"})
    await perform(store, case.id, "start", handler, now=NOW)
    referral = {"referred_to": "县人社局劳动监察大队", "referred_contact": "0571-12333"}
    data: dict[str, Any] = {**referral, "public_note": "请联系县人社局劳动监察大队。"}
    _, draft = await perform(
        store, case.id, "refer_out", handler, note="属劳动监察职责", data=data, now=NOW
    )
    assert draft.action == DRAFT_EVENT
    assert (await Case.get(id=case.id)).status == S.IN_PROGRESS

    referred, applied = await perform(store, case.id, "approve_draft", leader, now=LATER)

    assert referred.status == S.REFERRED_OUT
    assert referred.referred_to == "县人社局劳动监察大队(联系方式:0571-12333)"
    assert citizen_note(applied) == "请联系县人社局劳动监察大队。"
    assert (await Notice.get(event_id=applied.id)).kind == "referred"


@pytest.fixture
async def hospital(make_settings: Callable[..., Settings]) -> AsyncIterator[Rules]:
    settings = make_settings(organisation__profile="hospital")
    rules = load_rules(settings)
    await db.open_store(settings.database_url)
    await sync_departments(rules.catalog)
    yield rules
    await db.close_store()


async def test_a_hospital_reply_goes_out_after_the_leader_signs_it(hospital: Rules) -> None:
    case = await make_case(
        hospital, now=NOW, category="attitude", respondent_name="门诊部", contact_name="王芳"
    )
    intake = await make_staff("intake", "patient_relations")
    handler = await make_staff("handler", "conduct")
    leader = await make_staff("leader", "leaders")
    await perform(hospital, case.id, "accept", intake, now=NOW)
    await perform(hospital, case.id, "assign", intake, now=NOW, data={"department": "conduct"})
    await perform(hospital, case.id, "start", handler, now=NOW)
    reply = "经查:导诊员态度生硬属实。\n处理情况:已批评教育并当面致歉。"

    _, draft = await perform(hospital, case.id, "reply", handler, note=reply, now=NOW)

    assert draft.action == DRAFT_EVENT
    assert (await Case.get(id=case.id)).status == S.IN_PROGRESS
    assert not await Notice.filter(case_id=case.id, kind="replied").exists()
    replied, applied = await perform(hospital, case.id, "approve_draft", leader, now=LATER)
    assert replied.status == S.REPLIED and applied.action == "reply"
    notice = await Notice.get(event_id=applied.id)
    assert notice.kind == "replied" and citizen_note(applied) == reply
    # The market-regulation rejection needs no approval here: the hospital lists replies only.
    assert hospital.catalog.approval_actions == frozenset({"reply"})


async def test_a_pending_draft_is_on_the_leaders_worklist_until_decided(store: Rules) -> None:
    case = await make_case(store, now=NOW)
    other = await make_case(
        store, now=NOW, respondent_name="别的公司", description="另一件事情的经过说明。"
    )
    intake = await make_staff("intake", "centre")
    leader = await make_staff("leader", "leaders")

    async def listed() -> list[int]:
        page = await worklist_page(store, leader, Filters(), LATER)
        return [c.id for c in page.cases]

    assert await listed() == []  # nothing overdue, nothing to approve
    await perform(store, case.id, "reject", intake, now=NOW, **REJECTION)
    assert await listed() == [case.id]
    assert await pending_draft_ids() == [case.id]
    await perform(store, case.id, "refuse_draft", leader, note="请补充理由", now=LATER)
    assert await listed() == []
    # The drafter still has the case: it waits for their decision, as before the draft.
    mine = await worklist_page(store, intake, Filters(), LATER)
    assert case.id in [c.id for c in mine.cases] and other.id in [c.id for c in mine.cases]
    await perform(store, case.id, "reject", intake, now=LATER, **REJECTION)
    await perform(store, case.id, "withdraw", intake, now=LATER)
    assert await listed() == []  # overtaken: nothing left to approve
