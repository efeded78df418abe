"""Helpers every mini-program handler uses: the error shape, the citizen, JSON bodies."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from cases.errors import ValidationError
from cases.rules import Rules
from cases.store.models import Citizen
from complaint_desk import json_body
from complaint_desk.keys import RULES, SETTINGS
from config.settings import Settings
from miniprogram_api.keys import CITIZEN

MAX_JSON_BYTES = 64 * 1024


def error_response(
    status: int, code: str, message: str, field: str = "", headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"code": code, "message": message, "field": field}}
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)


def ok(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def citizen_of(request: web.Request) -> Citizen:
    return request[CITIZEN]


def rules_of(request: web.Request) -> Rules:
    return request.config_dict[RULES]


def settings_of(request: web.Request) -> Settings:
    return request.config_dict[SETTINGS]


async def read_json(request: web.Request) -> dict[str, Any]:
    return await json_body.read_json(request, MAX_JSON_BYTES)


def id_list(data: dict[str, Any], name: str, most: int) -> list[int]:
    """A list of positive integer ids from the body (uploads, …)."""
    value = data.get(name) or []
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**31 for v in value
    ):
        raise ValidationError("照片编号格式不正确。", field=name)
    if len(value) > most:
        raise ValidationError(f"最多 {most} 张照片。", field=name)
    return list(dict.fromkeys(value))
