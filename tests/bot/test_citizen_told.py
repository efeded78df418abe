"""查询 tells the citizen the date of the stage they wait for, never an internal clock (issue 14)."""

from __future__ import annotations

from datetime import timedelta

from cases.rules import Rules
from cases.store.models import Case, CaseClock
from cases.workflow.engine import perform
from complaint_desk.keys import RULES
from tests.bot.conftest import BotWorld
from tests.bot.test_filing import at_photos_step, file_complaint_with_photos, gps_jpeg
from tests.factories import make_case, make_citizen, make_staff


async def _day(rules: Rules, case: Case, name: str) -> str:
    """The last day the case's running clock `name` covers, as the bot writes it."""
    clock = await CaseClock.get(case_id=case.id, name=name, stopped_at__isnull=True)
    last = (clock.due_at - timedelta(microseconds=1)).astimezone(rules.timezone)
    return f"{last.month}月{last.day}日"


async def test_status_shows_the_promised_date_of_each_stage(bot: BotWorld) -> None:
    app = bot.client.server.app
    assert app is not None
    rules = app[RULES]
    chat = bot.make_chat()
    case = await make_case(rules, citizen=await make_citizen(oa_openid=chat.openid))

    filed = await chat.say(f"查询 {case.number}")
    assert f"受理决定期限:{await _day(rules, case, 'acceptance')}" in filed
    assert "分流" not in filed

    intake = await make_staff("intake", "centre")
    await perform(rules, case.id, "accept", intake)
    await perform(rules, case.id, "assign", intake, data={"department": "consumer"})
    assigned = await chat.say(f"查询 {case.number}")
    assert f"办理期限:{await _day(rules, case, 'handling')}" in assigned
    assert "退回" not in assigned and "期限期限" not in assigned


async def test_a_photo_that_could_not_be_kept_is_not_counted(bot: BotWorld) -> None:
    chat = await at_photos_step(bot)
    good = bot.fake.add_media(gps_jpeg("red"), "image/jpeg")
    assert "已收到第 1 张" in await chat.send_image(good)
    await chat.settle()
    bad = bot.fake.add_media(b"this is not a picture", "image/jpeg")
    await chat.send_image(bad)
    await chat.settle()
    [apology] = [
        m[1]["text"]["content"] for m in bot.fake.sent_messages if m[1]["touser"] == chat.openid
    ]
    assert "没能保存" in apology and "。)" not in apology and "。。" not in apology
    assert "已收到第 2 张" in await chat.send_image(
        bot.fake.add_media(gps_jpeg("blue"), "image/jpeg")
    )
    await chat.settle()
    assert "手机号" in await chat.say("完成")
    assert "照片:2 张" in await chat.say("138 0000 0000")


async def test_the_filing_reply_promises_the_date_that_status_shows(bot: BotWorld) -> None:
    chat = bot.make_chat()
    done = await file_complaint_with_photos(bot, chat)
    case = await Case.get(citizen__oa_openid=chat.openid)
    rules = bot.client.server.app[RULES]  # type: ignore[index]
    due = await _day(rules, case, "acceptance")
    assert f"我们将在 {due} 前给出受理意见" in done
    assert f"受理决定期限:{due}" in await chat.say(f"查询 {case.number}")


async def test_status_of_a_case_waiting_for_the_citizen_says_so(bot: BotWorld) -> None:
    # The acceptance clock stops while the office waits for the citizen's material: 查询 must
    # not tell them a test or appraisal is under way.
    rules = bot.client.server.app[RULES]  # type: ignore[index]
    chat = bot.make_chat()
    case = await make_case(rules, citizen=await make_citizen(oa_openid=chat.openid))
    intake = await make_staff("intake", "centre")
    await perform(rules, case.id, "request_info", intake, note="请补充购物小票照片")
    shown = await chat.say(f"查询 {case.number}")
    assert "受理决定期限:等您补充材料,暂停计时" in shown
    assert "检测" not in shown and "鉴定" not in shown
