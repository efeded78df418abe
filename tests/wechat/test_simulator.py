"""The fake WeChat API's own rules, and pushes built by PushSigner and the XML helpers."""

from __future__ import annotations

import base64
import os
from typing import Any

import aiohttp
import pytest
import xmltodict
from aiohttp.test_utils import TestServer
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from tests.wechat.conftest import APPID, SECRET
from wechat.simulator import (
    FakeWeChat,
    ManualClock,
    PushSigner,
    event_xml,
    image_xml,
    location_xml,
    text_xml,
    voice_xml,
)

TOKEN = "push-token-1"
AES_KEY = base64.b64encode(os.urandom(32)).decode().rstrip("=")
OPENID = "oCitizen1"
ACCOUNT = "gh_0123456789ab"


async def _post(session: aiohttp.ClientSession, api: TestServer, path: str, body: Any) -> Any:
    async with session.post(api.make_url(path), json=body) as resp:
        assert resp.status == 200
        return await resp.json()


async def _get(session: aiohttp.ClientSession, api: TestServer, path: str, **query: str) -> Any:
    async with session.get(api.make_url(path), params=query) as resp:
        assert resp.status == 200
        return await resp.json()


def _stable(appid: str = APPID, secret: str = SECRET, force: bool = False) -> dict[str, Any]:
    return {
        "grant_type": "client_credential",
        "appid": appid,
        "secret": secret,
        "force_refresh": force,
    }


# --- fake API ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "appid, secret, errcode", [("wxUnknown", SECRET, 40013), (APPID, "wrong", 40125)]
)
async def test_stable_token_checks_appid_and_secret(
    session: aiohttp.ClientSession, api: TestServer, appid: str, secret: str, errcode: int
) -> None:
    ok = await _post(session, api, "/cgi-bin/stable_token", _stable())
    assert ok["expires_in"] == 7200

    refused = await _post(session, api, "/cgi-bin/stable_token", _stable(appid, secret))

    assert refused["errcode"] == errcode
    assert "access_token" not in refused


async def test_stable_token_normal_mode_returns_the_current_token(
    session: aiohttp.ClientSession, api: TestServer, clock: ManualClock
) -> None:
    first = await _post(session, api, "/cgi-bin/stable_token", _stable())
    clock.advance(1000)

    again = await _post(session, api, "/cgi-bin/stable_token", _stable())

    assert again == {"access_token": first["access_token"], "expires_in": 6200}


async def test_stable_token_rotates_in_the_last_300_seconds_keeping_the_old_valid(
    session: aiohttp.ClientSession, api: TestServer, fake: FakeWeChat, clock: ManualClock
) -> None:
    first = await _post(session, api, "/cgi-bin/stable_token", _stable())
    clock.advance(7200 - 300)

    second = await _post(session, api, "/cgi-bin/stable_token", _stable())

    assert second["access_token"] != first["access_token"]
    assert second["expires_in"] == 7200
    assert fake.check_token(first["access_token"]) == (APPID, 0)
    clock.advance(300)
    assert fake.check_token(first["access_token"]) == (None, 42001)
    assert fake.check_token(second["access_token"]) == (APPID, 0)


async def test_forced_refresh_invalidates_the_previous_token(
    session: aiohttp.ClientSession, api: TestServer, fake: FakeWeChat
) -> None:
    first = await _post(session, api, "/cgi-bin/stable_token", _stable())

    second = await _post(session, api, "/cgi-bin/stable_token", _stable(force=True))

    assert second["access_token"] != first["access_token"]
    answer = await _post(
        session, api, f"/cgi-bin/menu/create?access_token={first['access_token']}", {"button": []}
    )
    assert answer["errcode"] == 40001
    assert answer["errmsg"].startswith("invalid credential, access_token is invalid or not latest")
    assert fake.check_token(second["access_token"]) == (APPID, 0)


async def test_classic_token_invalidates_the_previous_classic_token_only(
    session: aiohttp.ClientSession, api: TestServer, fake: FakeWeChat
) -> None:
    stable = await _post(session, api, "/cgi-bin/stable_token", _stable())
    query = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    first = await _get(session, api, "/cgi-bin/token", **query)

    second = await _get(session, api, "/cgi-bin/token", **query)

    assert fake.check_token(first["access_token"]) == (None, 40001)
    assert fake.check_token(second["access_token"]) == (APPID, 0)
    assert fake.check_token(stable["access_token"]) == (APPID, 0)  # WeChat keeps them apart


