"""The official-account channel of the notice outbox: template messages, sent once."""

from __future__ import annotations

from cases.models import Citizen
from cases.outbox import DeliveryError, NoticeContext
from config.notices import NoticeTemplates
from wechat.client import WeChatClient
from wechat.errors import WeChatError


class OfficialAccountChannel:
    """Sends a notice as a template message; `client_msg_id` makes a re-send harmless."""

    def __init__(self, client: WeChatClient, templates: NoticeTemplates) -> None:
        self._client = client
        self._templates = templates

    async def deliver(self, ctx: NoticeContext) -> str:
        citizen = await Citizen.get_or_none(id=ctx.case.citizen_id)
        if citizen is None or not citizen.oa_openid:
            raise DeliveryError("the citizen has no official-account openid", retryable=False)
        if ctx.notice.kind not in self._templates.oa:
            raise DeliveryError(f"no template configured for {ctx.notice.kind}", retryable=False)
        template_id, data = self._templates.render_oa(ctx.notice.kind, ctx.values)
        try:
            msgid = await self._client.send_template(
                citizen.oa_openid,
                template_id,
                data,
                client_msg_id=f"{ctx.case.number}:{ctx.notice.id}",
            )
        except WeChatError as exc:
            raise DeliveryError(str(exc), retryable=exc.retryable) from exc
        return str(msgid)
