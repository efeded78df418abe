"""Supplements (补充材料): which of a citizen's cases wait for information, and handing it in.

Any channel may call these; the chat-bot collects a citizen's messages and photos first and
hands them in together once the citizen confirms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from cases.intake.photos import Photos, attach_photos
from cases.rules import Rules
from cases.store.models import Case, CaseEvent, Citizen, Status
from cases.workflow.engine import perform
from cases.workflow.timeline import Actor


@dataclass(frozen=True)
class AwaitedSupplement:
    """A case of the citizen's on which the office asked for more information."""

    case_id: int
    number: str
    kind: str
    asked: str  # what the office asked for: the note of the latest 要求补充材料


async def cases_awaiting_supplement(citizen: Citizen) -> list[AwaitedSupplement]:
    """The citizen's cases in 待补充材料, the one asked longest ago first."""
    cases = await Case.filter(citizen_id=citizen.id, status=Status.NEEDS_INFO).order_by(
        "updated_at", "id"
    )
    if not cases:
        return []
    requests = await CaseEvent.filter(
        case_id__in=[c.id for c in cases], action="request_info"
    ).order_by("at", "id")
    asked = {event.case_id: event.note for event in requests}  # the latest request wins
    return [AwaitedSupplement(c.id, c.number, c.kind, asked.get(c.id, "")) for c in cases]


async def hand_in_supplement(
    rules: Rules,
    citizen: Citizen,
    case_id: int,
    note: str,
    *,
    photos: Photos | None,
    now: datetime | None = None,
) -> tuple[Case, int]:
    """Supplement the citizen's case with `note` and their `photos`, in one transaction.

    The case goes back to 待受理 (its acceptance clock resumes) and the supplement is an event
    on its timeline; only the citizen's own photos not yet attached to any case are taken, and
    a named upload that is not refuses the supplement (`attach_photos`). Returns the case and
    how many photos were attached. Raises what `perform` raises (the case is no longer waiting,
    say); then nothing is written.
    """
    async with in_transaction() as conn:
        case, _ = await perform(
            rules, case_id, "supplement", Actor.of_citizen(citizen), note=note, now=now
        )
        attached = 0
        if photos is not None:
            attached = await attach_photos(photos, case.id, citizen.id, conn)
    return case, attached