async def test_missing_token_is_41001(session: aiohttp.ClientSession, api: TestServer) -> None:
    answer = await _get(session, api, "/cgi-bin/media/get", media_id="x")

    assert answer["errcode"] == 41001


async def test_injected_faults_are_used_once_in_order(
    session: aiohttp.ClientSession, api: TestServer, fake: FakeWeChat
) -> None:
    fake.fail_next("/cgi-bin/stable_token", 45009, -1)

    answers = [await _post(session, api, "/cgi-bin/stable_token", _stable()) for _ in range(3)]

    assert [a.get("errcode", 0) for a in answers] == [45009, -1, 0]
    assert fake.calls["/cgi-bin/stable_token"] == 3


# --- pushes -----------------------------------------------------------------------------------


def test_signature_matches_wechats_published_vector() -> None:
    # https://developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html
    signer = PushSigner("AAAAA", APPID)

    assert (
        signer.signature("1714036504", "1514711492") == "f464b24fc39322e44b38aa78f5edd27bd1441696"
    )


def test_plain_push_is_raw_xml_with_a_valid_signature() -> None:
    xml = text_xml(OPENID, ACCOUNT, "我要投诉", msg_id=1234567890123456789, create_time=1700000000)

    params, body = PushSigner(TOKEN, APPID).sign(xml, timestamp=1700000001, nonce="42")

    assert body == xml
    assert params == {
        "signature": params["signature"],
        "timestamp": "1700000001",
        "nonce": "42",
        "openid": OPENID,
    }
    check_signature(TOKEN, params["signature"], params["timestamp"], params["nonce"])
    with pytest.raises(InvalidSignatureException):
        check_signature("other-token", params["signature"], params["timestamp"], params["nonce"])


def test_safe_mode_push_decrypts_back_with_wechatpy() -> None:
    xml = text_xml(OPENID, ACCOUNT, "超市卖过期牛奶 ]]> 还不退货")
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)

    params, body = PushSigner(TOKEN, APPID, AES_KEY).sign(xml)

    assert params["encrypt_type"] == "aes"
    assert params["openid"] == OPENID
    check_signature(TOKEN, params["signature"], params["timestamp"], params["nonce"])
    envelope = xmltodict.parse(body)["xml"]
    assert set(envelope) == {"ToUserName", "Encrypt"}
    assert envelope["ToUserName"] == ACCOUNT
    plain = crypto.decrypt_message(
        body, params["msg_signature"], params["timestamp"], params["nonce"]
    )
    assert plain == xml
    assert parse_message(plain).content == "超市卖过期牛奶 ]]> 还不退货"
    with pytest.raises(InvalidSignatureException):
        crypto.decrypt_message(body, params["signature"], params["timestamp"], params["nonce"])


def test_safe_mode_push_for_another_appid_is_refused_by_wechatpy() -> None:
    params, body = PushSigner(TOKEN, "wxOther", AES_KEY).sign(text_xml(OPENID, ACCOUNT, "hi"))
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)

    with pytest.raises(InvalidAppIdException):
        crypto.decrypt_message(body, params["msg_signature"], params["timestamp"], params["nonce"])


def test_verify_params_sign_the_url_check() -> None:
    params = PushSigner(TOKEN, APPID).verify_params("echo-123", timestamp=1700000000, nonce="7")

    assert params["echostr"] == "echo-123"
    check_signature(TOKEN, params["signature"], "1700000000", "7")


# --- XML helpers, read back by wechatpy's parser --------------------------------------------


def test_text_xml() -> None:
    msg = parse_message(text_xml(OPENID, ACCOUNT, "查询 TS001", msg_id=99, create_time=1700000000))

    assert (msg.type, msg.source, msg.target, msg.content) == (
        "text",
        OPENID,
        ACCOUNT,
        "查询 TS001",
    )
    assert (msg.id, msg.time) == (99, 1700000000)


def test_image_xml() -> None:
    msg = parse_message(image_xml(OPENID, ACCOUNT, "MEDIA_1", "http://mmbiz.qpic.cn/1.jpg", 5))

    assert (msg.type, msg.media_id, msg.image, msg.id) == (
        "image",
        "MEDIA_1",
        "http://mmbiz.qpic.cn/1.jpg",
        5,
    )


