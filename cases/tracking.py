"""What a citizen may see of their own cases: list, one case by number, its public timeline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from cases.clocks import Deadline, deadlines_of
from cases.errors import NotFound
from cases.models import Case, CaseEvent, Citizen, Department
from cases.rules import Rules
from cases.workflow import STATUS_LABELS

# Events whose note is the answer the citizen is waiting for.
REPLY_ACTIONS = ("reply", "answer")
_NUMBER_NOISE = re.compile(r"[\s\-_]+")


def normalize_number(text: str) -> str:
    """'ts 2026-1123 00001' → 'TS2026112300001': people type numbers loosely."""
    return _NUMBER_NOISE.sub("", text).upper()


async def case_for_citizen(citizen: Citizen, number: str) -> Case:
    """The citizen's own case by number; anyone else's is 'not found', exactly like a typo."""
    case = await Case.get_or_none(number=normalize_number(number), citizen_id=citizen.id)
    if case is None:
        raise NotFound("没有找到这个编号的案件,请核对后再试。", field="number")
    return case


async def recent_cases(citizen: Citizen, limit: int = 5) -> list[Case]:
    return await Case.filter(citizen_id=citizen.id).order_by("-created_at").limit(limit)


@dataclass(frozen=True)
class CaseView:
    number: str
    kind: str
    category: str
    status: str
    unit: str
    deadline: Deadline | None
    latest_reply: str
    filed_at: datetime


async def view_for_citizen(rules: Rules, case: Case, now: datetime) -> CaseView:
    """Plain-words status: kind, category, status, unit, next due date, latest reply."""
    catalog = rules.catalog
    unit = ""
    if case.department_id is not None:
        dept = await Department.get_or_none(id=case.department_id)
        unit = dept.name if dept else ""
    reply = (
        await CaseEvent.filter(case_id=case.id, action__in=REPLY_ACTIONS, public=True)
        .order_by("-id")
        .first()
    )
    deadlines = [d for d in await deadlines_of(rules, case, now) if not d.paused]
    return CaseView(
        number=case.number,
        kind=catalog.kinds[case.kind].name if case.kind in catalog.kinds else case.kind,
        category=catalog.categories[case.category].name
        if case.category in catalog.categories
        else case.category,
        status=STATUS_LABELS[case.status],
        unit=unit,
        deadline=deadlines[0] if deadlines else None,
        latest_reply=reply.note if reply else "",
        filed_at=case.created_at.astimezone(rules.timezone),
    )
