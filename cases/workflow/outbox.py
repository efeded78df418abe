"""Delivering the transactional outbox: every notice reaches the citizen once, or staff see why not.

Workers claim due notices with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several
workers never take the same row; SQLite has one writer). A claim whose worker died expires
and the notice is tried again; the channel's idempotency key (WeChat's `client_msg_id`,
derived from the notice id) keeps the citizen from receiving it twice. Retryable failures back
off exponentially; a permanent failure, or too many attempts, is written on the case timeline.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tortoise import connections
from tortoise.transactions import in_transaction

from cases.errors import CaseError
from cases.rules import Rules
from cases.store.models import Case, CaseEvent, Notice, NoticeStatus
from cases.workflow.actions import DELIVERED_ACTIONS, citizen_note
from cases.workflow.clocks import citizen_deadline, policy_of
from cases.workflow.engine import perform
from cases.workflow.timeline import Actor, record_event

log = logging.getLogger(__name__)

# How long a claimed notice stays with its worker before another may take it.
CLAIM_LEASE = timedelta(minutes=2)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
MAX_ATTEMPTS = 8
CLAIM_BATCH = 50


class DeliveryError(Exception):
    """A channel could not deliver; `retryable` says whether trying later can help.

    `reason` is a code staff can be told in words (config/staff_text.toml `delivery_errors`):
    WeChat's errcode, or the channel's own reason; the message stays technical, for the log.
    """

    def __init__(self, message: str, *, retryable: bool, reason: str = "") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.reason = reason


@dataclass(frozen=True)
class NoticeContext:
    """What a notice says: the case, the event it announces, and the next deadline."""

    notice: Notice
    case: Case
    event: CaseEvent
    values: dict[str, Any]


class NoticeChannel(Protocol):
    async def deliver(self, ctx: NoticeContext) -> str:
        """Send the notice; return the channel's message id; raise DeliveryError."""
        ...


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at an hour."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


async def claim_due(channels: list[str], now: datetime, limit: int = CLAIM_BATCH) -> list[int]:
    """Take up to `limit` due notices of these channels for this worker; returns their ids."""
    if not channels:
        return []
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    params: list[Any] = []

    def bind(value: Any) -> str:
        # SQLite keeps tortoise's text form of times, so compare with the same text.
        if isinstance(value, datetime) and not postgres:
            value = value.isoformat(" ")
        params.append(value)
        return f"${len(params)}" if postgres else "?"

    lease = bind(now + CLAIM_LEASE)
    due, expired = bind(now), bind(now)
    chans = ", ".join(bind(c) for c in channels)
    lim = bind(limit)
    sql = (
        f"UPDATE notice SET status = 'sending', locked_until = {lease}, attempts = attempts + 1 "
        "WHERE id IN (SELECT id FROM notice "
        f"WHERE ((status = 'pending' AND next_attempt_at <= {due}) "
        f"OR (status = 'sending' AND locked_until <= {expired})) AND channel IN ({chans}) "
        f"ORDER BY next_attempt_at LIMIT {lim}{' FOR UPDATE SKIP LOCKED' if postgres else ''}) "
        "RETURNING id"
    )
    rows = await conn.execute_query_dict(sql, params)
    return sorted(int(r["id"]) for r in rows)


async def notice_context(rules: Rules, notice: Notice) -> NoticeContext:
    case = await Case.get(id=notice.case_id)
    event = await CaseEvent.get(id=notice.event_id)
    catalog = rules.catalog
    due_at = None
    if notice.payload.get("due_at"):  # the citizen's date when the event happened
        due_at = datetime.fromisoformat(notice.payload["due_at"])
    elif (deadline := await citizen_deadline(rules, case, datetime.now(UTC))) is not None:
        due_at = deadline.due_at
    due = ""
    if due_at is not None:
        last = (due_at - timedelta(microseconds=1)).astimezone(rules.timezone)
        due = f"{last.year}年{last.month}月{last.day}日"
    values = {
        "number": case.number,
        "kind": catalog.kinds[case.kind].name if case.kind in catalog.kinds else case.kind,
        "category": catalog.categories[case.category].name
        if case.category in catalog.categories
        else case.category,
        "due": due,
        # Only what the citizen is meant to read; a staff member's internal note never goes out.
        "note": citizen_note(event),
        "reason": event.data.get("reason_text")
        or event.data.get("public_note")
        or event.data.get("reason")
        or citizen_note(event),
        "into": event.data.get("into", ""),
        # The stage whose date moved (an extension names its clock): 办理, 核查立案决定 …
        "stage": _stage(rules, case, str(event.data.get("clock", ""))),
        "referred_to": case.referred_to,
        "at": event.at.astimezone(rules.timezone).strftime("%Y年%m月%d日 %H:%M"),
    }
    return NoticeContext(notice=notice, case=case, event=event, values=values)


