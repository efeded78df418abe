"""What staff can do and read on the case page and their list (issue 14, item 9): 催办/督办 from
the case page, a leader's refusal of an extension, why a closed case is on the leader's list,
a timeline in words, and one way of showing a deadline."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cases.store.models import CaseClock, CaseEvent, Notice, Status
from cases.workflow.actions import ACTIONS, event_label
from cases.workflow.engine import perform
from cases.workflow.outbox import _failed
from cases.workflow.surveys import answer_survey
from config.staff_text import load_staff_text
from tests.factories import make_case
from tests.staff.conftest import StaffWorld
from tests.staff.test_case_page import _crew, _drive
from tests.staff.test_worklist import api_get
from wechat.errors import WeChatError

S = Status
ROOT = Path(__file__).resolve().parents[2]


def _section(body: str, heading: str) -> str:
    """The text of the page's card under `heading`, tags removed."""
    start = body.index(f"<h2>{heading}")
    end = body.find("</section>", start)
    return html.unescape(re.sub(r"<[^>]+>", " ", body[start:end]))


# --- the timeline in words -----------------------------------------------------------------


def test_every_event_the_code_writes_has_a_label() -> None:
    """Every action passed to `record_event` anywhere, workflow or not, is named in words."""
    written: set[str] = set()
    paths = [*ROOT.glob("cases/**/*.py"), *ROOT.glob("bot/**/*.py"), *ROOT.glob("wechat/*.py")]
    sources = {path: path.read_text(encoding="utf-8") for path in paths}
    for path, source in sources.items():
        written |= set(re.findall(r'record_event\(\s*\w+,\s*"([a-z_]+)"', source))
        # Actions written through a module constant (retention's ANONYMISED, DRAFT_EVENT …),
        # defined in this module or one it imports.
        for name in re.findall(r"record_event\(\s*\w+,\s*([A-Z_]+),", source):
            pattern = re.compile(rf'^{name} = "([a-z_]+)"', re.MULTILINE)
            found = [m.group(1) for text in sources.values() if (m := pattern.search(text))]
            assert len(found) == 1, (path, name)
            written.add(found[0])
    written |= {"remind", "supervise"}  # cases/views/supervision.py passes its action through
    assert {"file", "notice_failed", "reminder", "recalendar", "view_identity"} <= written
    unlabelled = {
        a for a in written | set(ACTIONS) if not re.search(r"[\u4e00-\u9fff]", event_label(a))
    }
    assert unlabelled == set()
    assert all(event_label(a) != a for a in written)


async def test_the_timeline_names_every_entry_and_says_why_a_notice_failed(
    staff_world: StaffWorld,
) -> None:
    rules, crew = staff_world.rules, await _crew()
    case = await _drive(rules, crew, S.IN_PROGRESS)
    now = datetime.now(UTC)
    # The acceptance notice refused by WeChat (the citizen withdrew consent), as the outbox
    # records it; and an entry written before the reason was kept (only the technical note).
    accepted = await Notice.get(case_id=case.id, kind="accepted")
    await _failed(
        accepted, str(WeChatError(43101, "user refuse to accept the msg")), False, now, "43101"
    )
    await _failed(accepted, str(WeChatError(40003)), False, now)
    intake = await staff_world.console("intake", "centre")
    await intake.post(f"/staff/cases/{case.number}/remind", {"back": f"/staff/cases/{case.number}"})

    status, body = await intake.get(f"/staff/cases/{case.number}")
    assert status == 200
    timeline = _section(body, "办理记录")
    assert "受理通知未能送达:用户未订阅或已拒收该消息" in timeline
    assert "受理通知未能送达:市民的微信账号标识无效" in timeline
    assert "通知未能送达" in timeline and "催办" in timeline
    actions = set(await CaseEvent.filter(case_id=case.id).values_list("action", flat=True))
    assert {"notice_failed", "remind", "accept", "assign"} <= actions
    for code in actions:
        assert code not in timeline, code
    # No English but the test accounts' own names ("intake 5").
    names = set(await CaseEvent.filter(case_id=case.id).values_list("actor_name", flat=True))
    words = timeline
    for name in names:
        words = words.replace(name, "")
    assert not re.search(r"[A-Za-z]{3,}", words), words
    # The API keeps the code and gives the same words.
    status, detail = await api_get(intake, f"/api/staff/v1/cases/{case.number}")
    failed = [e for e in detail["timeline"] if e["action"] == "notice_failed"]
    assert [e["label"] for e in failed] == ["通知未能送达"] * 2
    assert failed[0]["note"] == "受理通知未能送达:用户未订阅或已拒收该消息"


def test_every_wechat_error_the_client_knows_has_words() -> None:
    from wechat.errors import ERRCODE_NAMES, TOKEN_ERRCODES

    words = load_staff_text()
    # Errors a notice can end with (token errors are retried by the client, not reported).
    reported = (
        set(ERRCODE_NAMES) - {40002, 40007, 40016, 40029, 40125, 40163, 40226} - TOKEN_ERRCODES
    )
    missing = {code for code in reported if str(code) not in words.delivery_errors}
    assert missing == set()


# --- 催办 / 督办 from the case page ---------------------------------------------------------


