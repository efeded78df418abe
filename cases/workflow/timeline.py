"""Writing a case's history: who acts (`Actor`), the timeline's events and the citizen's
notices queued with them. Below the engine and the surveys, which both write through it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from cases.rules import Rules
from cases.store.models import Case, CaseEvent, Citizen, Notice, StaffUser
from cases.workflow import clocks

CITIZEN = "citizen"
SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """Who acts: a citizen, a staff member (with role and unit) or the system itself."""

    kind: str
    id: int | None
    name: str
    role: str
    department_id: int | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(kind=SYSTEM, id=None, name="系统", role=SYSTEM)

    @classmethod
    def of_citizen(cls, citizen: Citizen) -> Actor:
        return cls(kind=CITIZEN, id=citizen.id, name=citizen.name, role=CITIZEN)

    @classmethod
    def of_staff(cls, user: StaffUser) -> Actor:
        return cls(
            kind="staff",
            id=user.id,
            name=user.display_name,
            role=str(user.role),
            department_id=user.department_id,
        )


async def record_event(
    case: Case,
    action: str,
    actor: Actor,
    now: datetime,
    conn: BaseDBAsyncClient | None,
    *,
    from_status: str = "",
    to_status: str = "",
    note: str = "",
    data: Mapping[str, Any] | None = None,
    public: bool = True,
) -> CaseEvent:
    """Append one entry to the case timeline (the only way events are written)."""
    clean = {k: v for k, v in (data or {}).items() if not k.startswith("_")}
    return await CaseEvent.create(
        case_id=case.id,
        at=now,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        action=action,
        from_status=str(from_status),
        to_status=str(to_status),
        note=note,
        data=clean,
        public=public,
        using_db=conn,
    )


async def queue_notice(
    rules: Rules,
    case: Case,
    event: CaseEvent,
    kind: str,
    now: datetime,
    conn: BaseDBAsyncClient,
    stage: str | None = None,
) -> Notice | None:
    """Write the citizen's notice in the same transaction as its event (transactional outbox);
    it is sent from `now` on (a survey invitation waits for its invitation time). `stage`: the
    clock the notice is about (see `clocks.citizen_deadline`).

    Cases without a WeChat citizen (phone, letter, anonymous) get no notice row: staff reach
    them by the channel they came from.
    """
    if case.citizen_id is None:
        return None
    payload = {"number": case.number, "status": str(case.status), "event": event.action}
    # The citizen's date as it stands now: by the time the notice goes out the case may have
    # moved on.
    deadline = await clocks.citizen_deadline(rules, case, now, conn, stage)
    if deadline is not None:
        payload["due_at"] = deadline.due_at.astimezone(UTC).isoformat()
    return await Notice.create(
        case_id=case.id,
        event_id=event.id,
        kind=kind,
        channel=case.channel,
        payload=payload,
        next_attempt_at=now,
        using_db=conn,
    )
