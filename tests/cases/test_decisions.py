"""Mediation and case decisions: 终止调解, 立案 / 不予立案, and a case with several outcomes
counted in every rate it belongs to (SQLite and PostgreSQL via the `store` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cases.errors import TransitionNotAllowed, ValidationError
from cases.rules import Rules
from cases.store.models import Case, CaseClock, CaseEvent, Notice, Status
from cases.views import stats
from cases.views.stats import Period
from cases.workflow.engine import perform
from cases.workflow.timeline import Actor
from tests.factories import make_case, make_staff

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
LATER = NOW + timedelta(days=10)


async def _in_progress(rules: Rules, **form: Any) -> tuple[Case, Actor, Actor]:
    intake = await make_staff("intake", "centre")
    unit = "enforcement" if form.get("kind") == "report" else "consumer"
    handler = await make_staff("handler", unit)
    case = await make_case(rules, now=NOW, **form)
    await perform(rules, case.id, "accept", intake, now=NOW)
    await perform(rules, case.id, "assign", intake, data={"department": unit}, now=NOW)
    case, _ = await perform(rules, case.id, "start", handler, now=NOW)
    return case, intake, handler


async def test_ending_mediation_tells_the_citizen_why_and_what_else_they_can_do(
    store: Rules,
) -> None:
    # Seed 000 消协: 「应终止调解……并告知相关当事人。(一)争议双方自行和解的;(二)投诉方撤回投诉的;
    # (三)争议一方或双方已向法院起诉、申请仲裁……」; 「调解不成的……同时告知双方解决消费争议的其他渠道」.
    case, _, handler = await _in_progress(store)
    with pytest.raises(ValidationError) as exc:
        await perform(
            store, case.id, "end_mediation", handler, note="可向法院起诉", data={"reason": "x"}
        )
    assert exc.value.field == "reason"
    done, event = await perform(
        store,
        case.id,
        "end_mediation",
        handler,
        note="双方分歧过大,可向人民法院起诉。",
        data={"reason": "failed"},
        now=LATER,
    )
    assert done.status == Status.REPLIED
    assert event.data["reason_text"] == "调解不成"
    handling = await CaseClock.get(case_id=case.id, name="handling")
    assert handling.stopped_at == LATER
    told = await CaseClock.get(case_id=case.id, name="result_notice")
    assert told.started_at == LATER and told.stopped_at is None
    notice = await Notice.get(event_id=event.id)
    assert notice.kind == "mediation_ended"


async def test_filing_a_report_restarts_its_90_day_decision_clock_from_the_filing_day(
    store: Rules,
) -> None:
    # Seed 000 行政处罚程序规定 第五十七条: 「应当自立案之日起九十日内作出处理决定……可以延长三十日」
    case, _, handler = await _in_progress(store, kind="report", category="price")
    before = await CaseClock.get(case_id=case.id, name="handling", stopped_at__isnull=True)
    _, event = await perform(store, case.id, "open_case", handler, now=LATER)
    assert event.data == {"outcome": "case_filed"}
    assert (await CaseClock.get(id=before.id)).stopped_at == LATER
    decision = await CaseClock.get(case_id=case.id, name="handling", stopped_at__isnull=True)
    assert decision.started_at == LATER and decision.amount == 90
    assert decision.due_at > before.due_at
    with pytest.raises(TransitionNotAllowed):  # filed once
        await perform(store, case.id, "open_case", handler, now=LATER)
    with pytest.raises(TransitionNotAllowed):  # filed: no longer 不予立案
        await perform(store, case.id, "decline_case", handler, note="不构成违法", now=LATER)
    await perform(
        store,
        case.id,
        "request_extension",
        handler,
        note="案情复杂",
        data={"amount": 30},
        now=LATER,
    )


async def test_not_filing_a_report_is_told_to_the_reporter(store: Rules) -> None:
    # Seed 000 县局规范 第十八条: 「对于不予受理、不予立案的投诉举报……由承办机构负责回复投诉举报人」
    case, _, handler = await _in_progress(store, kind="report", category="price")
    # 「经法制机构核审、报分管局长批准后」: the unit's decision is a draft until a leader approves.
    drafted, draft = await perform(
        store, case.id, "decline_case", handler, note="经核查,未发现违法行为。", now=LATER
    )
    assert (drafted.status, draft.action) == (Status.IN_PROGRESS, "draft")
    assert not await Notice.filter(case_id=case.id, kind="not_filed").exists()
    leader = await make_staff("leader", "leaders")
    done, event = await perform(store, case.id, "approve_draft", leader, now=LATER)
    assert done.status == Status.REPLIED and event.action == "decline_case"
    assert (await Notice.get(event_id=event.id)).kind == "not_filed"
    assert not await CaseClock.filter(
        case_id=case.id, name="handling", stopped_at__isnull=True
    ).exists()
    assert await CaseClock.filter(case_id=case.id, name="result_notice").exists()


async def test_a_mediated_complaint_that_was_also_filed_counts_in_both_rates(store: Rules) -> None:
    case, intake, handler = await _in_progress(store)
    await perform(store, case.id, "open_case", handler, now=NOW)
    await perform(store, case.id, "reply", handler, note="已调解,另立案查处。", now=NOW)
    await perform(store, case.id, "close", intake, data={"finding": "mediated"}, now=NOW)
    assert await CaseEvent.filter(case_id=case.id, action="open_case").exists()
    period = Period(NOW - timedelta(days=1), NOW + timedelta(days=1))
    mediation = await stats.mediation_success_rate(period)
    filing = await stats.case_filing_rate(period)
    assert (mediation.numerator, mediation.denominator) == (1, 1)
    assert (filing.numerator, filing.denominator) == (1, 1)
    # A second complaint whose mediation was ended: concluded, not a success, not filed.
    other, intake, handler = await _in_progress(store)
    await perform(
        store, other.id, "end_mediation", handler, note="可起诉", data={"reason": "failed"}, now=NOW
    )
    await perform(store, other.id, "close", intake, data={"finding": "mediation_failed"}, now=NOW)
    mediation = await stats.mediation_success_rate(period)
    filing = await stats.case_filing_rate(period)
    assert (mediation.numerator, mediation.denominator) == (1, 2)
    assert (filing.numerator, filing.denominator) == (1, 2)


async def test_the_market_profile_closes_without_asking_the_citizens_satisfaction(
    store: Rules,
) -> None:
    # Only a profile with [closing] (the hospital's 第二十五条) ties closing to satisfaction.
    assert store.catalog.satisfaction_kinds == frozenset()
    case, intake, handler = await _in_progress(store)
    await perform(store, case.id, "reply", handler, note="商家已退货。", now=NOW)
    with pytest.raises(TransitionNotAllowed, match="办结不以满意为条件"):
        await perform(store, case.id, "rehandle", intake, note="市民不满意", now=NOW)
    with pytest.raises(ValidationError, match="不记录患者意见"):
        await perform(
            store,
            case.id,
            "close",
            intake,
            data={"finding": "mediated", "satisfaction": "satisfied"},
            now=NOW,
        )
    case, _ = await perform(store, case.id, "close", intake, data={"finding": "mediated"}, now=NOW)
    assert case.status == Status.CLOSED