def _stage(rules: Rules, case: Case, clock: str) -> str:
    rule = next((r for r in policy_of(rules, case).clocks if r.name == clock), None)
    return rule.label if rule is not None else ""


async def deliver_due(
    rules: Rules,
    channels: dict[str, NoticeChannel],
    now: datetime | None = None,
    batch: int = CLAIM_BATCH,
) -> int:
    """One pass of the worker: claim due notices batch by batch, send each batch at once,
    record the outcomes; returns how many were sent."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    sent = 0
    while ids := await claim_due(sorted(channels), now, batch):
        outcomes = await asyncio.gather(
            *(_deliver(rules, channels, notice_id, now) for notice_id in ids),
            return_exceptions=True,
        )
        for notice_id, outcome in zip(ids, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                # Left claimed: tried again when the lease ends (client_msg_id stops a twin).
                log.error("notice %s: delivery crashed: %r", notice_id, outcome)
            elif outcome:
                sent += 1
    return sent


async def _deliver(
    rules: Rules, channels: dict[str, NoticeChannel], notice_id: int, now: datetime
) -> bool:
    notice = await Notice.get(id=notice_id)
    try:
        ctx = await notice_context(rules, notice)
        delivery_id = await channels[notice.channel].deliver(ctx)
    except DeliveryError as exc:
        await _failed(notice, str(exc), exc.retryable, now, exc.reason)
        return False
    await Notice.filter(id=notice.id).update(
        status=NoticeStatus.SENT,
        sent_at=now,
        locked_until=None,
        delivery_id=delivery_id,
        last_error="",
    )
    if notice.kind in DELIVERED_ACTIONS:
        # A delivered notice can end a duty (the rejection must reach the citizen in 15 days).
        data = {"notice": notice.id, "channel": notice.channel}
        try:
            await perform(
                rules,
                notice.case_id,
                DELIVERED_ACTIONS[notice.kind],
                Actor.system(),
                data=data,
                now=now,
            )
        except CaseError as exc:  # the case moved on (archived, deemed accepted …)
            log.info("notice %s delivered, case not updated: %s", notice.id, exc.message)
    return True


async def _failed(
    notice: Notice, error: str, retryable: bool, now: datetime, reason: str = ""
) -> None:
    if retryable and notice.attempts < MAX_ATTEMPTS:
        await Notice.filter(id=notice.id).update(
            status=NoticeStatus.PENDING,
            locked_until=None,
            last_error=error[:1000],
            next_attempt_at=now + backoff(notice.attempts),
        )
        return
    log.warning("notice %s for case %s failed for good: %s", notice.id, notice.case_id, error)
    async with in_transaction() as conn:
        await (
            Notice.filter(id=notice.id)
            .using_db(conn)
            .update(status=NoticeStatus.FAILED, locked_until=None, last_error=error[:1000])
        )
        case = await Case.filter(id=notice.case_id).using_db(conn).get()
        # Staff must see that the citizen was not reached, so they can call instead.
        await record_event(
            case,
            "notice_failed",
            Actor.system(),
            now,
            conn,
            note=f"通知未能送达({notice.kind}):{error[:200]}",
            data={
                "notice": notice.id,
                "kind": notice.kind,
                "attempts": notice.attempts,
                "reason": reason,
            },
            public=False,
        )


async def record_delivery_report(delivery_id: str, status: str) -> bool:
    """Apply WeChat's TEMPLATESENDJOBFINISH report to the notice it is about."""
    updated = await Notice.filter(delivery_id=delivery_id).update(delivery_status=status[:64])
    return updated > 0
