"""Sign-in with the wx.login code: jscode2session, then our own opaque session token.

WeChat's session_key is never stored or returned: nothing here needs to decrypt user data.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from cases.auth.sessions import close_session, open_session
from cases.errors import CaseError, TooManyRequests
from cases.intake.citizens import citizen_for_mp_openid
from complaint_desk.json_body import BadRequest
from complaint_desk.keys import MP_CLIENT
from miniprogram_api.common import ok, read_json, settings_of
from wechat.errors import WeChatError


class LoginRefused(CaseError):
    code = "login_refused"
    status = 403


class WeChatUnavailable(CaseError):
    code = "wechat_unavailable"
    status = 503


async def login(request: web.Request) -> web.Response:
    data = await read_json(request)
    code = data.get("code")
    if not isinstance(code, str) or not 0 < len(code) <= 128:
        raise BadRequest("缺少登录凭证,请重新进入小程序。", field="code")
    try:
        session = await request.config_dict[MP_CLIENT].code_to_session(code)
    except WeChatError as exc:
        raise _refusal(exc) from exc
    citizen = await citizen_for_mp_openid(session.openid, session.unionid)
    now = datetime.now(UTC)
    token, expires_at = await open_session(
        citizen, now, settings_of(request).miniprogram.session_hours
    )
    return ok({"token": token, "expires_at": expires_at.isoformat()})


def _refusal(exc: WeChatError) -> CaseError:
    if exc.errcode in (40029, 40163):
        return BadRequest("登录凭证已失效,请重新进入小程序。", field="code", code="invalid_code")
    if exc.errcode == 45011:
        return TooManyRequests("登录太频繁了,请一分钟后再试。", retry_after=60)
    if exc.errcode == 40226:
        return LoginRefused("微信判断当前账号存在风险,暂时无法登录。")
    return WeChatUnavailable("微信服务暂时不可用,请稍后再试。")


async def logout(request: web.Request) -> web.Response:
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    await close_session(token.strip())
    return ok({"ok": True})