def test_location_xml() -> None:
    msg = parse_message(location_xml(OPENID, ACCOUNT, 30.57, 104.06, "成都市锦江区东大街"))

    assert msg.type == "location"
    assert tuple(map(float, msg.location)) == (30.57, 104.06)
    assert msg.label == "成都市锦江区东大街"


@pytest.mark.parametrize(
    "event, key, expected",
    [
        ("subscribe", "", ("SubscribeEvent", "subscribe", "")),
        ("CLICK", "FILE_CASE", ("ClickEvent", "click", "FILE_CASE")),
        ("subscribe", "qrscene_case:TS001", ("SubscribeScanEvent", "subscribe_scan", "case:TS001")),
        ("SCAN", "case:TS001", ("ScanEvent", "scan", "case:TS001")),
    ],
)
def test_event_xml(event: str, key: str, expected: tuple[str, str, str]) -> None:
    msg = parse_message(event_xml(OPENID, ACCOUNT, event, key, create_time=1700000000))

    key_or_scene = getattr(msg, "scene_id", None) or getattr(msg, "key", None) or ""
    assert (type(msg).__name__, msg.event, key_or_scene) == expected
    assert (msg.source, msg.id, msg.time) == (OPENID, 0, 1700000000)


def test_event_xml_extra_fields() -> None:
    xml = event_xml(
        OPENID, ACCOUNT, "TEMPLATESENDJOBFINISH", extra={"MsgID": 7, "Status": "success"}
    )

    msg = parse_message(xml)

    assert msg.status == "success"


def test_voice_xml() -> None:
    msg = parse_message(voice_xml(OPENID, ACCOUNT, "VOICE_1", "我要投诉物业"))

    assert (msg.type, msg.media_id, msg.recognition, msg.format) == (
        "voice",
        "VOICE_1",
        "我要投诉物业",
        "amr",
    )


# --- answers as WeChat gives them (issue 15, item 18) ---------------------------------------


async def _token(session: aiohttp.ClientSession, api: TestServer) -> str:
    return str((await _post(session, api, "/cgi-bin/stable_token", _stable()))["access_token"])


async def _upload(
    session: aiohttp.ClientSession, api: TestServer, token: str, kind: str, data: bytes
) -> Any:
    form = aiohttp.FormData()
    form.add_field("media", data, filename="upload.bin", content_type="image/jpeg")
    url = api.make_url("/cgi-bin/media/upload")
    async with session.post(url, params={"access_token": token, "type": kind}, data=form) as r:
        assert r.status == 200
        return await r.json()


async def test_media_upload_checks_type_kind_and_size_and_feeds_media_get(
    session: aiohttp.ClientSession, api: TestServer, clock: ManualClock
) -> None:
    token = await _token(session, api)
    jpeg = b"\xff\xd8\xff\xe0" + b"\0" * 100
    answer = await _upload(session, api, token, "image", jpeg)
    assert answer.keys() == {"type", "media_id", "created_at"}
    assert answer["type"] == "image" and answer["created_at"] == int(clock())
    query = {"access_token": token, "media_id": answer["media_id"]}
    async with session.get(api.make_url("/cgi-bin/media/get"), params=query) as r:
        assert r.content_type == "image/jpeg" and await r.read() == jpeg

    assert (await _upload(session, api, token, "sticker", jpeg))["errcode"] == 40004
    # The kind is read from the bytes, not from the declared Content-Type.
    assert (await _upload(session, api, token, "image", b"%PDF-1.7"))["errcode"] == 40005
    assert (await _upload(session, api, token, "thumb", jpeg + b"\0" * 65536))["errcode"] == 40006
    assert (await _upload(session, api, token, "image", b""))["errcode"] == 41005
    async with session.post(
        api.make_url("/cgi-bin/media/upload"), params={"access_token": token, "type": "image"}
    ) as r:
        assert (await r.json())["errcode"] == 41005


