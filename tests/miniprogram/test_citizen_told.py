"""The mini-program shows the citizen the date of their stage, never an internal clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.texts import Texts
from cases.store.models import Case, CaseClock, Notice
from cases.views.staff_actions import act_on_case
from cases.views.tracking import public_timeline, view_for_citizen
from cases.workflow.engine import perform
from cases.workflow.outbox import notice_context
from complaint_desk.keys import RULES
from config.notices import load_notice_templates
from tests.factories import make_staff
from tests.miniprogram.conftest import MpWorld


async def _last_day(case: Case, name: str, tz: object) -> str:
    clock = await CaseClock.get(case_id=case.id, name=name, stopped_at__isnull=True)
    return (clock.due_at - timedelta(microseconds=1)).astimezone(tz).date().isoformat()  # type: ignore[arg-type]


async def test_case_detail_shows_only_the_promised_date(mp: MpWorld) -> None:
    app = mp.client.server.app
    assert app is not None
    rules = app[RULES]
    who = await mp.login()
    status, created = await mp.file(who)
    assert status == 201, created
    case = await Case.get(number=created["number"])
    assert [(d["name"], d["due_date"]) for d in created["deadlines"]] == [
        ("acceptance", await _last_day(case, "acceptance", rules.timezone))
    ]

    intake = await make_staff("intake", "centre")
    await perform(rules, case.id, "accept", intake)
    await perform(rules, case.id, "assign", intake, data={"department": "consumer"})
    status, detail = await mp.call("GET", f"/cases/{case.number}", who)
    assert status == 200
    assert [(d["name"], d["label"], d["due_date"]) for d in detail["deadlines"]] == [
        ("handling", "办理", await _last_day(case, "handling", rules.timezone))
    ]


INTERNAL = ("请消保科核查处理", "科长已同意受理", "处理不彻底请重新核查", "开始核查")


async def _everything_the_citizen_sees(mp: MpWorld, who: Any, case: Case) -> str:
    """The mini-program detail, 查询 in the chat, and every notice as it would be sent."""
    app = mp.client.server.app
    assert app is not None
    rules = app[RULES]
    status, detail = await mp.call("GET", f"/cases/{case.number}", who)
    assert status == 200
    seen = [json.dumps(detail, ensure_ascii=False)]
    view = await view_for_citizen(rules, case, datetime.now(UTC))
    seen.append(Texts().render("status_detail", v=view))
    seen += [
        f"{e.label} {e.note}" for e in await public_timeline(rules, case)
    ]  # what the simulator shows
    templates = load_notice_templates()
    for notice in await Notice.filter(case_id=case.id):
        values = (await notice_context(rules, notice)).values
        seen.append(json.dumps(templates.render_oa(notice.kind, values).data, ensure_ascii=False))
        if templates.oa[notice.kind].text is not None:
            seen.append(templates.oa[notice.kind].text.render(**values))  # type: ignore[union-attr]
        if notice.kind in templates.mp:
            seen.append(
                json.dumps(templates.render_mp(notice.kind, values).data, ensure_ascii=False)
            )
    return "\n".join(seen)


async def test_staff_notes_never_reach_the_citizen(mp: MpWorld) -> None:
    app = mp.client.server.app
    assert app is not None
    rules = app[RULES]
    who = await mp.login()
    status, created = await mp.file(who)
    assert status == 201, created
    case = await Case.get(number=created["number"])
    intake = await make_staff("intake", "centre")
    handler = await make_staff("handler", "consumer")
    leader = await make_staff("leader", "leaders")
    told = "您的投诉已转交承办单位"
    for action, actor, note, fields in (
        ("accept", intake, "科长已同意受理", {}),
        ("assign", intake, "请消保科核查处理", {"department": "consumer", "public_note": told}),
        ("start", handler, "开始核查", {}),
        ("reply", handler, "", {"facts": "超市已退货。", "handling": "已调解。"}),
        ("close", handler, "", {"finding": "mediated"}),
        ("reopen", leader, "处理不彻底请重新核查", {}),
    ):
        await act_on_case(rules, case, action, actor, note=note, fields=fields)
        case = await Case.get(id=case.id)
    seen = await _everything_the_citizen_sees(mp, who, case)
    assert told in seen and "超市已退货" in seen  # what they are meant to read arrives
    assert [n for n in INTERNAL if n in seen] == []
