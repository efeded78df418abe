"""Worklist, search and supervision: who sees what, in which order, filters, paging, masking,
unit isolation on pages and API, and 催办/督办 on the timeline."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from cases.rules import Rules
from cases.store.models import Case, CaseClock, CaseEvent, StaffUser, Status
from cases.views.tracking import public_timeline
from cases.workflow.engine import perform
from cases.workflow.timeline import Actor
from tests.factories import STAFF_PASSWORD, make_case, make_staff
from tests.staff.conftest import Console, StaffWorld

S = Status
ROW_NUMBER = re.compile(r'<td><a href="/staff/cases/([A-Z0-9]+)">')
NEXT_LINK = re.compile(r'<a href="([^"]+)">下一页</a>')


class Desk:
    """Workflow actors of every role and helpers to put cases where a test needs them."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    async def setup(self) -> Desk:
        self.intake = await make_staff("intake", "centre")
        self.handlers = {
            "consumer": await make_staff("handler", "consumer"),
            "food": await make_staff("handler", "food"),
        }
        self.leader = await make_staff("leader", "leaders")
        return self

    async def act(self, case: Case, action: str, actor: Actor, **kw: Any) -> Case:
        case, _ = await perform(self.rules, case.id, action, actor, **kw)
        return case

    async def case(self, state: Status = S.SUBMITTED, unit: str = "consumer", **form: Any) -> Case:
        """A case driven through real actions to `state` (units only from assignment on)."""
        case = await make_case(self.rules, **form)
        handler = self.handlers[unit]
        steps: list[tuple[str, Actor, dict[str, Any]]] = {
            S.SUBMITTED: [],
            S.NEEDS_INFO: [("request_info", self.intake, {"note": "请补充小票"})],
            S.ACCEPTED: [("accept", self.intake, {})],
        }.get(state, [("accept", self.intake, {})])
        if state in (S.ASSIGNED, S.IN_PROGRESS, S.REPLIED, S.CLOSED):
            steps.append(("assign", self.intake, {"data": {"department": unit}}))
        if state in (S.IN_PROGRESS, S.REPLIED, S.CLOSED):
            steps.append(("start", handler, {}))
        if state in (S.REPLIED, S.CLOSED):
            steps.append(("reply", handler, {"note": "已责令商家退货。"}))
        if state == S.CLOSED:
            steps.append(("close", self.intake, {"data": {"finding": "mediated"}}))
        for action, actor, kw in steps:
            case = await self.act(case, action, actor, **kw)
        assert case.status == state
        return case


async def due(
    case: Case,
    due_in: timedelta,
    span: timedelta = timedelta(days=7),
    unit: str = "natural_days",
    at: datetime | None = None,
) -> Case:
    """Test setup: the case's earliest running clock runs out `due_in` from now (or `at`)
    after running for `span`; its other running clocks end later."""
    now = datetime.now(UTC)
    running = await CaseClock.filter(
        case_id=case.id, stopped_at__isnull=True, paused_at__isnull=True
    ).order_by("due_at")
    first, others = running[0], running[1:]
    first.due_at, first.unit = at or now + due_in, unit
    first.started_at = first.due_at - span
    await first.save()
    for other in others:  # keep the chosen clock the earliest
        other.due_at = max(other.due_at, first.due_at + timedelta(days=1))
        await other.save()
    await Case.filter(id=case.id).update(next_due_at=first.due_at)
    return await Case.get(id=case.id)


async def api_headers(console: Console) -> dict[str, str]:
    resp = await console.client.post(
        "/api/staff/v1/auth/login", json={"username": console.username, "password": STAFF_PASSWORD}
    )
    assert resp.status == 200
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def api_get(console: Console, path: str) -> tuple[int, Any]:
    resp = await console.client.get(path, headers=await api_headers(console))
    return resp.status, await resp.json()


async def numbers(console: Console, query: str = "") -> list[str]:
    """Every case number of the API list for `query`, following the cursor to the end."""
    headers = await api_headers(console)
    found: list[str] = []
    cursor = ""
    for _ in range(50):
        resp = await console.client.get(
            f"/api/staff/v1/cases?size=100&{query}{cursor}", headers=headers
        )
        body = await resp.json()
        assert resp.status == 200, body
        found += [row["number"] for row in body["cases"]]
        if body["next"] is None:
            return found
        cursor = f"&cursor={body['next']}"
    raise AssertionError("the cursor never ended")


