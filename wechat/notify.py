"""The outbox's WeChat channels: official-account template messages (sent once, thanks to
`client_msg_id`) and mini-program subscribe messages (one consent each)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from cases.intake.consents import forget_consents, give_back, take_consent
from cases.store.models import Citizen, Notice
from cases.workflow.outbox import DeliveryError, NoticeChannel, NoticeContext
from config.notices import NoticeTemplates
from wechat.client import WeChatClient
from wechat.errors import WeChatError, WeChatTimeout

log = logging.getLogger(__name__)

# Customer-service messages may follow a citizen's own message for 48 hours; keep a margin
# for the minute the last-seen time may lag.
SERVICE_WINDOW = timedelta(hours=48) - timedelta(minutes=5)
NO_CONSENT = 43101
# Marks a subscribe message handed to WeChat whose answer we have not recorded yet.
MP_IN_FLIGHT = "mp:in-flight"


async def _citizen(ctx: NoticeContext) -> Citizen:
    citizen = await Citizen.get_or_none(id=ctx.case.citizen_id)
    if citizen is None:
        raise DeliveryError(
            "the case has no citizen to notify", retryable=False, reason="no_citizen"
        )
    return citizen


class OfficialAccountChannel:
    """A template message; when a field had to be cut and the citizen wrote within 48 hours,
    the whole text follows as a customer-service message."""

    def __init__(self, client: WeChatClient, templates: NoticeTemplates) -> None:
        self._client = client
        self._templates = templates

    async def deliver(self, ctx: NoticeContext) -> str:
        citizen = await _citizen(ctx)
        if not citizen.oa_openid:
            raise DeliveryError(
                "the citizen has no official-account openid", retryable=False, reason="no_openid"
            )
        if ctx.notice.kind not in self._templates.oa:
            raise DeliveryError(
                f"no template configured for {ctx.notice.kind}",
                retryable=False,
                reason="no_template",
            )
        notice = self._templates.render_oa(ctx.notice.kind, ctx.values)
        try:
            msgid = await self._client.send_template(
                citizen.oa_openid,
                notice.template_id,
                notice.data,
                client_msg_id=f"{ctx.case.number}:{ctx.notice.id}",
            )
        except WeChatError as exc:
            raise DeliveryError(str(exc), retryable=exc.retryable, reason=str(exc.errcode)) from exc
        if notice.cut and notice.text and _window_open(citizen):
            try:
                await self._client.send_text(citizen.oa_openid, notice.text)
            except WeChatError as exc:  # the template message arrived; the text was a courtesy
                log.info("notice %s: full text not sent: %s", ctx.notice.id, exc)
        return str(msgid)


def _window_open(citizen: Citizen) -> bool:
    seen = citizen.oa_last_seen_at
    return seen is not None and datetime.now(UTC) - seen < SERVICE_WINDOW


class MiniProgramChannel:
    """A subscribe message when the citizen has a consent left for its template; otherwise the
    official account (`fallback`) when the citizen also follows it.

    Subscribe messages have no idempotency key, so this channel sends at most once: a send whose
    outcome is unknown (timeout, worker killed mid-send) is not repeated but reported to staff.
    """

    def __init__(
        self,
        client: WeChatClient,
        templates: NoticeTemplates,
        fallback: NoticeChannel | None = None,
    ) -> None:
        self._client = client
        self._templates = templates
        self._fallback = fallback

    async def deliver(self, ctx: NoticeContext) -> str:
        citizen = await _citizen(ctx)
        if ctx.notice.delivery_id == MP_IN_FLIGHT:
            raise DeliveryError(
                "an earlier subscribe message was cut off: it may or may not have arrived",
                retryable=False,
                reason="unknown_outcome",
            )
        kind = ctx.notice.kind
        if not citizen.mp_openid or kind not in self._templates.mp:
            return await self._instead(
                ctx, citizen, "no mini-program template or openid", "no_consent"
            )
        notice = self._templates.render_mp(kind, ctx.values)
        if not await take_consent(citizen.id, notice.template_id):
            why = f"no consent left for {notice.template_id}"
            return await self._instead(ctx, citizen, why, "no_consent")
        await Notice.filter(id=ctx.notice.id).update(delivery_id=MP_IN_FLIGHT)
        try:
            msgid = await self._client.send_subscribe(
                citizen.mp_openid, notice.template_id, notice.data, page=notice.page
            )
        except WeChatTimeout as exc:
            raise DeliveryError(
                f"{exc}; it may or may not have arrived", retryable=False, reason="unknown_outcome"
            ) from exc
        except WeChatError as exc:
            if exc.errcode == NO_CONSENT:  # withdrawn in WeChat's settings
                await forget_consents(citizen.id, notice.template_id)
            else:  # refused before delivery: the consent is still the citizen's
                await give_back(citizen.id, notice.template_id)
            await Notice.filter(id=ctx.notice.id).update(delivery_id="")
            if exc.errcode == NO_CONSENT:
                return await self._instead(ctx, citizen, str(exc), str(exc.errcode))
            raise DeliveryError(str(exc), retryable=exc.retryable, reason=str(exc.errcode)) from exc
        return str(msgid) if msgid is not None else "mp"

    async def _instead(self, ctx: NoticeContext, citizen: Citizen, why: str, reason: str) -> str:
        if self._fallback is not None and citizen.oa_openid:
            return await self._fallback.deliver(ctx)
        raise DeliveryError(why, retryable=False, reason=reason)
