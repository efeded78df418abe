"""The case page and its API: unit isolation, CSRF, every action's event and notice, refusals,
confidentiality, registration of phone cases, photos, duplicates and reply templates."""

from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from cases.rules import Rules
from cases.store.evidence import process_image, store_evidence
from cases.store.models import (
    Case,
    CaseClock,
    CaseEvent,
    EvidenceFile,
    Notice,
    Rating,
    StaffUser,
    Status,
)
from cases.workflow.actions import ACTIONS
from cases.workflow.deadlines import YearTable
from cases.workflow.engine import perform
from cases.workflow.reply_templates import REPLIES_DIR, load_reply_templates
from cases.workflow.timeline import CITIZEN, SYSTEM, Actor
from tests.factories import (
    STAFF_PASSWORD,
    make_case,
    make_citizen,
    make_staff,
    perform_approved,
)
from tests.images import encode, two_tone
from tests.staff.conftest import Console, StaffWorld

S = Status
REPORTER = "李举报人"
REPORTER_PHONE = "13912345678"


@dataclass
class Crew:
    """Staff who drive cases through real workflow actions before the page is used."""

    intake: Actor
    handler: Actor
    leader: Actor


async def _crew() -> Crew:
    return Crew(
        await make_staff("intake", "centre"),
        await make_staff("handler", "consumer"),
        await make_staff("leader", "leaders"),
    )


_ACCEPTED = [("accept", "intake", {})]
_ASSIGNED = [*_ACCEPTED, ("assign", "intake", {"data": {"department": "consumer"}})]
_IN_PROGRESS = [*_ASSIGNED, ("start", "handler", {})]
_REPLIED = [*_IN_PROGRESS, ("reply", "handler", {"note": "经查,商家已同意退货。"})]
_CLOSED = [*_REPLIED, ("close", "intake", {"data": {"finding": "mediated"}})]
PATHS: dict[Status, list[tuple[str, str, dict[str, Any]]]] = {
    S.SUBMITTED: [],
    S.NEEDS_INFO: [("request_info", "intake", {"note": "请补充购物小票照片。"})],
    S.ACCEPTED: _ACCEPTED,
    S.ASSIGNED: _ASSIGNED,
    S.IN_PROGRESS: _IN_PROGRESS,
    S.REPLIED: _REPLIED,
    S.CLOSED: _CLOSED,
    S.REJECTED: [("reject", "intake", {"note": "超期", "data": {"reason_code": "over_one_year"}})],
}


async def _drive(rules: Rules, crew: Crew, state: Status, **form: Any) -> Case:
    case = await make_case(rules, **form)
    for action, who, kw in PATHS[state]:
        case, _ = await perform_approved(
            rules, case.id, action, getattr(crew, who), leader=crew.leader, **kw
        )
    assert case.status == state
    return case


async def _counts(case: Case) -> tuple[int, int, int]:
    """Events, notices and version: all three stay put when an action is refused."""
    fresh = await Case.get(id=case.id)
    return (
        await CaseEvent.filter(case_id=case.id).count(),
        await Notice.filter(case_id=case.id).count(),
        fresh.version,
    )


def _message(body: str) -> str:
    match = re.search(r'role="alert">([^<]*)<', body)
    return html.unescape(match.group(1)) if match else ""


async def _photo(world: StaffWorld, case: Case, check: str = "pass") -> EvidenceFile:
    image = process_image(encode(two_tone((400, 200))))
    return await store_evidence(
        world.settings.media_dir,
        image,
        citizen_id=case.citizen_id,
        case_id=case.id,
        content_check=check,
    )


async def _name_of(console: Console) -> str:
    return (await StaffUser.get(username=console.username)).display_name


# --- unit isolation ------------------------------------------------------------------------


async def test_a_handler_of_another_unit_finds_nothing_by_page_photo_or_action(
    staff_world: StaffWorld,
) -> None:
    rules, crew = staff_world.rules, await _crew()
    case = await _drive(rules, crew, S.IN_PROGRESS)
    photo = await _photo(staff_world, case)
    own = await staff_world.console("handler", "consumer")
    other = await staff_world.console("handler", "food")
    intake = await staff_world.console("intake", "centre")
    base = f"/staff/cases/{case.number}"

    # The same requests succeed for the case's own unit and for intake…
    for console in (own, intake):
        status, body = await console.get(base)
        assert status == 200 and case.description in body
        assert (await console.client.get(f"{base}/photos/{photo.id}/thumb")).status == 200

    # …and are 'not found' for the other unit, exactly like a number that does not exist.
    missing_status, missing_body = await other.get("/staff/cases/TS2099010199999")
    status, body = await other.get(base)
    assert (
        (status, _message(body))
        == (missing_status, _message(missing_body))
        == (
            404,
            "没有找到这个案件。",
        )
    )
    assert case.description not in body
    for size in ("thumb", "full"):
        resp = await other.client.get(f"{base}/photos/{photo.id}/{size}")
        assert resp.status == 404
    before = await _counts(case)
    for name in ACTIONS:
        status, body = await other.post(
            f"{base}/actions/{name}", {"note": "越权", "expected_version": str(case.version)}
        )
        assert status == 404, name
    assert await _counts(case) == before
    status, _ = await other.post(f"{base}/identity", {})
    assert status == 404


async def _token(world: StaffWorld, role: str, department: str) -> dict[str, str]:
    actor = await make_staff(role, department)
    user = await StaffUser.get(id=actor.id)
    client = await world.new_client()
    resp = await client.post(
        "/api/staff/v1/auth/login", json={"username": user.username, "password": STAFF_PASSWORD}
    )
    assert resp.status == 200
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


@pytest.fixture
async def api_client(staff_world: StaffWorld) -> TestClient[Any, Any]:
    return await staff_world.new_client()


