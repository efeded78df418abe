"""Filing by chat end to end: photos without GPS, anonymity, back/skip/cancel, resume, status."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from cases.intake import filing as filing_service
from cases.intake.incident_time import parse_incident_time
from cases.store.evidence import evidence_path
from cases.store.models import Case, ConversationState, EvidenceFile, Status
from complaint_desk.app import create_app
from complaint_desk.keys import RULES, SETTINGS
from tests.bot.conftest import ACCOUNT, BotWorld, Chat, reply_content
from tests.factories import make_case, make_citizen
from wechat.simulator import location_xml, voice_xml


def gps_jpeg(color: str) -> bytes:
    """A photo as a phone takes it: EXIF with GPS coordinates."""
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (30.0, 15.0, 0.0)
    gps[3], gps[4] = "E", (120.0, 10.0, 0.0)
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "JPEG", exif=exif)
    data = buf.getvalue()
    assert b"Exif" in data
    return data


async def at_photos_step(bot: BotWorld) -> Chat:
    """A citizen whose complaint draft waits for photos."""
    chat = bot.make_chat()
    await chat.click("FILE_complaint")
    for answer in (
        "1",
        "城东便民超市",
        "跳过",
        "跳过",
        "买到的牛奶已经过期了,店员拒绝退货。",
        "退货",
    ):
        await chat.say(answer)
    return chat


async def file_complaint_with_photos(bot: BotWorld, chat: Chat) -> str:
    assert "哪一类" in await chat.click("FILE_complaint")
    assert "对象" in await chat.say("1")  # 消费维权
    assert "什么时候" in await chat.say("城东便民超市")
    assert "在哪里" in await chat.say("昨天 下午3点")
    assert "事情经过" in await chat.say("城关镇东大街12号")
    assert "怎样处理" in await chat.say("买到的牛奶已经过期了,店员拒绝退货。")
    assert "照片" in await chat.say("退货并赔偿")
    for color in ("red", "blue"):
        media_id = bot.fake.add_media(gps_jpeg(color), "image/jpeg")
        assert "已收到第" in await chat.send_image(media_id)
    await chat.settle()
    assert "手机号" in await chat.say("完成")
    summary = await chat.say("138 0000 0000")
    assert "请核对" in summary and "照片:2 张" in summary and "13800000000" in summary
    return await chat.say("确认")


async def test_complete_filing_by_chat_with_two_clean_photos(bot: BotWorld) -> None:
    chat = bot.make_chat()
    done = await file_complaint_with_photos(bot, chat)
    assert done.startswith("已提交,编号 TS")
    case = await Case.get(citizen__oa_openid=chat.openid)
    assert done.split("编号 ")[1].split("。")[0] == case.number
    assert "给出受理意见" in done
    assert (case.channel, case.status, case.kind) == (
        "official_account",
        Status.SUBMITTED,
        "complaint",
    )
    assert case.respondent_name == "城东便民超市" and case.contact_phone == "13800000000"
    assert case.incident_at is not None and case.incident_at < datetime.now(UTC)
    photos = await EvidenceFile.filter(case_id=case.id)
    assert len(photos) == 2
    for photo in photos:
        stored = evidence_path(bot.settings.media_dir, photo.storage_key).read_bytes()
        assert b"Exif" not in stored and b"GPS" not in stored
        assert not Image.open(io.BytesIO(stored)).getexif()
    assert not await ConversationState.exists(openid=chat.openid)


async def test_anonymous_report_never_asks_for_a_phone(bot: BotWorld) -> None:
    chat = bot.make_chat()
    await chat.click("FILE_report")
    assert "是否匿名" in await chat.say("3")  # 食品安全
    asked = [await chat.say("2")]
    for answer in (
        "老街小吃店",
        "跳过",
        "跳过",
        "后厨有老鼠,餐具从不消毒,卫生很差。",
        "跳过",
        "跳过",
    ):
        asked.append(await chat.say(answer))
    assert "请核对" in asked[-1] and "匿名:是" in asked[-1]
    assert not any("手机号" in a or "电话" in a or "姓名" in a for a in asked)
    done = await chat.say("确认")
    assert done.startswith("已提交,编号 JB")
    case = await Case.get(citizen__oa_openid=chat.openid)
    assert case.anonymous and case.contact_phone == "" and case.policy == "food_drug"


async def test_back_skip_cancel_and_unclear_input(bot: BotWorld) -> None:
    chat = bot.make_chat()
    await chat.say("投诉")
    hint = await chat.say("随便")
    assert hint.startswith("没看懂,请回复列表中的数字") and "哪一类" in hint
    assert "对象" in await chat.say("1")
    refused = await chat.say("跳过")  # the respondent is required for a complaint
    assert refused.startswith("这一项必须填写") and "对象" in refused
    assert "哪一类" in await chat.say("返回")
    assert "对象" in await chat.say("2")
    assert "什么时候" in await chat.say("某电器厂")
    assert "在哪里" in await chat.say("跳过")
    state = await ConversationState.get(openid=chat.openid)
    assert state.data["answers"] == {"category": "product_quality", "respondent_name": "某电器厂"}
    helped = await chat.say("帮助")
    assert "返回(上一步)" in helped and helped.endswith(await chat.say("继续"))
    assert "已取消" in await chat.say("取消")
    assert not await ConversationState.exists(openid=chat.openid)
    assert "没有正在填写" in await chat.say("取消")


async def test_resume_after_restart_and_a_long_pause(bot: BotWorld) -> None:
    chat = bot.make_chat()
    await chat.say("投诉")
    await chat.say("1")
    await chat.say("城东便民超市")
    # The server restarts: a new app over the same database continues the draft.
    await bot.client.close()
    restarted = TestClient(TestServer(create_app(bot.settings)))
    await restarted.start_server()
    try:
        chat.client = restarted
        state = await ConversationState.get(openid=chat.openid)
        old = datetime.now(UTC) - timedelta(hours=20)
        await ConversationState.filter(id=state.id).update(
            data={**state.data, "updated": old.isoformat()}
        )
        offer = await chat.say("你好")
        assert "未完成的投诉" in offer and "发生时间" in offer
        assert "什么时候" in await chat.say("继续")
        assert "在哪里" in await chat.say("11月20日")
    finally:
        await restarted.close()


async def test_status_of_own_case_and_the_same_answer_for_others(bot: BotWorld) -> None:
    owner = bot.make_chat()
    await owner.say("咨询")
    await owner.say("7")  # 登记注册
    await owner.say("个体户办营业执照需要带哪些材料?")
    await owner.say("跳过")
    done = await owner.say("确认")
    number = done.split("编号 ")[1].split("。")[0]
    listing = await owner.say("查询")
    assert number in listing and "待受理" in listing
    detail = await owner.say(f"查询 {number[:6].lower()} {number[6:]}")
    assert f"编号:{number}" in detail and "咨询 / 登记注册" in detail and "状态:待受理" in detail
    assert "答复期限" in detail
    stranger = bot.make_chat()
    theirs = await stranger.say(f"查询{number}")
    missing = await stranger.say("查询TS2000010100001")
    assert theirs == missing and "没有找到" in theirs


async def test_a_photo_whose_media_expired_is_reported_and_the_draft_kept(bot: BotWorld) -> None:
    chat = await at_photos_step(bot)
    assert "已收到第 1 张" in await chat.send_image("no-such-media-id")
    await chat.settle()
    sent = [m for m in bot.fake.sent_messages if m[1]["touser"] == chat.openid]
    assert len(sent) == 1 and "没能保存" in sent[0][1]["text"]["content"]
    assert "手机号" in await chat.say("完成")  # the draft is intact
    assert await EvidenceFile.filter(citizen__oa_openid=chat.openid).count() == 0


def test_incident_time_parsing() -> None:
    from zoneinfo import ZoneInfo

    now = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert parse_incident_time("今天 14:30", now) == now.replace(hour=14, minute=30)
    assert parse_incident_time("昨天", now) == now.replace(day=22, hour=0)
    assert parse_incident_time("11月20日 下午3点", now) == now.replace(day=20, hour=15)
    assert parse_incident_time("2026-11-01 9:05", now) == now.replace(day=1, hour=9, minute=5)
    assert parse_incident_time("12月30日", now) == now.replace(year=2025, month=12, day=30, hour=0)
    assert parse_incident_time("上周", now) is None
    assert parse_incident_time("13月40日", now) is None


async def test_location_and_voice_messages_answer_steps(bot: BotWorld) -> None:
    chat = bot.make_chat()
    await chat.click("FILE_complaint")
    for answer in ("1", "城东便民超市", "跳过"):
        await chat.say(answer)
    xml = location_xml(chat.openid, ACCOUNT, 30.25, 120.17, "城关镇东大街12号", msg_id="880")
    status, reply = await chat.push(xml)
    assert status == 200 and "事情经过" in reply_content(reply)
    voice = voice_xml(
        chat.openid, ACCOUNT, "mid", "买到的牛奶已经过期了,店员拒绝退货。", msg_id="881"
    )
    status, reply = await chat.push(voice)
    assert status == 200 and "怎样处理" in reply_content(reply)
    state = await ConversationState.get(openid=chat.openid)
    answers = state.data["answers"]
    assert (answers["latitude"], answers["longitude"]) == (30.25, 120.17)
    assert answers["incident_place"] == "城关镇东大街12号"
    assert answers["description"].startswith("买到的牛奶")


async def test_a_slow_media_download_does_not_delay_the_reply(bot: BotWorld) -> None:
    chat = await at_photos_step(bot)
    bot.fake.delay_seconds["/cgi-bin/media/get"] = 1.5
    media_id = bot.fake.add_media(gps_jpeg("green"), "image/jpeg")
    started = time.monotonic()
    assert "已收到第 1 张" in await chat.send_image(media_id)
    assert time.monotonic() - started < 1.0, "the reply must not wait for the download"
    await chat.settle()
    photos = await EvidenceFile.filter(citizen__oa_openid=chat.openid)
    assert len(photos) == 1 and photos[0].case_id is None  # kept with the draft


async def test_the_chat_obeys_the_citizens_daily_filing_quota(bot: BotWorld) -> None:
    # Issue 16: the mini-program counted [miniprogram] cases_per_day, the chat filed without
    # limit. Both count every case of the citizen's in 24 hours, under the citizen's lock.
    app = bot.client.server.app
    assert app is not None
    rules, limit = app[RULES], app[SETTINGS].miniprogram.cases_per_day
    chat = bot.make_chat()
    citizen = await make_citizen(oa_openid=chat.openid)
    for _ in range(limit):
        await make_case(rules, citizen=citizen)
    refused = await file_complaint_with_photos(bot, chat)
    assert refused == f"您今天已提交 {limit} 件,请明天再提交;紧急情况请拨打电话反映。"
    assert await Case.filter(citizen_id=citizen.id).count() == limit
    draft = await ConversationState.get(openid=chat.openid)
    assert "城东便民超市" in str(draft.data)  # nothing the citizen typed is lost


async def test_photos_that_cannot_be_attached_file_nothing_and_keep_the_draft(
    bot: BotWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 16: the chat filed, then attached the draft's photos in a second step. Now they
    # are attached in the filing's transaction: if that fails, nothing is filed, the quota's
    # last case of the day stays free, and "确认" again files the case with its photos.
    app = bot.client.server.app
    assert app is not None
    rules, limit = app[RULES], app[SETTINGS].miniprogram.cases_per_day
    chat = bot.make_chat()
    citizen = await make_citizen(oa_openid=chat.openid)
    for _ in range(limit - 1):
        await make_case(rules, citizen=citizen)

    async def crash(*args: Any) -> int:
        raise RuntimeError("crash while attaching")

    with monkeypatch.context() as patched:
        patched.setattr(filing_service, "attach_photos", crash)
        failed = await file_complaint_with_photos(bot, chat)
    assert failed == "抱歉,系统暂时有点忙,这条消息没有处理成功,请稍后再发送一次。"
    assert await Case.filter(citizen_id=citizen.id).count() == limit - 1
    assert await EvidenceFile.filter(citizen_id=citizen.id, case_id__isnull=True).count() == 2
    assert await ConversationState.exists(openid=chat.openid)
    done = await chat.say("确认")
    assert done.startswith("已提交,编号 TS")
    case = await Case.get(number=done.split("编号 ")[1].split("。")[0])
    assert await EvidenceFile.filter(case_id=case.id).count() == 2
