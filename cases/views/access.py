"""Who among staff may see which case, and the reporter's identity in 举报 cases.

A handler sees only the cases of their unit; intake, leaders and admins see all. A case
outside the actor's view is 'not found', exactly like a number that does not exist. In a
confidential kind (举报) only the intake centre sees who filed it, and every showing is
recorded on the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.queryset import QuerySet

from cases.errors import NotFound
from cases.privacy import mask_name, mask_phone
from cases.rules import Rules
from cases.store.models import Case, Role
from cases.views.tracking import normalize_number
from cases.workflow.timeline import Actor, record_event

IDENTITY_FIELDS = ("contact_name", "contact_phone", "contact_address")


def visible_cases(actor: Actor) -> QuerySet[Case]:
    query = Case.all()
    if actor.role == Role.HANDLER:
        # No unit, no cases (a handler account is always bound to one; belt and braces).
        query = query.filter(department_id=actor.department_id or -1)
    return query


async def case_for_staff(actor: Actor, number: str) -> Case:
    case = await visible_cases(actor).filter(number=normalize_number(number)[:32]).first()
    if case is None:
        raise NotFound("没有找到这个案件。", field="number")
    return case


@dataclass(frozen=True)
class Identity:
    name: str
    phone: str
    address: str
    masked: bool


def may_see_identity(rules: Rules, case: Case, actor: Actor) -> bool:
    kind = rules.catalog.kinds.get(case.kind)
    return not (kind and kind.confidential) or actor.role == Role.INTAKE


def listed_identity(rules: Rules, case: Case) -> Identity:
    """What any list shows: the phone always masked; a confidential reporter fully masked."""
    kind = rules.catalog.kinds.get(case.kind)
    if kind and kind.confidential:
        return Identity("(保密)" if case.contact_name else "", "", "", True)
    return Identity(mask_name(case.contact_name), mask_phone(case.contact_phone), "", True)


async def reveal_identity(rules: Rules, case: Case, actor: Actor, now: datetime) -> Identity:
    """The full identity for someone allowed to see it; a confidential one is logged."""
    if not may_see_identity(rules, case, actor):
        return listed_identity(rules, case)
    kind = rules.catalog.kinds.get(case.kind)
    if kind and kind.confidential and not case.anonymous:
        await record_event(
            case, "view_identity", actor, now, None, note="查看举报人身份", public=False
        )
    return Identity(case.contact_name, case.contact_phone, case.contact_address, False)