def listed(html: str) -> list[str]:
    return ROW_NUMBER.findall(html)


# --- the worklist ----------------------------------------------------------------------------


async def test_the_worklist_is_ordered_by_due_time_with_countdowns_and_marks(
    staff_world: StaffWorld,
) -> None:
    desk = await Desk(staff_world.rules).setup()
    later = await due(await desk.case(), timedelta(days=5, hours=1))
    late = await due(await desk.case(), timedelta(days=-2, hours=-1))
    soon = await due(await desk.case(), timedelta(hours=2, minutes=30), span=timedelta(days=1))
    waiting = await desk.case(S.NEEDS_INFO)  # every clock stopped or paused
    intake = await staff_world.console("intake", "centre")

    status, html = await intake.get("/staff/worklist")
    assert status == 200
    assert listed(html) == [late.number, soon.number, later.number, waiting.number]
    rows = html.split("<tr>")[2:]
    assert 'class="overdue"' in rows[0] and "已超期 2 天" in rows[0]
    assert 'class="due-soon"' in rows[1] and "剩 2 小时" in rows[1]
    assert "剩 5 天" in rows[2] and "overdue" not in rows[2] and "due-soon" not in rows[2]
    assert "未计时" in rows[3]

    status, body = await api_get(intake, "/api/staff/v1/cases")
    assert status == 200 and body["next"] is None
    first = body["cases"][0]
    assert first["number"] == late.number and first["deadline"]["overdue"] is True
    assert body["cases"][1]["deadline"]["due_soon"] is True
    assert body["cases"][3]["deadline"] is None and body["cases"][3]["status"] == "needs_info"


async def test_each_role_sees_the_cases_that_need_them(staff_world: StaffWorld) -> None:
    desk = await Desk(staff_world.rules).setup()
    submitted = await desk.case()
    needs_info = await desk.case(S.NEEDS_INFO)
    accepted = await desk.case(S.ACCEPTED)
    assigned = await desk.case(S.ASSIGNED)
    in_progress = await desk.case(S.IN_PROGRESS)
    replied = await desk.case(S.REPLIED)
    closed = await desk.case(S.CLOSED)  # the return-visit clock runs: intake's
    food_late = await due(await desk.case(S.IN_PROGRESS, unit="food"), timedelta(days=-1))
    extension = await desk.case(S.IN_PROGRESS)
    await desk.act(
        extension,
        "request_extension",
        desk.handlers["consumer"],
        note="需要抽样检测",
        data={"amount": 10},
    )
    late_asking = await desk.case(S.IN_PROGRESS)  # overdue and asking: listed once
    await desk.act(
        late_asking, "request_extension", desk.handlers["consumer"], note="检测", data={"amount": 5}
    )
    late_asking = await due(late_asking, timedelta(days=-2))
    approved = await desk.case(S.IN_PROGRESS)
    await desk.act(
        approved, "request_extension", desk.handlers["consumer"], note="检测", data={"amount": 5}
    )
    await desk.act(approved, "approve_extension", desk.leader)

    intake = await numbers(await staff_world.console("intake", "centre"))
    assert set(intake) == {submitted.number, needs_info.number, accepted.number, closed.number}
    consumer = await numbers(await staff_world.console("handler", "consumer"))
    assert set(consumer) == {
        assigned.number,
        in_progress.number,
        replied.number,
        extension.number,
        late_asking.number,
        approved.number,
    }
    food = await numbers(await staff_world.console("handler", "food"))
    assert food == [food_late.number]
    leader = await numbers(await staff_world.console("leader", "leaders"))
    # Overdue first, then the request on time.
    assert leader == [late_asking.number, food_late.number, extension.number]
    admin = await numbers(await staff_world.console("admin"))
    assert len(admin) == 11 and closed.number in admin


