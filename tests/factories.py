"""Test data, built through the same functions the faces use."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from itertools import count
from typing import Any

from argon2 import PasswordHasher

from cases.intake.filing import file_case
from cases.rules import Rules
from cases.store.models import Case, CaseEvent, Citizen, Department, Role, StaffUser
from cases.workflow.engine import perform
from cases.workflow.history import DRAFT_EVENT
from cases.workflow.timeline import CITIZEN, Actor

_seq = count(1)


def complaint_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "kind": "complaint",
        "category": "consumer",
        "respondent_name": "城东便民超市",
        "respondent_address": "城关镇东大街12号",
        "description": "11月20日在该超市购买的牛奶已过保质期,要求退货被拒绝。",
        "demands": "退货并赔偿",
        "contact_name": "张女士",
        "contact_phone": "13800000000",
        "incident_place": "城东便民超市收银台",
    }
    form.update(overrides)
    return form


async def make_citizen(**fields: Any) -> Citizen:
    n = next(_seq)
    defaults = {"oa_openid": f"openid-{n}", "name": "张女士", "phone": "13800000000"}
    return await Citizen.create(**{**defaults, **fields})


def citizen_actor(citizen: Citizen) -> Actor:
    return Actor(kind=CITIZEN, id=citizen.id, name=citizen.name, role=CITIZEN)


STAFF_PASSWORD = "correct-horse-battery"


@cache
def _password_hash() -> str:
    # Hashing costs ~50 ms by design; one hash serves every test account.
    return PasswordHasher().hash(STAFF_PASSWORD)


async def make_staff(role: str, department: str = "") -> Actor:
    """A staff account of `role` in `department` (handlers default to the consumer unit)."""
    n = next(_seq)
    if role == "handler" and not department:
        department = "consumer"
    dept = await Department.get(code=department) if department else None
    user = await StaffUser.create(
        username=f"{role}{n}",
        display_name=f"{role} {n}",
        password_hash=_password_hash(),
        role=Role(role),
        department=dept,
    )
    return Actor.of_staff(user)


async def make_case(
    rules: Rules,
    *,
    citizen: Citizen | None = None,
    now: datetime | None = None,
    channel: str = "official_account",
    **form: Any,
) -> Case:
    citizen = citizen or await make_citizen()
    return await file_case(
        rules,
        complaint_form(**form),
        citizen_actor(citizen),
        channel=channel,
        citizen=citizen,
        now=now,
    )


async def department_id(code: str) -> int:
    return (await Department.get(code=code)).id


async def perform_approved(
    rules: Rules,
    case_id: int,
    action: str,
    actor: Actor,
    *,
    leader: Actor | None = None,
    now: datetime | None = None,
    **kw: Any,
) -> tuple[Case, CaseEvent]:
    """`perform`, and when the profile made it a draft, a leader's approval at the same time:
    for tests that only need the case to reach the action's state (issue 13)."""
    case, event = await perform(rules, case_id, action, actor, now=now, **kw)
    if event.action != DRAFT_EVENT:
        return case, event
    leader = leader or await make_staff("leader", "leaders")
    return await perform(rules, case_id, "approve_draft", leader, now=now)
