"""Reading a JSON request body (and marking answers uncacheable), shared by the mini-program
API and the staff API.

Python's json module turns hostile input into exceptions other than ValueError (a body nested
20,000 deep raises RecursionError) or into values the store cannot hold (a lone surrogate
"\\ud800" decodes to a str that no UTF-8 database accepts; a 4,000-digit number becomes an int
that float() overflows on). Each is refused here as `BadRequest`; the staff API turns that into
its own 422.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from cases.errors import CaseError

# Deeper than any body either API takes (a filing is 2 levels deep, a subscription report 3).
MAX_JSON_DEPTH = 16
# A number longer than this is no latitude, amount or id we take.
MAX_NUMBER_CHARS = 32


class BadRequest(CaseError):
    code = "bad_request"
    status = 400


class UnsupportedMedia(CaseError):
    code = "unsupported_media_type"
    status = 415


async def read_json(request: web.Request, max_bytes: int) -> dict[str, Any]:
    """The request's JSON object, for both APIs: 415 for another content type, 400 for a body
    too large or not a sound JSON object; a chunked body is read whole."""
    if request.content_type != "application/json":
        raise UnsupportedMedia("请以 JSON 格式提交(Content-Type: application/json)。")
    too_large = BadRequest("提交的内容太长了。")
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    # read(n) may return less than is coming (chunked, slow clients): read to the end.
    raw = bytearray()
    while chunk := await request.content.read(max_bytes + 1 - len(raw)):
        raw += chunk
        if len(raw) > max_bytes:
            raise too_large
    return parse_json_object(bytes(raw))


async def no_store(_request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare of both JSON APIs: their answers carry personal data (a reporter's
    identity with ?reveal=1, a citizen's cases), so no browser or proxy may keep a copy."""
    response.headers.setdefault("Cache-Control", "no-store")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A JSON object whose strings are valid Unicode, whose numbers are finite and short and
    whose nesting is at most MAX_JSON_DEPTH; anything else is a BadRequest."""
    invalid = BadRequest("提交的内容不是有效的 JSON 对象。")
    try:
        data = json.loads(
            raw.decode("utf-8"),
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise invalid from None
    if not isinstance(data, dict) or not _sound(data):
        raise invalid
    return data


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError("number too long")
    return int(text)


def _float(text: str) -> float:
    number = float(text)
    if len(text) > MAX_NUMBER_CHARS or not math.isfinite(number):
        raise ValueError("number too long")
    return number


def _constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")  # NaN, Infinity, -Infinity


def _sound(data: dict[str, Any]) -> bool:
    """No level deeper than MAX_JSON_DEPTH and no string (key or value) that UTF-8 cannot
    encode; walked with a stack, so depth cannot exhaust Python's."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not _encodable(value):
                return False
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                return False
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and not _encodable(key):
                    return False
                stack.append((item, depth + 1))
    return True


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True