async def test_the_api_keeps_units_apart_too(
    staff_world: StaffWorld, api_client: TestClient[Any, Any]
) -> None:
    rules, crew = staff_world.rules, await _crew()
    case = await _drive(rules, crew, S.IN_PROGRESS)
    photo = await _photo(staff_world, case)
    own = await _token(staff_world, "handler", "consumer")
    other = await _token(staff_world, "handler", "food")
    intake = await _token(staff_world, "intake", "centre")
    base = f"/api/staff/v1/cases/{case.number}"

    for headers in (own, intake):
        resp = await api_client.get(base, headers=headers)
        body = await resp.json()
        assert resp.status == 200 and body["number"] == case.number
        assert body["photos"][0]["thumb"] == f"{base}/photos/{photo.id}/thumb"
        assert (
            await api_client.get(f"{base}/photos/{photo.id}/full", headers=headers)
        ).status == 200

    resp = await api_client.get(base, headers=other)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    assert (await api_client.get(f"{base}/photos/{photo.id}/thumb", headers=other)).status == 404
    before = await _counts(case)
    for name in ACTIONS:
        resp = await api_client.post(
            f"{base}/actions/{name}", json={"note": "越权", "data": {}}, headers=other
        )
        assert resp.status == 404, name
    assert await _counts(case) == before
    # Not signed in at all: 401, not the case.
    assert (await api_client.get(base)).status == 401


# --- CSRF ----------------------------------------------------------------------------------


async def test_action_forms_need_the_session_csrf_token(staff_world: StaffWorld) -> None:
    case = await make_case(staff_world.rules)
    intake = await staff_world.console("intake", "centre")
    status, page = await intake.get(f"/staff/cases/{case.number}")
    assert status == 200 and f'action="/staff/cases/{case.number}/actions/accept"' in page
    url = f"/staff/cases/{case.number}/actions/accept"
    before = await _counts(case)
    forged = await intake.client.post(url, data={"expected_version": "1"}, allow_redirects=False)
    assert forged.status == 403
    forged = await intake.client.post(
        url, data={"csrf": "x" * 32, "expected_version": "1"}, allow_redirects=False
    )
    assert forged.status == 403 and "表单已过期" in await forged.text()
    reveal = await intake.client.post(
        f"/staff/cases/{case.number}/identity", data={}, allow_redirects=False
    )
    assert reveal.status == 403
    assert await _counts(case) == before
    assert (await Case.get(id=case.id)).status == S.SUBMITTED

    status, _ = await intake.post(url, {"expected_version": str(case.version)})
    assert status == 302 and (await Case.get(id=case.id)).status == S.ACCEPTED


# --- every action from the page ------------------------------------------------------------


async def _merge_prep(rules: Rules, crew: Crew) -> tuple[Case, dict[str, str]]:
    """Two filings by the same person against the same shop: the second is flagged."""
    citizen = await make_citizen()
    first = await make_case(rules, citizen=citizen)
    second = await make_case(rules, citizen=citizen)
    assert second.duplicate_of_id == first.id
    return second, {"into": first.number}


async def _extension_requested(rules: Rules, crew: Crew, case: Case) -> Case:
    case, _ = await perform(
        rules,
        case.id,
        "request_extension",
        crew.handler,
        note="需要抽样检测",
        data={"clock": "handling", "amount": 10},
    )
    return case


async def _rejection_drafted(rules: Rules, crew: Crew, case: Case) -> Case:
    # 000 第十八条: the centre's 不予受理 waits for the leader in charge.
    case, event = await perform(
        rules, case.id, "reject", crew.intake, note="超期", data={"reason_code": "over_one_year"}
    )
    assert event.action == "draft"
    return case


async def _paused(rules: Rules, crew: Crew, case: Case) -> Case:
    case, _ = await perform(rules, case.id, "pause_clock", crew.handler, note="送检")
    return case


async def _received_by_unit(rules: Rules, crew: Crew, case: Case) -> Case:
    # 首诉负责制 (the hospital's rule): the consumer unit received the complaint and owns it.
    await Case.filter(id=case.id).update(department_id=crew.handler.department_id)
    return await Case.get(id=case.id)


async def _emergency_assigned(rules: Rules, crew: Crew, case: Case) -> Case:
    # Graded 紧急 on the phone (004 12312分流): the unit must be on site within 30 minutes.
    policy = rules.catalog.policy_for(case.kind, case.category, "emergency")
    await Case.filter(id=case.id).update(severity="emergency", policy=policy.name)
    case, _ = await perform(rules, case.id, "assign", crew.intake, data={"department": "consumer"})
    return case


async def _closing_on_satisfaction(rules: Rules, crew: Crew, case: Case) -> Case:
    # The hospital's rule (001 第二十五条) in this console's profile: complaints close only on
    # the patient's satisfaction, so a dissatisfied one goes back for handling.
    catalog = dataclasses.replace(
        rules.catalog,
        satisfaction_kinds=frozenset({"complaint"}),
        satisfaction_source="001 篇一 第二十五条",
    )
    object.__setattr__(rules, "catalog", catalog)  # the running app's own rules
    return case


