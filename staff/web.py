"""What every console page and form shares: rendering, the signed-in actor, CSRF, errors."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from cases.auth.staff_auth import SignedIn, SignInGuard
from cases.rules import Rules
from cases.views.staff_actions import may_register
from cases.workflow.timeline import Actor
from complaint_desk.keys import RULES, SETTINGS, SIGN_IN
from config.settings import Settings
from staff.keys import PAGES, STAFF

ROLE_LABELS = {"intake": "受理中心", "handler": "承办单位", "leader": "领导", "admin": "管理员"}
MAX_FORM_BYTES = 256 * 1024


def signed_in(request: web.Request) -> SignedIn:
    return request[STAFF]


def actor_of(request: web.Request) -> Actor:
    return Actor.of_staff(request[STAFF].user)


def rules_of(request: web.Request) -> Rules:
    return request.config_dict[RULES]


def settings_of(request: web.Request) -> Settings:
    return request.config_dict[SETTINGS]


def sign_in_guard(request: web.Request) -> SignInGuard:
    return request.config_dict[SIGN_IN]


def source_address(request: web.Request) -> str:
    """The peer's address as the socket says: X-Forwarded-For is never read (any client can
    send it), so behind a proxy every sign-in shares the proxy's address budget."""
    return request.remote or ""


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """A console page: the template gets the user, their CSRF token and the role labels."""
    env = request.config_dict[PAGES]
    me = request.get(STAFF)
    html = env.get_template(template).render(
        me=me.user if me else None,
        may_register=me is not None and may_register(rules_of(request), actor_of(request)),
        csrf=me.session.csrf_token if me else "",
        role_labels=ROLE_LABELS,
        request=request,
        **context,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


async def checked_form(request: web.Request) -> MultiDictProxy[Any]:
    """The posted form, after checking its CSRF token against the session's (403 if not)."""
    if (request.content_length or 0) > MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_FORM_BYTES, request.content_length or 0)
    form = await request.post()
    sent = form.get("csrf")
    expected = request[STAFF].session.csrf_token
    if not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise web.HTTPForbidden(text="表单已过期,请刷新页面后重试。")
    return form


def text(form: MultiDictProxy[Any], name: str, default: str = "") -> str:
    value = form.get(name, default)
    return value.strip() if isinstance(value, str) else default
