"""What a push body is trusted with: its de-duplication key, identity links, the reply XML and
the log lines it can reach (issue 15, items 4, 5, 9, 10)."""

from __future__ import annotations

import time

import xmltodict

from cases.models import Citizen
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
