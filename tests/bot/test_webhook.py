"""Webhook hardening: signatures in both modes, URL check, retries, malformed and big bodies."""

from __future__ import annotations

import time

import pytest

from bot import webhook
from bot.context import BotContext
from cases.store.models import Citizen, ConversationState, PushReceipt
from tests.bot.conftest import ACCOUNT, OA_TOKEN, BotWorld, reply_content
from wechat.simulator import PushSigner, event_xml, text_xml


async def test_url_verification_echoes_only_for_our_signature(bot: BotWorld) -> None:
    signer = PushSigner(OA_TOKEN, "wx")
    params, _ = signer.sign("<xml/>")
    ok = await bot.client.get("/wechat/oa", params={**params, "echostr": "4711"})
    assert ok.status == 200 and await ok.text() == "4711"
    forged = await bot.client.get(
        "/wechat/oa", params={**params, "signature": "0" * 40, "echostr": "4711"}
    )
    assert forged.status == 403 and await forged.text() == "invalid signature"
    missing = await bot.client.get("/wechat/oa", params={"echostr": "4711"})
    assert missing.status == 403


async def test_follow_gets_a_welcome_in_plain_and_safe_mode(bot: BotWorld, mode: str) -> None:
    chat = bot.make_chat(safe=mode == "safe")
    xml = event_xml(chat.openid, ACCOUNT, "subscribe", "", int(time.time()))
    status, reply = await chat.push(xml)
    assert status == 200
    assert reply_content(reply).startswith("您好,欢迎关注")
    assert await Citizen.exists(oa_openid=chat.openid)


async def test_bad_signature_is_refused_and_does_nothing(bot: BotWorld, mode: str) -> None:
    chat = bot.make_chat(safe=mode == "safe")
    xml = text_xml(chat.openid, ACCOUNT, "投诉", "1", int(time.time()))
    params, body = chat.signer.sign(xml)
    key = "msg_signature" if mode == "safe" else "signature"
    forged = {**params, key: "f" * 40}
    resp = await bot.client.post("/wechat/oa", params=forged, data=body.encode())
    assert resp.status == 403
    assert not await Citizen.exists(oa_openid=chat.openid)
    # The same push correctly signed is accepted: the refusal was the signature.
    resp = await bot.client.post("/wechat/oa", params=params, data=body.encode())
    assert resp.status == 200 and await Citizen.exists(oa_openid=chat.openid)


async def test_stale_timestamp_is_refused(bot: BotWorld) -> None:
    chat = bot.make_chat()
    xml = text_xml(chat.openid, ACCOUNT, "帮助", "2", int(time.time()))
    status, _ = await chat.push(xml, timestamp=int(time.time()) - 3600)
    assert status == 403
    status, _ = await chat.push(xml)
    assert status == 200


async def test_a_retried_push_acts_once_and_answers_the_same(bot: BotWorld, mode: str) -> None:
    chat = bot.make_chat(safe=mode == "safe")
    xml = text_xml(chat.openid, ACCOUNT, "投诉", "9001", int(time.time()))
    first = await chat.push(xml)
    second = await chat.push(xml)
    assert first[0] == second[0] == 200
    assert reply_content(first[1]) == reply_content(second[1])
    assert "哪一类" in reply_content(first[1])
    assert await PushReceipt.filter(key=f"oa:msg:{chat.openid}:9001").count() == 1
    # Had the retry acted twice, the draft would be past the category question.
    after = await chat.say("1")
    assert "对象" in after


async def test_malformed_xml_entities_and_big_bodies_get_4xx(bot: BotWorld) -> None:
    chat = bot.make_chat()
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>'
        "<xml><ToUserName>a</ToUserName><FromUserName>&a;</FromUserName>"
        "<CreateTime>1</CreateTime><MsgType>text</MsgType></xml>"
    )
    cases = {
        "<xml><ToUserName>a</ToUser": 400,
        bomb: 400,
        "<xml><Foo>1</Foo></xml>": 400,
        "<xml>" + "<Content>x</Content>" * 6000 + "</xml>": 413,
    }
    # Plain-mode signatures cover only token, timestamp and nonce, not the body.
    params, _ = chat.signer.sign("<xml/>")
    for body, expected in cases.items():
        resp = await bot.client.post("/wechat/oa", params=params, data=body.encode())
        assert resp.status == expected, body[:40]
    # A well-formed push through the same path is fine.
    status, _ = await chat.push(text_xml(chat.openid, ACCOUNT, "帮助", "77", int(time.time())))
    assert status == 200


async def test_unknown_message_types_are_explained(bot: BotWorld) -> None:
    chat = bot.make_chat()
    xml = (
        f"<xml><ToUserName>{ACCOUNT}</ToUserName><FromUserName>{chat.openid}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>video</MsgType>"
        "<MediaId>m</MediaId><MsgId>555</MsgId></xml>"
    )
    status, reply = await chat.push(xml)
    assert status == 200 and "只能看懂文字、语音、照片和位置" in reply_content(reply)


async def test_a_push_whose_handler_fails_leaves_nothing_half_done(
    bot: BotWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The draft step, the receipt and the answer commit together or not at all."""
    chat = bot.make_chat()
    assert "哪一类" in await chat.say("投诉")
    real_dispatch = webhook.dispatch

    async def dispatch_then_fail(ctx: BotContext) -> str | None:
        await real_dispatch(ctx)  # saves the next step of the draft ...
        raise RuntimeError("disk full")  # ... and then the push fails

    monkeypatch.setattr(webhook, "dispatch", dispatch_then_fail)
    xml = text_xml(chat.openid, ACCOUNT, "1", "9100", int(time.time()))
    status, reply = await chat.push(xml)
    assert status == 200 and "请稍后再发送一次" in reply_content(reply)
    state = await ConversationState.get(openid=chat.openid)
    assert state.data["step"] == "category"  # the failed push moved nothing

    monkeypatch.setattr(webhook, "dispatch", real_dispatch)
    assert reply_content((await chat.push(xml))[1]) == reply_content(reply)  # WeChat's retry
    assert "对象" in await chat.say("1")  # sent again by the citizen: it now goes through
