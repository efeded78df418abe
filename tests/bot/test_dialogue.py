"""What the citizen may say in a dialogue: keywords mid-draft, natural answers, names, ratings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpClient

from cases.intake.incident_time import parse_incident_time
from cases.store.models import Case, ConversationState, Survey
from cases.workflow.engine import perform
from complaint_desk.app import create_app
from complaint_desk.keys import RULES
from config.settings import Settings
from tests.bot.conftest import BotWorld, Chat, bot_settings
from tests.bot.test_filing import at_photos_step
from tests.factories import make_case, make_citizen, make_staff
from wechat.simulator import FakeWeChat

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _answers(chat: Chat) -> dict[str, object]:
    state = await ConversationState.get(openid=chat.openid)
    return dict(state.data["answers"])


# Item 6: keywords in the middle of a draft.


async def test_a_kind_keyword_at_a_step_asks_before_abandoning_the_draft(bot: BotWorld) -> None:
    chat = bot.make_chat()
    await chat.click("FILE_complaint")
    assert "对象" in await chat.say("1")
    asked = await chat.say("我要举报")
    assert "投诉" in asked and "放弃" in asked and "继续" in asked
    assert "respondent_name" not in await _answers(chat)
    assert "对象" in await chat.say("继续")
    assert "什么时候" in await chat.say("城东便民超市")
    assert (await _answers(chat))["respondent_name"] == "城东便民超市"


async def test_a_menu_click_mid_draft_asks_and_keeps_the_draft_until_told(bot: BotWorld) -> None:
    chat = bot.make_chat()
    await chat.click("FILE_complaint")
    await chat.say("1")
    await chat.say("城东便民超市")
    asked = await chat.click("FILE_report")
    assert "放弃" in asked and "举报" in asked
    state = await ConversationState.get(openid=chat.openid)
    assert state.data["kind"] == "complaint"
    assert state.data["answers"]["respondent_name"] == "城东便民超市"
    started = await chat.say("放弃")
    assert "举报属于哪一类" in started
    state = await ConversationState.get(openid=chat.openid)
    assert state.data["kind"] == "report" and state.data["answers"] == {}


# Item 7: natural answers.


def test_relative_incident_times() -> None:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)  # a Wednesday
    assert parse_incident_time("昨天下午", now) == datetime(2026, 11, 24, 15, 0, tzinfo=SHANGHAI)
    assert parse_incident_time("前天三点", now) == datetime(2026, 11, 23, 15, 0, tzinfo=SHANGHAI)
    assert parse_incident_time("前天凌晨三点", now) == datetime(2026, 11, 23, 3, tzinfo=SHANGHAI)
    assert parse_incident_time("上周五", now) == datetime(2026, 11, 20, 0, 0, tzinfo=SHANGHAI)
    assert parse_incident_time("上星期五晚上8点半", now) == datetime(
        2026, 11, 20, 20, 30, tzinfo=SHANGHAI
    )
    assert parse_incident_time("周一上午十点", now) == datetime(2026, 11, 23, 10, tzinfo=SHANGHAI)
    assert parse_incident_time("今天十二点", now) == datetime(2026, 11, 25, 12, tzinfo=SHANGHAI)
    assert parse_incident_time("三天前", now) == datetime(2026, 11, 22, 0, 0, tzinfo=SHANGHAI)
    # The day names of the current week that are still to come mean last week's.
    assert parse_incident_time("周五", now) == datetime(2026, 11, 20, 0, 0, tzinfo=SHANGHAI)
    assert parse_incident_time("随便", now) is None


async def test_natural_words_end_the_photo_step(bot: BotWorld) -> None:
    for words in ("好了", "就这些", "没有了"):
        chat = await at_photos_step(bot)
        assert "手机号" in await chat.say(words)


async def test_nonsense_gets_a_short_not_understood_not_the_welcome(bot: BotWorld) -> None:
    chat = bot.make_chat()
    reply = await chat.say("嗯嗯啊啊")
    assert reply.startswith("没看懂") and "欢迎" not in reply and "投诉" in reply
    assert "欢迎" in await chat.say("你好")
    await chat.click("FILE_complaint")
    await chat.say("1")
    await chat.say("城东便民超市")
    unclear = await chat.say("嗯嗯啊啊")
    assert unclear.startswith("没看懂") and "什么时候" in unclear


async def test_dates_in_the_summary_and_a_future_time_refused(bot: BotWorld) -> None:
    chat = bot.make_chat()
    await chat.click("FILE_complaint")
    await chat.say("1")
    await chat.say("城东便民超市")
    refused = await chat.say("2099年1月1日")
    assert "还没到" in refused and "什么时候" in refused
    await chat.say("11月20日")
    for answer in ("跳过", "买到的牛奶已经过期了,店员拒绝退货。", "退货", "好了"):
        await chat.say(answer)
    summary = await chat.say("13800000000")
    assert "时间:11月20日\n" in summary and "00:00" not in summary
    await chat.say("返回")
    await chat.say("返回")
    await chat.say("返回")
    await chat.say("返回")
    await chat.say("返回")
    assert "什么时候" in await chat.say("返回")
    await chat.say("昨天 下午3点")
    for answer in ("跳过", "买到的牛奶已经过期了,店员拒绝退货。", "退货", "好了"):
        await chat.say(answer)
    summary = await chat.say("13800000000")
    yesterday = datetime.now(SHANGHAI) - timedelta(days=1)
    assert f"时间:{yesterday.month}月{yesterday.day}日 15:00\n" in summary


async def test_a_consultation_is_asked_its_question_not_what_happened(bot: BotWorld) -> None:
    chat = bot.make_chat()
    await chat.say("咨询")
    asked = await chat.say("7")
    assert "事情经过" not in asked and "咨询" in asked
    await chat.say("个体户办营业执照需要带哪些材料?")
    summary = await chat.say("跳过")
    assert "经过:" not in summary and "问题:个体户办营业执照" in summary


# Item 8: names where real names are required; a second survey answer.


async def test_the_hospital_asks_the_complainants_name(
    aiohttp_client: AiohttpClient,
    make_settings: Callable[..., Settings],
    fake_wechat: tuple[FakeWeChat, TestServer],
) -> None:
    fake, server = fake_wechat
    settings = bot_settings(
        make_settings, server, worker__in_process=False, organisation__profile="hospital"
    )
    world = BotWorld(fake, settings, await aiohttp_client(create_app(settings)), lambda: None)
    from tests.bot.conftest import OA_APPID, OA_TOKEN, PushSigner

    chat = Chat(world.client, PushSigner(OA_TOKEN, OA_APPID, ""), "oHospitalPatient", False)
    await chat.click("FILE_complaint")
    asked = [await chat.say(a) for a in ("1", "内科门诊", "跳过", "跳过")]
    asked.append(await chat.say("挂号后等了三个小时,没有人告知原因。"))
    asked.append(await chat.say("请说明原因并道歉"))
    asked.append(await chat.say("好了"))
    assert "姓名" in asked[-1]
    assert "手机号" in await chat.say("王芳")
    summary = await chat.say("13800000000")
    assert "姓名:王芳" in summary
    assert (await chat.say("确认")).startswith("已提交")
    case = await Case.get(citizen__oa_openid=chat.openid)
    assert case.contact_name == "王芳"


async def test_a_second_survey_answer_is_thanked_not_welcomed(bot: BotWorld) -> None:
    app = bot.client.server.app
    assert app is not None
    rules = app[RULES]
    chat = bot.make_chat()
    case = await make_case(rules, citizen=await make_citizen(oa_openid=chat.openid))
    intake = await make_staff("intake", "centre")
    handler = await make_staff("handler", "consumer")
    for action, who, kw in (
        ("accept", intake, {}),
        ("assign", intake, {"data": {"department": "consumer"}}),
        ("start", handler, {}),
        ("reply", handler, {"note": "商家已同意退货。"}),
        ("close", intake, {"data": {"finding": "mediated"}}),
    ):
        await perform(rules, case.id, action, who, **kw)
    now = datetime.now(UTC)
    await Survey.filter(case_id=case.id).update(
        invite_at=now - timedelta(hours=1), closes_at=now + timedelta(days=14)
    )
    assert "感谢" in await chat.say("1")
    again = await chat.say("满意")
    assert "已评价" in again and "欢迎" not in again
