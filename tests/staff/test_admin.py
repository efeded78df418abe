"""Admin pages: only admins; accounts created and disabled (sessions end); config shown with
its sources."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from cases.store.models import StaffSession, StaffUser, Status
from cases.workflow.engine import perform
from config.staff_text import load_staff_text
from tests.cases.test_workflow import World
from tests.staff.conftest import StaffWorld, sign_in


async def test_only_admins_open_the_admin_page(staff_world: StaffWorld) -> None:
    for role, department in (("intake", "centre"), ("handler", "consumer"), ("leader", "leaders")):
        console = await staff_world.console(role, department)
        status, body = await console.get("/staff/admin")
        assert status == 403 and "只有管理员" in body


async def test_the_admin_page_shows_policies_with_their_source(staff_world: StaffWorld) -> None:
    admin = await staff_world.console("admin")
    status, body = await admin.get("/staff/admin")
    assert status == 200
    catalog = staff_world.rules.catalog
    policy = catalog.policies[0]
    # A policy is named by what it applies to (its own name is a code).
    assert catalog.severities[policy.severities[0]].name in body
    assert policy.clocks[0].label in body
    for reason in catalog.reasons.values():
        assert reason.text in body
    # Cited as staff read them (cases/staff_text.py: no seed numbers).
    cite = load_staff_text().citation
    assert any(
        c.source and html.escape(cite(c.source))[:12] in body
        for p in catalog.policies
        for c in p.clocks
    )
    assert "消费者权益保护科" in body


async def test_the_admin_page_reads_citations_and_actions_in_words(
    staff_world: StaffWorld,
) -> None:
    """The profile's sources carry the research notes' seed numbers and English remarks
    ("004 12312分流", "DESIGN.md", "(applied to all cases)"); the page shows neither, nor
    action codes for when a clock starts and stops."""
    catalog = staff_world.rules.catalog
    sources = [c.source for p in catalog.policies for c in p.clocks]
    assert any(re.search(r"[A-Za-z]{3,}|\b00\d ", s) for s in sources)  # the case to handle
    admin = await staff_world.console("admin")
    status, body = await admin.get("/staff/admin")
    assert status == 200
    policies = html.unescape(re.sub(r"<[^>]+>", " ", body[body.index("<h2>办理期限</h2>") :]))
    assert not re.search(r"[A-Za-z]{3,}", policies), re.findall(r"[A-Za-z_.]{3,}", policies)
    assert not re.search(r"(?<!\d)00\d ", policies)
    assert "12312分流" in policies and "受理、重新办理" in policies


async def test_admin_creates_and_disables_an_account(staff_world: StaffWorld) -> None:
    admin = await staff_world.console("admin")
    await admin.get("/staff/admin")
    status, _ = await admin.post(
        "/staff/admin/staff",
        {
            "username": "wang.handler",
            "display_name": "王科员",
            "role": "handler",
            "department": "food",
            "password": "a-long-enough-password",
        },
    )
    assert status == 302
    user = await StaffUser.get(username="wang.handler")
    assert user.role == "handler" and user.password_hash.startswith("$argon2")

    theirs = await staff_world.new_client()
    assert (await sign_in(theirs, "wang.handler", "a-long-enough-password")).status == 302
    assert await StaffSession.exists(user_id=user.id)
    status, _ = await admin.post(f"/staff/admin/staff/{user.id}/disable", {})
    assert status == 302
    assert not await StaffSession.exists(user_id=user.id)
    assert (await theirs.get("/staff/worklist", allow_redirects=False)).status == 302


async def test_bad_accounts_are_refused_with_the_reason(staff_world: StaffWorld) -> None:
    admin = await staff_world.console("admin")
    await admin.get("/staff/admin")
    status, body = await admin.post(
        "/staff/admin/staff",
        {"username": "x", "role": "handler", "department": "", "password": "short"},
    )
    assert status == 422 and "password" in body
    assert not await StaffUser.exists(username="x")
    forged = await admin.client.post(
        "/staff/admin/staff",
        data={"csrf": "nope", "username": "y", "role": "intake", "password": "p" * 12},
        allow_redirects=False,
    )
    assert forged.status == 403 and not await StaffUser.exists(username="y")


async def test_the_admin_page_counts_substantiated_complaints_per_staff_member(
    staff_world: StaffWorld,
) -> None:
    world = await World(staff_world.rules).setup()
    at = datetime(2026, 5, 6, 2, 0, tzinfo=UTC)
    numbers = []
    for finding in ("substantiated", "partly_substantiated", "unsubstantiated"):
        case = await world.drive_to(Status.REPLIED)
        data = {"finding": finding, "named_staff": "钱七"}
        await perform(world.rules, case.id, "close", world.intake, data=data, now=at)
        numbers.append(case.number)
    admin = await staff_world.console("admin")
    status, body = await admin.get("/staff/admin?year=2026")
    assert status == 200 and "工作人员被投诉查实情况(2026年)" in body
    assert "<td>钱七</td><td>2</td><td>通报批评</td>" in body
    assert numbers[0] in body and numbers[1] in body and numbers[2] not in body
    assert "一年内1次,诫勉" in body  # the thresholds, from the profile
    status, body = await admin.get("/staff/admin?year=2025")
    assert status == 200 and "2025年没有经查实的针对工作人员的投诉" in body
    status, body = await admin.get("/staff/admin?year=twenty")
    assert status == 422 and "年份请写四位数字" in body