REPLY = {
    "facts": "该超市确实出售了过期牛奶。",
    "handling": "已责令商家退货并赔偿。",
    "basis": "消费者权益保护法第二十四条。",
}
# action: (role and unit of the console, starting state, case form, fields typed, preparation)
PAGE_ACTIONS: dict[str, tuple[str, str, Status, dict[str, Any], dict[str, str], Any]] = {
    "request_info": ("intake", "centre", S.SUBMITTED, {}, {"note": "请补充购物小票"}, None),
    "supplement": ("intake", "centre", S.NEEDS_INFO, {}, {"note": "市民来电:小票已找到"}, None),
    "accept": ("intake", "centre", S.SUBMITTED, {}, {}, None),
    # A leader's own rejection is the approval itself; the centre's is a draft (below).
    "reject": (
        "leader",
        "leaders",
        S.SUBMITTED,
        {},
        {"reason_code": "over_one_year", "note": "购买已超过一年"},
        None,
    ),
    "tell_citizen": (
        "intake",
        "centre",
        S.REJECTED,
        {},
        {"what": "rejected", "means": "phone", "note": "电话告知本人"},
        None,
    ),
    "refer_out": ("leader", "leaders", S.SUBMITTED, {}, {"referred_to": "县人社局 12333"}, None),
    "end_mediation": (
        "handler",
        "consumer",
        S.IN_PROGRESS,
        {},
        {"reason": "failed", "note": "双方分歧过大,可向人民法院起诉"},
        None,
    ),
    "open_case": ("handler", "consumer", S.IN_PROGRESS, {}, {"note": "经局长批准立案"}, None),
    "decline_case": (  # a leader: for a unit it is a draft (000 第十八条)
        "leader",
        "leaders",
        S.IN_PROGRESS,
        {},
        {"note": "经核查,未发现违法行为"},
        None,
    ),
    "merge": ("intake", "centre", S.SUBMITTED, {}, {}, "merge"),
    "answer": (
        "intake",
        "centre",
        S.SUBMITTED,
        {"kind": "consultation", "category": "licensing"},
        {"note": "营业执照可在政务服务网办理。"},
        None,
    ),
    "hand_over": (
        "handler",
        "consumer",
        S.SUBMITTED,
        {},
        {"note": "患者要求赔偿,科室无法当场协调"},
        _received_by_unit,
    ),
    "assign": ("intake", "centre", S.ACCEPTED, {}, {"department": "consumer"}, None),
    "return": ("handler", "consumer", S.ASSIGNED, {}, {"note": "不属本科室职责"}, None),
    "start": ("handler", "consumer", S.ASSIGNED, {}, {}, None),
    "arrive": (
        "handler",
        "consumer",
        S.ACCEPTED,
        {},
        {"note": "两名执法人员已到场"},
        _emergency_assigned,
    ),
    "notify_parties": (
        "intake",
        "centre",
        S.SUBMITTED,
        {"category": "product_quality"},
        {"means": "phone", "note": "已电话通知申诉人和被申诉商场"},
        None,
    ),
    "rehandle": (
        "intake",
        "centre",
        S.REPLIED,
        {},
        {"note": "市民认为赔偿不足", "public_note": "已请承办单位重新办理"},
        _closing_on_satisfaction,
    ),
    "request_extension": (
        "handler",
        "consumer",
        S.IN_PROGRESS,
        {},
        {"clock": "handling", "amount": "10", "note": "需要抽样检测"},
        None,
    ),
    "approve_extension": (
        "leader",
        "leaders",
        S.IN_PROGRESS,
        {},
        {"note": "同意"},
        _extension_requested,
    ),
    "refuse_extension": (
        "leader",
        "leaders",
        S.IN_PROGRESS,
        {},
        {"note": "检测可在期限内完成"},
        _extension_requested,
    ),
    "approve_draft": ("leader", "leaders", S.SUBMITTED, {}, {"note": "同意"}, _rejection_drafted),
    "refuse_draft": (
        "leader",
        "leaders",
        S.SUBMITTED,
        {},
        {"note": "理由不充分"},
        _rejection_drafted,
    ),
    "pause_clock": ("handler", "consumer", S.IN_PROGRESS, {}, {"note": "送检"}, None),
    "resume_clock": ("intake", "centre", S.IN_PROGRESS, {}, {}, _paused),
    "reply": ("handler", "consumer", S.IN_PROGRESS, {}, REPLY, None),
    "close": ("handler", "consumer", S.REPLIED, {}, {"finding": "mediated"}, None),
    "reopen": ("leader", "leaders", S.CLOSED, {}, {"note": "复核后重办"}, None),
    "uphold": ("leader", "leaders", S.CLOSED, {}, {"note": "经复核,维持办结"}, None),
    "archive": ("intake", "centre", S.CLOSED, {}, {}, None),
    "withdraw": ("intake", "centre", S.ACCEPTED, {}, {"note": "市民来电撤回"}, None),
    "raise_severity": ("leader", "leaders", S.SUBMITTED, {}, {"severity": "major"}, None),
    "return_visit": (
        "intake",
        "centre",
        S.CLOSED,
        {},
        {"note": "电话回访,满意", "overall": "satisfied", "result": "basic", "attitude": ""},
        None,
    ),
}


def test_every_staff_action_of_the_workflow_is_covered() -> None:
    staff_actions = {n for n, a in ACTIONS.items() if a.roles - {CITIZEN, SYSTEM}}
    assert set(PAGE_ACTIONS) == staff_actions


@pytest.mark.parametrize("name", sorted(PAGE_ACTIONS))
async def test_each_action_from_its_form_records_its_event_and_notice(
    staff_world: StaffWorld, name: str
) -> None:
    rules, crew = staff_world.rules, await _crew()
    role, unit, state, form, typed, prep = PAGE_ACTIONS[name]
    if prep == "merge":
        case, typed = await _merge_prep(rules, crew)
    else:
        case = await _drive(rules, crew, state, **form)
    if callable(prep):
        case = await prep(rules, crew, case)
    console = await staff_world.console(role, unit)
    url = f"/staff/cases/{case.number}"

    status, page = await console.get(url)
    assert status == 200 and f'action="{url}/actions/{name}"' in page
    assert f'name="expected_version" value="{case.version}"' in page
    if name == "assign":  # the category's own unit comes preselected
        assert '<option value="consumer" selected>' in page
    if name == "close":  # the profile's findings for complaints
        assert '<select name="finding" required>' in page and ">调解成功</option>" in page
    if name == "return_visit":  # the survey's scale
        assert '<select name="timeliness">' in page and ">基本满意</option>" in page
    status, _ = await console.post(
        f"{url}/actions/{name}", {**typed, "expected_version": str(case.version)}
    )
    assert status == 302

    after = await Case.get(id=case.id)
    action = ACTIONS[name]
    if name == "close":
        assert after.finding == "mediated"
        assert "<dt>处理结果</dt><dd>调解成功</dd>" in (await console.get(url))[1]
    if name == "return_visit":
        rating = await Rating.get(case_id=case.id)
        assert (rating.source, rating.overall) == ("return_visit", "satisfied")
        assert rating.scores == {"result": "basic"}
    assert after.version == case.version + 1
    if action.target is not None:
        assert after.status == action.target
    # The action's own event is the last one, except that a return visit's verdict follows it.
    events = await CaseEvent.filter(case_id=case.id).order_by("-id").limit(2)
    event = events[1] if name == "return_visit" else events[0]
    assert event.action == name
    assert event.actor_name == await _name_of(console)
    notices = await Notice.filter(event_id=event.id).order_by("id").values_list("kind", flat=True)
    expected = [action.notice] if action.notice else []
    # Closing also schedules the satisfaction survey's invitation.
    assert list(notices) == expected + (["survey"] if name == "close" else [])
    if name == "reply":
        assert event.note == (
            f"经查:{REPLY['facts']}\n处理情况:{REPLY['handling']}\n处理依据:{REPLY['basis']}"
        )
    for key in ("reason_code", "department", "referred_to", "into", "severity"):
        if key in typed:
            assert event.data[key] == typed[key]

    # Back on the page (a returned or handed-over case leaves the unit), the event is in
    # the staff timeline with who took it.
    if name in ("return", "hand_over"):
        assert (await console.get(url))[0] == 404
        return
    status, page = await console.get(f"{url}?done={name}")
    assert status == 200 and f"已{action.label}。" in page
    assert action.label in page and await _name_of(console) in page
    if name == "request_extension":  # in the unit of the case's own policy
        assert "延长:10 日" in page