async def test_every_filter_narrows_the_list(staff_world: StaffWorld) -> None:
    rules = staff_world.rules
    desk = await Desk(rules).setup()
    now = datetime.now(UTC)
    base = await desk.case(S.IN_PROGRESS)
    food = await desk.case(S.IN_PROGRESS, unit="food", category="food")
    consultation = await desk.case(kind="consultation")
    by_phone = await desk.case(channel="phone")
    old = await make_case(rules, now=now - timedelta(days=20))  # its triage clock ran out
    late = await due(await desk.case(S.ASSIGNED), timedelta(hours=-3))
    admin = await staff_world.console("admin")
    everything = set(await numbers(admin))
    assert everything == {c.number for c in (base, food, consultation, by_phone, old, late)}

    filed = (now - timedelta(days=20)).astimezone(rules.timezone).date()
    cases: dict[str, set[str]] = {
        "status=in_progress": {base.number, food.number},
        "status=assigned": {late.number},
        "kind=consultation": {consultation.number},
        "category=food": {food.number},
        "unit=food": {food.number},
        "unit=none": {consultation.number, by_phone.number, old.number},
        "channel=phone": {by_phone.number},
        f"filed_to={filed}": {old.number},
        f"filed_from={filed + timedelta(days=1)}": everything - {old.number},
        f"filed_from={filed}&filed_to={filed}": {old.number},
        "overdue=1": {late.number, old.number},
        "status=in_progress&unit=consumer": {base.number},
    }
    for query, expected in cases.items():
        assert set(await numbers(admin, query)) == expected, query

    # The page takes the same filters and keeps them in the form.
    status, html = await admin.get("/staff/worklist?category=food&unit=food")
    assert status == 200 and listed(html) == [food.number]
    assert '<option value="food" selected>' in html
    for bad in ("kind=nonsense", "unit=mars", "status=lost", "filed_from=23/11/2026"):
        status, html = await admin.get(f"/staff/worklist?{bad}")
        assert status == 422 and 'class="error"' in html and listed(html) == [], bad
        status, body = await api_get(admin, f"/api/staff/v1/cases?{bad}")
        assert status == 422 and body["error"]["field"] == bad.split("=")[0], bad


async def test_overdue_filter_uses_the_running_deadline(staff_world: StaffWorld) -> None:
    desk = await Desk(staff_world.rules).setup()
    late = await due(await desk.case(), timedelta(minutes=-5))
    await due(await desk.case(), timedelta(days=2))
    await desk.case(S.NEEDS_INFO)
    intake = await staff_world.console("intake", "centre")
    assert await numbers(intake, "overdue=1") == [late.number]
    status, html = await intake.get("/staff/worklist?overdue=1")
    assert status == 200 and listed(html) == [late.number] and "已超期 5 分钟" in html


async def test_search_by_number_respondent_text_and_phone(staff_world: StaffWorld) -> None:
    desk = await Desk(staff_world.rules).setup()
    # In progress: nothing intake has to do, so only a search over all cases finds it.
    milk = await desk.case(
        S.IN_PROGRESS, respondent_name="城东便民超市", contact_phone="13911112222"
    )
    shoes = await desk.case(
        respondent_name="步步高鞋城",
        description="买的运动鞋穿了两天就开胶,商家拒绝退换。",
        contact_phone="13933334444",
    )
    intake = await staff_world.console("intake", "centre")

    spaced = f"{milk.number[:2].lower()} {milk.number[2:10]}-{milk.number[10:]}"
    assert await numbers(intake, f"q={quote(spaced)}") == [milk.number]
    assert await numbers(intake, f"q={quote('便民')}") == [milk.number]
    assert await numbers(intake, f"q={quote('城东 便民')}") == [milk.number]  # key ignores spaces
    assert await numbers(intake, f"q={quote('开胶')}") == [shoes.number]
    assert await numbers(intake, f"q={quote('139 3333 4444')}") == [shoes.number]
    assert await numbers(intake, "q=13900000000") == []
    # Within "needs me" only, the closed case is not found.
    assert await numbers(intake, f"q={quote('便民')}&scope=mine") == []

    status, html = await intake.get(f"/staff/worklist?q={quote('13911112222')}")
    assert status == 200 and listed(html) == [milk.number]
    table = html.split("<table>", 1)[1]
    assert "139****2222" in table and "13911112222" not in table

    for role, unit in (("leader", "leaders"), ("handler", "consumer"), ("admin", "")):
        other = await staff_world.console(role, unit)
        status, html = await other.get("/staff/worklist?q=13911112222")
        assert status == 403 and "只有受理中心可以按电话号码查找" in html and listed(html) == []
        status, body = await api_get(other, "/api/staff/v1/cases?q=13911112222")
        assert status == 403 and body["error"]["field"] == "q"
    leader = await staff_world.console("leader", "leaders")
    assert await numbers(leader, f"q={milk.number}") == [milk.number]