async def test_menu_get_gives_back_the_menu_as_wechat_does(
    session: aiohttp.ClientSession, api: TestServer
) -> None:
    token = await _token(session, api)
    before = await _get(session, api, "/cgi-bin/menu/get", access_token=token)
    assert before["errcode"] == 46003
    click = {"type": "click", "name": "我要投诉", "key": "FILE"}
    sub = {"name": "查询", "sub_button": [{"type": "click", "name": "进度", "key": "TRACK"}]}
    url = api.make_url("/cgi-bin/menu/create")
    async with session.post(url, params={"access_token": token}, json={"button": [click, sub]}):
        pass
    got = await _get(session, api, "/cgi-bin/menu/get", access_token=token)
    assert got == {"menu": {"button": [{**click, "sub_button": []}, sub]}}


@pytest.mark.parametrize(
    ("key", "value", "accepted"),
    [
        ("thing1", "二十个字以内的事物说明二十个字以内的事物说", False),  # 21 characters
        ("thing1", "二十个字以内的事物说明", True),
        ("thing1", "", False),
        ("thing1", "  ", False),
        ("number2", "339208499", True),
        ("number2", "12.50", True),
        ("number2", "12a", False),
        ("number2", "1" * 33, False),
        ("car_number3", "粤A8Z888挂", True),
        ("car_number3", "粤A8Z888挂1", False),  # 9 characters
        ("car_number3", "粤粤8Z888", False),  # Chinese only first and last
        ("time4", "15:01", True),
        ("time4", "2019年10月1日 15:01", True),
        ("time4", "2023-08-21 22:48:54", True),
        ("time4", "2019年10月1日 15:01 ~ 2019年10月1日 16:00", True),
        ("time4", "明天下午", False),
        ("time4", "25:01", False),
        ("date5", "2019年10月1日", True),
        ("date5", "2019-10-01 15:01", True),
        ("date5", "十月一日", False),
        ("phrase6", "配送中", True),
        ("phrase6", "已受理ok", False),
        ("phrase6", "六个汉字太长", False),
        ("character_string7", "TS2026120800001", True),
        ("character_string7", "编号1", False),
        ("amount8", "¥100.50元", True),
        ("amount8", "一百元", False),
        ("phone_number9", "+86-0766-66888866", True),
        ("phone_number9", "电话", False),
        ("letter10", "abc", True),
        ("letter10", "abc1", False),
        ("symbol11", "~!", True),
        ("symbol11", "a!", False),
        ("name12", "张三", True),
        ("name12", "John Smith", True),
        ("name12", "十一个汉字的名字太长了啊", False),
    ],
)
async def test_subscribe_values_are_checked_by_type_as_wechat_does(
    session: aiohttp.ClientSession,
    api: TestServer,
    fake: FakeWeChat,
    key: str,
    value: str,
    accepted: bool,
) -> None:
    fake.grant_consent(APPID, OPENID, "tpl-progress")
    token = await _token(session, api)
    payload = {"touser": OPENID, "template_id": "tpl-progress", "data": {key: {"value": value}}}
    url = api.make_url("/cgi-bin/message/subscribe/send")
    async with session.post(url, params={"access_token": token}, json=payload) as r:
        answer = await r.json()
    assert answer["errcode"] == (0 if accepted else 47003), answer
    assert len(fake.subscribe_messages) == (1 if accepted else 0)


@pytest.mark.parametrize("version", [2, "2"])
async def test_content_checks_take_version_as_number_or_string(
    session: aiohttp.ClientSession, api: TestServer, version: object
) -> None:
    token = await _token(session, api)
    text = {"version": version, "openid": OPENID, "scene": 2, "content": "超市卖过期牛奶"}
    url = api.make_url("/wxa/msg_sec_check")
    async with session.post(url, params={"access_token": token}, json=text) as r:
        answer = await r.json()
    assert answer["errcode"] == 0 and answer["result"]["suggest"] == "pass"
    media = {"version": version, "openid": OPENID, "scene": 1, "media_type": 2}
    url = api.make_url("/wxa/media_check_async")
    async with session.post(
        url, params={"access_token": token}, json={**media, "media_url": "https://x.example/a.jpg"}
    ) as r:
        assert (await r.json())["errcode"] == 0
    for wrong in (1, "1", True, None):
        async with session.post(
            api.make_url("/wxa/msg_sec_check"),
            params={"access_token": token},
            json={**text, "version": wrong},
        ) as r:
            assert (await r.json())["errcode"] == 47001, wrong