# --- refusals ------------------------------------------------------------------------------


REFUSALS = [
    # (state, role, unit, action, fields, status, message)
    (
        S.ASSIGNED,
        "handler",
        "consumer",
        "reply",
        REPLY,
        409,
        "案件当前状态为“已交办”,不能执行“答复”。",
    ),
    (S.ASSIGNED, "handler", "consumer", "accept", {}, 403, "您的角色不能执行“受理”。"),
    (
        S.SUBMITTED,
        "intake",
        "centre",
        "reject",
        {"note": "理由见下"},
        422,
        "请选择不予受理的理由。",
    ),
    (
        S.IN_PROGRESS,
        "handler",
        "consumer",
        "reply",
        {"facts": "已核实"},
        422,
        "答复需要写明“处理情况”。",
    ),
    (S.SUBMITTED, "intake", "centre", "request_info", {}, 422, "“要求补充材料”需要填写说明。"),
    (S.IN_PROGRESS, "leader", "leaders", "approve_extension", {}, 409, "没有待审批的延期申请。"),
    (S.SUBMITTED, "intake", "centre", "launch_rocket", {}, 422, "未知操作: launch_rocket"),
    (
        S.SUBMITTED,
        "intake",
        "centre",
        "accept",
        {"expected_version": "\u00b2"},
        422,
        "页面版本号不正确,请刷新后重试。",
    ),
]


async def test_where_closing_needs_satisfaction_the_close_form_asks_and_refuses_without(
    staff_world: StaffWorld,
) -> None:
    # 001 第二十五条 「满意或基本满意的可以结案」 (the hospital's [closing]).
    rules, crew = staff_world.rules, await _crew()
    case = await _drive(rules, crew, S.REPLIED)
    await _closing_on_satisfaction(rules, crew, case)
    console = await staff_world.console("intake", "centre")
    url = f"/staff/cases/{case.number}"
    status, page = await console.get(url)
    assert status == 200 and '<select name="satisfaction" required>' in page
    assert ">基本满意</option>" in page
    assert ">不满意</option>" not in page and "认作结案</option>" not in page  # a leader's
    assert f'action="{url}/actions/rehandle"' in page
    before = await _counts(case)
    close = {"expected_version": str(case.version), "finding": "mediated"}
    status, body = await console.post(f"{url}/actions/close", close)
    assert (status, _message(body)) == (
        422,
        "患者对处理结果表示满意或基本满意的方可结案:请记录患者对处理结果的意见。",
    )
    status, body = await console.post(
        f"{url}/actions/close", {**close, "satisfaction": "dissatisfied"}
    )
    assert (status, _message(body)) == (
        409,
        "患者对处理结果不满意,不能结案。请选择“不满意,重新办理”,退回承办科室继续处理。",
    )
    assert await _counts(case) == before
    status, _ = await console.post(f"{url}/actions/close", {**close, "satisfaction": "satisfied"})
    assert status == 302 and (await Case.get(id=case.id)).status == S.CLOSED
    assert "患者意见:满意" in (await console.get(url))[1]  # on the timeline


@pytest.mark.parametrize(("state", "role", "unit", "action", "typed", "code", "message"), REFUSALS)
async def test_a_refused_action_says_why_keeps_the_input_and_writes_nothing(
    staff_world: StaffWorld,
    state: Status,
    role: str,
    unit: str,
    action: str,
    typed: dict[str, str],
    code: int,
    message: str,
) -> None:
    case = await _drive(staff_world.rules, await _crew(), state)
    console = await staff_world.console(role, unit)
    url = f"/staff/cases/{case.number}"
    assert (await console.get(url))[0] == 200
    before = await _counts(case)
    status, body = await console.post(
        f"{url}/actions/{action}", {"expected_version": str(case.version), **typed}
    )
    assert (status, _message(body)) == (code, message)
    assert await _counts(case) == before
    kept = [v for k, v in typed.items() if k != "expected_version"]
    if code == 422 and kept:  # the form is still on the page, with what was typed
        assert all(value in body for value in kept)


async def test_a_stale_form_is_refused_after_someone_else_acted(staff_world: StaffWorld) -> None:
    case = await make_case(staff_world.rules)
    first = await staff_world.console("intake", "centre")
    second = await staff_world.console("intake", "centre")
    url = f"/staff/cases/{case.number}"
    await first.get(url)
    await second.get(url)
    seen = str(case.version)
    assert (await first.post(f"{url}/actions/accept", {"expected_version": seen}))[0] == 302
    before = await _counts(case)
    status, body = await second.post(
        f"{url}/actions/reject",
        {"reason_code": "over_one_year", "note": "超期", "expected_version": seen},
    )
    assert (status, _message(body)) == (409, "案件已被他人更新,请刷新后重试。")
    assert await _counts(case) == before and (await Case.get(id=case.id)).status == S.ACCEPTED


# --- confidentiality -----------------------------------------------------------------------


async def _report(rules: Rules, crew: Crew) -> Case:
    citizen = await make_citizen(name=REPORTER, phone=REPORTER_PHONE)
    case = await make_case(
        rules,
        citizen=citizen,
        kind="report",
        contact_name=REPORTER,
        contact_phone=REPORTER_PHONE,
        contact_address="城关镇西街5号",
    )
    for action, who, kw in _IN_PROGRESS:
        case, _ = await perform(rules, case.id, action, getattr(crew, who), **kw)
    return case


async def _views(case: Case) -> int:
    return await CaseEvent.filter(case_id=case.id, action="view_identity").count()


