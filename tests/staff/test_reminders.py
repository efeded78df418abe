"""Reminders in the console: the worklist panel, the reminders page, marking read (CSRF, units)
and the JSON API."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from cases.rules import Rules
from cases.store.models import Case, Reminder
from cases.workflow.engine import perform
from cases.workflow.reminders import raise_reminders
from tests.factories import make_case, make_staff
from tests.staff.conftest import StaffWorld
from tests.staff.test_worklist import api_headers

SHANGHAI = ZoneInfo("Asia/Shanghai")
ACCEPTED = datetime(2026, 8, 1, 10, tzinfo=SHANGHAI)  # handling runs out 2026-10-01 00:00
DUE_DAY = datetime(2026, 9, 30, tzinfo=SHANGHAI)  # 即将到期 and 今日到期 are both current
PANEL_ITEM = re.compile(r'<li><a href="/staff/cases/([A-Z0-9]+)">')


async def assigned(rules: Rules, unit: str = "consumer", **form: str) -> Case:
    case = await make_case(rules, now=ACCEPTED, **form)
    intake = await make_staff("intake", "centre")
    await perform(rules, case.id, "accept", intake, now=ACCEPTED)
    data = {"department": unit}
    case, _ = await perform(rules, case.id, "assign", intake, data=data, now=ACCEPTED)
    return case


async def test_the_worklist_shows_the_latest_reminders_and_the_page_all(
    staff_world: StaffWorld,
) -> None:
    rules = staff_world.rules
    cases = [await assigned(rules) for _ in range(3)]
    assert await raise_reminders(rules, DUE_DAY) == 6
    handler = await staff_world.console("handler", "consumer")

    status, body = await handler.get("/staff/worklist")
    assert status == 200
    assert '期限提醒 <span class="overdue">6</span> 条未读' in body
    assert len(PANEL_ITEM.findall(body)) == 5  # the latest few
    assert set(PANEL_ITEM.findall(body)) == {c.number for c in cases}
    assert "“办理”今日到期" in body and "期限 2026-09-30 24:00" in body
    assert '<a href="/staff/reminders">查看全部提醒</a>' in body

    status, body = await handler.get("/staff/reminders")
    assert status == 200
    assert "未读 6 条" in body and body.count('<button type="submit">已读</button>') == 6
    assert f'<a href="/staff/cases/{cases[0].number}">' in body

    other = await staff_world.console("handler", "food")
    status, body = await other.get("/staff/worklist")
    assert status == 200 and "期限提醒" not in body
    status, body = await other.get("/staff/reminders")
    assert status == 200 and "没有未读的提醒。" in body and cases[0].number not in body
    leader = await staff_world.console("leader", "leaders")
    status, body = await leader.get("/staff/reminders")
    assert status == 200 and "期限提醒发给承办单位和受理中心" in body


async def test_marking_read_takes_the_form_token_and_stays_in_the_unit(
    staff_world: StaffWorld,
) -> None:
    await assigned(staff_world.rules)
    await raise_reminders(staff_world.rules, DUE_DAY)
    first, second = await Reminder.all().order_by("id")
    handler = await staff_world.console("handler", "consumer")
    other = await staff_world.console("handler", "food")
    await other.get("/staff/reminders")

    path = f"/staff/reminders/{first.id}/read"
    assert (await handler.post(path, {"csrf": "forged"}))[0] == 403
    foreign = await other.post(path, {})
    missing = await other.post("/staff/reminders/999999/read", {})
    assert foreign[0] == missing[0] == 404 and foreign[1] == missing[1]
    assert (await other.post("/staff/reminders/abc/read", {}))[0] == 404
    assert (await Reminder.get(id=first.id)).read_at is None

    resp = await handler.client.post(path, data={"csrf": handler.csrf}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/staff/reminders?done=read"
    stored = await Reminder.get(id=first.id)
    assert stored.read_at is not None and stored.read_by.startswith("handler ")
    status, body = await handler.get("/staff/reminders?done=read")
    assert "已标为已读。" in body and "未读 1 条" in body

    assert (await handler.post("/staff/reminders/read", {"csrf": "forged"}))[0] == 403
    assert (await Reminder.get(id=second.id)).read_at is None
    assert (await handler.post("/staff/reminders/read", {}))[0] == 303
    assert (await Reminder.get(id=second.id)).read_at is not None
    status, body = await handler.get("/staff/worklist")
    assert status == 200 and "期限提醒" not in body


async def test_the_api_lists_reminders_and_marks_one_read(staff_world: StaffWorld) -> None:
    case = await assigned(staff_world.rules)
    await raise_reminders(staff_world.rules, DUE_DAY)
    handler = await staff_world.console("handler", "consumer")
    other = await staff_world.console("handler", "food")
    mine, theirs = await api_headers(handler), await api_headers(other)
    client = handler.client

    resp = await client.get("/api/staff/v1/reminders", headers=mine)
    body = await resp.json()
    assert resp.status == 200 and body["count"] == 2
    latest = body["reminders"][0]
    assert {k: latest[k] for k in ("case", "point", "label", "clock", "clock_label")} == {
        "case": case.number,
        "point": "due_day",
        "label": "今日到期",
        "clock": "handling",
        "clock_label": "办理",
    }
    assert latest["due_at"] == "2026-10-01T00:00:00+08:00"
    assert (latest["unit"], latest["unit_name"], latest["read_at"]) == (
        "consumer",
        "消费者权益保护科",
        None,
    )
    resp = await client.get("/api/staff/v1/reminders", headers=theirs)
    assert (await resp.json()) == {"count": 0, "reminders": []}

    path = f"/api/staff/v1/reminders/{latest['id']}/read"
    foreign = await client.post(path, headers=theirs)
    missing = await client.post("/api/staff/v1/reminders/999999/read", headers=theirs)
    assert foreign.status == missing.status == 404
    assert (
        await foreign.json()
        == await missing.json()
        == {"error": {"code": "not_found", "message": "没有找到这条提醒。", "field": "id"}}
    )
    assert (await client.post(path)).status == 401
    resp = await client.post(path, headers=mine)
    body = await resp.json()
    assert resp.status == 200 and body["reminder"]["read_at"] is not None
    assert body["reminder"]["read_by"].startswith("handler ")
    resp = await client.get("/api/staff/v1/reminders", headers=mine)
    assert (await resp.json())["count"] == 1
