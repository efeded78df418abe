"""Taking a workflow action: the one way every action declared in cases/workflow/actions.py is
taken (DESIGN.md "Lifecycle").

`perform` checks the role, the unit and the state, runs the action's own check and effect, bumps
the case version with a compare-and-set (so two concurrent actions on one case cannot both
succeed), records the event, moves the clocks, runs the action's sequel and writes the citizen's
notice to the outbox, all in one transaction.

A decision the profile puts under a leader's approval (`[approvals]`: 000 第十八条 不予受理 and
移送, 001 第二十四条 replies) taken by anyone but a leader is checked as if applied and recorded
as an internal `draft` event only; `approve_draft` then takes it as the leader's act (state,
clocks, notice with the draft's text) and `refuse_draft` sends it back with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from cases.errors import (
    ConcurrentChange,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationError,
)
from cases.rules import Rules
from cases.store.models import Case, CaseEvent, Status
from cases.workflow import clocks
from cases.workflow.actions import ACTIONS, HANDLER, LEADER, Action
from cases.workflow.effects import Step, approvable_draft
from cases.workflow.history import DRAFT_EVENT, DRAFT_EVENTS, latest_of, pending_draft
from cases.workflow.states import OPEN_STATES, STATUS_LABELS
from cases.workflow.timeline import CITIZEN, SYSTEM, Actor, queue_notice, record_event

S = Status


def allowed_actions(case: Case, actor: Actor) -> list[Action]:
    """The actions this actor may take on this case now (for the console's buttons)."""
    return [a for a in ACTIONS.values() if case.status in a.sources and _may(a, case, actor)]


def _may(action: Action, case: Case, actor: Actor) -> bool:
    if actor.role not in action.roles or case.status not in action.states_for(actor.role):
        return False
    if actor.role == HANDLER and action.unit_scoped:
        return case.department_id is not None and case.department_id == actor.department_id
    return True


async def perform(
    rules: Rules,
    case_id: int,
    action_name: str,
    actor: Actor,
    *,
    note: str = "",
    data: Mapping[str, Any] | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> tuple[Case, CaseEvent]:
    """Take `action_name` on the case as `actor`; returns the updated case and its new event.

    Raises PermissionDenied, TransitionNotAllowed, ValidationError or ConcurrentChange; on any
    of them nothing is written. A decision that needs a leader's approval returns its `draft`
    event instead; `approve_draft` returns the drafted action's event. `expected_version` is the version the actor saw (a form's
    hidden field); without it the version read here is used.
    """
    action = ACTIONS.get(action_name)
    if action is None:
        raise ValidationError(f"未知操作: {action_name}", field="action")
    now = (now or datetime.now(UTC)).astimezone(UTC)  # stored times are UTC
    data = dict(data or {})
    note = note.strip()
    case = await Case.get_or_none(id=case_id)
    if case is None or (actor.kind == CITIZEN and case.citizen_id != actor.id):
        raise NotFound("案件不存在。", field="number")
    if actor.role not in action.roles:
        raise PermissionDenied(f"您的角色不能执行“{action.label}”。", field="action")
    # The actor decided on a version someone has since changed: say so before judging the
    # action against a state they have not seen.
    if expected_version is not None and expected_version != case.version:
        raise ConcurrentChange("案件已被他人更新,请刷新后重试。")
    if case.status not in action.sources:
        if action.name == "approve_draft":
            await _check_not_stale(rules, case, actor, now)
        raise TransitionNotAllowed(
            f"案件当前状态为“{STATUS_LABELS[case.status]}”,不能执行“{action.label}”。",
            field="action",
        )
    if case.status not in action.states_for(actor.role):
        raise TransitionNotAllowed(
            f"案件“{STATUS_LABELS[case.status]}”时,您的角色不能执行“{action.label}”。",
            field="action",
        )
    if not _may(action, case, actor):
        raise PermissionDenied(f"只有承办单位的人员才能执行“{action.label}”。", field="action")
    if action.needs_note and not note:
        raise ValidationError(f"“{action.label}”需要填写说明。", field="note")
    if action.name == "approve_draft":
        return await _approve_draft(rules, case, actor, note, now)
    if needs_approval(rules, action.name, actor):
        return await _draft(rules, case, action, actor, note, data, now)
    return await _commit(rules, case, action, actor, note, data, now)


def needs_approval(rules: Rules, action_name: str, actor: Actor) -> bool:
    """Whether this actor's decision waits for a leader (the profile's [approvals])."""
    return action_name in rules.catalog.approval_actions and actor.role not in (LEADER, SYSTEM)


async def _draft(
    rules: Rules,
    case: Case,
    action: Action,
    actor: Actor,
    note: str,
    data: dict[str, Any],
    now: datetime,
) -> tuple[Case, CaseEvent]:
    """Record the decision as a draft for a leader: nothing changes for the citizen yet."""
    if await pending_draft(case) is not None:
        raise TransitionNotAllowed("已有一份待审批的草稿,请等待领导审批。", field="action")
    version = case.version
    async with in_transaction() as conn:
        # Checked exactly as it would be applied, so a draft that could never be approved is
        # refused now; what the check adds to the data is recomputed on approval.
        await _apply(Step(rules, case, actor.role, now, conn, dict(data)), action)
        updated = (
            await Case.filter(id=case.id, version=version)
            .using_db(conn)
            .update(version=version + 1, updated_at=now)
        )
        if updated != 1:
            raise ConcurrentChange("案件已被他人更新,请刷新后重试。")
        case.version = version + 1
        event = await record_event(
            case,
            DRAFT_EVENT,
            actor,
            now,
            conn,
            from_status=case.status,
            to_status=case.status,
            note=note,
            data={"action": action.name, "label": action.label, "note": note, "data": data},
            public=False,
        )
    return case, event


async def _approve_draft(
    rules: Rules,
    case: Case,
    actor: Actor,
    note: str,
    now: datetime,
) -> tuple[Case, CaseEvent]:
    """The leader's approval: the drafted action is taken now, as the leader's act."""
    await approvable_draft(Step(rules, case, actor.role, now))
    last = await latest_of(case, DRAFT_EVENTS)
    assert last is not None
    drafted = ACTIONS[str(last.data["action"])]
    if case.status not in drafted.sources:
        raise TransitionNotAllowed(
            f"案件当前状态为“{STATUS_LABELS[case.status]}”,不能执行“{drafted.label}”。",
            field="action",
        )
    applied = {
        **dict(last.data.get("data") or {}),
        "approved_draft": last.id,
        "drafted_by": last.actor_name,
    }
    if note:
        applied["approval_note"] = note
    approval = {"draft": last.id, "action": drafted.name, "drafted_by": last.actor_name}
    return await _commit(
        rules, case, drafted, actor, str(last.data.get("note", "")), applied, now, approval
    )


async def _check_not_stale(rules: Rules, case: Case, actor: Actor, now: datetime) -> None:
    """A draft whose case has moved on since (withdrawn, accepted …) can no longer be approved:
    say so rather than that the state does not allow approving."""
    last = await latest_of(case, DRAFT_EVENTS)
    if last is not None and last.action == DRAFT_EVENT:
        await approvable_draft(Step(rules, case, actor.role, now))


async def _apply(step: Step, action: Action) -> dict[str, Any]:
    """The action's own rule: its check, then its effect; returns the case fields it changes."""
    if action.check is not None:
        await action.check(step)
    if action.outcome:
        step.data["outcome"] = action.outcome
    return await action.effect(step) if action.effect is not None else {}


async def _commit(
    rules: Rules,
    case: Case,
    action: Action,
    actor: Actor,
    note: str,
    data: dict[str, Any],
    now: datetime,
    approval: dict[str, Any] | None = None,
) -> tuple[Case, CaseEvent]:
    """Apply a checked action: case fields, version, event, clocks, sequel, notice."""
    version = case.version
    # Accepted again after a unit returned it: the citizen was told once, not twice.
    told_before = action.notice == "accepted" and case.accepted_at is not None

    from_status = case.status
    reachable, named = _reachable(case), _real_name(case)
    # The timeline says why a clock the action would start does not run.
    for rule in clocks.unstarted(rules, case, action.name, reachable=reachable, named=named):
        if not named and rule.needs_real_name:
            data["no_real_name"] = rule.no_real_name_note
        else:
            data["no_contact"] = rule.no_contact_note
    async with in_transaction() as conn:
        step = Step(rules, case, actor.role, now, conn, data)
        changes = await _apply(step, action)
        if action.target is not None:
            changes["status"] = action.target
        updated = (
            await Case.filter(id=case.id, version=version)
            .using_db(conn)
            .update(version=version + 1, updated_at=now, **changes)
        )
        if updated != 1:
            raise ConcurrentChange("案件已被他人更新,请刷新后重试。")
        for key, value in changes.items():
            setattr(case, key, value)
        case.version = version + 1
        event = await record_event(
            case,
            action.name,
            actor,
            now,
            conn,
            from_status=from_status,
            to_status=case.status,
            note=note,
            data=data,
            public=action.public,
        )
        finished = case.status not in OPEN_STATES and from_status in OPEN_STATES
        if action.target == S.ARCHIVED:
            finished = True  # the return visit or rejection notice is moot once archived
        clock_action = action.name
        if action.qualified_by:
            clock_action = f"{action.name}:{data[action.qualified_by]}"
        await clocks.apply_action(
            rules,
            case,
            clock_action,
            now,
            conn,
            finished=finished,
            reachable=reachable,
            named=named,
            archived=action.target == S.ARCHIVED,
            start_at=data.get("_start_at"),
        )
        if "_extend" in data:  # the effect grants an extension (approve_extension)
            clock, amount = data["_extend"]
            await clocks.extend(rules, case, clock, amount, conn)
        await Case.filter(id=case.id).using_db(conn).update(next_due_at=case.next_due_at)
        if action.notice and not told_before:
            await queue_notice(
                rules, case, event, action.notice, now, conn, stage=data.get("clock")
            )
        if action.sequel is not None:
            await action.sequel(step, event, actor)
        if approval is not None:
            await record_event(
                case,
                "approve_draft",
                actor,
                now,
                conn,
                from_status=case.status,
                to_status=case.status,
                data=approval,
                public=False,
            )
    return case, event


def _reachable(case: Case) -> bool:
    """Whether anyone can tell the citizen anything: by WeChat, phone or post."""
    return case.citizen_id is not None or bool(case.contact_phone or case.contact_address)


def _real_name(case: Case) -> bool:
    """Whether the citizen signed with their name (署实名)."""
    return not case.anonymous and bool(case.contact_name.strip())