async def test_pages_follow_the_cursor_without_gaps_or_repeats(staff_world: StaffWorld) -> None:
    desk = await Desk(staff_world.rules).setup()
    tie = datetime.now(UTC) + timedelta(days=1)
    # Two cases share a due time (the id breaks the tie); two have no running clock.
    timed = [
        await due(await desk.case(), timedelta(days=3)),
        await due(await desk.case(), timedelta(), at=tie),
        await due(await desk.case(), timedelta(days=2)),
        await due(await desk.case(), timedelta(), at=tie),
        await due(await desk.case(), timedelta(days=5)),
    ]
    untimed = [await desk.case(S.NEEDS_INFO) for _ in range(2)]
    order = sorted(timed, key=lambda c: (c.next_due_at or tie, c.id))
    expected = [c.number for c in order + untimed[::-1]]  # no clock: newest first
    assert order[0].next_due_at == order[1].next_due_at
    intake = await staff_world.console("intake", "centre")
    headers = await api_headers(intake)

    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        resp = await intake.client.get(f"/api/staff/v1/cases?size=2{cursor}", headers=headers)
        body = await resp.json()
        assert resp.status == 200 and len(body["cases"]) <= 2
        seen += [row["number"] for row in body["cases"]]
        pages += 1
        if body["next"] is None:
            break
        cursor = f"&cursor={body['next']}"
    assert seen == expected and pages == 4
    bad = await intake.client.get("/api/staff/v1/cases?cursor=nonsense", headers=headers)
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "cursor"
    too_big = await intake.client.get("/api/staff/v1/cases?size=101", headers=headers)
    assert too_big.status == 422


async def test_the_page_has_a_next_link_that_keeps_the_filters(staff_world: StaffWorld) -> None:
    desk = await Desk(staff_world.rules).setup()
    for _ in range(21):
        await desk.case(channel="phone")
    await desk.case()
    intake = await staff_world.console("intake", "centre")
    status, html = await intake.get("/staff/worklist?channel=phone")
    first = listed(html)
    assert status == 200 and len(first) == 20
    link = NEXT_LINK.search(html)
    assert link is not None and "channel=phone" in link.group(1) and "cursor=" in link.group(1)
    status, html = await intake.get(link.group(1).replace("&amp;", "&"))
    second = listed(html)
    assert status == 200 and len(second) == 1 and second[0] not in first
    assert NEXT_LINK.search(html) is None and "回到第一页" in html


async def test_lists_mask_phones_and_hide_reporters(staff_world: StaffWorld) -> None:
    desk = await Desk(staff_world.rules).setup()
    await desk.case(contact_name="张三丰", contact_phone="13812345678")
    await desk.case(
        kind="report", contact_name="李四", contact_phone="13887654321", respondent_name="某黑作坊"
    )
    for role, unit in (("intake", "centre"), ("admin", "")):
        console = await staff_world.console(role, unit)
        status, html = await console.get("/staff/worklist?scope=all")
        assert status == 200 and len(listed(html)) == 2
        assert "138****5678" in html and "张**" in html
        for secret in ("13812345678", "张三丰", "13887654321", "李四", "李*"):
            assert secret not in html, secret
        assert "(保密)" in html
        status, body = await api_get(console, "/api/staff/v1/cases?scope=all")
        phones = {row["respondent_name"]: row["contact_phone"] for row in body["cases"]}
        assert phones == {"城东便民超市": "138****5678", "某黑作坊": ""}


async def test_a_handler_never_finds_another_units_case(staff_world: StaffWorld) -> None:
    desk = await Desk(staff_world.rules).setup()
    ours = await desk.case(S.IN_PROGRESS, respondent_name="城东便民超市")
    theirs = await desk.case(
        S.IN_PROGRESS, unit="food", category="food", respondent_name="西关卤味店"
    )
    mine = await staff_world.console("handler", "consumer")
    other = await staff_world.console("handler", "food")

    for query in (
        "",
        "scope=all",
        f"q={theirs.number}",
        f"q={quote('西关卤味')}",
        "scope=all&unit=food",
        "scope=all&category=food",
    ):
        page = f"/staff/worklist?{query}"
        status, html = await mine.get(page)
        assert status == 200 and theirs.number not in listed(html), query
        assert theirs.number not in await numbers(mine, query), query
        # The same request by the food unit's handler does find it.
        assert theirs.number in await numbers(other, query or "scope=all"), query
    assert await numbers(mine, f"q={ours.number}") == [ours.number]
    assert await numbers(mine, "scope=all") == [ours.number]