async def test_a_handler_sees_a_reporter_masked_and_cannot_reveal(staff_world: StaffWorld) -> None:
    case = await _report(staff_world.rules, await _crew())
    handler = await staff_world.console("handler", "consumer")
    url = f"/staff/cases/{case.number}"
    status, body = await handler.get(url)
    assert status == 200 and "(保密)" in body and case.description in body
    for secret in (REPORTER, REPORTER_PHONE, "5678", "城关镇西街"):
        assert secret not in body  # not in the fields, nor as the actor of the filing
    assert "查看举报人身份" not in body
    status, body = await handler.post(f"{url}/identity", {})
    assert (status, _message(body)) == (403, "只有投诉举报中心可以查看举报人身份。")
    assert REPORTER not in body and await _views(case) == 0


async def test_intake_reveals_a_reporter_and_each_view_is_logged(staff_world: StaffWorld) -> None:
    case = await _report(staff_world.rules, await _crew())
    intake = await staff_world.console("intake", "centre")
    url = f"/staff/cases/{case.number}"
    status, body = await intake.get(url)
    assert status == 200 and "查看举报人身份" in body and REPORTER not in body
    assert await _views(case) == 0  # opening the page is not a view of the identity

    for seen in (1, 2):
        status, body = await intake.post(f"{url}/identity", {})
        assert status == 200 and REPORTER in body and REPORTER_PHONE in body
        assert "城关镇西街5号" in body and await _views(case) == seen
    event = await CaseEvent.filter(case_id=case.id, action="view_identity").first()
    assert event is not None and not event.public
    assert event.actor_name == await _name_of(intake)
    # The handler sees that it was viewed, and by whom, but still not who the reporter is.
    handler = await staff_world.console("handler", "consumer")
    _, body = await handler.get(url)
    assert "查看举报人身份" in body and await _name_of(intake) in body and REPORTER not in body


async def test_the_api_masks_a_reporter_and_logs_a_reveal(
    staff_world: StaffWorld, api_client: TestClient[Any, Any]
) -> None:
    case = await _report(staff_world.rules, await _crew())
    url = f"/api/staff/v1/cases/{case.number}"
    handler = await _token(staff_world, "handler", "consumer")
    intake = await _token(staff_world, "intake", "centre")

    body = await (await api_client.get(url, headers=handler)).json()
    assert body["reporter"] == {
        "anonymous": False,
        "name": "(保密)",
        "phone": "",
        "address": "",
        "masked": True,
        "may_reveal": False,
    }
    assert REPORTER not in str(body)
    resp = await api_client.get(f"{url}?reveal=1", headers=handler)
    assert resp.status == 403 and await _views(case) == 0

    body = await (await api_client.get(url, headers=intake)).json()
    assert body["reporter"]["masked"] and body["reporter"]["may_reveal"]
    assert await _views(case) == 0
    body = await (await api_client.get(f"{url}?reveal=1", headers=intake)).json()
    assert body["reporter"]["name"] == REPORTER and body["reporter"]["phone"] == REPORTER_PHONE
    assert await _views(case) == 1


async def test_phones_are_masked_until_revealed(staff_world: StaffWorld) -> None:
    case = await make_case(staff_world.rules)  # a complaint: not confidential
    intake = await staff_world.console("intake", "centre")
    url = f"/staff/cases/{case.number}"
    _, body = await intake.get(url)
    assert "138****0000" in body and "13800000000" not in body and "张**" in body
    status, body = await intake.post(f"{url}/identity", {})
    assert status == 200 and "13800000000" in body and "张女士" in body
    assert await _views(case) == 0  # only confidential kinds log a view


# --- registration --------------------------------------------------------------------------

PHONE_CASE = {
    "channel": "phone",
    "kind": "complaint",
    "category": "food",
    "severity": "important",
    "contact_name": "王先生",
    "contact_phone": "0571-87654321",
    "respondent_name": "城西小吃店",
    "description": "昨天中午在该店吃饭后腹泻,怀疑食材变质。",
    "demands": "查处并赔偿医药费",
    "incident_at": "2026-01-05T12:30",
}


async def test_intake_registers_a_phone_case(staff_world: StaffWorld) -> None:
    intake = await staff_world.console("intake", "centre")
    status, page = await intake.get("/staff/register")
    assert status == 200 and 'name="description"' in page and ">电话</option>" in page
    resp = await intake.client.post(
        "/staff/register", data={"csrf": intake.csrf, **PHONE_CASE}, allow_redirects=False
    )
    assert resp.status == 302
    case = await Case.get()
    assert resp.headers["Location"] == f"/staff/cases/{case.number}?done=file"
    assert (case.channel, case.severity, case.citizen_id) == ("phone", "important", None)
    assert case.contact_phone == "0571-87654321" and case.status == S.SUBMITTED
    event = await CaseEvent.get(case_id=case.id)
    assert event.action == "file" and event.actor_name == await _name_of(intake)
    status, page = await intake.get(resp.headers["Location"])
    assert status == 200 and "已登记。" in page and "电话" in page

    # A phone case has no WeChat citizen: acting on it writes the event but queues no notice.
    status, _ = await intake.post(
        f"/staff/cases/{case.number}/actions/accept", {"expected_version": str(case.version)}
    )
    assert status == 302 and await Notice.filter(case_id=case.id).count() == 0


async def test_registration_refuses_bad_input_and_other_roles(staff_world: StaffWorld) -> None:
    intake = await staff_world.console("intake", "centre")
    await intake.get("/staff/register")
    status, body = await intake.post("/staff/register", {**PHONE_CASE, "description": "太短"})
    assert status == 422 and "事情经过" in _message(body)
    assert "城西小吃店" in body  # typed values kept
    status, body = await intake.post(
        "/staff/register", {**PHONE_CASE, "channel": "official_account"}
    )
    assert status == 422 and _message(body).startswith("请选择受理渠道")
    handler = await staff_world.console("handler", "consumer")
    assert (await handler.get("/staff/register"))[0] == 403
    status, _ = await handler.post("/staff/register", PHONE_CASE)
    assert status == 403
    assert await Case.all().count() == 0


