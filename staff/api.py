"""The staff JSON API (/api/staff/v1/): the console's actions for other systems.

Sign in with POST auth/login {username, password} and send `Authorization: Bearer <token>`;
the same roles, units and confidentiality rules as the console apply. Errors are
`{"error": {"code", "message", "field"}}`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from cases.auth.staff_auth import sign_in, sign_out, signed_in, unlock_sign_in
from cases.errors import CaseError, NotFound, TooManyRequests, ValidationError
from complaint_desk.json_body import no_store
from staff import case_page, dashboard, worklist
from staff.json_api import error, ok, read_json
from staff.keys import STAFF
from staff.web import settings_of, sign_in_guard, source_address

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Sign-in itself and the API description (staff/openapi.json) need no token.
PUBLIC_ROUTES = frozenset({"staff_api_login", "staff_api_openapi"})
OPENAPI_FILE = Path(__file__).with_name("openapi.json")
OPENAPI = web.AppKey("staff_api_openapi", dict)


def create_staff_api() -> web.Application:
    app = web.Application(middlewares=[_errors, _bearer])
    app[OPENAPI] = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    app.on_response_prepare.append(no_store)
    app.router.add_post("/auth/login", login, name="staff_api_login")
    app.router.add_post("/auth/logout", logout, name="staff_api_logout")
    app.router.add_get("/openapi.json", openapi, name="staff_api_openapi")
    app.router.add_post("/staff/{id}/unlock", unlock, name="staff_api_unlock")
    for module in (worklist, case_page, dashboard):
        module.add_api_routes(app.router)
    return app


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except TooManyRequests as exc:
        response = error(exc.status, exc.code, exc.message, exc.field)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except CaseError as exc:
        return error(exc.status, exc.code, exc.message, exc.field)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error(exc.status, "http_error", exc.reason)
        if "Allow" in exc.headers:  # 405 names the methods the resource takes (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("staff API %s %s failed", request.method, request.path)
        return error(500, "server_error", "系统出错了,请稍后再试。")


@web.middleware
async def _bearer(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.route.name in PUBLIC_ROUTES or _method_not_allowed(request):
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    who = None
    if scheme.lower() == "bearer":
        who = await signed_in(token.strip(), datetime.now(UTC))
    if who is None:
        response = error(401, "unauthorized", "请先登录。")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    request[STAFF] = who
    return await handler(request)


def _method_not_allowed(request: web.Request) -> bool:
    """A method the route does not take: answered 405 before sign-in, as the public
    document already says which methods each path takes."""
    exc = getattr(request.match_info, "http_exception", None)
    return exc is not None and exc.status == 405


async def login(request: web.Request) -> web.Response:
    data = await read_json(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ValidationError("请提供 username 和 password。", field="username")
    settings = settings_of(request)
    user, token = await sign_in(
        username,
        password,
        datetime.now(UTC),
        settings.staff,
        guard=sign_in_guard(request),
        address=source_address(request),
    )
    return ok({"token": token, "role": str(user.role), "name": user.display_name})


async def unlock(request: web.Request) -> web.Response:
    """An admin clears an account's sign-in back-off (the console's 解除登录限制)."""
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 9:
        raise NotFound("没有这个账号。")
    user = await unlock_sign_in(sign_in_guard(request), request[STAFF].user, int(raw))
    return ok({"username": user.username, "unlocked": True})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI document of this API (staff/openapi.json); public, like the mini-program's."""
    return ok(request.app[OPENAPI])


async def logout(request: web.Request) -> web.Response:
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    await sign_out(token.strip())
    return ok({"ok": True})
