"""The case page: every field, photos, the staff timeline, duplicates, deadlines, and a form
for each action the workflow allows this user now; phone/visit/letter registration; and the
same as JSON under /api/staff/v1/.

Every route takes the case through `case_for_staff`, so a case outside a handler's unit is
'not found' here exactly like a wrong number. Actions are POST-redirect-GET; a refused one
shows the workflow's message on the page again, with what was typed kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from cases.errors import CaseError, NotFound, ValidationError
from cases.store.evidence import evidence_path
from cases.store.models import Role
from cases.views.access import case_for_staff
from cases.views.staff_actions import (
    REGISTER_CHANNELS,
    REGISTER_FIELDS,
    act_on_case,
    check_may_register,
    duplicate_number,
    register_case,
)
from cases.views.staff_views import (
    CaseDetail,
    PendingDraft,
    photo_for_staff,
    staff_case_view,
    still_visible,
)
from cases.views.supervision import PRESS_ACTIONS, supervision_label
from cases.workflow.actions import ACTIONS
from cases.workflow.effects import SATISFACTION
from cases.workflow.history import DRAFT_EVENT
from cases.workflow.reply_templates import TEMPLATE_PARTS, template_for, templates_for
from staff import json_api
from staff.web import actor_of, checked_form, render, rules_of, settings_of, text

PHOTO_SIZES = ("thumb", "full")
PHOTO_HEADERS = {
    "Content-Type": "image/jpeg",
    "Content-Disposition": "inline",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
}
# Form fields a refused action's form gets back, so nothing typed is lost.
KEPT_FIELDS = (
    "note",
    "public_note",
    *TEMPLATE_PARTS,
    *{f for a in ACTIONS.values() for f in a.fields},
    "overall",  # a return visit's verdict; its dimensions come from the survey's scale
)
DONE_LABELS = {"file": "已登记。", DRAFT_EVENT: "已提交领导审批,批准后才告知市民。"}


def add_routes(router: web.UrlDispatcher) -> None:
    """Register this module's pages."""
    router.add_get("/cases/{number}", case_page, name="staff_case")
    router.add_post("/cases/{number}/identity", reveal_page, name="staff_case_identity")
    router.add_post("/cases/{number}/actions/{action}", take_action, name="staff_case_action")
    router.add_get("/cases/{number}/photos/{id}/{size}", photo, name="staff_case_photo")
    router.add_get("/register", register_page, name="staff_register")
    router.add_post("/register", register, name="staff_register_post")


def add_api_routes(router: web.UrlDispatcher) -> None:
    """Register this module's JSON API routes."""
    router.add_post("/cases", api_register, name="staff_api_register")
    router.add_get("/cases/{number}", api_case, name="staff_api_case")
    router.add_post("/cases/{number}/actions/{action}", api_action, name="staff_api_action")
    router.add_get("/cases/{number}/photos/{id}/{size}", photo, name="staff_api_photo")


# --- console -------------------------------------------------------------------------------


async def case_page(
    request: web.Request,
    *,
    reveal: bool = False,
    error: CaseError | None = None,
    kept_action: str = "",
    kept: Mapping[str, str] | None = None,
) -> web.Response:
    actor, rules = actor_of(request), rules_of(request)
    case = await case_for_staff(actor, request.match_info["number"])
    detail = await staff_case_view(rules, case, actor, datetime.now(UTC), reveal=reveal)
    replies = templates_for(rules, case) if _offers(detail, "reply") else []
    chosen = template_for(rules, case, request.query.get("template", "")) if replies else None
    if chosen is not None and not kept_action:
        kept_action, kept = "reply", chosen.filled(case)
    done = request.query.get("done", "")
    return render(
        request,
        "case.html",
        status=error.status if error else 200,
        d=detail,
        c=case,
        catalog=rules.catalog,
        scale=rules.survey,
        satisfaction=SATISFACTION,
        leader=actor.role == Role.LEADER.value,
        replies=replies,
        chosen=chosen,
        error=error.message if error else "",
        error_field=error.field if error else "",
        kept_action=kept_action,
        kept=kept or {},
        done=_done_text(done),
    )


