"""What a push body is trusted with: its de-duplication key, identity links, the reply XML and
the log lines it can reach (issue 15, items 4, 5, 9, 10)."""

from __future__ import annotations

import logging
import time
from xml.etree import ElementTree

import pytest
import xmltodict

from cases.store.models import Citizen
from complaint_desk.keys import RULES
from tests.bot.conftest import ACCOUNT, BotWorld, reply_content
from tests.factories import make_case
from wechat.simulator import text_xml


async def test_another_sender_reusing_a_msgid_gets_their_own_answer(bot: BotWorld) -> None:
    """A MsgId is unique per sender only: the key is sender + MsgId, as WeChat documents."""
    first, second = bot.make_chat(), bot.make_chat()
    now = int(time.time())
    status, reply = await first.push(text_xml(first.openid, ACCOUNT, "投诉", 4242, now))
    assert status == 200 and "哪一类" in reply_content(reply)
    status, reply = await second.push(text_xml(second.openid, ACCOUNT, "帮助", 4242, now))
    assert status == 200
    answer = xmltodict.parse(reply)["xml"]
    assert answer["ToUserName"] == second.openid
    assert "哪一类" not in answer["Content"]
    # Their own answer: the help text, as a fresh push with a new MsgId gets it.
    assert answer["Content"] == await second.say("帮助")
    # The first sender's retry still gets the first answer.
    status, again = await first.push(text_xml(first.openid, ACCOUNT, "投诉", 4242, now))
    assert xmltodict.parse(again)["xml"]["ToUserName"] == first.openid
    assert "哪一类" in reply_content(again)


async def test_a_unionid_in_a_push_links_no_identity(bot: BotWorld) -> None:
    """A push's UnionId is not vouched for: it must not reach a mini-program citizen's cases."""
    victim = await Citizen.create(mp_openid="oMiniVictim", unionid="uVictim")
    rules = bot.client.server.app[RULES]  # type: ignore[index]
    case = await make_case(rules, citizen=victim, channel="mini_program")
    chat = bot.make_chat()
    xml = text_xml(chat.openid, ACCOUNT, "查询", 777001, int(time.time()))
    forged = xml.replace("</xml>", "<UnionId><![CDATA[uVictim]]></UnionId></xml>")
    status, reply = await chat.push(forged)
    assert status == 200
    assert case.number not in reply_content(reply)
    attacker = await Citizen.get(oa_openid=chat.openid)
    assert attacker.id != victim.id and attacker.unionid is None
    await victim.refresh_from_db()
    assert victim.oa_openid is None
    # The victim's own mini-program identity still lists the case (the case is there to find).
    assert await victim.cases.all().values_list("number", flat=True) == [case.number]


BREAKOUT = "城东]]></Content><MsgType><![CDATA[image]]></MsgType><Content><![CDATA[超市"


async def test_citizen_text_cannot_end_the_reply_s_cdata(bot: BotWorld, mode: str) -> None:
    """A respondent name with `]]>` echoed in the summary stays text: one MsgType, whole name."""
    chat = bot.make_chat(safe=mode == "safe")
    for text in ("投诉", "1", BREAKOUT, "跳过", "跳过", "买到的牛奶已过期,商家拒绝退货。"):
        await chat.say(text)
    await chat.say("退货")
    await chat.say("跳过")  # no photos
    xml = text_xml(chat.openid, ACCOUNT, "13800000000", 880001, int(time.time()))
    status, reply = await chat.push(xml)
    assert status == 200
    answer = xmltodict.parse(reply)["xml"]
    assert answer["MsgType"] == "text"  # a second MsgType would make this a list
    assert len(ElementTree.fromstring(reply).findall("MsgType")) == 1
    assert "请核对" in answer["Content"] and BREAKOUT in answer["Content"]


async def test_a_pushed_field_with_a_newline_forges_no_log_line(
    bot: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """A MediaId carrying a newline and a fake log line is logged on one, escaped, line."""
    caplog.set_level(logging.DEBUG, logger="bot")
    chat = bot.make_chat()
    for text in ("投诉", "1", "城东便民超市", "跳过", "跳过", "买到的牛奶已过期,商家拒绝退货。"):
        await chat.say(text)
    assert "照片" in await chat.say("退货")
    forged = (
        "media-1\n2026-12-08 00:00:00,000 WARNING cases.workflow.outbox: notice 1 failed for good"
    )
    assert "已收到第 1 张" in await chat.send_image(forged)
    await chat.settle()
    citizen = await Citizen.get(oa_openid=chat.openid)
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.handlers.photos"]
    assert len(lines) == 1
    assert lines[0].startswith(
        "photo media-1\\n2026-12-08 00:00:00,000 WARNING cases.workflow.outbox: notice 1 failed for good"
        f" of citizen {citizen.id} not kept: "
    )
    assert all("\n" not in r.getMessage() for r in caplog.records)
