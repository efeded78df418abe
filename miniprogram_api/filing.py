"""Filing from the mini-program: the catalogue that drives the form, photo uploads, new cases."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from cases.errors import ValidationError
from cases.intake.filing import Once, file_case
from cases.intake.forms import FIELD_LABELS, TEXT_FIELDS
from cases.intake.photos import Uploads, ingest_photo
from cases.intake.quotas import check_upload_quota
from cases.store.evidence import (
    MAX_PHOTO_BYTES,
    PhotoTooLarge,
    await_content_check,
    evidence_path,
    photo_awaiting_check,
    skip_content_check,
)
from cases.store.idempotency import check_key, fingerprint
from cases.store.models import Case, Citizen, EvidenceFile
from cases.workflow.timeline import Actor
from complaint_desk.json_body import BadRequest, UnsupportedMedia
from complaint_desk.keys import MP_CLIENT, NOTICE_TEMPLATES
from miniprogram_api.common import (
    citizen_of,
    id_list,
    ok,
    read_json,
    rules_of,
    settings_of,
)
from miniprogram_api.views import case_summary, deadlines, photo
from wechat.errors import WeChatError

log = logging.getLogger(__name__)
CHANNEL = "mini_program"
# Multipart framing around one photo (boundaries, part headers).
MULTIPART_OVERHEAD = 64 * 1024
RISKY_TEXT = "内容中含有不适宜发布的信息,请修改后再提交。"


async def catalogue(request: web.Request) -> web.Response:
    """Everything the form needs: kinds, categories, fields and limits, consent templates."""
    catalog = rules_of(request).catalog
    limits = catalog.limits
    fields: dict[str, dict[str, Any]] = {}
    for name in (*TEXT_FIELDS, "contact_phone", "incident_at", "latitude", "longitude"):
        fields[name] = {"label": FIELD_LABELS[name], "max_chars": limits.max_chars.get(name)}
    fields["description"]["min_chars"] = limits.min_description_chars
    templates = request.config_dict[NOTICE_TEMPLATES]
    scale = rules_of(request).survey
    return ok(
        {
            "title": catalog.title,
            "kinds": [
                {
                    "code": k.code,
                    "name": k.name,
                    "anonymous_allowed": k.anonymous_allowed,
                    "required_fields": list(k.required_fields),
                }
                for k in catalog.kinds.values()
            ],
            "categories": [
                {"code": c.code, "name": c.name, "kinds": list(c.kinds)}
                for c in catalog.categories.values()
            ],
            "fields": fields,
            "max_photos": limits.max_photos,
            "max_photo_bytes": MAX_PHOTO_BYTES,
            # Ask consent for these with wx.requestSubscribeMessage before submitting.
            "subscribe_templates": sorted({spec.template_id for spec in templates.mp.values()}),
            "rating": {
                "levels": scale.levels,
                "dimensions": scale.dimensions,
                "comment_max_chars": scale.comment_max_chars,
            },
        }
    )


async def upload(request: web.Request) -> web.Response:
    """One photo, as wx.uploadFile sends it (multipart, field `file`)."""
    citizen = citizen_of(request)
    settings = settings_of(request)
    per_hour = settings.miniprogram.uploads_per_hour
    await check_upload_quota(citizen.id, datetime.now(UTC), per_hour)
    if (request.content_length or 0) > MAX_PHOTO_BYTES + MULTIPART_OVERHEAD:
        raise PhotoTooLarge()  # refused before reading it
    if not request.content_type.startswith("multipart/"):
        raise UnsupportedMedia("请用 wx.uploadFile 上传照片(multipart/form-data,字段名 file)。")
    raw = await _read_file_part(request)
    # WeChat's checker fetches https only (the demo's local http address is not reachable).
    check = "pending" if settings.miniprogram.public_url.startswith("https://") else "skipped"
    # Counted again where the row is written: the check above is only a fast refusal.
    evidence = await ingest_photo(
        settings.media_dir,
        raw,
        citizen_id=citizen.id,
        uploads_per_hour=per_hour,
        content_check=check,
    )
    if check == "pending":
        await _start_media_check(request, citizen, evidence)
    return ok({"upload_id": evidence.id, **photo(settings, evidence)}, status=201)


async def _read_file_part(request: web.Request) -> bytes:
    """The one part, `file`, the document allows; any other part is refused (400)."""
    photo: bytes | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name != "file" or photo is not None:
                raise BadRequest("只接收一张照片,字段名为 file(不要附加其他字段)。", field="file")
            data = bytearray()
            while chunk := await part.read_chunk(64 * 1024):
                data += chunk
                if len(data) > MAX_PHOTO_BYTES:
                    raise PhotoTooLarge()
            photo = bytes(data)
    except (ValueError, AssertionError, RuntimeError, HttpProcessingError) as exc:  # bad framing
        raise BadRequest("上传的内容格式不正确。", field="file") from exc
    if photo is None:
        raise BadRequest("没有收到照片(字段名应为 file)。", field="file")
    return photo


async def _start_media_check(
    request: web.Request, citizen: Citizen, evidence: EvidenceFile
) -> None:
    """Hand the photo to WeChat's asynchronous check; its verdict arrives at /wechat/mp."""
    settings = settings_of(request)
    name = evidence.storage_key.rsplit("/", 1)[-1]
    url = f"{settings.miniprogram.public_url}/api/mp/v1/check-media/{name}"
    try:
        trace_id = await request.config_dict[MP_CLIENT].media_check_async(
            citizen.mp_openid or "", url
        )
    except WeChatError as exc:
        # No automatic verdict: staff see every photo and review it themselves.
        log.warning("media check not started for evidence %s: %s", evidence.id, exc)
        await skip_content_check(evidence)
        return
    await await_content_check(evidence, trace_id)


