"""The result told to a real-name complainant or reporter within 2 days of the conclusion
(seed 004 机关局: 「投诉举报署实名的,应将查办结果在查结后2日内告知投诉举报人」), on every
channel: staff record how they told a phone, visit or letter citizen; a delivered WeChat notice
records itself (tests/cases/test_outbox.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cases.errors import TransitionNotAllowed, ValidationError
from cases.rules import Rules
from cases.store.models import Case, CaseClock, CaseEvent
from cases.views.staff_actions import register_case
from cases.workflow.engine import perform
from cases.workflow.timeline import Actor
from tests.factories import make_staff

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
PHONE_COMPLAINT = {
    "channel": "phone",
    "kind": "complaint",
    "category": "consumer",
    "contact_name": "王女士",
    "contact_phone": "13800138000",
    "respondent_name": "城东便民超市",
    "description": "买到过期的牛奶,要求退货被拒绝。",
    "demands": "退货并赔偿。",
}
ANONYMOUS_LETTER_REPORT = {
    "channel": "letter",
    "kind": "report",
    "category": "price",
    "anonymous": True,
    "contact_phone": "13800138000",
    "respondent_name": "城东便民超市",
    "description": "该超市长期对同一商品标示两种价格,结账时按高价收取。",
}


async def _replied(rules: Rules, form: dict[str, Any]) -> tuple[Case, Actor, Actor]:
    intake = await make_staff("intake", "centre")
    handler = await make_staff("handler", "consumer")
    case = await register_case(rules, intake, form, now=NOW)
    await perform(rules, case.id, "accept", intake, now=NOW)
    await perform(rules, case.id, "assign", intake, data={"department": "consumer"}, now=NOW)
    await perform(rules, case.id, "start", handler, now=NOW)
    case, _ = await perform(rules, case.id, "reply", handler, note="经查,商家已退货。", now=NOW)
    return case, intake, handler


async def test_a_real_name_phone_case_runs_a_result_notice_clock_until_staff_record_telling(
    store: Rules,
) -> None:
    case, intake, handler = await _replied(store, PHONE_COMPLAINT)
    clock = await CaseClock.get(case_id=case.id, name="result_notice")
    assert clock.stopped_at is None and clock.started_at == NOW
    assert clock.due_at > NOW and clock.amount == 2 and clock.unit == "natural_days"
    assert (await Case.get(id=case.id)).next_due_at == clock.due_at

    later = NOW + timedelta(hours=3)
    with pytest.raises(ValidationError) as exc:
        await perform(
            store, case.id, "tell_citizen", handler, data={"what": "result", "means": "pigeon"}
        )
    assert exc.value.field == "means"
    with pytest.raises(ValidationError) as exc:
        await perform(
            store, case.id, "tell_citizen", handler, data={"what": "rejected", "means": "phone"}
        )
    assert exc.value.field == "what"  # nothing was rejected
    _, event = await perform(
        store,
        case.id,
        "tell_citizen",
        handler,
        note="电话告知王女士",
        data={"what": "result", "means": "phone"},
        now=later,
    )
    assert event.data == {
        "what": "result",
        "what_name": "处理结果",
        "means": "phone",
        "means_name": "电话",
    }
    assert (await CaseClock.get(id=clock.id)).stopped_at == later
    # Told once: nothing left to record, even after closing.
    await perform(store, case.id, "close", intake, data={"finding": "mediated"}, now=later)
    with pytest.raises(TransitionNotAllowed):
        await perform(
            store, case.id, "tell_citizen", intake, data={"what": "result", "means": "sms"}
        )


async def test_closing_before_telling_leaves_the_result_notice_clock_running(
    store: Rules,
) -> None:
    case, intake, _ = await _replied(store, PHONE_COMPLAINT)
    later = NOW + timedelta(hours=1)
    await perform(store, case.id, "close", intake, data={"finding": "mediated"}, now=later)
    clock = await CaseClock.get(case_id=case.id, name="result_notice")
    assert clock.stopped_at is None
    await perform(
        store, case.id, "tell_citizen", intake, data={"what": "result", "means": "letter"}
    )
    assert (await CaseClock.get(id=clock.id)).stopped_at is not None


async def test_an_anonymous_case_starts_no_result_notice_clock_and_the_timeline_says_why(
    store: Rules,
) -> None:
    intake = await make_staff("intake", "centre")
    handler = await make_staff("handler", "enforcement")
    case = await register_case(store, intake, ANONYMOUS_LETTER_REPORT, now=NOW)
    await perform(store, case.id, "accept", intake, now=NOW)
    await perform(store, case.id, "assign", intake, data={"department": "enforcement"}, now=NOW)
    await perform(store, case.id, "start", handler, now=NOW)
    _, event = await perform(store, case.id, "reply", handler, note="经查属实。", now=NOW)
    assert not await CaseClock.filter(case_id=case.id, name="result_notice").exists()
    assert event.data["no_real_name"] == "投诉举报人未署实名,无需单独告知查办结果"
    assert (await Case.get(id=case.id)).next_due_at is None
    stored = await CaseEvent.get(id=event.id)
    assert stored.data["no_real_name"] == event.data["no_real_name"]