async def test_the_hotline_registers_cases_through_the_api(
    staff_world: StaffWorld, api_client: TestClient[Any, Any]
) -> None:
    intake = await _token(staff_world, "intake", "centre")
    first = await api_client.post("/api/staff/v1/cases", json=PHONE_CASE, headers=intake)
    body = await first.json()
    assert first.status == 201 and body["status"] == "submitted" and body["duplicate_of"] is None
    again = await api_client.post(
        "/api/staff/v1/cases",
        json={**PHONE_CASE, "description": "昨天中午在该店吃饭后腹泻,怀疑食材变质了。"},
        headers=intake,
    )
    assert again.status == 201 and (await again.json())["duplicate_of"] == body["number"]
    bad = await api_client.post(
        "/api/staff/v1/cases", json={**PHONE_CASE, "channel": "mini_program"}, headers=intake
    )
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "channel"
    odd = await api_client.post(
        "/api/staff/v1/cases", json={**PHONE_CASE, "anonymous": [1], "kind": 5}, headers=intake
    )
    assert odd.status == 422 and (await odd.json())["error"]["field"] == "kind"
    handler = await _token(staff_world, "handler", "food")
    refused = await api_client.post("/api/staff/v1/cases", json=PHONE_CASE, headers=handler)
    assert refused.status == 403 and await Case.all().count() == 2


# --- API actions ---------------------------------------------------------------------------


async def test_api_actions_record_events_and_drop_unknown_data(
    staff_world: StaffWorld, api_client: TestClient[Any, Any]
) -> None:
    rules, crew = staff_world.rules, await _crew()
    case = await _drive(rules, crew, S.ACCEPTED)
    intake = await _token(staff_world, "intake", "centre")
    url = f"/api/staff/v1/cases/{case.number}/actions/assign"
    resp = await api_client.post(
        url,
        json={"data": {"department": "consumer", "sneaky": "x"}, "expected_version": case.version},
        headers=intake,
    )
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "assigned"
    assert body["version"] == case.version + 1 and body["event"]["data"] == {
        "department": "consumer"
    }

    stale = await api_client.post(
        url, json={"data": {"department": "food"}, "expected_version": case.version}, headers=intake
    )
    assert stale.status == 409 and (await stale.json())["error"]["code"] == "concurrent_change"

    handler = await _token(staff_world, "handler", "consumer")
    base = f"/api/staff/v1/cases/{case.number}/actions"
    assert (await api_client.post(f"{base}/start", json={}, headers=handler)).status == 200
    resp = await api_client.post(f"{base}/reply", json={"data": REPLY}, headers=handler)
    assert resp.status == 200 and (await resp.json())["event"]["note"].startswith("经查:")
    notice = await Notice.get(case_id=case.id, kind="replied")
    assert notice.payload["event"] == "reply"
    wrong = await api_client.post(
        f"{base}/close", data="note=x", headers={**handler, "Content-Type": "text/plain"}
    )
    assert wrong.status == 415 and (await Case.get(id=case.id)).status == S.REPLIED

    detail = await (
        await api_client.get(f"/api/staff/v1/cases/{case.number}", headers=handler)
    ).json()
    assert [a["name"] for a in detail["actions"]] == ["close", "tell_citizen"]
    assert [e["action"] for e in detail["timeline"]] == [
        "file",
        "accept",
        "assign",
        "start",
        "reply",
    ]


# --- photos --------------------------------------------------------------------------------


async def test_photos_are_served_with_nosniff_and_no_store(staff_world: StaffWorld) -> None:
    rules, crew = staff_world.rules, await _crew()
    case = await _drive(rules, crew, S.ASSIGNED)
    ok = await _photo(staff_world, case)
    risky = await _photo(staff_world, case, check="risky")
    elsewhere = await _photo(staff_world, await _drive(rules, crew, S.ASSIGNED))
    handler = await staff_world.console("handler", "consumer")
    url = f"/staff/cases/{case.number}"

    _, page = await handler.get(url)
    for photo in (ok, risky):
        assert f'href="{url}/photos/{photo.id}/full"' in page
        assert f'src="{url}/photos/{photo.id}/thumb"' in page
    assert "内容安全检查:疑似违规" in page  # staff see flagged photos, marked

    media = staff_world.settings.media_dir
    for size, key in (("thumb", ok.thumb_key), ("full", ok.storage_key)):
        resp = await handler.client.get(f"{url}/photos/{ok.id}/{size}")
        assert resp.status == 200 and await resp.read() == (media / key).read_bytes()
        assert resp.headers["Content-Type"] == "image/jpeg"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in resp.headers["Cache-Control"]
    # Another case's photo through this case's address, a bad size or id: not found.
    paths = (f"{elsewhere.id}/full", f"{ok.id}/original", f"{ok.id}x/full", "%C2%B2/thumb")
    for path in paths:
        assert (await handler.client.get(f"{url}/photos/{path}")).status == 404


# --- duplicates and reply templates --------------------------------------------------------


async def test_suggested_duplicates_stay_inside_the_unit(staff_world: StaffWorld) -> None:
    rules, crew = staff_world.rules, await _crew()
    mine = await _drive(rules, crew, S.ASSIGNED)  # consumer unit, same shop as below
    theirs = await make_case(rules, category="food")
    for action, kw in (("accept", {}), ("assign", {"data": {"department": "food"}})):
        theirs, _ = await perform(rules, theirs.id, action, crew.intake, **kw)
    consumer_twin = await _drive(rules, crew, S.ASSIGNED)

    handler = await staff_world.console("handler", "consumer")
    _, body = await handler.get(f"/staff/cases/{mine.number}")
    assert "可能重复的案件" in body and consumer_twin.number in body
    assert theirs.number not in body
    intake = await staff_world.console("intake", "centre")
    _, body = await intake.get(f"/staff/cases/{mine.number}")
    assert theirs.number in body and consumer_twin.number in body
    assert f'name="into" value="{theirs.number}"' in body  # a one-click merge for intake


def test_the_reply_templates_of_every_profile_load() -> None:
    for path in REPLIES_DIR.glob("*.toml"):
        templates = load_reply_templates(path.stem)
        codes = [t.code for t in templates]
        assert templates and len(codes) == len(set(codes)), path.name
        assert all(t.title and t.facts and t.handling for t in templates), path.name