async def check_media(request: web.Request) -> web.StreamResponse:
    """The photo for WeChat's checker, only while its check is pending (a capability URL:
    the name is a random 128-bit id)."""
    name = request.match_info["name"]
    stem = name.removesuffix(".jpg")
    if len(stem) != 32 or not all(c in "0123456789abcdef" for c in stem):
        raise web.HTTPNotFound()
    evidence = await photo_awaiting_check(stem)
    if evidence is None:
        raise web.HTTPNotFound()
    path = evidence_path(settings_of(request).media_dir, evidence.storage_key)
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "image/jpeg",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


async def create_case(request: web.Request) -> web.Response:
    """File a case from the form and uploaded photos; Idempotency-Key makes retries safe."""
    citizen = citizen_of(request)
    rules, settings = rules_of(request), settings_of(request)
    if "Idempotency-Key" not in request.headers:
        raise BadRequest(
            "缺少 Idempotency-Key 请求头(每次新提交生成一个 UUID,重试时沿用)。",
            field="Idempotency-Key",
        )
    key = check_key(request.headers["Idempotency-Key"])
    data = await read_json(request)
    upload_ids = id_list(data, "upload_ids", rules.catalog.limits.max_photos)
    form = {k: v for k, v in data.items() if k != "upload_ids"}
    now = datetime.now(UTC)

    async def answer(case: Case) -> dict[str, Any]:
        return {**case_summary(rules, case), "deadlines": await deadlines(rules, case, now)}

    status, body = await file_case(
        rules,
        form,
        Actor.of_citizen(citizen),
        channel=CHANNEL,
        citizen=citizen,
        now=now,
        cases_per_day=settings.miniprogram.cases_per_day,
        photos=Uploads(tuple(upload_ids)),
        screen=partial(_check_text, request, citizen, form),
        once=Once(key, fingerprint(data), answer),
    )
    return ok(body, status=status)


async def _check_text(request: web.Request, citizen: Citizen, form: dict[str, Any]) -> None:
    """WeChat's text security check (required for user content in mini-programs)."""
    parts = [
        form.get(name) for name in ("respondent_name", "incident_place", "description", "demands")
    ]
    text = "\n".join(p for p in parts if isinstance(p, str) and p.strip())
    if not text or not citizen.mp_openid:
        return
    try:
        verdict = await request.config_dict[MP_CLIENT].msg_sec_check(citizen.mp_openid, text[:2500])
    except WeChatError as exc:
        # A complaint is not lost because WeChat's checker is down: staff read everything.
        log.warning("text check unavailable, filing without it: %s", exc)
        return
    if verdict.suggest == "risky":
        raise ValidationError(RISKY_TEXT, field="description")