async def test_intake_and_leaders_press_any_working_case_from_its_page(
    staff_world: StaffWorld,
) -> None:
    rules, crew = staff_world.rules, await _crew()
    case = await _drive(rules, crew, S.IN_PROGRESS)  # on time: not on the supervision list
    closed = await _drive(rules, crew, S.CLOSED)
    page = f"/staff/cases/{case.number}"
    intake = await staff_world.console("intake", "centre")
    leader = await staff_world.console("leader", "leaders")
    handler = await staff_world.console("handler", "consumer")

    status, body = await intake.get(page)
    assert status == 200 and 'id="remind"' in body and 'id="supervise"' in body
    resp = await intake.client.post(
        f"{page}/remind", data={"csrf": intake.csrf, "back": page}, allow_redirects=False
    )
    assert resp.status == 303
    status, body = await intake.get(resp.headers["Location"])
    assert "已催办,已记入办理记录。" in body

    status, body = await leader.get(page)
    assert 'id="supervise"' in body
    status, body = await leader.post(
        f"{page}/supervise", {"note": "请三日内报送进展。", "back": page}
    )
    assert status == 303

    status, body = await handler.get(page)
    assert status == 200 and 'id="remind"' not in body and 'id="supervise"' not in body
    status, _ = await handler.post(f"{page}/remind", {"back": page})
    assert status == 403
    status, body = await intake.get(f"/staff/cases/{closed.number}")
    assert 'id="remind"' not in body

    events = await CaseEvent.filter(case_id=case.id, action__in=["remind", "supervise"]).order_by(
        "id"
    )
    assert [(e.action, e.note, e.public) for e in events] == [
        ("remind", "", False),
        ("supervise", "请三日内报送进展。", False),
    ]
    assert events[0].data["department"] == "consumer"


# --- refusing an extension -----------------------------------------------------------------


async def test_a_leader_refuses_an_extension_with_a_reason_the_handler_reads(
    staff_world: StaffWorld,
) -> None:
    rules, crew = staff_world.rules, await _crew()
    case = await _drive(rules, crew, S.IN_PROGRESS)
    case, _ = await perform(
        rules, case.id, "request_extension", crew.handler, note="需要抽样检测", data={"amount": 10}
    )
    page = f"/staff/cases/{case.number}"
    leader = await staff_world.console("leader", "leaders")
    status, body = await leader.get("/staff/worklist")
    assert case.number in body
    status, body = await leader.get(page)
    assert 'id="refuse_extension"' in body and 'id="approve_extension"' in body
    before = await CaseClock.get(case_id=case.id, name="handling")

    status, body = await leader.post(
        f"{page}/actions/refuse_extension", {"expected_version": str(case.version)}
    )
    assert status == 422 and "需要填写说明" in body
    reason = "检测可在期限内完成,请按期办结。"
    status, _ = await leader.post(
        f"{page}/actions/refuse_extension",
        {"expected_version": str(case.version), "note": reason},
    )
    assert status == 302

    event = await CaseEvent.get(case_id=case.id, action="refuse_extension")
    assert (event.note, event.public, event.data["asked"]) == (reason, False, 10)
    after = await CaseClock.get(case_id=case.id, name="handling")
    assert (after.due_at, after.extended_by) == (before.due_at, before.extended_by)
    assert not await Notice.exists(event_id=event.id)  # the citizen never heard of the request
    status, body = await leader.get("/staff/worklist")
    assert case.number not in body
    status, body = await leader.get(page)
    assert 'id="refuse_extension"' not in body and 'id="approve_extension"' not in body

    handler = await staff_world.console("handler", "consumer")
    status, body = await handler.get(page)
    assert "延期申请未获批准" in body and reason in body
    assert 'id="request_extension"' in body  # they may ask again, with better reasons
    assert "不批准延期" in _section(body, "办理记录")


# --- why a closed case is on the leader's list ---------------------------------------------


async def test_the_leaders_list_says_the_citizen_was_dissatisfied_and_why(
    staff_world: StaffWorld,
) -> None:
    rules, crew = staff_world.rules, await _crew()
    case = await _drive(rules, crew, S.CLOSED)
    comment = "商家至今没有退款"
    await answer_survey(
        rules, case, {"overall": "dissatisfied", "comment": comment}, "official_account"
    )
    leader = await staff_world.console("leader", "leaders")
    status, body = await leader.get("/staff/worklist")
    row = re.search(rf'href="/staff/cases/{case.number}">.*?</tr>', body, re.DOTALL)
    assert row is not None
    assert f"待复核:市民不满意。意见:{comment}" in html.unescape(row.group(0))

    status, listing = await api_get(leader, "/api/staff/v1/cases")
    listed = {r["number"]: r for r in listing["cases"]}
    assert listed[case.number]["review"] == {"level": "不满意", "comment": comment}


# --- one way to show a deadline ------------------------------------------------------------


async def test_a_day_based_deadline_reads_the_same_on_the_case_page_and_the_list(
    staff_world: StaffWorld,
) -> None:
    rules = staff_world.rules
    case = await make_case(rules)  # the acceptance decision: working days, ends at midnight
    clock = await CaseClock.get(case_id=case.id, name="acceptance")
    due = clock.due_at.astimezone(rules.timezone)
    assert (due.hour, due.minute) == (0, 0)
    last_day = (due - timedelta(days=1)).strftime("%Y-%m-%d")
    intake = await staff_world.console("intake", "centre")

    status, body = await intake.get(f"/staff/cases/{case.number}")
    deadlines = _section(body, "办理期限")
    assert f"{last_day} 24:00" in deadlines
    assert due.strftime("%Y-%m-%d 00:00") not in deadlines
    status, body = await intake.get(f"/staff/worklist?q={case.number}")
    row = re.search(rf'href="/staff/cases/{case.number}">.*?</tr>', body, re.DOTALL)
    assert row is not None
    # The row's headline deadline is written exactly as the case page writes it.
    shown = re.search(r"([^\s>]+)期限 (\d{4}-\d\d-\d\d \d\d:\d\d)", row.group(0))
    assert shown is not None and shown.group(2).endswith("24:00")
    assert re.search(rf"{shown.group(1)}\s+{shown.group(2)}", deadlines), (
        shown.groups(),
        deadlines,
    )