# --- supervision ----------------------------------------------------------------------------


async def supervision_world(desk: Desk) -> dict[str, Case]:
    return {
        "late_food": await due(
            await desk.case(S.IN_PROGRESS, unit="food", category="food"), timedelta(days=-3)
        ),
        "soon_consumer": await due(
            await desk.case(S.IN_PROGRESS), timedelta(hours=20), span=timedelta(days=10)
        ),
        "late_intake": await due(await desk.case(), timedelta(hours=-1)),
        "on_time": await due(await desk.case(S.IN_PROGRESS), timedelta(days=5), timedelta(days=7)),
        "closed_late": await due(await desk.case(S.CLOSED), timedelta(days=-1)),
    }


async def test_supervision_lists_overdue_and_due_soon_cases_of_every_unit(
    staff_world: StaffWorld,
) -> None:
    desk = await Desk(staff_world.rules).setup()
    cases = await supervision_world(desk)
    intake = await staff_world.console("intake", "centre")

    status, html = await intake.get("/staff/supervision")
    assert status == 200
    expected = [cases[k].number for k in ("late_food", "late_intake", "soon_consumer")]
    assert listed(html) == expected
    assert cases["on_time"].number not in html and cases["closed_late"].number not in html
    assert html.count('action="/staff/cases/') == 6  # 催办 and 督办 on each row
    for name, overdue, soon in (
        ("食品安全监管科", 1, 0),
        ("消费者权益保护科", 0, 1),
        ("未交办", 1, 0),
    ):
        row = re.search(rf"{name}</a></td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", html)
        assert row is not None, name
        assert re.sub(r"<[^>]+>", "", row.group(1)) == str(overdue), name
        assert re.sub(r"<[^>]+>", "", row.group(2)) == str(soon), name

    status, html = await intake.get("/staff/supervision?unit=food")
    assert listed(html) == [cases["late_food"].number]
    status, html = await intake.get("/staff/supervision?only=due_soon")
    assert listed(html) == [cases["soon_consumer"].number]
    status, html = await intake.get("/staff/supervision?unit=none&only=overdue")
    assert listed(html) == [cases["late_intake"].number]

    leader = await staff_world.console("leader", "leaders")
    status, html = await leader.get("/staff/supervision")
    assert status == 200 and listed(html) == expected and "/remind" in html
    for role, unit in (("handler", "food"), ("admin", "")):
        console = await staff_world.console(role, unit)
        status, html = await console.get("/staff/supervision")
        assert status == 403 and cases["late_food"].number not in html


async def test_remind_and_supervise_are_recorded_on_the_case(staff_world: StaffWorld) -> None:
    rules = staff_world.rules
    desk = await Desk(rules).setup()
    case = await due(await desk.case(S.IN_PROGRESS, unit="food", category="food"), timedelta(-2))
    intake = await staff_world.console("intake", "centre")
    await intake.get("/staff/supervision?unit=food")
    path = f"/staff/cases/{case.number}"

    status, _ = await intake.post(
        f"{path}/remind", {"back": "/staff/supervision?unit=food", "csrf": "forged"}
    )
    assert status == 403 and not await CaseEvent.exists(case_id=case.id, action="remind")
    status, html = await intake.post(f"{path}/supervise", {"back": "/staff/supervision"})
    assert status == 422 and "请填写督办意见" in html
    assert not await CaseEvent.exists(case_id=case.id, action="supervise")

    resp = await intake.client.post(
        f"{path}/remind",
        data={"csrf": intake.csrf, "back": "/staff/supervision?unit=food"},
        allow_redirects=False,
    )
    assert resp.status == 303
    location = resp.headers["Location"]
    assert location == f"/staff/supervision?unit=food&done=remind&case={case.number}"
    status, html = await intake.get(location)
    assert f"已催办 {case.number},已记入案件时间线。" in html
    status, _ = await intake.post(
        f"{path}/supervise", {"note": "请于3日内报送办理进展。", "back": "https://evil.example/"}
    )
    assert status == 303

    events = await CaseEvent.filter(case_id=case.id, action__in=["remind", "supervise"]).order_by(
        "id"
    )
    acting = await StaffUser.get(username=intake.username)
    assert [(e.action, e.public, e.note) for e in events] == [
        ("remind", False, ""),
        ("supervise", False, "请于3日内报送办理进展。"),
    ]
    assert all((e.actor_kind, e.actor_id) == ("staff", acting.id) for e in events)
    assert events[0].data["department"] == "food" and "due_at" in events[0].data
    assert not {e.action for e in await public_timeline(rules, case)} & {"remind", "supervise"}


