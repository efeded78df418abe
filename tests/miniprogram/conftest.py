"""A running app with the mini-program API, the fake WeChat API, and signed-in citizens."""

from __future__ import annotations

import io
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer

from complaint_desk.app import create_app
from config.settings import Settings
from wechat.simulator import FakeWeChat, create_fake_wechat_app

MP_APPID = "wx00000000000000bb"
MP_SECRET = "mp-app-secret-for-tests"
MP_TOKEN = "mp-token-for-tests"
OA_APPID = "wx00000000000000aa"
OA_SECRET = "oa-app-secret-for-tests"
API = "/api/mp/v1"


@dataclass
class Citizen:
    openid: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class MpWorld:
    fake: FakeWeChat
    settings: Settings
    client: TestClient[Any, Any]

    async def login(self, openid: str = "", unionid: str = "") -> Citizen:
        openid = openid or f"oMini{uuid.uuid4().hex[:12]}"
        code = self.fake.login_code(MP_APPID, openid, unionid)
        resp = await self.client.post(f"{API}/auth/login", json={"code": code})
        assert resp.status == 200, await resp.text()
        return Citizen(openid, (await resp.json())["token"])

    async def call(
        self,
        method: str,
        path: str,
        who: Citizen | None = None,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        all_headers = {**(who.auth if who else {}), **(headers or {})}
        resp = await self.client.request(method, API + path, json=json, headers=all_headers)
        body = await resp.json() if resp.content_type == "application/json" else await resp.read()
        return resp.status, body

    async def get_link(self, url: str) -> ClientResponse:
        """Follow a link the API gave, as the mini-program's <image> does: absolute, on
        `[miniprogram] public_url`."""
        base = self.settings.miniprogram.public_url
        assert base and url.startswith(base + API + "/"), url
        return await self.client.get(url.removeprefix(base))

    async def upload(
        self,
        who: Citizen,
        data: bytes,
        filename: str = "photo.jpg",
        content_type: str = "image/jpeg",
    ) -> tuple[int, Any]:
        form = aiohttp.FormData()
        form.add_field("file", io.BytesIO(data), filename=filename, content_type=content_type)
        resp = await self.client.post(f"{API}/uploads", data=form, headers=who.auth)
        return resp.status, await resp.json()

    async def file(self, who: Citizen, key: str = "", **form: Any) -> tuple[int, Any]:
        body = {**complaint(), **form}
        headers = {"Idempotency-Key": key or str(uuid.uuid4())}
        return await self.call("POST", "/cases", who, json=body, headers=headers)


def complaint() -> dict[str, Any]:
    return {
        "kind": "complaint",
        "category": "consumer",
        "respondent_name": "城东便民超市",
        "description": "11月20日在该超市购买的牛奶已过保质期,要求退货被拒绝。",
        "demands": "退货并赔偿",
        "contact_name": "张女士",
        "contact_phone": "13800000000",
    }


MakeWorld = Callable[..., Awaitable[MpWorld]]


@pytest.fixture
def make_mp(
    aiohttp_client: AiohttpClient,
    aiohttp_server: AiohttpServer,
    make_settings: Callable[..., Settings],
) -> MakeWorld:
    """An app and its fake WeChat; keyword arguments override settings ('__' for dots)."""

    async def make(**overrides: Any) -> MpWorld:
        fake = FakeWeChat(apps={MP_APPID: MP_SECRET, OA_APPID: OA_SECRET})
        server: TestServer = await aiohttp_server(create_fake_wechat_app(fake))
        settings = make_settings(
            wechat__api_base=str(server.make_url("")).rstrip("/"),
            wechat__mp__appid=MP_APPID,
            wechat__mp__secret=MP_SECRET,
            wechat__mp__token=MP_TOKEN,
            wechat__oa__appid=OA_APPID,
            wechat__oa__secret=OA_SECRET,
            worker__in_process=False,
            miniprogram__public_url="https://desk.example.org",
            **overrides,
        )
        client = await aiohttp_client(create_app(settings))
        return MpWorld(fake, settings, client)

    return make


@pytest.fixture
async def mp(make_mp: MakeWorld) -> MpWorld:
    return await make_mp()
