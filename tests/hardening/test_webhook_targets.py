"""Issue 8, webhook targets W1–W8 (research anchors-style-reliability.md §B.1, §B.9).

Each test names the target it proves. The official account's webhook is `/wechat/oa`, the
mini-program's `/wechat/mp`; both go through wechat/push.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from cases.store.models import Citizen, ConversationState, EvidenceFile, PushReceipt
from cases.store.receipts import RECEIPT_KEEP, prune_push_receipts
from complaint_desk.app import create_app
from config.settings import ConfigError, Settings, load_settings
from tests.bot.conftest import (
    ACCOUNT,
    AES_KEY,
    OA_APPID,
    OA_TOKEN,
    BotWorld,
    Chat,
    bot_settings,
    reply_content,
)
from tests.images import encode, two_tone
from tests.miniprogram.conftest import MP_APPID, MP_TOKEN, MakeWorld, MpWorld
from wechat import push
from wechat.simulator import FakeWeChat, PushSigner, event_xml, media_check_xml, text_xml

OA = "/wechat/oa"
REFUSED_LOG = "wechat push refused"


def _now() -> int:
    return int(time.time())


async def _post(bot: BotWorld, params: dict[str, str], body: str | bytes) -> tuple[int, str]:
    data = body.encode() if isinstance(body, str) else body
    resp = await bot.client.post(OA, params=params, data=data)
    return resp.status, await resp.text()


async def _nothing_written() -> None:
    assert await Citizen.all().count() == 0
    assert await PushReceipt.all().count() == 0
    assert await ConversationState.all().count() == 0


# --- W1 / W8: signatures, the URL check ------------------------------------------------------


async def test_w1_unsigned_or_forged_requests_get_403_and_do_nothing(
    bot: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """W1: GET and POST without a valid signature → 403, nothing written, no outbound call,
    one security log line each (without the attacker's values)."""
    chat = bot.make_chat()
    params, body = chat.signer.sign(event_xml(chat.openid, ACCOUNT, "subscribe", "", _now()))
    forged = {**params, "signature": "0" * 40}
    wrong_token = PushSigner("not-our-token", OA_APPID).sign(body)[0]
    calls_before = sum(bot.fake.calls.values())
    caplog.set_level(logging.WARNING, logger="wechat.push")
    attempts: list[tuple[str, dict[str, str]]] = [
        ("POST", {}),
        ("POST", forged),
        ("POST", wrong_token),
        ("POST", {k: v for k, v in params.items() if k != "signature"}),
        ("GET", {**forged, "echostr": "4711"}),
        ("GET", {"echostr": "4711"}),
    ]
    for method, query in attempts:
        resp = await bot.client.request(method, OA, params=query, data=body.encode())
        assert resp.status == 403, (method, query)
        assert "4711" not in await resp.text()
    await _nothing_written()
    assert sum(bot.fake.calls.values()) == calls_before
    refusals = [r for r in caplog.records if REFUSED_LOG in r.getMessage()]
    assert len(refusals) == len(attempts)
    assert not any(chat.openid in r.getMessage() or "0" * 40 in r.getMessage() for r in refusals)


async def test_w8_echo_only_after_verification_as_text_plain(bot: BotWorld) -> None:
    """W8: echostr is returned only for our signature and a fresh timestamp, as text/plain."""
    signer = PushSigner(OA_TOKEN, OA_APPID)
    resp = await bot.client.get(OA, params=signer.verify_params("echo-8"))
    assert resp.status == 200 and await resp.text() == "echo-8"
    assert resp.content_type == "text/plain"
    stale = signer.verify_params("echo-8", timestamp=_now() - 3600)
    resp = await bot.client.get(OA, params=stale)
    assert resp.status == 403 and "echo-8" not in await resp.text()


# --- W2: the freshness window ----------------------------------------------------------------


async def test_w2_timestamp_window_is_300_seconds_either_way(
    bot: BotWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """W2: with an injected clock, ±301 s → 403 and nothing done; ±299 s → accepted."""
    clock = 1_800_000_000
    monkeypatch.setattr(push, "_now", lambda: float(clock))
    for offset, expected in ((-301, 403), (301, 403), (-299, 200), (299, 200)):
        chat = bot.make_chat()
        xml = event_xml(chat.openid, ACCOUNT, "subscribe", "", clock)
        status, _ = await chat.push(xml, timestamp=clock + offset)
        assert status == expected, offset
        assert await Citizen.exists(oa_openid=chat.openid) is (expected == 200)
    # The URL check keeps the same window.
    signer = PushSigner(OA_TOKEN, OA_APPID)
    old = await bot.client.get(OA, params=signer.verify_params("e", timestamp=clock - 301))
    assert old.status == 403


# --- W3: safe mode ---------------------------------------------------------------------------


@pytest.fixture
async def safe_only(
    aiohttp_client: AiohttpClient,
    make_settings: Callable[..., Settings],
    fake_wechat: tuple[FakeWeChat, Any],
) -> AsyncIterator[BotWorld]:
    """The bot with `[wechat.oa] require_safe_mode = true`."""
    fake, server = fake_wechat
    settings = bot_settings(
        make_settings, server, worker__in_process=False, wechat__oa__require_safe_mode=True
    )
    client = await aiohttp_client(create_app(settings))

    def make_chat(openid: str = "", safe: bool = True) -> Chat:
        signer = PushSigner(OA_TOKEN, OA_APPID, AES_KEY if safe else "")
        return Chat(client, signer, openid or f"oSafe{time.monotonic_ns()}", safe)

    yield BotWorld(fake, settings, client, make_chat)


async def test_w3_require_safe_mode_refuses_plain_pushes_but_not_the_url_check(
    safe_only: BotWorld,
) -> None:
    """W3: with require_safe_mode a correctly signed plain push → 403 and nothing done; the
    same push in safe mode is answered, and WeChat's URL check still echoes."""
    plain = safe_only.make_chat(safe=False)
    xml = event_xml(plain.openid, ACCOUNT, "subscribe", "", _now())
    status, text = await plain.push(xml)
    assert status == 403 and "safe mode" in text
    await _nothing_written()

    safe = safe_only.make_chat(openid=plain.openid, safe=True)
    status, reply = await safe.push(xml)
    assert status == 200 and reply_content(reply).startswith("您好,欢迎关注")

    params = PushSigner(OA_TOKEN, OA_APPID).verify_params("echo-3")
    resp = await safe_only.client.get(OA, params=params)
    assert resp.status == 200 and await resp.text() == "echo-3"


async def test_w3_msg_signature_is_checked_before_any_decryption(
    bot: BotWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """W3: a wrong msg_signature → 403 without the decryptor ever running; a push sealed for
    another appid → 403; nothing written."""
    chat = bot.make_chat(safe=True)
    params, body = chat.signer.sign(event_xml(chat.openid, ACCOUNT, "subscribe", "", _now()))

    def must_not_decrypt(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("decrypted before the signature was checked")

    monkeypatch.setattr(WeChatCrypto, "decrypt_message", must_not_decrypt)
    status, _ = await _post(bot, {**params, "msg_signature": "f" * 40}, body)
    assert status == 403
    monkeypatch.undo()

    foreign = PushSigner(OA_TOKEN, "wxSomeoneElse0000", AES_KEY)
    params, body = foreign.sign(event_xml(chat.openid, ACCOUNT, "subscribe", "", _now()))
    status, _ = await _post(bot, params, body)
    assert status == 403
    await _nothing_written()


async def test_w3_mini_program_push_honours_require_safe_mode(make_mp: MakeWorld) -> None:
    """W3: `[wechat.mp] require_safe_mode` refuses plain verdict pushes at /wechat/mp."""
    world = await make_mp(wechat__mp__aes_key=AES_KEY, wechat__mp__require_safe_mode=True)
    who = await world.login()
    assert (await world.upload(who, encode(two_tone())))[0] == 201
    [check] = world.fake.media_checks
    xml = media_check_xml(check, "gh_mini", "pass", 0)
    params, body = PushSigner(MP_TOKEN, MP_APPID).sign(xml)
    resp = await world.client.post("/wechat/mp", params=params, data=body.encode())
    assert resp.status == 403
    assert (await EvidenceFile.get()).content_check == "pending"
    params, body = PushSigner(MP_TOKEN, MP_APPID, AES_KEY).sign(xml)
    resp = await world.client.post("/wechat/mp", params=params, data=body.encode())
    assert resp.status == 200
    assert (await EvidenceFile.get()).content_check == "pass"


def test_w3_require_safe_mode_needs_an_aes_key_and_defaults_off(tmp_path: Any) -> None:
    """W3: the setting is off by default (demo, simulator), settable from the environment,
    and refused at start-up without an EncodingAESKey."""
    env = {"COMPLAINT_DESK_STORAGE_DATA_DIR": str(tmp_path)}
    assert load_settings(env=env).wechat.oa.require_safe_mode is False
    on = {**env, "COMPLAINT_DESK_WECHAT_OA_REQUIRE_SAFE_MODE": "true"}
    with pytest.raises(ConfigError, match="require_safe_mode"):
        load_settings(env=on)
    with_key = {**on, "COMPLAINT_DESK_WECHAT_OA_AES_KEY": AES_KEY}
    assert load_settings(env=with_key).wechat.oa.require_safe_mode is True


# --- W4: constant-time comparisons -----------------------------------------------------------


async def test_w4_signatures_are_compared_with_hmac_compare_digest(
    bot: BotWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """W4: both `signature` and, in safe mode, `msg_signature` are computed by us and
    compared with hmac.compare_digest."""
    compared: list[tuple[str, str]] = []
    real = push.hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((str(a), str(b)))
        return real(a, b)

    monkeypatch.setattr(push.hmac, "compare_digest", spy)
    chat = bot.make_chat(safe=True)
    params, body = chat.signer.sign(event_xml(chat.openid, ACCOUNT, "subscribe", "", _now()))
    status, _ = await _post(bot, params, body)
    assert status == 200
    assert (params["signature"], params["signature"]) in compared
    assert (params["msg_signature"], params["msg_signature"]) in compared


# --- W5: size and XML ------------------------------------------------------------------------


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
        await asyncio.sleep(0)


async def test_w5_bodies_over_64_kib_get_413_with_or_without_content_length(
    bot: BotWorld,
) -> None:
    """W5: > 64 KiB → 413, declared or chunked; a body arriving in many small chunks is read
    whole (not cut at the first chunk)."""
    chat = bot.make_chat()
    params, _ = chat.signer.sign("<xml/>")
    big = b"<xml>" + b"<Content>x</Content>" * 3300 + b"</xml>"  # 66 KiB
    assert len(big) > push.MAX_PUSH_BYTES
    assert (await _post(bot, params, big))[0] == 413
    resp = await bot.client.post(OA, params=params, data=_chunks(big, 4096))
    assert resp.status == 413
    await _nothing_written()

    # A legitimate push delivered in 50-byte chunks (no Content-Length) goes through.
    content = "超市卖过期牛奶" * 300
    xml = text_xml(chat.openid, ACCOUNT, content, "5005", _now()).encode()
    params, _ = chat.signer.sign(xml.decode())
    resp = await bot.client.post(OA, params=params, data=_chunks(xml, 50))
    assert resp.status == 200, await resp.text()
    assert await Citizen.exists(oa_openid=chat.openid)


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml ['
    '<!ENTITY a "aaaaaaaaaa">'
    + "".join(
        f'<!ENTITY {b} "{("&" + a + ";") * 10}">'
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "]><xml><ToUserName>gh</ToUserName><FromUserName>&i;</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>"
)


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        '<!DOCTYPE xml SYSTEM "http://evil.example/x.dtd"><xml><a>1</a></xml>',
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml>&e;</xml>',
        "<xml><ToUserName>a</ToUser",
        "not xml at all",
        "<xml><ToUserName><b>1</b></ToUserName></xml>",
        "\udcff",  # becomes an invalid UTF-8 byte
    ],
    ids=["billion-laughs", "external-dtd", "external-entity", "cut", "text", "nested", "bad-utf8"],
)
async def test_w5_dtds_entities_and_garbage_get_400_never_500(bot: BotWorld, body: str) -> None:
    """W5: XML with a DOCTYPE or entities, or not XML at all → 400 at once, never 500."""
    chat = bot.make_chat()
    params, _ = chat.signer.sign("<xml/>")
    data = body.encode("utf-8", errors="surrogateescape")
    started = time.perf_counter()
    status, _ = await _post(bot, params, data)
    assert status == 400
    assert time.perf_counter() - started < 1.0
    await _nothing_written()


async def test_w5_safe_mode_envelope_with_entities_or_bad_ciphertext_gets_400(
    bot: BotWorld,
) -> None:
    """W5: in safe mode too — an envelope with a DTD, or ciphertext that is correctly signed
    but does not decrypt — is a 400, not a 500."""
    chat = bot.make_chat(safe=True)
    params, _ = chat.signer.sign(event_xml(chat.openid, ACCOUNT, "subscribe", "", _now()))
    status, _ = await _post(bot, params, BILLION_LAUGHS)
    assert status == 400

    for junk in ("bm90IGNpcGhlcnRleHQ=", "!!!not base64!!!", "AAAA"):
        signer = WeChatSigner()
        signer.add_data(OA_TOKEN, params["timestamp"], params["nonce"], junk)
        signed = {**params, "msg_signature": signer.signature}
        body = f"<xml><ToUserName>{ACCOUNT}</ToUserName><Encrypt>{junk}</Encrypt></xml>"
        status, _ = await _post(bot, signed, body)
        assert status == 400, junk
    await _nothing_written()


# --- W6: replayed requests -------------------------------------------------------------------


async def test_w6_a_replayed_plain_request_with_another_body_has_no_effect(
    bot: BotWorld,
) -> None:
    """W6: the same timestamp + nonce + signature with a different body (plain-mode signatures
    do not cover it) is a duplicate: answered without acting and without the first answer."""
    victim = bot.make_chat()
    ts, nonce = _now(), "424242"
    first = text_xml(victim.openid, ACCOUNT, "投诉", "6001", ts)
    params, _ = victim.signer.sign(first, timestamp=ts, nonce=nonce)
    status, reply = await _post(bot, params, first)
    assert status == 200 and "哪一类" in reply_content(reply)
    assert await PushReceipt.exists(key=f"oa:nonce:{ts}:{nonce}")

    # Replays of the captured query string: another message of the victim, another citizen.
    attacker = "oAttacker0000000000000001"
    forged = [
        text_xml(victim.openid, ACCOUNT, "取消", "6002", ts),
        event_xml(attacker, ACCOUNT, "subscribe", "", ts),
    ]
    for body in forged:
        status, text = await _post(bot, params, body)
        assert (status, text) == (200, "success")
    assert not await Citizen.exists(oa_openid=attacker)
    assert not await PushReceipt.exists(key=f"oa:msg:{victim.openid}:6002")
    # The draft was not dropped by the replayed 取消: it continues at the category question.
    assert "对象" in await victim.say("1")


async def test_w6_a_genuine_retry_still_gets_the_first_answer(bot: BotWorld) -> None:
    """W6 with I1: WeChat's retry of the same push (same query and body, sequential and
    concurrent) is answered with the stored answer, acting once."""
    chat = bot.make_chat()
    xml = text_xml(chat.openid, ACCOUNT, "投诉", "6100", _now())
    params, _ = chat.signer.sign(xml)
    results = [await _post(bot, params, xml)]
    results += await asyncio.gather(*(_post(bot, params, xml) for _ in range(3)))
    assert {status for status, _ in results} == {200}
    assert len({text for _, text in results}) == 1 and "哪一类" in results[0][1]
    assert await PushReceipt.filter(key=f"oa:msg:{chat.openid}:6100").count() == 1


async def test_w6_a_replayed_mini_program_request_cannot_forge_a_verdict(mp: MpWorld) -> None:
    """W6 at /wechat/mp: a replayed query string with a 'pass' body does not change the
    verdict the first request set."""
    who = await mp.login()
    assert (await mp.upload(who, encode(two_tone())))[0] == 201
    [check] = mp.fake.media_checks
    signer = PushSigner(MP_TOKEN, MP_APPID)
    params, body = signer.sign(media_check_xml(check, "gh_mini", "risky", 20002))
    assert (await mp.client.post("/wechat/mp", params=params, data=body.encode())).status == 200
    forged = media_check_xml(check, "gh_mini", "pass", 0)
    resp = await mp.client.post("/wechat/mp", params=params, data=forged.encode())
    assert resp.status == 200 and await resp.text() == "success"
    assert (await EvidenceFile.get()).content_check == "risky"


async def test_w6_receipts_and_nonces_are_pruned_after_the_keep_period(bot: BotWorld) -> None:
    """W6/I4: nonce rows live in push_receipt and are pruned with the receipts by the sweep
    after RECEIPT_KEEP (≥ 24 h, far beyond the 300 s window); recent ones stay."""
    chat = bot.make_chat()
    await chat.say("帮助")
    assert await PushReceipt.filter(key__startswith="oa:nonce:").count() == 1
    assert RECEIPT_KEEP >= timedelta(hours=24)
    now = datetime.now(UTC)
    assert await prune_push_receipts(now) == 0
    await PushReceipt.all().update(created_at=now - RECEIPT_KEEP - timedelta(minutes=1))
    await chat.say("帮助")  # a new push: its rows are recent
    assert await prune_push_receipts(now) == 2
    assert await PushReceipt.all().count() == 2


async def test_w6_the_sweep_prunes_old_receipts(bot: BotWorld) -> None:
    """W6/I4: the periodic sweep (worker or in-process) does the pruning."""
    from cases.workflow.sweeps import run_sweeps
    from complaint_desk.keys import RULES

    chat = bot.make_chat()
    await chat.say("帮助")
    now = datetime.now(UTC)
    await PushReceipt.all().update(created_at=now - RECEIPT_KEEP - timedelta(minutes=1))
    app = bot.client.server.app
    assert app is not None
    await run_sweeps(app[RULES], now)
    assert await PushReceipt.all().count() == 0


# --- W7: identity from the verified XML only -------------------------------------------------


async def test_w7_the_openid_query_parameter_is_ignored(bot: BotWorld, mode: str) -> None:
    """W7: the citizen is FromUserName inside the verified (decrypted) XML; an `openid` in the
    query string names nobody."""
    chat = bot.make_chat(safe=mode == "safe")
    someone_else = "oSomeoneElse000000000001"
    xml = event_xml(chat.openid, ACCOUNT, "subscribe", "", _now())
    params, body = chat.signer.sign(xml)
    assert params["openid"] == chat.openid  # WeChat sends it; we must not trust it
    status, _ = await _post(bot, {**params, "openid": someone_else}, body)
    assert status == 200
    assert await Citizen.exists(oa_openid=chat.openid)
    assert not await Citizen.exists(oa_openid=someone_else)
    assert await Citizen.all().count() == 1
