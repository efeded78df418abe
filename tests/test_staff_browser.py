"""End to end in headless Chromium: a citizen files by chat, intake triages in the console, the
handler replies, and the citizen's template message arrives in the WeChat simulator."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from cases.auth.accounts import create_staff
from complaint_desk.app import create_app
from complaint_desk.keys import DEMO_WECHAT
from tests.test_simulator_page import _free_port, demo_settings
from wechat.simulator import PushSigner, text_xml

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

PASSWORD = "a-staff-password-for-tests"
OPENID = "oCitizenInTheBrowserTest"
FACTS = "经查,该超市确有销售过期牛奶的行为。"
HANDLING = "已责令其为您办理退货并赔偿,并依法立案调查。"
DIALOGUE = [
    ("投诉", "哪一类"),
    ("1", "对象"),
    ("城东便民超市", "什么时候"),
    ("跳过", "在哪里"),
    ("跳过", "事情经过"),
    ("11月20日在该超市购买的牛奶已过保质期,要求退货被拒绝。", "怎样处理"),
    ("退货并赔偿", "照片"),
    ("跳过", "手机号"),
    ("13800000000", "请核对"),
    ("确认", "已提交"),
]


@pytest.fixture
async def demo(aiohttp_server: AiohttpServer, database_url: str, tmp_path: Path) -> TestServer:
    port = _free_port()
    return await aiohttp_server(
        create_app(demo_settings(database_url, tmp_path / "data", port)), port=port
    )


async def file_by_chat(demo: TestServer) -> str:
    """The citizen's whole dialogue as signed WeChat pushes; returns the case number."""
    signer = PushSigner("demo-token", "wxdemo0000000000oa")
    reply = ""
    async with aiohttp.ClientSession() as session:
        for i, (text, expected) in enumerate(DIALOGUE):
            params, body = signer.sign(
                text_xml(OPENID, "gh_demo", text, str(7_000 + i), int(time.time()))
            )
            async with session.post(
                demo.make_url("/wechat/oa"), params=params, data=body.encode()
            ) as resp:
                reply = await resp.text()
            assert expected in reply, reply
    match = re.search(r"[A-Z]{2}\d{8,}", reply)
    assert match, reply
    return match.group(0)


async def sign_in(browser: Browser, demo: TestServer, username: str) -> Page:
    from playwright.async_api import expect

    page = await (await browser.new_context()).new_page()
    await page.goto(str(demo.make_url("/staff/")))
    await expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(re.compile(r"/staff/worklist"))
    return page


async def test_triage_reply_and_the_citizen_is_told(demo: TestServer, screenshots: Browser) -> None:
    from playwright.async_api import expect

    await create_staff("zhao.intake", PASSWORD, "intake", "centre", "赵受理")
    await create_staff("qian.handler", PASSWORD, "handler", "consumer", "钱承办")
    number = await file_by_chat(demo)

    intake = await sign_in(screenshots, demo, "zhao.intake")
    await intake.get_by_role("link", name=number).click()
    await expect(intake.get_by_role("heading", name=re.compile(number))).to_be_visible()
    await intake.locator("form#accept button[type=submit]").click()
    await expect(intake.locator(".ok")).to_contain_text("受理")
    await intake.locator("form#assign select[name=department]").select_option("consumer")
    await intake.locator("form#assign button[type=submit]").click()
    await expect(intake.locator(".ok")).to_contain_text("交办")

    handler = await sign_in(screenshots, demo, "qian.handler")
    await handler.get_by_role("link", name=number).click()
    await handler.locator("form#start button[type=submit]").click()
    await expect(handler.locator(".ok")).to_contain_text("开始办理")
    await handler.locator("form#reply textarea[name=facts]").fill(FACTS)
    await handler.locator("form#reply textarea[name=handling]").fill(HANDLING)
    await handler.locator("form#reply button[type=submit]").click()
    await expect(handler.locator(".ok")).to_contain_text("答复")
    await expect(handler.locator("body")).to_contain_text(HANDLING)

    # The citizen's side: the WeChat simulator page shows the template message.
    citizen = await (await screenshots.new_context()).new_page()
    await citizen.goto(str(demo.make_url("/simulator/")))
    await citizen.fill("#openid", OPENID)
    replied = citizen.locator("#notices .notice").filter(has_text="demo-case-replied")
    await expect(replied).to_contain_text(number, timeout=15_000)
    assert demo.app is not None
    sent = [m for m in demo.app[DEMO_WECHAT].template_messages if m.openid == OPENID]
    assert {m.template_id for m in sent} >= {"demo-case-accepted", "demo-case-replied"}


async def test_the_case_timeline_reads_in_chinese(demo: TestServer, screenshots: Browser) -> None:
    """A case whose acceptance notice WeChat refused, pressed by intake: the timeline names every
    entry in words and says why the citizen was not reached, with no codes and no English."""
    from playwright.async_api import expect

    from cases.store.models import CaseEvent, Notice
    from cases.workflow.engine import Actor, perform
    from cases.workflow.outbox import _failed
    from complaint_desk.keys import RULES
    from tests.factories import make_case
    from wechat.errors import WeChatError

    assert demo.app is not None
    rules = demo.app[RULES]
    actor = Actor.of_staff(await create_staff("sun.intake", PASSWORD, "intake", "centre", "孙受理"))
    case = await make_case(rules)
    # Intake accepts; the acceptance notice is refused by WeChat (consent withdrawn).
    case, _ = await perform(rules, case.id, "accept", actor)
    for notice in await Notice.filter(case_id=case.id):
        error = WeChatError(43101, "user refuse to accept the msg")
        await _failed(notice, str(error), False, notice.next_attempt_at, "43101")

    page = await sign_in(screenshots, demo, "sun.intake")
    await page.goto(str(demo.make_url(f"/staff/cases/{case.number}")))
    await page.locator("form#remind button[type=submit]").click()
    await expect(page.locator(".ok")).to_contain_text("已催办")
    timeline = page.locator("section.card").filter(has=page.get_by_role("heading", name="办理记录"))
    await expect(timeline).to_contain_text("通知未能送达")
    await expect(timeline).to_contain_text("用户未订阅或已拒收该消息")
    text = await timeline.inner_text()
    actions = set(await CaseEvent.filter(case_id=case.id).values_list("action", flat=True))
    assert {"file", "accept", "notice_failed", "remind"} <= actions
    for code in actions:
        assert code not in text, code
    assert not re.search(r"[A-Za-z]{3,}", text), text  # no errcode, no English reason