def _done_text(done: str) -> str:
    """What the page says after an action, a 催办 or a 督办 (redirected back here)."""
    if done in ACTIONS:
        return f"已{ACTIONS[done].label}。"
    if done in PRESS_ACTIONS:
        return f"已{supervision_label(done)},已记入办理记录。"
    return DONE_LABELS.get(done, "")


def _offers(detail: CaseDetail, action: str) -> bool:
    return any(a.name == action for a in detail.actions)


async def reveal_page(request: web.Request) -> web.Response:
    """The case page with the identity in full; for a 举报 each showing is logged on the case.

    A POST (with the CSRF token), so no link or image on another page can trigger a view.
    """
    await checked_form(request)
    return await case_page(request, reveal=True)


async def take_action(request: web.Request) -> web.Response:
    form = await checked_form(request)
    actor, rules = actor_of(request), rules_of(request)
    case = await case_for_staff(actor, request.match_info["number"])
    action = request.match_info["action"]
    try:
        case, event = await act_on_case(
            rules,
            case,
            action,
            actor,
            note=form.get("note", ""),
            fields=form,
            version=form.get("expected_version"),
        )
    except CaseError as exc:
        kept = {name: text(form, name) for name in (*KEPT_FIELDS, *rules.survey.dimensions)}
        return await case_page(request, error=exc, kept_action=action, kept=kept)
    # A handler who returned the case no longer sees it: back to their worklist instead.
    if not await still_visible(actor, case):
        raise web.HTTPFound("/staff/worklist")
    done = DRAFT_EVENT if event.action == DRAFT_EVENT else action
    raise web.HTTPFound(f"/staff/cases/{case.number}?done={done}")


async def photo(request: web.Request) -> web.StreamResponse:
    """A photo of a case the user may open; a photo of any other case is 'not found'."""
    case = await case_for_staff(actor_of(request), request.match_info["number"])
    size = request.match_info["size"]
    if size not in PHOTO_SIZES:
        raise NotFound("没有找到这张照片。", field="size")
    evidence = await photo_for_staff(case, request.match_info["id"])
    key = evidence.thumb_key if size == "thumb" and evidence.thumb_key else evidence.storage_key
    try:
        path = evidence_path(settings_of(request).media_dir, key)
    except ValueError:
        raise NotFound("没有找到这张照片。", field="photo") from None
    return web.FileResponse(path, headers=PHOTO_HEADERS)


def _may_register(request: web.Request) -> None:
    check_may_register(rules_of(request), actor_of(request))


async def register_page(
    request: web.Request,
    *,
    values: Mapping[str, str] | None = None,
    error: CaseError | None = None,
) -> web.Response:
    _may_register(request)
    catalog = rules_of(request).catalog
    return render(
        request,
        "register.html",
        status=error.status if error else 200,
        catalog=catalog,
        channels=[(c, catalog.channels[c]) for c in REGISTER_CHANNELS if c in catalog.channels],
        values=values or {"channel": "phone", "severity": catalog.default_severity},
        error=error.message if error else "",
        error_field=error.field if error else "",
    )


async def register(request: web.Request) -> web.Response:
    form = await checked_form(request)
    _may_register(request)
    values = {name: text(form, name) for name in REGISTER_FIELDS}
    try:
        case = await register_case(rules_of(request), actor_of(request), values)
    except ValidationError as exc:
        return await register_page(request, values=values, error=exc)
    raise web.HTTPFound(f"/staff/cases/{case.number}?done=file")


# --- JSON API ------------------------------------------------------------------------------


async def api_case(request: web.Request) -> web.Response:
    """The case as JSON; `?reveal=1` shows the identity in full (logged for 举报)."""
    actor, rules = actor_of(request), rules_of(request)
    case = await case_for_staff(actor, request.match_info["number"])
    reveal = request.query.get("reveal", "") in ("1", "true")
    detail = await staff_case_view(rules, case, actor, datetime.now(UTC), reveal=reveal)
    return json_api.ok(detail_json(detail))


