"""A running app with the bot, talking to the fake WeChat API, and a citizen who chats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest
import xmltodict
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer
from wechatpy.crypto import WeChatCrypto

from bot.webhook import TASKS
from complaint_desk.app import create_app
from config.settings import Settings
from wechat.simulator import (
    FakeWeChat,
    PushSigner,
    create_fake_wechat_app,
    event_xml,
    image_xml,
    text_xml,
)

OA_APPID = "wx00000000000000aa"
OA_SECRET = "oa-app-secret-for-tests"
OA_TOKEN = "oa-token-for-tests"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_testaccount"
_ids = count(1000)


@dataclass
class Chat:
    """One citizen chatting with the official account, as WeChat would deliver it."""

    client: TestClient[Any, Any]
    signer: PushSigner
    openid: str
    safe: bool

    async def push(self, xml: str, *, timestamp: int | None = None) -> tuple[int, str]:
        params, body = self.signer.sign(xml, timestamp=timestamp)
        resp = await self.client.post("/wechat/oa", params=params, data=body.encode())
        text = await resp.text()
        if resp.status != 200 or text == "success":
            return resp.status, text
        if self.safe:
            crypto = WeChatCrypto(OA_TOKEN, AES_KEY, OA_APPID)
            enc = xmltodict.parse(text)["xml"]
            text = crypto.decrypt_message(text, enc["MsgSignature"], enc["TimeStamp"], enc["Nonce"])
        return resp.status, text

    async def say(self, content: str) -> str:
        xml = text_xml(self.openid, ACCOUNT, content, str(next(_ids)), int(time.time()))
        status, reply = await self.push(xml)
        assert status == 200, reply
        return reply_content(reply)

    async def send_image(self, media_id: str) -> str:
        xml = image_xml(
            self.openid, ACCOUNT, media_id, "http://mmbiz/pic", str(next(_ids)), int(time.time())
        )
        status, reply = await self.push(xml)
        assert status == 200, reply
        return reply_content(reply)

    async def click(self, key: str) -> str:
        xml = event_xml(self.openid, ACCOUNT, "CLICK", key, int(time.time()))
        status, reply = await self.push(xml)
        assert status == 200, reply
        return reply_content(reply)

    async def settle(self) -> None:
        """Wait for background work (photo downloads) started by the last pushes."""
        app = self.client.server.app
        assert app is not None
        for sub in app._subapps:
            tasks = sub.get(TASKS)
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)


def reply_content(xml: str) -> str:
    if xml == "success":
        return ""
    return str(xmltodict.parse(xml)["xml"]["Content"])


@dataclass
class BotWorld:
    fake: FakeWeChat
    settings: Settings
    client: TestClient[Any, Any]
    make_chat: Callable[..., Chat]


@pytest.fixture
async def fake_wechat(aiohttp_server: AiohttpServer) -> tuple[FakeWeChat, TestServer]:
    fake = FakeWeChat(apps={OA_APPID: OA_SECRET})
    server = await aiohttp_server(create_fake_wechat_app(fake))
    return fake, server


@pytest.fixture(params=["plain", "safe"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def bot_settings(
    make_settings: Callable[..., Settings], wechat: TestServer, **overrides: Any
) -> Settings:
    """Settings of an app whose official account talks to the fake WeChat `wechat`."""
    return make_settings(
        wechat__api_base=str(wechat.make_url("")).rstrip("/"),
        wechat__oa__appid=OA_APPID,
        wechat__oa__secret=OA_SECRET,
        wechat__oa__token=OA_TOKEN,
        wechat__oa__aes_key=AES_KEY,
        **overrides,
    )


@pytest.fixture
async def bot(
    aiohttp_client: AiohttpClient,
    make_settings: Callable[..., Settings],
    fake_wechat: tuple[FakeWeChat, TestServer],
) -> BotWorld:
    fake, server = fake_wechat
    settings = bot_settings(make_settings, server, worker__in_process=False)
    client = await aiohttp_client(create_app(settings))

    def make_chat(openid: str = "", safe: bool = False) -> Chat:
        signer = PushSigner(OA_TOKEN, OA_APPID, AES_KEY if safe else "")
        return Chat(client, signer, openid or f"oCitizen{next(_ids)}", safe)

    return BotWorld(fake, settings, client, make_chat)
