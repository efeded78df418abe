"""The citizen's own cases: list, one case with its timeline, and their photos."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from cases.errors import ValidationError
from cases.store.evidence import evidence_path
from cases.views.tracking import (
    case_for_citizen,
    citizen_case_page,
    evidence_for_citizen,
    visible_photo,
)
from miniprogram_api.common import citizen_of, ok, rules_of, settings_of
from miniprogram_api.views import case_detail, case_summary, photo_link_valid

MAX_PAGE_SIZE = 50


def _positive(request: web.Request, name: str, default: int, most: int) -> int:
    text = request.query.get(name, str(default))
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise ValidationError(f"参数 {name} 应为 1–{most} 的整数。", field=name)
    return int(text)


async def my_cases(request: web.Request) -> web.Response:
    citizen = citizen_of(request)
    rules = rules_of(request)
    page = _positive(request, "page", 1, 10_000)
    size = _positive(request, "page_size", 20, MAX_PAGE_SIZE)
    found = await citizen_case_page(citizen, page, size, request.query.get("status", ""))
    return ok(
        {
            "items": [case_summary(rules, c) for c in found.cases],
            "page": page,
            "page_size": size,
            "total": found.total,
        }
    )


async def my_case(request: web.Request) -> web.Response:
    case = await case_for_citizen(citizen_of(request), request.match_info["number"])
    photos = await evidence_for_citizen(case)
    detail = await case_detail(
        rules_of(request), settings_of(request), case, photos, datetime.now(UTC)
    )
    return ok(detail)


async def evidence_file(request: web.Request) -> web.StreamResponse:
    """A photo by signed link (an <image> sends no Authorization header); withheld photos
    and bad or expired signatures get the same 404."""
    size = request.match_info["size"]
    raw_id = request.match_info["id"]
    if size not in ("thumb", "full") or not raw_id.isdigit() or len(raw_id) > 10:
        raise web.HTTPNotFound()
    q = request.query
    settings = settings_of(request)
    if not photo_link_valid(settings, int(raw_id), size, q.get("exp", ""), q.get("sig", "")):
        raise web.HTTPNotFound()
    evidence = await visible_photo(int(raw_id))
    if evidence is None:
        raise web.HTTPNotFound()
    key = evidence.thumb_key if size == "thumb" and evidence.thumb_key else evidence.storage_key
    return web.FileResponse(
        evidence_path(settings.media_dir, key),
        headers={
            "Content-Type": "image/jpeg",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
