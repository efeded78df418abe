"""What a case's timeline says so far: a pending extension request or draft, whether a decision
has reached the citizen. Read by the actions' checks and by the staff's read models alike."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from cases.rules import Rules
from cases.store.models import Case, CaseEvent, Status

S = Status
# The timeline's entry for a decision drafted for approval (not an action anyone takes).
DRAFT_EVENT = "draft"
DRAFT_EVENTS = (DRAFT_EVENT, "approve_draft", "refuse_draft")
# A request, and the leader's two answers to it.
EXTENSION_EVENTS = ("request_extension", "approve_extension", "refuse_extension")

# What a citizen is told (TOLD_SUBJECTS): the actions that decide it, and that record it reached
# them. "tell_rejection" is the name staff's telling of a rejection had before tell_citizen.
DECIDED_BY = {"rejected": ("reject",), "result": ("reply", "end_mediation", "decline_case")}
TOLD_BY = {"rejected": ("notify_rejected", "tell_rejection"), "result": ("notify_result",)}
TOLD_IN_STATES = {"rejected": frozenset({S.REJECTED}), "result": frozenset({S.REPLIED, S.CLOSED})}


async def citizen_told(case: Case, what: str, conn: BaseDBAsyncClient | None = None) -> bool:
    """Whether the latest decision of this kind (a rejection, a result) has reached the citizen:
    its notice was delivered or staff recorded telling them."""
    query = CaseEvent.filter(
        case_id=case.id, action__in=[*DECIDED_BY[what], *TOLD_BY[what], "tell_citizen"]
    ).order_by("-id")
    for event in await (query.using_db(conn) if conn else query):
        if event.action in DECIDED_BY[what]:
            return False
        if event.action in TOLD_BY[what] or event.data.get("what") == what:
            return True
    return False


async def untold(rules: Rules, case: Case, conn: BaseDBAsyncClient | None = None) -> list[str]:
    """What staff could still record having told the citizen (codes of the profile's [told])."""
    return [
        what
        for what in rules.catalog.told
        if case.status in TOLD_IN_STATES[what] and not await citizen_told(case, what, conn)
    ]


async def latest_of(
    case: Case, actions: tuple[str, ...], conn: BaseDBAsyncClient | None = None
) -> CaseEvent | None:
    query = CaseEvent.filter(case_id=case.id, action__in=actions).order_by("-id")
    return await (query.using_db(conn) if conn else query).first()


async def pending_extension(case: Case, conn: BaseDBAsyncClient | None = None) -> CaseEvent | None:
    """The latest extension request, if no approval or refusal has followed it."""
    last = await latest_of(case, EXTENSION_EVENTS, conn)
    return last if last is not None and last.action == "request_extension" else None


async def pending_draft(case: Case, conn: BaseDBAsyncClient | None = None) -> CaseEvent | None:
    """The draft awaiting a leader: neither approved nor refused, and the case has not moved
    on since it was drafted (a withdrawn case leaves its draft stale)."""
    last = await latest_of(case, DRAFT_EVENTS, conn)
    if last is None or last.action != DRAFT_EVENT or last.from_status != case.status:
        return None
    return last


async def case_filed(case: Case, conn: BaseDBAsyncClient | None = None) -> bool:
    """Whether a violation was filed as a case (立案) on this case already."""
    query = CaseEvent.filter(case_id=case.id, action="open_case")
    return await (query.using_db(conn) if conn else query).exists()
