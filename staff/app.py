"""The staff console (/staff/) and its JSON API (/api/staff/v1/), over the one case store.

Pages are server-rendered jinja2 with no external scripts. The console signs in with a
session cookie (HttpOnly, SameSite=Lax, Secure behind TLS) and checks a CSRF token on every
form; the JSON API takes the same sessions as bearer tokens and never reads the cookie, so a
browser cannot be tricked into calling it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cases.auth.staff_auth import sign_in, sign_out, signed_in
from cases.errors import CaseError, TooManyRequests
from cases.workflow.actions import event_label
from cases.workflow.deadlines import due_text
from complaint_desk.keys import SETTINGS
from config.staff_text import load_staff_text
from staff import admin, case_page, dashboard, worklist
from staff.keys import COOKIE, LOGIN_CSRF_COOKIE, PAGES, STAFF
from staff.web import checked_form, render, settings_of, sign_in_guard, source_address

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "staff"
PUBLIC_ROUTES = frozenset({"staff_login", "staff_login_post", "staff_static"})
STATIC_FILES = {"staff.css": "text/css"}

CSP = "Content-Security-Policy"
# Every console page: no framing, no inline or foreign scripts, nothing cached.
SECURITY_HEADERS = {
    CSP: (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def create_staff_app() -> web.Application:
    app = web.Application(middlewares=[_headers, _errors, _session])
    app[PAGES] = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # shipped files: no stat() per page
    )
    # One way to show a deadline on every page: a day-based one ends at 24:00 of its last day.
    app[PAGES].filters["due"] = due_text
    app[PAGES].filters["cite"] = load_staff_text().citation
    app[PAGES].filters["action"] = event_label
    r = app.router
    r.add_get("/", home, name="staff_home")
    r.add_get("/login", login_page, name="staff_login")
    r.add_post("/login", login, name="staff_login_post")
    r.add_post("/logout", logout, name="staff_logout")
    r.add_get("/static/{name}", static, name="staff_static")
    for module in (worklist, case_page, admin, dashboard):
        module.add_routes(r)
    return app


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    # A handler may send its own, narrower policy (the printable report allows its <style>
    # by hash and nothing else); every other header is the console's.
    own_policy = response.headers.get(CSP)
    response.headers.update(SECURITY_HEADERS)
    if own_policy:
        response.headers[CSP] = own_policy
    return response


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except CaseError as exc:
        return render(request, "error.html", status=exc.status, message=exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = {403: exc.text or "没有权限。", 404: "没有找到这个页面或案件。"}.get(
            exc.status, "请求不正确。"
        )
        return render(request, "error.html", status=exc.status, message=message)
    except Exception:
        log.exception("staff console %s %s failed", request.method, request.path)
        return render(request, "error.html", status=500, message="系统出错了,请稍后再试。")


@web.middleware
async def _session(request: web.Request, handler: Handler) -> web.StreamResponse:
    who = await signed_in(request.cookies.get(COOKIE, ""), datetime.now(UTC))
    if who is not None:
        request[STAFF] = who
    elif request.match_info.route.name not in PUBLIC_ROUTES:
        if request.method != "GET":
            raise web.HTTPForbidden(text="登录已过期,请重新登录。")
        target = quote(request.path_qs, safe="")
        raise web.HTTPFound(f"/staff/login?next={target}")
    return await handler(request)


async def home(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/staff/worklist")


def _next(raw: object) -> str:
    """Only a path inside the console; never another site."""
    if isinstance(raw, str) and raw.startswith("/staff/") and not raw.startswith("//"):
        return raw
    return "/staff/worklist"


async def login_page(request: web.Request) -> web.Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request, "login.html", login_csrf=token, next=_next(request.query.get("next"))
    )
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    sent, expected = form.get("csrf"), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not isinstance(sent, str) or not secrets.compare_digest(sent, expected):
        raise web.HTTPForbidden(text="表单已过期,请刷新页面后重试。")
    username, password = form.get("username"), form.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise web.HTTPBadRequest()
    settings = settings_of(request)
    try:
        _user, token = await sign_in(
            username,
            password,
            datetime.now(UTC),
            settings.staff,
            guard=sign_in_guard(request),
            address=source_address(request),
        )
    except CaseError as exc:
        fresh = secrets.token_urlsafe(24)
        response = render(
            request,
            "login.html",
            status=exc.status,
            login_csrf=fresh,
            next=_next(form.get("next")),
            error=exc.message,
            username=username,
        )
        _set_cookie(request, response, LOGIN_CSRF_COOKIE, fresh, max_age=3600)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    response = web.HTTPFound(_next(form.get("next")))
    max_age = int(settings.staff.session_hours * 3600)
    _set_cookie(request, response, COOKIE, token, max_age=max_age)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/staff/")
    raise response


async def logout(request: web.Request) -> web.Response:
    await checked_form(request)
    await sign_out(request.cookies.get(COOKIE, ""))
    response = web.HTTPFound("/staff/login")
    response.del_cookie(COOKIE, path="/staff/")
    raise response


def _set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/staff/",
        httponly=True,
        samesite="Lax",
        secure=request.config_dict[SETTINGS].staff.secure_cookies,
    )


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(TEMPLATES / name, headers={"Content-Type": STATIC_FILES[name]})