async def test_a_reply_starts_from_a_template(staff_world: StaffWorld) -> None:
    case = await _drive(staff_world.rules, await _crew(), S.IN_PROGRESS)
    handler = await staff_world.console("handler", "consumer")
    url = f"/staff/cases/{case.number}"
    _, page = await handler.get(url)
    assert "调解成功" in page and "举报属实" not in page  # only the complaint templates
    status, page = await handler.get(f"{url}?template=mediation_agreed")
    assert status == 200 and "已填入“调解成功”" in page
    assert (
        '经查(事实,必填)<textarea name="facts" required>您反映的城东便民超市' in page
    )  # $respondent_name filled in
    _, page = await handler.get(f"{url}?template=no_such_template")
    assert "已填入" not in page


# --- a deadline in a year whose holiday schedule is not published ----------------------------


async def test_a_deadline_in_an_unpublished_year_is_marked_provisional(
    staff_world: StaffWorld, api_client: TestClient[Any, Any]
) -> None:
    # Filed Friday 27 Dec 2030: triage ends Monday 30 Dec, acceptance (7 working days) in 2031,
    # a year no release of the holidays package knows yet. 2030 is entered, as an operator's
    # holidays file would (the app's rules are the ones read at start).
    staff_world.rules.calendar.overrides[2030] = YearTable(complete=False)
    filed = datetime(2030, 12, 27, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    case = await make_case(staff_world.rules, now=filed)
    intake = await staff_world.console("intake", "centre")
    status, page = await intake.get(f"/staff/cases/{case.number}")
    assert status == 200
    rows = dict(re.findall(r"<tr>\s*<td>([^<]+)</td>(.*?)</tr>", page, re.S))
    assert "暂定" in rows["受理决定"] and "暂定" not in rows["分流"]

    token = await _token(staff_world, "intake", "centre")
    body = await (await api_client.get(f"/api/staff/v1/cases/{case.number}", headers=token)).json()
    marks = {d["name"]: d["provisional"] for d in body["deadlines"]}
    assert marks["acceptance"] is True and marks["triage"] is False


async def _approve_by_console(staff_world: StaffWorld, url: str) -> None:
    leader = await staff_world.console("leader", "leaders")
    status, page = await leader.get(url)
    assert status == 200 and f'action="{url}/actions/approve_draft"' in page
    version = re.search(r'name="expected_version" value="([0-9]+)"', page)
    assert version is not None
    form = {"note": "同意", "expected_version": version.group(1)}
    assert (await leader.post(f"{url}/actions/approve_draft", form))[0] == 302


async def test_the_centres_rejection_waits_on_the_page_for_the_leader(
    staff_world: StaffWorld,
) -> None:
    # 000 第十八条: 不予受理 「报分管局长批准后,由承办机构负责回复投诉举报人」.
    case = await make_case(staff_world.rules)
    intake = await staff_world.console("intake", "centre")
    url = f"/staff/cases/{case.number}"
    status, page = await intake.get(url)
    assert status == 200 and "(报领导审批后告知市民)" in page
    reject_form = page[page.index(f'action="{url}/actions/reject"') :]
    assert reject_form[: reject_form.index("</form>")].count("<button") == 1
    assert "提交审批</button>" in reject_form[: reject_form.index("</form>")]
    data = {"reason_code": "over_one_year", "note": "超期", "expected_version": str(case.version)}
    resp = await intake.client.post(
        f"{url}/actions/reject", data={**data, "csrf": intake.csrf}, allow_redirects=False
    )
    assert resp.status == 302 and resp.headers["Location"] == f"{url}?done=draft"

    status, page = await intake.get(f"{url}?done=draft")
    assert "已提交领导审批,批准后才告知市民。" in page and "待领导审批" in page
    assert "理由:知道或应当知道权益受到侵害超过一年" in page
    assert f'action="{url}/actions/reject"' not in page  # one draft at a time
    assert f'action="{url}/actions/approve_draft"' not in page  # the leader's
    assert (await Case.get(id=case.id)).status == S.SUBMITTED
    assert not await Notice.filter(case_id=case.id, kind="rejected").exists()

    leader = await staff_world.console("leader", "leaders")
    _, page = await leader.get(url)
    assert "待领导审批" in page and f'action="{url}/actions/refuse_draft"' in page
    fresh = await Case.get(id=case.id)
    form = {"note": "请核实购买日期", "expected_version": str(fresh.version)}
    assert (await leader.post(f"{url}/actions/refuse_draft", form))[0] == 302
    _, page = await intake.get(url)
    assert "退回修改" in page and "请核实购买日期" in page and "待领导审批" not in page
    assert f'action="{url}/actions/reject"' in page  # the drafter may draft again

    fresh = await Case.get(id=case.id)
    assert (
        await intake.post(f"{url}/actions/reject", {**data, "expected_version": str(fresh.version)})
    )[0] == 302
    await _approve_by_console(staff_world, url)
    stored = await Case.get(id=case.id)
    assert stored.status == S.REJECTED
    notice = await Notice.get(case_id=case.id, kind="rejected")
    assert (await CaseEvent.get(id=notice.event_id)).note == "超期"


async def test_intake_records_by_console_how_the_citizen_was_told_of_a_rejection(
    staff_world: StaffWorld,
) -> None:
    case = await make_case(staff_world.rules)
    intake = await staff_world.console("intake", "centre")
    url = f"/staff/cases/{case.number}"
    await intake.get(url)
    data = {"reason_code": "over_one_year", "note": "超期", "expected_version": str(case.version)}
    assert (await intake.post(f"{url}/actions/reject", data))[0] == 302
    await _approve_by_console(staff_world, url)
    status, body = await intake.get(url)
    assert status == 200 and 'name="means"' in body and "短信" in body
    case = await Case.get(id=case.id)
    form = {
        "what": "rejected",
        "means": "sms",
        "note": "已短信告知",
        "expected_version": str(case.version),
    }
    assert (await intake.post(f"{url}/actions/tell_citizen", form))[0] == 302
    event = await CaseEvent.get(case_id=case.id, action="tell_citizen")
    assert event.data == {
        "what": "rejected",
        "what_name": "不予受理决定",
        "means": "sms",
        "means_name": "短信",
    }
    assert event.note == "已短信告知"
    clock = await CaseClock.get(case_id=case.id, name="rejection_notice")
    assert clock.stopped_at == event.at
    status, body = await intake.get(url)
    assert 'name="means"' not in body and "告知方式:短信" in body  # told: no second form


# --- issue 13: the steps the rulebooks demand ------------------------------------------------


async def test_the_centre_asks_to_extend_a_report_acceptance_and_a_leader_approves(
    staff_world: StaffWorld,
) -> None:
    # Seed 000, 行政处罚程序规定 第十七条: 「特殊情况下,可以延长至十五个工作日内决定是否立案」.
    case = await make_case(staff_world.rules, kind="report", category="price")
    url = f"/staff/cases/{case.number}"
    intake = await staff_world.console("intake", "centre")
    status, page = await intake.get(url)
    assert status == 200 and f'action="{url}/actions/request_extension"' in page
    assert "核查立案决定(最多延长 8 个工作日)" in page
    status, _ = await intake.post(
        f"{url}/actions/request_extension",
        {"clock": "acceptance", "amount": "8", "note": "需现场核查", "expected_version": "1"},
    )
    assert status == 302
    leader = await staff_world.console("leader", "leaders")
    status, listed = await leader.get("/staff/worklist")
    assert status == 200 and case.number in listed
    status, page = await leader.get(url)
    assert "申请“核查立案决定”延长 8 个工作日。理由:需现场核查" in page
    status, _ = await leader.post(f"{url}/actions/approve_extension", {"note": "同意"})
    assert status == 302
    clock = await CaseClock.get(case_id=case.id, name="acceptance", stopped_at__isnull=True)
    assert clock.extended_by == 8
    assert (await Notice.get(case_id=case.id, kind="extended")).payload["due_at"] == (
        clock.due_at.isoformat()
    )


async def test_the_handling_unit_refers_out_from_its_console(staff_world: StaffWorld) -> None:
    # Seed 000 第十八条: 「由承办机构负责回复投诉举报人、移送至其他机关」.
    rules, crew = staff_world.rules, await _crew()
    case = await _drive(rules, crew, S.IN_PROGRESS)
    url = f"/staff/cases/{case.number}"
    handler = await staff_world.console("handler", "consumer")
    status, page = await handler.get(url)
    assert status == 200 and f'action="{url}/actions/refer_out"' in page
    assert '<input name="referred_contact" required' in page
    typed = {"referred_to": "县人社局劳动监察大队", "expected_version": str(case.version)}
    status, body = await handler.post(f"{url}/actions/refer_out", typed)
    assert status == 422 and "联系该机关的方式" in _message(body)
    status, _ = await handler.post(
        f"{url}/actions/refer_out", {**typed, "referred_contact": "0571-12333"}
    )
    assert status == 302
    assert (await Case.get(id=case.id)).status == S.IN_PROGRESS  # 报分管局长批准后 it goes
    await _approve_by_console(staff_world, url)
    stored = await Case.get(id=case.id)
    assert stored.status == S.REFERRED_OUT
    assert stored.referred_to == "县人社局劳动监察大队(联系方式:0571-12333)"
    assert await Notice.filter(case_id=case.id, kind="referred").count() == 1


async def test_the_centre_pauses_a_quality_report_acceptance_for_testing(
    staff_world: StaffWorld,
) -> None:
    # Seed 000, 质量技术监督行政处罚程序规定 第十二条: 「检验、检测、检定、鉴定等所需时间,
    # 不计入前款规定期限」: the 15-day 核查立案 clock stops while samples are tested.
    case = await make_case(staff_world.rules, kind="report", category="product_quality")
    url = f"/staff/cases/{case.number}"
    intake = await staff_world.console("intake", "centre")
    status, page = await intake.get(url)
    assert f'action="{url}/actions/pause_clock"' in page
    assert f'action="{url}/actions/resume_clock"' not in page
    status, _ = await intake.post(
        f"{url}/actions/pause_clock", {"note": "样品送检", "expected_version": str(case.version)}
    )
    assert status == 302
    status, page = await intake.get(url)
    assert re.search(
        r"<td>核查立案决定</td>\s*<td>[^<]*</td>\s*<td><span class=\"muted\">已暂停计时", page
    )
    assert f'action="{url}/actions/resume_clock"' in page
    assert f'action="{url}/actions/pause_clock"' not in page
    clock = await CaseClock.get(case_id=case.id, name="acceptance", stopped_at__isnull=True)
    assert clock.paused_at is not None
    # A consumer complaint's acceptance counts testing time: no pause button.
    complaint = await make_case(staff_world.rules)
    status, page = await intake.get(f"/staff/cases/{complaint.number}")
    assert "/actions/pause_clock" not in page


async def test_the_api_drafts_a_rejection_and_a_leader_approves_it(
    staff_world: StaffWorld, api_client: TestClient[Any, Any]
) -> None:
    # 000 第十八条 through /cases/{number}/actions/{action}: the same call, a draft until approved.
    case = await make_case(staff_world.rules)
    intake = await _token(staff_world, "intake", "centre")
    leader = await _token(staff_world, "leader", "leaders")
    url = f"/api/staff/v1/cases/{case.number}"
    detail = await (await api_client.get(url, headers=intake)).json()
    reject = next(a for a in detail["actions"] if a["name"] == "reject")
    assert reject["needs_approval"] is True and detail["pending_draft"] is None
    typed = {"note": "超期", "data": {"reason_code": "over_one_year"}}

    resp = await api_client.post(f"{url}/actions/reject", json=typed, headers=intake)

    body = await resp.json()
    assert resp.status == 200 and body["status"] == "submitted"
    assert body["event"]["action"] == "draft"
    detail = await (await api_client.get(url, headers=leader)).json()
    assert detail["pending_draft"]["action"] == "reject"
    assert detail["pending_draft"]["details"] == {
        "理由": "知道或应当知道权益受到侵害超过一年,或无法证实权益受到侵害"
    }
    names = [a["name"] for a in detail["actions"]]
    assert "approve_draft" in names and "refuse_draft" in names
    assert not await Notice.filter(case_id=case.id, kind="rejected").exists()

    resp = await api_client.post(f"{url}/actions/approve_draft", json={}, headers=leader)

    body = await resp.json()
    assert resp.status == 200 and body["status"] == "rejected"
    assert body["event"]["action"] == "reject" and body["event"]["note"] == "超期"
    assert await Notice.filter(case_id=case.id, kind="rejected").count() == 1
    again = await api_client.post(f"{url}/actions/approve_draft", json={}, headers=leader)
    assert again.status == 409
