"""The market-regulation profile's product-quality and food/drug rules (seed 000 县局规范 第十三条
(三)–(五)), checked against each case's stored clocks (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cases.errors import TransitionNotAllowed, ValidationError
from cases.rules import Rules
from cases.store.models import Case, CaseClock, Reminder
from cases.views.staff_actions import register_case
from cases.views.worklists import rows_of
from cases.workflow.clocks import deadlines_of
from cases.workflow.engine import perform
from cases.workflow.reminders import raise_reminders
from cases.workflow.timeline import Actor
from tests.factories import department_id, make_staff

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
LATER = NOW + timedelta(days=4)


def _form(**overrides: Any) -> dict[str, Any]:
    form = {
        "channel": "phone",
        "kind": "complaint",
        "category": "product_quality",
        "contact_name": "王女士",
        "contact_phone": "13800138000",
        "respondent_name": "城东家电商场",
        "description": "新买的电热水器漏电,商场拒绝退换。",
        "demands": "退货并赔偿。",
    }
    form.update(overrides)
    return form


async def _filed(rules: Rules, **overrides: Any) -> tuple[Case, Actor]:
    intake = await make_staff("intake", "centre")
    return await register_case(rules, intake, _form(**overrides), now=NOW), intake


async def _running(case: Case, name: str) -> CaseClock:
    return await CaseClock.get(case_id=case.id, name=name, stopped_at__isnull=True)


async def test_a_product_quality_appeal_notifies_both_parties_and_mediates_in_30_plus_30_days(
    store: Rules,
) -> None:
    # 产品质量申诉处理办法 第十九条 「接到申诉材料后五日内分别通知申诉人和被申诉人」;
    # 第二十三条 「接到申诉人提供的书面材料之日起三十日内终结调解……可以延长三十日」.
    case, intake = await _filed(store)
    notify = await _running(case, "parties_notice")
    assert (notify.amount, notify.unit, notify.started_at) == (5, "natural_days", NOW)
    mediation = await _running(case, "handling")
    assert (mediation.amount, mediation.started_at) == (30, NOW)
    handler = await make_staff("handler", "quality")
    await perform(store, case.id, "accept", intake, now=NOW)
    await perform(store, case.id, "assign", intake, data={"department": "quality"}, now=NOW)
    assert (await CaseClock.get(id=notify.id)).stopped_at is None
    # Starting the handling is not telling the parties: only a recorded notification stops it.
    await perform(store, case.id, "start", handler, now=NOW)
    assert (await CaseClock.get(id=notify.id)).stopped_at is None
    with pytest.raises(ValidationError, match="请选择通知方式"):
        await perform(store, case.id, "notify_parties", handler, now=LATER)
    _, told = await perform(
        store,
        case.id,
        "notify_parties",
        handler,
        note="电话通知申诉人王女士;书面通知城东家电商场",
        data={"means": "letter"},
        now=LATER,
    )
    assert (told.data["means_name"], told.public) == ("信函", False)
    assert (await CaseClock.get(id=notify.id)).stopped_at == LATER
    with pytest.raises(TransitionNotAllowed, match="已记录"):  # once is enough
        await perform(store, case.id, "notify_parties", handler, data={"means": "phone"}, now=LATER)
    with pytest.raises(TransitionNotAllowed):
        await perform(
            store,
            case.id,
            "request_extension",
            handler,
            note="复杂",
            data={"amount": 31},
            now=LATER,
        )
    await perform(
        store, case.id, "request_extension", handler, note="复杂", data={"amount": 30}, now=LATER
    )


async def test_a_quality_report_is_verified_in_15_days_testing_not_counted_then_decided(
    store: Rules,
) -> None:
    # 质量技术监督行政处罚程序规定 第十二条 「15日内组织核查,并决定是否立案。检验、检测、检定、鉴定
    # 等所需时间,不计入前款规定期限」; 第三十二条 「自立案之日起3个月内作出处理决定……可以延长30日」.
    case, intake = await _filed(store, kind="report", demands="")
    check = await _running(case, "acceptance")
    assert (check.amount, check.unit) == (15, "natural_days")
    handler = await make_staff("handler", "quality")
    await perform(store, case.id, "accept", intake, now=NOW)
    await perform(store, case.id, "assign", intake, data={"department": "quality"}, now=NOW)
    await perform(store, case.id, "start", handler, now=NOW)
    assert (await CaseClock.get(id=check.id)).stopped_at is None  # runs to the filing decision
    await perform(store, case.id, "pause_clock", handler, note="送检", now=NOW)
    assert (await CaseClock.get(id=check.id)).paused_at == NOW
    await perform(store, case.id, "resume_clock", handler, now=LATER)
    resumed = await CaseClock.get(id=check.id)
    # The 4 paused days are added (and a last day off rolls over to the next working day).
    assert resumed.paused_at is None and resumed.due_at >= check.due_at + (LATER - NOW)
    await perform(store, case.id, "open_case", handler, now=LATER)
    assert (await CaseClock.get(id=check.id)).stopped_at == LATER
    decision = await _running(case, "handling")
    assert decision.started_at == LATER and decision.amount == 90


@pytest.mark.parametrize(("severity", "days"), [("general", 3), ("important", 2)])
async def test_an_accepted_food_case_is_handed_on_in_3_days_or_2_if_important(
    store: Rules, severity: str, days: int
) -> None:
    # 食品药品投诉举报管理办法 第十七条 「受理一般投诉举报后……自受理之日起3日内转交有关部门办理」;
    # 「受理重要投诉举报后,应当2日内转交同级食品药品监督管理部门提出处理意见」.
    case, intake = await _filed(store, category="food", severity=severity)
    assert not await CaseClock.filter(case_id=case.id, name="transfer").exists()
    await perform(store, case.id, "accept", intake, now=NOW)
    transfer = await _running(case, "transfer")
    assert (transfer.amount, transfer.unit, transfer.started_at) == (days, "natural_days", NOW)
    await perform(store, case.id, "assign", intake, data={"department": "food"}, now=LATER)
    assert (await CaseClock.get(id=transfer.id)).stopped_at == LATER


async def test_both_parties_untold_after_5_days_is_overdue_and_other_cases_need_no_notice(
    store: Rules,
) -> None:
    case, intake = await _filed(store)
    notify = await _running(case, "parties_notice")
    assert await raise_reminders(store, notify.due_at) >= 1
    overdue = await Reminder.get(clock_id=notify.id, point="overdue")
    assert overdue.department_id is None  # nobody had the case yet: the centre is reminded
    # A consumer complaint runs no such clock: nothing to record.
    other, _ = await _filed(store, category="consumer")
    with pytest.raises(TransitionNotAllowed, match="无需记录通知双方当事人"):
        await perform(store, other.id, "notify_parties", intake, data={"means": "phone"}, now=NOW)


async def test_an_emergency_unit_must_record_its_arrival_within_30_minutes(store: Rules) -> None:
    # 004 12312分流: 「接收单位自接到分流任务30分钟内,必须到达现场进行处理」: a duty the unit
    # must beat (reminded, overdue), stopped by the recorded arrival.
    case, intake = await _filed(store, category="consumer", severity="emergency")
    assert case.policy == "emergency"
    await perform(store, case.id, "accept", intake, now=NOW)
    await perform(store, case.id, "assign", intake, data={"department": "consumer"}, now=NOW)
    on_site = await _running(case, "on_site")
    assert (on_site.label, on_site.due_at) == ("到达现场", NOW + timedelta(minutes=30))
    assert "on_site" not in store.catalog.right_clocks
    assert "on_site" not in store.catalog.reminders.skip_clocks
    [row] = await rows_of(store, [await Case.get(id=case.id)], NOW)
    assert row.deadline is not None and row.deadline.label == "到达现场"  # the unit's headline
    late = NOW + timedelta(minutes=31)
    assert await raise_reminders(store, late) >= 1
    overdue = await Reminder.get(clock_id=on_site.id, point="overdue")
    assert overdue.department_id == await department_id("consumer")
    [deadline] = [
        d
        for d in await deadlines_of(store, await Case.get(id=case.id), late)
        if d.name == "on_site"
    ]
    assert deadline.overdue
    handler = await make_staff("handler", "consumer")
    await perform(store, case.id, "start", handler, now=late)
    assert (await CaseClock.get(id=on_site.id)).stopped_at is None  # starting is not arriving
    _, event = await perform(store, case.id, "arrive", handler, note="两名执法人员到场", now=late)
    assert event.action == "arrive"
    assert (await CaseClock.get(id=on_site.id)).stopped_at == late
    with pytest.raises(TransitionNotAllowed, match="无需记录到达现场"):
        await perform(store, case.id, "arrive", handler, now=late)
