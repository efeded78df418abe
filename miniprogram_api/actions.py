"""What a citizen does to their own case: supplement, withdraw, rate; and notice consents."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from cases.errors import ValidationError
from cases.intake.consents import record_consents, template_results
from cases.intake.photos import Uploads
from cases.intake.supplements import hand_in_supplement
from cases.views.tracking import case_for_citizen
from cases.workflow.engine import perform
from cases.workflow.surveys import answer_survey
from cases.workflow.timeline import Actor
from complaint_desk.keys import NOTICE_TEMPLATES
from miniprogram_api.common import citizen_of, id_list, ok, read_json, rules_of
from miniprogram_api.views import case_summary


def _note(data: dict[str, object], name: str, *, required: bool, most: int = 1000) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise ValidationError("请填写文字说明。", field=name)
    value = value.strip()
    if required and not value:
        raise ValidationError("请填写补充说明。", field=name)
    if len(value) > most:
        raise ValidationError(f"说明最多 {most} 个字。", field=name)
    return value


async def supplement(request: web.Request) -> web.Response:
    """More text and photos when the office asked for information (status needs_info)."""
    citizen = citizen_of(request)
    rules = rules_of(request)
    case = await case_for_citizen(citizen, request.match_info["number"])
    data = await read_json(request)
    text = _note(data, "text", required=True)
    upload_ids = id_list(data, "upload_ids", rules.catalog.limits.max_photos)
    case, _ = await hand_in_supplement(
        rules, citizen, case.id, text, photos=Uploads(tuple(upload_ids))
    )
    return ok(case_summary(rules, case))


async def withdraw(request: web.Request) -> web.Response:
    citizen = citizen_of(request)
    rules = rules_of(request)
    case = await case_for_citizen(citizen, request.match_info["number"])
    data = await read_json(request)
    reason = _note(data, "reason", required=False, most=500)
    case, _ = await perform(rules, case.id, "withdraw", Actor.of_citizen(citizen), note=reason)
    return ok(case_summary(rules, case))


async def rate(request: web.Request) -> web.Response:
    citizen = citizen_of(request)
    case = await case_for_citizen(citizen, request.match_info["number"])
    rating = await answer_survey(
        rules_of(request), case, await read_json(request), source="mini_program"
    )
    return ok(
        {
            "number": case.number,
            "overall": rating.overall,
            "scores": rating.scores,
            "comment": rating.comment,
            "rated_at": rating.created_at.astimezone(UTC).isoformat(),
        },
        status=201,
    )


async def subscriptions(request: web.Request) -> web.Response:
    """The result of wx.requestSubscribeMessage, success or fail callback, as `results`."""
    data = await read_json(request)
    results = template_results(data.get("results"))  # a fail callback asked nothing
    offered = {spec.template_id for spec in request.config_dict[NOTICE_TEMPLATES].mp.values()}
    left = await record_consents(citizen_of(request).id, results, offered) if results else {}
    return ok({"remaining": left, "recorded_at": datetime.now(UTC).isoformat()})
