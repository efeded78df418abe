"""The staff JSON API's envelope, shared by its handlers and the pages that answer JSON too:
`ok` / `error` bodies and reading a JSON object from a request."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from cases.errors import ValidationError
from complaint_desk import json_body
from complaint_desk.json_body import BadRequest

MAX_JSON_BYTES = 256 * 1024


def ok(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def error(status: int, code: str, message: str, field: str = "") -> web.Response:
    return ok({"error": {"code": code, "message": message, "field": field}}, status)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body's JSON object (complaint_desk/json_body.py: 415 for another content type); the
    staff API has always answered a body it cannot read with 422, not the mini-program's 400."""
    try:
        return await json_body.read_json(request, MAX_JSON_BYTES)
    except BadRequest:
        raise ValidationError("请求内容应为 JSON 对象。", code="bad_request") from None
