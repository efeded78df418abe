"""The mini-program's JSON API under /api/mp/v1/: one error shape, bearer-token sign-in.

Every refusal is `{"error": {"code", "message", "field"}}` with the matching status; the
message is Chinese text the mini-program can show as is. Handlers stay thin: the rules are in
`cases/`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from cases.auth.sessions import citizen_for_token
from cases.errors import CaseError, TooManyRequests
from complaint_desk.json_body import no_store
from miniprogram_api import actions, auth, filing, tracking
from miniprogram_api.common import error_response
from miniprogram_api.keys import CITIZEN, OPENAPI

log = logging.getLogger(__name__)
OPENAPI_FILE = Path(__file__).with_name("openapi.json")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Routes that work without a session: sign-in itself, the API description, and the
# capability URL WeChat fetches photos from for its content check.
PUBLIC_ROUTES = frozenset({"mp_login", "mp_openapi", "mp_check_media", "mp_evidence_file"})


def create_mp_app() -> web.Application:
    app = web.Application(middlewares=[_errors, _signed_in])
    app[OPENAPI] = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    app.on_response_prepare.append(no_store)
    r = app.router
    r.add_post("/auth/login", auth.login, name="mp_login")
    r.add_post("/auth/logout", auth.logout, name="mp_logout")
    r.add_get("/openapi.json", openapi, name="mp_openapi")
    r.add_get("/catalogue", filing.catalogue, name="mp_catalogue")
    r.add_post("/uploads", filing.upload, name="mp_upload")
    r.add_post("/cases", filing.create_case, name="mp_create_case")
    r.add_get("/cases", tracking.my_cases, name="mp_cases")
    r.add_get("/cases/{number}", tracking.my_case, name="mp_case")
    r.add_post("/cases/{number}/supplements", actions.supplement, name="mp_supplement")
    r.add_post("/cases/{number}/withdraw", actions.withdraw, name="mp_withdraw")
    r.add_post("/cases/{number}/rating", actions.rate, name="mp_rating")
    r.add_post("/subscriptions", actions.subscriptions, name="mp_subscriptions")
    r.add_get("/evidence/{id}/{size}", tracking.evidence_file, name="mp_evidence_file")
    r.add_get("/check-media/{name}", filing.check_media, name="mp_check_media")
    return app


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


# Statuses aiohttp itself raises (unknown route, wrong method, body too big…), in Chinese.
_HTTP_MESSAGES = {
    404: ("not_found", "没有找到。"),
    405: ("method_not_allowed", "不支持这种请求方式。"),
    413: ("too_large", "提交的内容太大了。"),
}


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except TooManyRequests as exc:
        return error_response(
            exc.status, exc.code, exc.message, exc.field, {"Retry-After": str(exc.retry_after)}
        )
    except CaseError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.field)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, message = _HTTP_MESSAGES.get(exc.status, ("bad_request", "请求不正确。"))
        # 405 names the methods the resource takes (RFC 9110).
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, code, message, headers=allow)
    except Exception:
        log.exception("mini-program API %s %s failed", request.method, request.path)
        return error_response(500, "server_error", "系统繁忙,请稍后再试。")


@web.middleware
async def _signed_in(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route.name
    if route in PUBLIC_ROUTES or route is None:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    citizen = None
    if scheme.lower() == "bearer" and token:
        citizen = await citizen_for_token(token.strip(), datetime.now(UTC))
    if citizen is None:
        return error_response(
            401,
            "unauthorized",
            "登录已过期,请重新进入小程序。",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request[CITIZEN] = citizen
    return await handler(request)
