"""What the citizen is told: every date is the deadline of the stage they wait for (issue 14).

Each notice is rendered exactly as the outbox sends it (its context through the shipped
templates) and its date is checked against the case's own stored clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cases.rules import Rules
from cases.store.models import Case, CaseClock, Notice
from cases.views.staff_actions import compose_reply
from cases.views.worklists import rows_of
from cases.workflow.engine import perform
from cases.workflow.outbox import notice_context
from cases.workflow.reply_templates import REPLIES_DIR, load_reply_templates
from cases.workflow.sweeps import apply_expired_clocks
from config.notices import NoticeTemplates, load_notice_templates
from tests.factories import make_case, make_staff

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


async def _clock(case: Case, name: str) -> CaseClock:
    return await CaseClock.get(case_id=case.id, name=name, stopped_at__isnull=True)


def _day(rules: Rules, clock: CaseClock) -> str:
    """The last day a clock covers, as the citizen reads it ('2027年1月22日')."""
    last = (clock.due_at - timedelta(microseconds=1)).astimezone(rules.timezone)
    return f"{last.year}年{last.month}月{last.day}日"


async def _told(rules: Rules, event_id: int) -> tuple[dict[str, str], dict[str, str], str]:
    """The OA template fields, the mini-program fields and the OA long text of a notice."""
    templates: NoticeTemplates = load_notice_templates()
    notice = await Notice.get(event_id=event_id)
    values = (await notice_context(rules, notice)).values
    oa = templates.render_oa(notice.kind, values)
    text = templates.oa[notice.kind].text
    mp = templates.render_mp(notice.kind, values).data if notice.kind in templates.mp else {}
    return oa.data, mp, text.render(**values) if text else ""


async def test_accepted_names_the_handling_deadline(store: Rules) -> None:
    intake = await make_staff("intake", "centre")
    case = await make_case(store, now=NOW)
    _, event = await perform(store, case.id, "accept", intake, now=NOW)
    oa, mp, _ = await _told(store, event.id)
    due = _day(store, await _clock(case, "handling"))
    assert oa["thing3"] == f"{due}前办理" and mp["thing3"] == f"{due}前办理"


async def test_deemed_accepted_names_the_handling_deadline(store: Rules) -> None:
    case = await make_case(store, now=NOW, category="food")
    acceptance = await _clock(case, "acceptance")
    assert await apply_expired_clocks(store, acceptance.due_at + timedelta(minutes=1)) >= 1
    notice = await Notice.get(case_id=case.id, kind="accepted")
    oa, mp, _ = await _told(store, notice.event_id)
    due = _day(store, await _clock(case, "handling"))
    assert oa["thing3"] == f"{due}前办理" and mp["thing3"] == f"{due}前办理"


async def _in_progress(rules: Rules) -> Case:
    intake = await make_staff("intake", "centre")
    handler = await make_staff("handler", "consumer")
    case = await make_case(rules, now=NOW)
    for action, actor, data in (
        ("accept", intake, {}),
        ("assign", intake, {"department": "consumer"}),
        ("start", handler, {}),
    ):
        case, _ = await perform(rules, case.id, action, actor, data=data, now=NOW)
    return case


async def test_extended_names_the_new_handling_deadline(store: Rules) -> None:
    case = await _in_progress(store)
    before = _day(store, await _clock(case, "handling"))
    handler = await make_staff("handler", "consumer")
    leader = await make_staff("leader", "leaders")
    await perform(
        store,
        case.id,
        "request_extension",
        handler,
        note="需委托检测机构检验",
        data={"clock": "handling", "amount": 20},
        now=NOW,
    )
    _, event = await perform(store, case.id, "approve_extension", leader, now=NOW)
    after = _day(store, await _clock(case, "handling"))
    assert after != before
    oa, mp, text = await _told(store, event.id)
    assert oa["thing2"] == f"办理延至{after}"
    assert mp["thing3"] == f"延长至{after}"
    assert f"延长至{after}" in text


async def test_extended_acceptance_names_the_new_decision_date(store: Rules) -> None:
    # Seed 000 第十七条: 「特殊情况下,可以延长至十五个工作日内决定是否立案」; the citizen is
    # told the extended acceptance clock's own date, not a handling date.
    intake = await make_staff("intake", "centre")
    leader = await make_staff("leader", "leaders")
    case = await make_case(store, now=NOW, kind="report", category="price")
    await perform(
        store,
        case.id,
        "request_extension",
        intake,
        note="需调取经营者进货台账核查",
        data={"amount": 8},
        now=NOW,
    )
    _, event = await perform(store, case.id, "approve_extension", leader, now=NOW)
    after = _day(store, await _clock(case, "acceptance"))
    oa, mp, text = await _told(store, event.id)
    assert oa["thing2"] == f"核查立案决定延至{after}"
    assert oa["thing3"] == "需调取经营者进货台账核查"
    assert mp["thing3"] == f"延长至{after}"
    assert text.startswith(f"您的举报(编号{case.number})核查立案决定期限延长至{after}")


async def test_reopened_names_the_new_handling_deadline(store: Rules) -> None:
    case = await _in_progress(store)
    handler = await make_staff("handler", "consumer")
    leader = await make_staff("leader", "leaders")
    later = NOW + timedelta(days=10)
    for action, actor, kw in (
        ("reply", handler, {"note": "经查:已退货。"}),
        ("close", handler, {"data": {"finding": "mediated"}}),
    ):
        await perform(store, case.id, action, actor, now=NOW, **kw)  # type: ignore[arg-type]
    _, event = await perform(
        store, case.id, "reopen", leader, note="处理不彻底,请重新核查", now=later
    )
    due = _day(store, await _clock(case, "handling"))
    oa, mp, _ = await _told(store, event.id)
    assert due in oa["thing3"] and due in mp["thing3"]


# --- item 5: what replies and notices say ----------------------------------------------------


def test_a_reply_says_经查_once() -> None:
    text = compose_reply({"facts": "经查,超市已为您退货。", "handling": "已调解。"})
    assert text.startswith("经查:超市已为您退货。") and "经查:经查" not in text
    for path in REPLIES_DIR.glob("*.toml"):
        for reply in load_reply_templates(path.stem):
            assert not reply.facts.startswith(("经查", "经核查", "经调查")), reply.code


async def test_the_merge_notice_names_the_case_it_joined(store: Rules) -> None:
    intake = await make_staff("intake", "centre")
    target = await make_case(store, now=NOW)
    case = await make_case(store, now=NOW, respondent_name="城西商场")
    _, event = await perform(store, case.id, "merge", intake, data={"into": target.number}, now=NOW)
    oa, mp, _ = await _told(store, event.id)
    assert target.number in oa["thing3"] and target.number in mp["thing3"]


async def test_accepting_again_after_a_return_is_not_announced_twice(store: Rules) -> None:
    intake = await make_staff("intake", "centre")
    handler = await make_staff("handler", "consumer")
    case = await make_case(store, now=NOW)
    for action, actor, kw in (
        ("accept", intake, {}),
        ("assign", intake, {"data": {"department": "consumer"}}),
        ("return", handler, {"note": "不属于本科室职责"}),
        ("accept", intake, {}),
    ):
        await perform(store, case.id, action, actor, now=NOW, **kw)  # type: ignore[arg-type]
    assert await Notice.filter(case_id=case.id, kind="accepted").count() == 1


async def test_a_units_worklist_headlines_a_duty_not_the_return_window(
    store: Rules,
) -> None:
    intake = await make_staff("intake", "centre")
    case = await make_case(store, now=NOW)
    await perform(store, case.id, "accept", intake, now=NOW)
    case, _ = await perform(
        store, case.id, "assign", intake, data={"department": "consumer"}, now=NOW
    )
    [row] = await rows_of(store, [case], NOW)
    running = await CaseClock.filter(case_id=case.id, stopped_at__isnull=True).order_by("due_at")
    assert running[0].name == "return_window"  # the earliest, but the unit's right
    duty = running[1]
    assert row.deadline is not None
    assert (row.deadline.label, row.deadline.due_at) == (duty.label, duty.due_at)


async def test_an_extension_names_the_clock_it_extended_while_another_runs(store: Rules) -> None:
    # A product-quality complaint runs its acceptance decision and its 30-day mediation side
    # by side (seed 002 产品质量申诉); extending the mediation must tell the mediation's date.
    intake = await make_staff("intake", "centre")
    leader = await make_staff("leader", "leaders")
    case = await make_case(store, now=NOW, category="product_quality")
    acceptance = _day(store, await _clock(case, "acceptance"))
    await perform(
        store,
        case.id,
        "request_extension",
        intake,
        note="需等待检验结果",
        data={"clock": "handling", "amount": 30},
        now=NOW,
    )
    _, event = await perform(store, case.id, "approve_extension", leader, now=NOW)
    mediation = _day(store, await _clock(case, "handling"))
    assert mediation != acceptance
    oa, mp, text = await _told(store, event.id)
    assert oa["thing2"] == f"调解延至{mediation}"
    assert mp["thing3"] == f"延长至{mediation}"
    assert acceptance not in text and f"延长至{mediation}" in text
