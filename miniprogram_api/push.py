"""The mini-program's message push (POST /wechat/mp): WeChat's verdicts on checked photos.

Signed (and in safe mode encrypted) like the official account's pushes. Subscribe-popup
events are not counted here: consents come from POST /api/mp/v1/subscriptions only, so an
"accept" is never counted twice.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from cases.store.evidence import record_check_verdict
from cases.store.receipts import act_once_per_request
from complaint_desk.keys import SETTINGS
from wechat import push

log = logging.getLogger(__name__)

# WeChat's suggest -> our content_check: "review" stays hidden until staff have looked.
VERDICTS = {"pass": "pass", "risky": "risky", "review": "review"}


async def verify_url(request: web.Request) -> web.Response:
    return push.verify_url(request, request.config_dict[SETTINGS].wechat.mp)


async def receive_push(request: web.Request) -> web.Response:
    try:
        opened = await push.open_push(request, request.config_dict[SETTINGS].wechat.mp)
    except push.PushRefused as refused:
        return refused.response
    fields = opened.fields

    async def act() -> None:
        if str(fields.get("Event", "")).lower() == "wxa_media_check":
            await _media_verdict(fields)

    # Plain-mode signatures do not cover the body: a replayed query string must not carry a
    # forged verdict, so each (timestamp, nonce) acts once (W6).
    if not await act_once_per_request("mp:nonce:" + opened.replay_key, act):
        log.warning("replayed mini-program push request ignored")
    return push.reply(request, opened, "")


async def _media_verdict(fields: dict[str, Any]) -> None:
    """Apply a mediaCheckAsync v2 verdict; a repeated push sets the same value again."""
    trace_id = str(fields.get("trace_id") or "")
    result = fields.get("result")
    suggest = result.get("suggest") if isinstance(result, dict) else None
    verdict = VERDICTS.get(str(suggest))
    if not trace_id or verdict is None:
        log.warning("media check push without trace id or verdict")
        return
    updated = await record_check_verdict(trace_id, verdict)
    if not updated:
        log.warning("media check verdict for unknown trace id %s", trace_id)
