"""Answering 要求补充材料 in the chat: messages and photos become the supplement."""

from __future__ import annotations

from cases.rules import Rules
from cases.store.models import Case, CaseEvent, Citizen, EvidenceFile, Status
from cases.workflow.engine import perform
from complaint_desk.keys import RULES
from tests.bot.conftest import BotWorld, Chat
from tests.bot.test_filing import gps_jpeg
from tests.factories import make_case, make_citizen, make_staff


def _rules(bot: BotWorld) -> Rules:
    app = bot.client.server.app
    assert app is not None
    return app[RULES]


async def _waiting_case(bot: BotWorld, chat: Chat, asked: str = "请补充购物小票照片") -> Case:
    """A case of this chat's citizen on which the intake centre asked for more information."""
    citizen = await Citizen.get_or_none(oa_openid=chat.openid)
    citizen = citizen or await make_citizen(oa_openid=chat.openid)
    case = await make_case(_rules(bot), citizen=citizen)
    intake = await make_staff("intake", "centre")
    case, _ = await perform(_rules(bot), case.id, "request_info", intake, note=asked)
    assert case.status == Status.NEEDS_INFO
    return case


async def test_text_and_photos_answer_a_request_for_information(bot: BotWorld) -> None:
    chat = bot.make_chat()
    case = await _waiting_case(bot, chat)
    first = await chat.say("小票找到了,是11月20日下午买的,金额12元。")
    assert case.number in first and "确认" in first and "欢迎" not in first
    media_id = bot.fake.add_media(gps_jpeg("red"), "image/jpeg")
    assert case.number in await chat.send_image(media_id)
    await chat.settle()
    done = await chat.say("确认")
    assert "已提交" in done and case.number in done
    case = await Case.get(id=case.id)
    assert case.status == Status.SUBMITTED
    event = await CaseEvent.get(case_id=case.id, action="supplement")
    assert event.actor_kind == "citizen" and "小票找到了" in event.note and "1 张" in event.note
    assert await EvidenceFile.filter(case_id=case.id).count() == 1
    # Afterwards the chat is back to normal: nothing waits any more.
    assert "补充" not in await chat.say("你好")


async def test_a_photo_alone_starts_the_supplement_and_cancel_keeps_the_request(
    bot: BotWorld,
) -> None:
    chat = bot.make_chat()
    case = await _waiting_case(bot, chat)
    media_id = bot.fake.add_media(gps_jpeg("blue"), "image/jpeg")
    reply = await chat.send_image(media_id)
    assert case.number in reply and "确认" in reply
    await chat.settle()
    assert "已取消" in await chat.say("取消")
    case = await Case.get(id=case.id)
    assert case.status == Status.NEEDS_INFO
    assert not await CaseEvent.exists(case_id=case.id, action="supplement")


async def test_the_keyword_lists_the_cases_waiting_and_asks_which(bot: BotWorld) -> None:
    chat = bot.make_chat()
    assert "没有" in await chat.say("补充材料")
    first = await _waiting_case(bot, chat, "请补充购物小票照片")
    second = await make_case(_rules(bot), citizen=await first.citizen)
    await perform(
        _rules(bot),
        second.id,
        "request_info",
        await make_staff("intake", "centre"),
        note="请说明商家的具体地址",
    )
    listing = await chat.say("补充材料")
    assert first.number in listing and second.number in listing
    assert "请补充购物小票照片" in listing and "请说明商家的具体地址" in listing
    chosen = await chat.say("2")
    assert second.number in chosen and "请说明商家的具体地址" in chosen
    await chat.say("商家在城关镇东大街12号,门口有绿色招牌。")
    assert second.number in await chat.say("确认")
    assert (await Case.get(id=second.id)).status == Status.SUBMITTED
    assert (await Case.get(id=first.id)).status == Status.NEEDS_INFO


async def test_a_message_with_two_cases_waiting_is_kept_while_the_citizen_chooses(
    bot: BotWorld,
) -> None:
    chat = bot.make_chat()
    first = await _waiting_case(bot, chat)
    second = await make_case(_rules(bot), citizen=await first.citizen)
    await perform(
        _rules(bot),
        second.id,
        "request_info",
        await make_staff("intake", "centre"),
        note="请说明商家的具体地址",
    )
    ask = await chat.say("商家地址是城关镇东大街12号。")
    assert first.number in ask and second.number in ask
    assert "看不懂" not in ask
    nonsense = await chat.say("什么")
    assert "没看懂" in nonsense and second.number in nonsense
    assert second.number in await chat.say("2")
    await chat.say("确认")
    event = await CaseEvent.get(case_id=second.id, action="supplement")
    assert "东大街12号" in event.note and "什么" not in event.note