async def api_action(request: web.Request) -> web.Response:
    """Body: {"note": "...", "data": {...}, "expected_version": n}; a reply may send its parts
    (facts, handling, basis) in data instead of a note."""
    actor, rules = actor_of(request), rules_of(request)
    case = await case_for_staff(actor, request.match_info["number"])
    body = await json_api.read_json(request)
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise ValidationError("data 应为 JSON 对象。", field="data")
    case, event = await act_on_case(
        rules,
        case,
        request.match_info["action"],
        actor,
        note=body.get("note", ""),
        fields=data,
        version=body.get("expected_version"),
    )
    return json_api.ok(
        {
            "number": case.number,
            "status": str(case.status),
            "version": case.version,
            "event": {
                "id": event.id,
                "action": event.action,
                "at": event.at.isoformat(),
                "note": event.note,
                "data": event.data,
            },
        }
    )


async def api_register(request: web.Request) -> web.Response:
    """Register a phone / visit / letter case (the hotline's integration); 201 with its number."""
    body = await json_api.read_json(request)
    case = await register_case(rules_of(request), actor_of(request), body)
    return json_api.ok(
        {
            "number": case.number,
            "status": str(case.status),
            "version": case.version,
            "duplicate_of": await duplicate_number(case),
        },
        status=201,
    )


def _at(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def detail_json(d: CaseDetail) -> dict[str, Any]:
    c = d.case
    base = f"/api/staff/v1/cases/{c.number}/photos"
    return {
        "number": c.number,
        "version": c.version,
        "kind": {"code": c.kind, "name": d.kind_name},
        "category": {"code": c.category, "name": d.category_name},
        "channel": {"code": c.channel, "name": d.channel_name},
        "severity": {"code": c.severity, "name": d.severity_name},
        "status": {"code": str(c.status), "label": d.status_label},
        "unit": {"code": d.unit.code, "name": d.unit.name} if d.unit else None,
        "filed_at": _at(d.filed_at),
        "accepted_at": _at(c.accepted_at),
        "closed_at": _at(c.closed_at),
        "reporter": {
            "anonymous": c.anonymous,
            "name": d.identity.name,
            "phone": d.identity.phone,
            "address": d.identity.address,
            "masked": d.identity.masked,
            "may_reveal": d.may_reveal,
        },
        "respondent": {"name": c.respondent_name, "address": c.respondent_address},
        "incident": {
            "at": _at(d.incident_at),
            "place": c.incident_place,
            "latitude": c.latitude,
            "longitude": c.longitude,
        },
        "description": c.description,
        "demands": c.demands,
        "reject_reason": c.reject_reason,
        "referred_to": c.referred_to,
        "merged_into": d.merged_into or None,
        "merged_cases": d.merged_cases,
        "photos": [
            {
                "id": p.id,
                "width": p.width,
                "height": p.height,
                "content_check": p.content_check,
                "thumb": f"{base}/{p.id}/thumb",
                "full": f"{base}/{p.id}/full",
            }
            for p in d.photos
        ],
        "deadlines": [
            {
                "name": dl.name,
                "label": dl.label,
                "due_at": dl.due_at.isoformat(),
                "overdue": dl.overdue,
                "due_soon": dl.due_soon,
                "paused": dl.paused,
                "provisional": dl.provisional,
            }
            for dl in d.deadlines
        ],
        "timeline": [
            {
                "at": e.at.isoformat(),
                "action": e.action,
                "label": e.label,
                "actor": e.actor,
                "note": e.note,
                "public": e.public,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "details": dict(e.details),
            }
            for e in d.timeline
        ],
        "duplicates": [
            {
                "number": s.number,
                "status": s.status,
                "filed_at": s.filed_at.isoformat(),
                "respondent_name": s.respondent_name,
                "similarity": s.similarity,
                "flagged": s.flagged,
            }
            for s in d.duplicates
        ],
        "actions": [
            {
                "name": a.name,
                "label": a.label,
                "needs_note": a.needs_note,
                "fields": a.fields,
                "needs_approval": a.needs_approval,
            }
            for a in d.actions
        ],
        "pending_draft": _draft_json(d.pending_draft),
    }


def _draft_json(draft: PendingDraft | None) -> dict[str, Any] | None:
    if draft is None:
        return None
    return {
        "action": draft.action,
        "label": draft.label,
        "by": draft.by,
        "at": draft.at.isoformat(),
        "note": draft.note,
        "details": dict(draft.details),
    }
