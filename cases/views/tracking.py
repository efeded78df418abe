"""What a citizen may see of their own cases: list, one case by number, its public timeline."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from cases.errors import NotFound, ValidationError
from cases.rules import Rules
from cases.store.models import Case, CaseEvent, Citizen, Department, EvidenceFile, Status
from cases.text import plain_input
from cases.workflow.actions import citizen_note, event_label
from cases.workflow.clocks import Deadline, citizen_deadline
from cases.workflow.states import STATUS_LABELS

# Events whose note is the answer the citizen is waiting for.
REPLY_ACTIONS = ("reply", "answer")
_NUMBER_NOISE = re.compile(r"[\s\-_]+")
MAX_NUMBER_CHARS = 32  # the column's width


def normalize_number(text: str) -> str:
    """'ts 2026-1123 00001' → 'TS2026112300001': people type numbers loosely.

    Full-width characters and invisible ones copied along are handled by `plain_input`.
    """
    return unicodedata.normalize("NFKC", _NUMBER_NOISE.sub("", plain_input(text)).upper())


async def case_for_citizen(citizen: Citizen, number: str) -> Case:
    """The citizen's own case by number; anyone else's is 'not found', exactly like a typo."""
    number = normalize_number(number)
    case = None
    if 0 < len(number) <= MAX_NUMBER_CHARS and number.isalnum():
        case = await Case.get_or_none(number=number, citizen_id=citizen.id)
    if case is None:
        raise NotFound("没有找到这个编号的案件,请核对后再试。", field="number")
    return case


async def recent_cases(citizen: Citizen, limit: int = 5) -> list[Case]:
    return await Case.filter(citizen_id=citizen.id).order_by("-created_at").limit(limit)


@dataclass(frozen=True)
class CasePage:
    cases: list[Case]
    total: int  # of the citizen's cases with that status, on every page


async def citizen_case_page(citizen: Citizen, page: int, size: int, status: str = "") -> CasePage:
    """One page of the citizen's own cases, newest first, of one status or all (`""`)."""
    query = Case.filter(citizen_id=citizen.id)
    if status:
        if status not in {s.value for s in Status}:
            raise ValidationError("未知的状态。", field="status")
        query = query.filter(status=status)
    total = await query.count()
    rows = await query.order_by("-created_at", "-id").offset((page - 1) * size).limit(size)
    return CasePage(cases=rows, total=total)


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
    # The office asked the citizen for more: a paused clock waits for them, not for a test.
    waits_for_citizen: bool = False


async def view_for_citizen(rules: Rules, case: Case, now: datetime) -> CaseView:
    """Plain-words status: kind, category, status, unit, the date their stage promises (paused
    while a test or appraisal, or the citizen's own supplement, stops the clock), latest reply."""
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
    return CaseView(
        number=case.number,
        kind=catalog.kinds[case.kind].name if case.kind in catalog.kinds else case.kind,
        category=catalog.categories[case.category].name
        if case.category in catalog.categories
        else case.category,
        status=STATUS_LABELS[case.status],
        unit=unit,
        deadline=await citizen_deadline(rules, case, now),
        latest_reply=reply.note if reply else "",
        filed_at=case.created_at.astimezone(rules.timezone),
        waits_for_citizen=case.status == Status.NEEDS_INFO,
    )


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    action: str
    label: str
    note: str


async def public_timeline(rules: Rules, case: Case) -> list[TimelineEntry]:
    """The events a citizen may see, oldest first, in local time, each with only the text meant
    for the citizen (never a staff member's internal note)."""
    events = await CaseEvent.filter(case_id=case.id, public=True).order_by("at", "id")
    return [
        TimelineEntry(
            at=e.at.astimezone(rules.timezone),
            action=e.action,
            label=event_label(e.action, citizen=True),
            note=citizen_note(e),
        )
        for e in events
    ]


# What the citizen is told about a photo they may not see (content check said risky).
WITHHELD_NOTE = "这张照片未通过内容安全检查,仅工作人员可见。"
VISIBLE_CHECKS = frozenset({"pass", "pending", "skipped"})


async def evidence_for_citizen(case: Case) -> list[EvidenceFile]:
    return await EvidenceFile.filter(case_id=case.id).order_by("id")


async def visible_photo(evidence_id: int) -> EvidenceFile | None:
    """The photo if a citizen may see it (its content check did not withhold it), else None.
    Whose photo it is the caller has settled (the mini-program: a link it signed)."""
    evidence = await EvidenceFile.filter(id=evidence_id).first()
    if evidence is None or evidence.content_check not in VISIBLE_CHECKS:
        return None
    return evidence
