"""The notice outbox against the fake WeChat API: every notice arrives once, or staff see why."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cases.intake.consents import consents_left, record_consents, take_consent
from cases.rules import Rules
from cases.store.models import Case, CaseClock, CaseEvent, Notice, NoticeStatus
from cases.workflow.engine import perform
from cases.workflow.outbox import CLAIM_LEASE, NoticeChannel, NoticeContext, deliver_due
from cases.workflow.timeline import Actor
from complaint_desk.app import notice_channels
from config.notices import NoticeTemplates, load_notice_templates
from tests.factories import make_case, make_citizen, make_staff, perform_approved
from wechat.client import MemoryTokenStore, WeChatClient
from wechat.notify import OfficialAccountChannel
from wechat.simulator import FakeWeChat, create_fake_wechat_app
from wechat.tokens import DatabaseTokenStore

APPID = "wx00000000000000aa"
SECRET = "oa-secret-for-outbox-tests"
MP_APPID = "wx00000000000000bb"
MP_SECRET = "mp-secret-for-outbox-tests"
SEND = "/cgi-bin/message/template/send"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Beijing


@dataclass
class Outbox:
    rules: Rules
    fake: FakeWeChat
    templates: NoticeTemplates
    client: WeChatClient
    channels: dict[str, NoticeChannel]
    intake: Actor | None = None

    async def deliver(self, now: datetime = NOW) -> int:
        return await deliver_due(self.rules, self.channels, now)

    async def accepted_case(
        self, openid: str = "", channel: str = "official_account", **citizen: Any
    ) -> tuple[Case, Notice]:
        who = await make_citizen(**({"oa_openid": openid} if openid else {}), **citizen)
        case = await make_case(self.rules, citizen=who, now=NOW, channel=channel)
        self.intake = self.intake or await make_staff("intake", "centre")
        case, event = await perform(self.rules, case.id, "accept", self.intake, now=NOW)
        return case, await Notice.get(event_id=event.id)


@pytest.fixture
async def outbox(
    store: Rules,
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> AsyncIterator[Outbox]:
    fake = FakeWeChat({APPID: SECRET, MP_APPID: MP_SECRET})
    templates = load_notice_templates()
    for spec in templates.oa.values():
        fake.add_template(APPID, spec.template_id)
    for spec in templates.mp.values():
        fake.add_template(MP_APPID, spec.template_id)
    server = await aiohttp_server(create_fake_wechat_app(fake))
    async with aiohttp.ClientSession() as session:

        def client_of(appid: str, secret: str) -> WeChatClient:
            return WeChatClient(
                session,
                api_base=str(server.make_url("/")),
                appid=appid,
                secret=secret,
                token_store=DatabaseTokenStore(),
                timeout_seconds=0.5,
            )

        client = client_of(APPID, SECRET)
        channels = notice_channels(client, client_of(MP_APPID, MP_SECRET), templates)
        yield Outbox(store, fake, templates, client, channels)


async def test_an_accepted_case_reaches_the_citizen_as_one_template_message(
    outbox: Outbox,
) -> None:
    case, notice = await outbox.accepted_case()
    assert await outbox.deliver() == 1
    [message] = outbox.fake.template_messages
    assert message.openid.startswith("openid-")
    assert message.template_id == outbox.templates.oa["accepted"].template_id
    assert message.data["character_string1"] == case.number
    assert message.data["thing2"] == "您的投诉已受理"
    # 60 days of handling from 2026-11-23 (not the 30-day escalation clock).
    assert message.data["thing3"] == "2027年1月22日前办理"
    assert all(len(v) <= 20 for v in message.data.values())
    notice = await Notice.get(id=notice.id)
    assert notice.status == NoticeStatus.SENT and notice.delivery_id == str(message.msgid)
    assert await outbox.deliver(NOW + timedelta(hours=1)) == 0  # nothing is sent twice


async def test_busy_wechat_timeouts_and_5xx_are_retried_with_backoff_until_sent(
    outbox: Outbox,
) -> None:
    _, notice = await outbox.accepted_case()
    outbox.fake.fail_next(SEND, 45009)
    outbox.fake.fail_next_http(SEND, 502)
    when = NOW
    for expected_error in ("-4", "45009"):  # HTTP faults come first in the fake
        assert await outbox.deliver(when) == 0
        row = await Notice.get(id=notice.id)
        assert row.status == NoticeStatus.PENDING and expected_error in row.last_error
        assert row.next_attempt_at > when
        assert await outbox.deliver(when + timedelta(seconds=1)) == 0  # backing off
        when = row.next_attempt_at
    outbox.fake.late_answer_seconds[SEND] = 1.0  # sent, but answered after our timeout
    assert await outbox.deliver(when) == 0
    row = await Notice.get(id=notice.id)
    assert "-3" in row.last_error and row.attempts == 3
    assert len(outbox.fake.template_messages) == 1  # the citizen already has it
    outbox.fake.late_answer_seconds[SEND] = 0.0
    assert await outbox.deliver(row.next_attempt_at) == 1
    # The retry carries the same client_msg_id: WeChat does not show it a second time.
    assert outbox.fake.calls[SEND] == 4
    assert len(outbox.fake.template_messages) == 1
    assert (await Notice.get(id=notice.id)).status == NoticeStatus.SENT


async def test_a_token_invalidated_mid_run_is_fetched_again_and_nothing_is_lost(
    outbox: Outbox,
) -> None:
    await outbox.accepted_case()
    assert await outbox.deliver() == 1
    outbox.fake.issue_token(APPID)  # someone forced a refresh: our stored token is dead
    await outbox.accepted_case()
    assert await outbox.deliver() == 1
    assert len(outbox.fake.template_messages) == 2
    assert outbox.fake.calls["/cgi-bin/stable_token"] == 2


async def test_a_permanent_failure_is_written_on_the_case_timeline(outbox: Outbox) -> None:
    case, notice = await outbox.accepted_case(openid="not-an-openid")
    assert await outbox.deliver() == 0
    row = await Notice.get(id=notice.id)
    assert row.status == NoticeStatus.FAILED and "40003" in row.last_error
    event = await CaseEvent.get(case_id=case.id, action="notice_failed")
    assert not event.public and "通知未能送达" in event.note
    assert event.data["notice"] == notice.id
    assert await outbox.deliver(NOW + timedelta(days=1)) == 0 and not outbox.fake.template_messages


async def test_retries_give_up_after_the_last_attempt_and_say_so(outbox: Outbox) -> None:
    case, notice = await outbox.accepted_case()
    outbox.fake.fail_next(SEND, *[45009] * 20)
    when = NOW
    for _ in range(8):
        await outbox.deliver(when)
        row = await Notice.get(id=notice.id)
        when = row.next_attempt_at
    assert row.status == NoticeStatus.FAILED and row.attempts == 8
    assert await CaseEvent.exists(case_id=case.id, action="notice_failed")


async def test_a_worker_killed_between_send_and_mark_does_not_send_twice(
    outbox: Outbox,
) -> None:
    _, notice = await outbox.accepted_case()
    real = outbox.channels["official_account"]

    class SendsThenDies:
        async def deliver(self, ctx: NoticeContext) -> str:
            await real.deliver(ctx)
            raise RuntimeError("killed before marking the notice sent")

    assert await deliver_due(outbox.rules, {"official_account": SendsThenDies()}, NOW) == 0
    assert len(outbox.fake.template_messages) == 1
    row = await Notice.get(id=notice.id)
    assert row.status == NoticeStatus.SENDING
    assert await outbox.deliver(NOW + timedelta(seconds=30)) == 0  # the claim still holds
    assert await outbox.deliver(NOW + CLAIM_LEASE + timedelta(seconds=1)) == 1
    [message] = outbox.fake.template_messages
    row = await Notice.get(id=notice.id)
    assert row.status == NoticeStatus.SENT and row.delivery_id == str(message.msgid)


async def test_two_workers_share_the_outbox_without_sending_anything_twice(
    outbox: Outbox,
) -> None:
    notices = [(await outbox.accepted_case())[1] for _ in range(30)]
    second = OfficialAccountChannel(
        WeChatClient(
            outbox.client._session,  # the same fake, a second token cache like another process
            api_base=outbox.client._api_base,
            appid=APPID,
            secret=SECRET,
            token_store=MemoryTokenStore(),
            timeout_seconds=2,
        ),
        outbox.templates,
    )

    async def worker(channel: NoticeChannel) -> int:
        return await deliver_due(outbox.rules, {"official_account": channel}, NOW, batch=4)

    counts = await asyncio.gather(worker(outbox.channels["official_account"]), worker(second))
    assert sum(counts) == len(notices) and min(counts) > 0  # both took a share
    sent_ids = [m.client_msg_id for m in outbox.fake.template_messages]
    assert len(sent_ids) == len(set(sent_ids)) == len(notices)
    assert await Notice.filter(status=NoticeStatus.SENT).count() == len(notices)


async def test_notices_of_every_case_event_render_within_wechat_limits(outbox: Outbox) -> None:
    long_reason = "该事项属于劳动争议,应向县人力资源和社会保障局劳动监察大队反映"
    values = {
        "number": "TS202611230001",
        "kind": "投诉",
        "category": "消费维权",
        "due": "2026年12月7日",
        "note": long_reason,
        "reason": long_reason,
        "referred_to": "县人社局劳动监察大队 0571-12333 转 2",
        "at": "2026年11月23日 10:00",
        "stage": "核查立案决定",  # the longest clock label an extension names
    }
    for kind in ("accepted", "rejected", "needs_info", "referred", "extended", "replied"):
        data = outbox.templates.render_oa(kind, values).data
        assert all(len(v) <= 20 and "\n" not in v for v in data.values()), kind
        assert not {"first", "remark"} & set(data)
    data = outbox.templates.render_oa("rejected", values).data
    assert data["thing3"].endswith("…") and data["thing3"].startswith("该事项属于劳动争议")


# --- the 48-hour window --------------------------------------------------------------------


async def _reply(outbox: Outbox, case: Case, note: str) -> None:
    handler = await make_staff("handler", "consumer")
    for action, actor, kw in (
        ("assign", outbox.intake, {"data": {"department": "consumer"}}),
        ("start", handler, {}),
        ("reply", handler, {"note": note}),
    ):
        assert actor is not None
        case, _ = await perform(outbox.rules, case.id, action, actor, now=NOW, **kw)


@pytest.mark.parametrize(("seen_hours_ago", "texts"), [(1, 1), (47, 1), (49, 0), (None, 0)])
async def test_a_long_reply_follows_as_text_only_within_48_hours(
    outbox: Outbox, seen_hours_ago: int | None, texts: int
) -> None:
    seen = None if seen_hours_ago is None else datetime.now(UTC) - timedelta(hours=seen_hours_ago)
    case, _ = await outbox.accepted_case(oa_last_seen_at=seen)
    answer = "经核查,该超市确有销售过期牛奶的行为,已责令其为您办理退货并按规定赔偿,并依法立案调查。"
    await _reply(outbox, case, answer)
    assert await outbox.deliver() == 2  # accepted + replied
    replied_id = outbox.templates.oa["replied"].template_id
    [replied] = [m for m in outbox.fake.template_messages if m.template_id == replied_id]
    assert replied.data["thing3"].endswith("…") and len(replied.data["thing3"]) == 20
    sent = [p["text"]["content"] for _, p in outbox.fake.sent_messages]
    assert sent == [f"您的投诉(编号{case.number})答复如下:{answer}"] * texts


async def test_a_short_reply_needs_no_extra_text(outbox: Outbox) -> None:
    case, _ = await outbox.accepted_case(oa_last_seen_at=datetime.now(UTC))
    await _reply(outbox, case, "已退货。")
    assert await outbox.deliver() == 2
    replied_id = outbox.templates.oa["replied"].template_id
    [replied] = [m for m in outbox.fake.template_messages if m.template_id == replied_id]
    assert replied.data["thing3"] == "已退货。"
    assert outbox.fake.sent_messages == []


# --- mini-program subscribe messages and the consent ledger --------------------------------


async def test_a_mini_program_notice_spends_one_consent(outbox: Outbox) -> None:
    citizen = {"oa_openid": None, "mp_openid": "oMiniUser1"}
    case, notice = await outbox.accepted_case(channel="mini_program", **citizen)
    template = outbox.templates.mp["accepted"].template_id
    await record_consents(case.citizen_id or 0, {template: "accept", "other": "reject"})
    outbox.fake.grant_consent(MP_APPID, "oMiniUser1", template)
    assert await outbox.deliver() == 1
    [message] = outbox.fake.subscribe_messages
    assert message.page == f"pages/case/detail?number={case.number}"
    assert message.data["phrase2"] == "已受理" and message.data["character_string1"] == case.number
    assert await consents_left(case.citizen_id or 0, template) == 0
    row = await Notice.get(id=notice.id)
    assert row.status == NoticeStatus.SENT and row.delivery_id == str(message.msgid)


async def test_without_consent_the_official_account_carries_the_notice(outbox: Outbox) -> None:
    await outbox.accepted_case(channel="mini_program", mp_openid="oMiniUser2")
    assert await outbox.deliver() == 1
    assert outbox.fake.subscribe_messages == [] and len(outbox.fake.template_messages) == 1


async def test_without_consent_or_official_account_staff_are_told(outbox: Outbox) -> None:
    case, notice = await outbox.accepted_case(
        channel="mini_program", oa_openid=None, mp_openid="oMiniUser3"
    )
    assert await outbox.deliver() == 0
    assert (await Notice.get(id=notice.id)).status == NoticeStatus.FAILED
    event = await CaseEvent.get(case_id=case.id, action="notice_failed")
    assert "no consent left" in event.note
    assert outbox.fake.calls["/cgi-bin/message/subscribe/send"] == 0  # WeChat never asked


async def test_a_consent_withdrawn_in_wechat_is_forgotten(outbox: Outbox) -> None:
    case, notice = await outbox.accepted_case(
        channel="mini_program", oa_openid=None, mp_openid="oMiniUser4"
    )
    template = outbox.templates.mp["accepted"].template_id
    await record_consents(case.citizen_id or 0, {template: "accept"})
    await record_consents(case.citizen_id or 0, {template: "accept"})  # but WeChat has none
    assert await outbox.deliver() == 0
    assert "43101" in (await Notice.get(id=notice.id)).last_error
    assert await consents_left(case.citizen_id or 0, template) == 0


async def test_a_busy_wechat_gives_the_consent_back_for_the_retry(outbox: Outbox) -> None:
    case, notice = await outbox.accepted_case(
        channel="mini_program", oa_openid=None, mp_openid="oMiniUser5"
    )
    template = outbox.templates.mp["accepted"].template_id
    await record_consents(case.citizen_id or 0, {template: "accept"})
    outbox.fake.grant_consent(MP_APPID, "oMiniUser5", template)
    outbox.fake.fail_next("/cgi-bin/message/subscribe/send", 45009)
    assert await outbox.deliver() == 0
    assert await consents_left(case.citizen_id or 0, template) == 1
    row = await Notice.get(id=notice.id)
    assert await outbox.deliver(row.next_attempt_at) == 1
    assert len(outbox.fake.subscribe_messages) == 1
    assert await consents_left(case.citizen_id or 0, template) == 0


async def test_a_subscribe_message_cut_off_mid_send_is_not_repeated(outbox: Outbox) -> None:
    case, notice = await outbox.accepted_case(
        channel="mini_program", oa_openid=None, mp_openid="oMiniUser6"
    )
    template = outbox.templates.mp["accepted"].template_id
    await record_consents(case.citizen_id or 0, {template: "accept", "x": "accept"})
    await record_consents(case.citizen_id or 0, {template: "accept"})
    outbox.fake.grant_consent(MP_APPID, "oMiniUser6", template, times=2)
    # WeChat delivers it but answers after our timeout.
    outbox.fake.late_answer_seconds["/cgi-bin/message/subscribe/send"] = 1.0
    assert await outbox.deliver() == 0
    assert len(outbox.fake.subscribe_messages) == 1
    row = await Notice.get(id=notice.id)
    assert row.status == NoticeStatus.FAILED and "may or may not have arrived" in row.last_error
    assert await CaseEvent.exists(case_id=case.id, action="notice_failed")
    assert await outbox.deliver(NOW + timedelta(days=1)) == 0
    assert len(outbox.fake.subscribe_messages) == 1  # never a second copy


async def test_consents_add_up_and_are_spent_one_by_one(store: Rules) -> None:
    citizen = await make_citizen()
    left = await record_consents(citizen.id, {"t1": "accept", "t2": "reject", "t3": "ban"})
    assert left == {"t1": 1, "t2": 0, "t3": 0}
    await asyncio.gather(*(record_consents(citizen.id, {"t1": "accept"}) for _ in range(4)))
    assert await consents_left(citizen.id, "t1") == 5
    spent = await asyncio.gather(*(take_consent(citizen.id, "t1") for _ in range(7)))
    assert sum(spent) == 5 and await consents_left(citizen.id, "t1") == 0


async def test_a_notice_keeps_the_deadline_of_its_moment(outbox: Outbox) -> None:
    """Sent after the case has moved on, 'accepted' still names the due date it announced."""
    case, notice = await outbox.accepted_case()
    assert notice.payload["due_at"]
    await _reply(outbox, case, "已退货。")  # the handling clock stops with the reply
    assert await outbox.deliver() == 2  # accepted, replied
    accepted_id = outbox.templates.oa["accepted"].template_id
    [accepted] = [m for m in outbox.fake.template_messages if m.template_id == accepted_id]
    assert accepted.data["thing3"] == "2027年1月22日前办理"


async def test_a_delivered_rejection_notice_stops_its_clock(outbox: Outbox) -> None:
    # Seed 000 (食品药品投诉举报管理办法 第十五条): 「15日内以适当方式将不予受理的决定和理由
    # 告知投诉举报人」: once the notice has gone out, nothing is left to remind anyone of.
    who = await make_citizen()
    case = await make_case(outbox.rules, citizen=who, now=NOW)
    intake = await make_staff("intake", "centre")
    _, event = await perform_approved(
        outbox.rules,
        case.id,
        "reject",
        intake,
        note="已过一年",
        data={"reason_code": "over_one_year"},
        now=NOW,
    )
    notice = await Notice.get(event_id=event.id)
    clock = await CaseClock.get(case_id=case.id, name="rejection_notice")
    assert clock.stopped_at is None
    sent_at = NOW + timedelta(minutes=5)
    assert await outbox.deliver(sent_at) == 1
    clock = await CaseClock.get(id=clock.id)
    assert clock.stopped_at == sent_at
    told = await CaseEvent.get(case_id=case.id, action="notify_rejected")
    assert told.actor_kind == "system" and told.at == sent_at
    assert told.data["notice"] == notice.id
    assert (await Case.get(id=case.id)).next_due_at is None


async def test_an_undelivered_rejection_notice_leaves_its_clock_running(outbox: Outbox) -> None:
    who = await make_citizen(oa_openid="not-an-openid")  # WeChat refuses it for good
    case = await make_case(outbox.rules, citizen=who, now=NOW)
    intake = await make_staff("intake", "centre")
    await perform_approved(
        outbox.rules,
        case.id,
        "reject",
        intake,
        note="已过一年",
        data={"reason_code": "over_one_year"},
        now=NOW,
    )
    assert await outbox.deliver() == 0
    assert await CaseEvent.filter(case_id=case.id, action="notice_failed").exists()
    clock = await CaseClock.get(case_id=case.id, name="rejection_notice")
    assert clock.stopped_at is None
    assert not await CaseEvent.filter(case_id=case.id, action="notify_rejected").exists()


async def test_a_delivered_reply_records_that_the_citizen_was_told_and_stops_its_clock(
    outbox: Outbox,
) -> None:
    # Seed 004 机关局: 「投诉举报署实名的,应将查办结果在查结后2日内告知投诉举报人」: the
    # reply's notice is that result; once WeChat has it, nothing is left to remind anyone of.
    case, _ = await outbox.accepted_case()
    assert outbox.intake is not None
    handler = await make_staff("handler", "consumer")
    rules = outbox.rules
    await perform(rules, case.id, "assign", outbox.intake, data={"department": "consumer"}, now=NOW)
    await perform(rules, case.id, "start", handler, now=NOW)
    _, event = await perform(rules, case.id, "reply", handler, note="经查,已退货。", now=NOW)
    notice = await Notice.get(event_id=event.id)
    clock = await CaseClock.get(case_id=case.id, name="result_notice")
    assert clock.stopped_at is None
    sent_at = NOW + timedelta(minutes=5)
    assert await outbox.deliver(sent_at) == 2  # the acceptance and the reply
    assert (await CaseClock.get(id=clock.id)).stopped_at == sent_at
    told = await CaseEvent.get(case_id=case.id, action="notify_result")
    assert told.actor_kind == "system" and told.at == sent_at
    assert told.data["notice"] == notice.id