async def test_only_intake_and_leaders_press_and_handlers_see_404_for_other_units(
    staff_world: StaffWorld,
) -> None:
    desk = await Desk(staff_world.rules).setup()
    food_case = await due(
        await desk.case(S.IN_PROGRESS, unit="food", category="food"), timedelta(-1)
    )
    consumer_case = await due(await desk.case(S.IN_PROGRESS), timedelta(-1))
    closed = await desk.case(S.CLOSED)
    handler = await staff_world.console("handler", "consumer")
    leader = await staff_world.console("leader", "leaders")
    intake = await staff_world.console("intake", "centre")

    for console, case, expected in (
        (handler, food_case, 404),
        (handler, consumer_case, 403),
        (leader, closed, 409),
        (intake, closed, 409),
    ):
        for action, form in (("remind", {}), ("supervise", {"note": "请尽快办理。"})):
            status, _ = await console.post(f"/staff/cases/{case.number}/{action}", form)
            assert status == expected, (console.username, case.status, action)
    assert not await CaseEvent.exists(action__in=["remind", "supervise"])
    status, _ = await intake.post(f"/staff/cases/{food_case.number}/remind", {})
    assert status == 303 and await CaseEvent.filter(action="remind").count() == 1
    status, _ = await leader.post(
        f"/staff/cases/{food_case.number}/supervise", {"note": "限期办结"}
    )
    assert status == 303 and await CaseEvent.filter(action="supervise").count() == 1


async def test_the_api_lists_supervision_and_records_presses(staff_world: StaffWorld) -> None:
    desk = await Desk(staff_world.rules).setup()
    cases = await supervision_world(desk)
    intake = await staff_world.console("intake", "centre")
    headers = await api_headers(intake)
    client = intake.client

    resp = await client.get("/api/staff/v1/supervision?size=2", headers=headers)
    body = await resp.json()
    assert resp.status == 200
    assert [r["number"] for r in body["cases"]] == [
        cases["late_food"].number,
        cases["late_intake"].number,
    ]
    assert {u["unit"]: (u["overdue"], u["due_soon"]) for u in body["units"]} == {
        "food": (1, 0),
        "consumer": (0, 1),
        None: (1, 0),
    }
    resp = await client.get(
        f"/api/staff/v1/supervision?size=2&cursor={body['next']}", headers=headers
    )
    rest = await resp.json()
    assert [r["number"] for r in rest["cases"]] == [cases["soon_consumer"].number]
    assert rest["next"] is None and rest["cases"][0]["deadline"]["due_soon"] is True

    number = cases["late_food"].number
    resp = await client.post(
        f"/api/staff/v1/cases/{number}/supervise", json={"note": " "}, headers=headers
    )
    assert resp.status == 422 and (await resp.json())["error"]["field"] == "note"
    resp = await client.post(
        f"/api/staff/v1/cases/{number}/supervise", json={"note": "限期办结。"}, headers=headers
    )
    created = await resp.json()
    assert resp.status == 201 and created["case"] == number
    assert created["event"]["action"] == "supervise" and created["event"]["label"] == "督办"
    assert created["event"]["public"] is False
    resp = await client.post(f"/api/staff/v1/cases/{number}/remind", headers=headers)
    assert resp.status == 201 and (await resp.json())["event"]["label"] == "催办"
    event = await CaseEvent.get(id=created["event"]["id"])
    assert (event.case_id, event.action, event.note) == (
        cases["late_food"].id,
        "supervise",
        "限期办结。",
    )

    consumer = await staff_world.console("handler", "consumer")
    theirs = await api_headers(consumer)
    resp = await client.get("/api/staff/v1/supervision", headers=theirs)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden"
    resp = await client.post(f"/api/staff/v1/cases/{number}/remind", headers=theirs)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    own = cases["soon_consumer"].number
    resp = await client.post(f"/api/staff/v1/cases/{own}/remind", headers=theirs)
    assert resp.status == 403
    assert await CaseEvent.filter(action__in=["remind", "supervise"]).count() == 2
