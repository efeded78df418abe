"""Notices leave through the app's own WeChat client, and WeChat's delivery reports come back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpClient

from cases.rules import Rules
from cases.store.models import Citizen, Notice, NoticeStatus, Rating, Survey, SurveyStatus
from cases.workflow.engine import perform
from cases.workflow.outbox import deliver_due
from complaint_desk.app import create_app, notice_channels
from complaint_desk.keys import MP_CLIENT, NOTICE_TEMPLATES, OA_CLIENT, RULES
from config.notices import NoticeTemplates, load_notice_templates
from config.settings import Settings
from tests.bot.conftest import ACCOUNT, OA_APPID, OA_SECRET, BotWorld, bot_settings
from tests.bot.test_menu import run_cli
from tests.factories import make_case, make_citizen, make_staff
from wechat.simulator import FakeWeChat, event_xml


def _register_templates(fake: FakeWeChat, templates: NoticeTemplates) -> None:
    for spec in templates.oa.values():
        fake.add_template(OA_APPID, spec.template_id)


async def test_delivery_reports_update_the_notice(bot: BotWorld) -> None:
    app = bot.client.server.app
    assert app is not None
    _register_templates(bot.fake, app[NOTICE_TEMPLATES])
    chat = bot.make_chat()
    citizen = await make_citizen(oa_openid=chat.openid)
    case = await make_case(app[RULES], citizen=citizen)
    _, event = await perform(app[RULES], case.id, "accept", await make_staff("intake", "centre"))
    channels = notice_channels(app[OA_CLIENT], app[MP_CLIENT], app[NOTICE_TEMPLATES])
    assert await deliver_due(app[RULES], channels) == 1
    [message] = bot.fake.template_messages
    assert message.openid == chat.openid and message.data["character_string1"] == case.number

    report = event_xml(
        chat.openid,
        ACCOUNT,
        "TEMPLATESENDJOBFINISH",
        create_time=int(time.time()),
        extra={"MsgID": message.msgid, "Status": "failed:user block"},
    )
    status, reply = await chat.push(report)
    assert status == 200 and reply == "success"  # answered at once, nothing said to the user
    notice = await Notice.get(event_id=event.id)
    assert notice.status == NoticeStatus.SENT and notice.delivery_status == "failed:user block"


async def test_the_in_process_worker_delivers_queued_notices(
    aiohttp_client: AiohttpClient,
    make_settings: Callable[..., Settings],
    fake_wechat: tuple[FakeWeChat, TestServer],
) -> None:
    fake, server = fake_wechat
    settings = bot_settings(
        make_settings, server, worker__in_process=True, worker__notice_interval_seconds=0.05
    )
    app = create_app(settings)
    _register_templates(fake, app[NOTICE_TEMPLATES])
    await aiohttp_client(app)
    case = await make_case(app[RULES])
    await perform(app[RULES], case.id, "accept", await make_staff("intake", "centre"))
    # WeChat has the message a moment before the worker records it sent: wait for both.
    for _ in range(100):
        if fake.template_messages and await Notice.filter(status=NoticeStatus.SENT).exists():
            break
        await asyncio.sleep(0.05)
    assert [m.data["character_string1"] for m in fake.template_messages] == [case.number]
    assert await Notice.filter(status=NoticeStatus.SENT).count() == 1


async def test_two_worker_processes_deliver_every_notice_exactly_once(
    store: Rules,
    settings: Settings,
    fake_wechat: tuple[FakeWeChat, TestServer],
    tmp_path: Path,
) -> None:
    fake, server = fake_wechat
    _register_templates(fake, load_notice_templates())
    intake = await make_staff("intake", "centre")
    numbers = set()
    for _ in range(12):
        case = await make_case(store)
        await perform(store, case.id, "accept", intake)
        numbers.add(case.number)
    env = {
        "COMPLAINT_DESK_DATABASE_URL": settings.database_url,
        "COMPLAINT_DESK_WECHAT_API_BASE": str(server.make_url("")).rstrip("/"),
        "COMPLAINT_DESK_WECHAT_OA_APPID": OA_APPID,
        "COMPLAINT_DESK_WECHAT_OA_SECRET": OA_SECRET,
    }
    runs = await asyncio.gather(*(run_cli(tmp_path, "worker", "--once", **env) for _ in range(2)))
    assert all(code == 0 for code, _, _ in runs), runs
    sent = [int(out.split()[0]) for _, out, _ in runs]
    assert sum(sent) == 12
    assert sorted(m.data["character_string1"] for m in fake.template_messages) == sorted(numbers)
    assert await Notice.filter(status=NoticeStatus.SENT).count() == 12
    assert fake.calls["/cgi-bin/stable_token"] <= 2  # the token is shared through the store


async def test_messages_open_the_48_hour_window_and_delivery_reports_do_not(
    bot: BotWorld,
) -> None:
    chat = bot.make_chat()
    report = event_xml(
        chat.openid,
        ACCOUNT,
        "TEMPLATESENDJOBFINISH",
        create_time=int(time.time()),
        extra={"MsgID": 1, "Status": "success"},
    )
    await chat.push(report)
    assert (await Citizen.get(oa_openid=chat.openid)).oa_last_seen_at is None
    before = datetime.now(UTC)
    await chat.say("帮助")
    seen = (await Citizen.get(oa_openid=chat.openid)).oa_last_seen_at
    assert seen is not None and seen >= before - timedelta(seconds=1)


async def test_the_survey_is_answered_in_the_chat(bot: BotWorld) -> None:
    app = bot.client.server.app
    assert app is not None
    rules = app[RULES]
    chat = bot.make_chat()
    citizen = await make_citizen(oa_openid=chat.openid)
    case = await make_case(rules, citizen=citizen)
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
    assert "没看懂" in await chat.say("3")  # not invited yet: an ordinary message
    now = datetime.now(UTC)
    # The invitation went out an hour ago.
    await Survey.filter(case_id=case.id).update(
        invite_at=now - timedelta(hours=1), closes_at=now + timedelta(days=14)
    )
    reply = await chat.say("不满意")
    assert case.number in reply and "复核" in reply
    survey = await Survey.get(case_id=case.id)
    assert survey.status == SurveyStatus.ANSWERED and survey.needs_review
    assert (await Rating.get(case_id=case.id)).source == "official_account"
