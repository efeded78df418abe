"""The case lifecycle: every action, who may take it, from which states, and what it records.

This is the one place that knows the transitions (DESIGN.md "Lifecycle"). `perform` checks the
role, the unit and the state, applies the action's own rule, bumps the case version with a
compare-and-set (so two concurrent actions on one case cannot both succeed), records the event,
moves the clocks and writes the citizen's notice to the outbox, all in one transaction.

A decision the profile puts under a leader's approval (`[approvals]`: 000 第十八条 不予受理 and
移送, 001 第二十四条 replies) taken by anyone but a leader is checked as if applied and recorded
as an internal `draft` event only; `approve_draft` then takes it as the leader's act (state,
clocks, notice with the draft's text) and `refuse_draft` sends it back with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from cases.errors import (
    ConcurrentChange,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationError,
)
from cases.rules import Rules
from cases.store.models import Case, CaseClock, CaseEvent, Department, Role, Status
from cases.workflow import clocks, surveys
from cases.workflow.timeline import CITIZEN, SYSTEM, Actor, queue_notice, record_event
from config.catalog import Catalog

S = Status
NAMED_STAFF_MAX_CHARS = 50  # the column's size
REFERRED_TO_MAX_CHARS = 200  # the column's size

OPEN_STATES = frozenset(
    {S.DRAFT, S.SUBMITTED, S.NEEDS_INFO, S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS, S.REPLIED}
)
FINISHED_STATES = frozenset({S.CLOSED, S.REJECTED, S.REFERRED_OUT, S.MERGED, S.WITHDRAWN})

STATUS_LABELS = {
    S.DRAFT: "草稿",
    S.SUBMITTED: "待受理",
    S.NEEDS_INFO: "待补充材料",
    S.ACCEPTED: "已受理",
    S.ASSIGNED: "已交办",
    S.IN_PROGRESS: "办理中",
    S.REPLIED: "已答复",
    S.CLOSED: "已办结",
    S.ARCHIVED: "已归档",
    S.REJECTED: "不予受理",
    S.REFERRED_OUT: "已移送",
    S.MERGED: "已合并",
    S.WITHDRAWN: "已撤回",
}


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    sources: frozenset[Status]
    target: Status | None
    roles: frozenset[str]
    # A handler may take it only on cases of their own unit.
    unit_scoped: bool = False
    needs_note: bool = False
    # Notice kind written to the outbox for the citizen ("" = none).
    notice: str = ""
    public: bool = True
    # The note is what the citizen is told (a reply, what to supplement …). Otherwise it is the
    # staff's internal note and the citizen reads only the event's `public_note`, if any.
    note_public: bool = False
    # Roles listed here may take the action only from these of its states (the centre asks
    # for an extension while accepting, the unit while handling).
    role_states: tuple[tuple[str, frozenset[Status]], ...] = ()

    def states_for(self, role: str) -> frozenset[Status]:
        return next((s for r, s in self.role_states if r == role), self.sources)

    # The clocks see the action as "name:value" of this data field (tell_citizen:result), so
    # telling one thing stops only the clock waiting for it.
    qualified_by: str = ""


def _action(
    name: str,
    label: str,
    sources: set[Status] | frozenset[Status],
    target: Status | None,
    roles: set[str],
    **kw: Any,
) -> Action:
    return Action(name, label, frozenset(sources), target, frozenset(roles), **kw)


INTAKE, HANDLER, LEADER, ADMIN = (
    Role.INTAKE.value,
    Role.HANDLER.value,
    Role.LEADER.value,
    Role.ADMIN.value,
)
# Before a unit has the case: the centre's acceptance stage (issue 13's clock actions).
ACCEPTING = frozenset({S.SUBMITTED, S.NEEDS_INFO})
_BEFORE_HANDLING = frozenset({*ACCEPTING, S.ACCEPTED})
# Where a decision a profile may put under a leader's approval (reject, refer_out, reply) can be
# drafted, and so approved or refused.
DRAFTABLE_STATES = frozenset({*_BEFORE_HANDLING, S.IN_PROGRESS})

ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        _action("submit", "提交", {S.DRAFT}, S.SUBMITTED, {CITIZEN, SYSTEM}),
        _action(
            "request_info",
            "要求补充材料",
            {S.SUBMITTED},
            S.NEEDS_INFO,
            {INTAKE},
            needs_note=True,
            notice="needs_info",
            note_public=True,
        ),
        _action(
            "supplement",
            "补充材料",
            {S.NEEDS_INFO},
            S.SUBMITTED,
            {CITIZEN, INTAKE},
            needs_note=True,
            note_public=True,
        ),
        _action("accept", "受理", {S.SUBMITTED}, S.ACCEPTED, {INTAKE, LEADER}, notice="accepted"),
        # From a rejection too: a food/drug rejection never told counts as accepted (profile).
        _action(
            "deem_accepted",
            "视为受理",
            {S.SUBMITTED, S.NEEDS_INFO, S.REJECTED},
            S.ACCEPTED,
            {SYSTEM},
            notice="accepted",
        ),
        _action(
            "reject",
            "不予受理",
            {S.SUBMITTED, S.NEEDS_INFO},
            S.REJECTED,
            {INTAKE, LEADER},
            needs_note=True,
            notice="rejected",
            note_public=True,
        ),
        # 000 第十八条: 「由承办机构负责…移送至其他机关」: the unit refers out while handling.
        _action(
            "refer_out",
            "移送其他机关",
            {S.SUBMITTED, S.NEEDS_INFO, S.ACCEPTED, S.IN_PROGRESS},
            S.REFERRED_OUT,
            {INTAKE, LEADER, HANDLER},
            unit_scoped=True,
            notice="referred",
            role_states=(
                (INTAKE, _BEFORE_HANDLING),
                (LEADER, _BEFORE_HANDLING),
                (HANDLER, frozenset({S.IN_PROGRESS})),
            ),
        ),
        _action(
            "merge",
            "合并办理",
            {S.SUBMITTED, S.NEEDS_INFO, S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS},
            S.MERGED,
            {INTAKE, LEADER},
            notice="merged",
        ),
        _action(
            "answer",
            "当场答复",
            {S.SUBMITTED},
            S.CLOSED,
            {INTAKE, HANDLER},  # a handler only on a case their unit received (首诉负责制)
            unit_scoped=True,
            needs_note=True,
            notice="replied",
            note_public=True,
        ),
        # 首诉负责制: the unit that received a complaint hands it to the complaint office.
        _action(
            "hand_over",
            "移交投诉办公室",
            {S.SUBMITTED},
            None,
            {HANDLER},
            unit_scoped=True,
            needs_note=True,
            public=False,
        ),
        _action("assign", "交办", {S.ACCEPTED}, S.ASSIGNED, {INTAKE, LEADER}),
        _action(
            "return",
            "退回",
            {S.ASSIGNED},
            S.SUBMITTED,
            {HANDLER},
            unit_scoped=True,
            needs_note=True,
            public=False,
        ),
        _action("start", "开始办理", {S.ASSIGNED}, S.IN_PROGRESS, {HANDLER}, unit_scoped=True),
        # 004 12312分流: 「接收单位自接到分流任务30分钟内,必须到达现场进行处理」: the unit records
        # its arrival (before or after it starts handling), which stops the on-site clock.
        _action(
            "arrive",
            "到达现场",
            {S.ASSIGNED, S.IN_PROGRESS},
            None,
            {HANDLER},
            unit_scoped=True,
            public=False,
        ),
        # 000 产品质量申诉处理办法 第十九条 「五日内分别通知申诉人和被申诉人」: who recorded that
        # both parties were told, and by which means.
        _action(
            "notify_parties",
            "通知双方当事人",
            {*_BEFORE_HANDLING, S.ASSIGNED, S.IN_PROGRESS},
            None,
            {INTAKE, LEADER, HANDLER},
            unit_scoped=True,
            public=False,
        ),
        # 000 第十七条: the acceptance decision may be extended too (7 → 15 working days).
        _action(
            "request_extension",
            "申请延期",
            {*ACCEPTING, S.IN_PROGRESS},
            None,
            {HANDLER, INTAKE},
            unit_scoped=True,
            needs_note=True,
            public=False,
            note_public=True,
            role_states=((HANDLER, frozenset({S.IN_PROGRESS})), (INTAKE, ACCEPTING)),
        ),
        _action(
            "approve_extension",
            "批准延期",
            {*ACCEPTING, S.IN_PROGRESS},
            None,
            {LEADER},
            notice="extended",
        ),
        # The reason is for the handling unit: the citizen was never told of the request.
        _action(
            "refuse_extension",
            "不批准延期",
            {*ACCEPTING, S.IN_PROGRESS},
            None,
            {LEADER},
            needs_note=True,
            public=False,
        ),
        # Which clocks pause is the profile's (pauses_on): the handling clock, and the
        # acceptance clock where the seed says testing time is not counted (000 质监 第十二条).
        _action(
            "pause_clock",
            "暂停计时(鉴定/检测)",
            {S.SUBMITTED, S.IN_PROGRESS},
            None,
            {HANDLER, INTAKE},
            unit_scoped=True,
            needs_note=True,
        ),
        _action(
            "resume_clock",
            "恢复计时",
            {S.SUBMITTED, S.IN_PROGRESS},
            None,
            {HANDLER, INTAKE},
            unit_scoped=True,
        ),
        _action(
            "reply",
            "答复",
            {S.IN_PROGRESS},
            S.REPLIED,
            {HANDLER},
            unit_scoped=True,
            needs_note=True,
            notice="replied",
            note_public=True,
        ),
        # Decisions of the handling (seed 000): mediation ended without agreement (终止调解), a
        # violation filed as a case (立案) or not (不予立案, told to the reporter).
        _action(
            "end_mediation",
            "终止调解",
            {S.IN_PROGRESS},
            S.REPLIED,
            {HANDLER},
            unit_scoped=True,
            needs_note=True,
            notice="mediation_ended",
            note_public=True,
        ),
        _action("open_case", "立案", {S.IN_PROGRESS}, None, {HANDLER, LEADER}, unit_scoped=True),
        _action(
            "decline_case",
            "不予立案",
            {S.IN_PROGRESS},
            S.REPLIED,
            {HANDLER, LEADER},
            unit_scoped=True,
            needs_note=True,
            notice="not_filed",
            note_public=True,
        ),
        # Where the profile closes only on the patient's satisfaction (001 第二十五条): the
        # patient is not satisfied with the reply, so the unit handles it again.
        _action(
            "rehandle",
            "不满意,重新办理",
            {S.REPLIED},
            S.IN_PROGRESS,
            {INTAKE, LEADER, HANDLER},
            unit_scoped=True,
            needs_note=True,
            notice="reopened",
        ),
        _action(
            "close",
            "办结",
            {S.REPLIED},
            S.CLOSED,
            {INTAKE, LEADER, HANDLER},
            unit_scoped=True,
            notice="closed",
        ),
        _action(
            "reopen",
            "重新办理",
            {S.CLOSED},
            S.IN_PROGRESS,
            {LEADER},
            needs_note=True,
            notice="reopened",
        ),
        # 不满意 reviewed by a leader: the closure stands, and the citizen is told why.
        _action(
            "uphold",
            "维持办结",
            {S.CLOSED},
            None,
            {LEADER},
            needs_note=True,
            notice="upheld",
            note_public=True,
        ),
        _action("archive", "归档", FINISHED_STATES, S.ARCHIVED, {INTAKE, ADMIN}, public=False),
        _action("withdraw", "撤回", OPEN_STATES, S.WITHDRAWN, {CITIZEN, INTAKE}),
        _action(
            "raise_severity",
            "升级为更高等级",
            OPEN_STATES,
            None,
            {INTAKE, LEADER, SYSTEM},
            public=False,
        ),
        _action(
            "notify_rejected", "不予受理告知已送达", {S.REJECTED}, None, {SYSTEM}, public=False
        ),
        # A delivered reply notice: the result has reached the citizen (real-name cases: 2 days).
        _action(
            "notify_result",
            "处理结果告知已送达",
            {S.REPLIED, S.CLOSED},
            None,
            {SYSTEM},
            public=False,
        ),
        # Staff told the citizen themselves (phone, SMS, letter, in person) of a rejection or of
        # the result: what and by which means are recorded.
        _action(
            "tell_citizen",
            "已告知市民",
            {S.REJECTED, S.REPLIED, S.CLOSED},
            None,
            {INTAKE, LEADER, HANDLER},
            unit_scoped=True,
            public=False,
            qualified_by="what",
        ),
        _action("return_visit", "回访", {S.CLOSED}, None, {INTAKE}, needs_note=True, public=False),
        # A drafted decision (the profile's [approvals]): the leader's approval takes the drafted
        # action itself; a refusal sends the draft back to its drafter with the reason.
        _action("approve_draft", "批准", DRAFTABLE_STATES, None, {LEADER}, public=False),
        _action(
            "refuse_draft",
            "退回修改",
            DRAFTABLE_STATES,
            None,
            {LEADER},
            needs_note=True,
            public=False,
        ),
    )
}
# The timeline's entry for a decision drafted for approval (not an action anyone takes).
DRAFT_EVENT = "draft"
DRAFT_LABEL = "提交审批"
DRAFT_EVENTS = (DRAFT_EVENT, "approve_draft", "refuse_draft")

# The system action recorded when a notice of this kind has been delivered.
DELIVERED_ACTIONS = {
    "rejected": "notify_rejected",
    "replied": "notify_result",
    "mediation_ended": "notify_result",
    "not_filed": "notify_result",
}

# Outcomes a decision records besides the finding chosen at closure (config/catalog.py
# FINDING_CODES): a case may carry several, and the rates of cases/views/stats.py count each.
OUTCOME_OF = {"end_mediation": "mediation_failed", "open_case": "case_filed"}

# What a citizen is told (TOLD_SUBJECTS): the actions that decide it, and that record it reached
# them. "tell_rejection" is the name staff's telling of a rejection had before tell_citizen.
DECIDED_BY = {"rejected": ("reject",), "result": ("reply", "end_mediation", "decline_case")}
TOLD_BY = {"rejected": ("notify_rejected", "tell_rejection"), "result": ("notify_result",)}
TOLD_IN_STATES = {"rejected": frozenset({S.REJECTED}), "result": frozenset({S.REPLIED, S.CLOSED})}

# Staff may act on behalf of a citizen for these (a phone call asking to withdraw, say).
_CITIZEN_OWNED = {"submit", "supplement", "withdraw"}


def citizen_note(event: CaseEvent) -> str:
    """What the citizen may read of an event: their own words, a note that is meant for them
    (a reply …), or the staff's separate `public_note`; never an internal note."""
    action = ACTIONS.get(event.action)
    if event.actor_kind == CITIZEN or (action is not None and action.note_public):
        return event.note
    return str(event.data.get("public_note", ""))


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
            await _check_not_stale(case)
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
        await _apply_rule(rules, case, action, dict(data), now, conn, actor.role)
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
    last = await _latest_draft_event(case)
    if last is None or last.action != DRAFT_EVENT:
        raise TransitionNotAllowed("没有待审批的草稿。", field="action")
    drafted = ACTIONS[str(last.data["action"])]
    await _check_not_stale(case, last)
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


async def _check_not_stale(case: Case, last: CaseEvent | None = None) -> None:
    """A draft whose case has moved on since (withdrawn, accepted …) can no longer be approved."""
    last = last or await _latest_draft_event(case)
    if last is not None and last.action == DRAFT_EVENT and last.from_status != case.status:
        raise TransitionNotAllowed(
            f"草稿提交后案件已变为“{STATUS_LABELS[case.status]}”,该草稿已失效,不能批准。",
            field="action",
        )


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
    """Apply a checked action: case fields, version, event, clocks, notice, survey."""
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
        changes = await _apply_rule(rules, case, action, data, now, conn, actor.role)
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
        if action.name == "approve_extension":
            await clocks.extend(rules, case, data["_clock"], int(data["amount"]), conn)
        await Case.filter(id=case.id).using_db(conn).update(next_due_at=case.next_due_at)
        if action.notice and not told_before:
            await queue_notice(
                rules, case, event, action.notice, now, conn, stage=data.get("clock")
            )
        await _survey_step(rules, case, action.name, event, actor, now, conn)
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


async def _survey_step(
    rules: Rules,
    case: Case,
    action: str,
    event: CaseEvent,
    actor: Actor,
    now: datetime,
    conn: BaseDBAsyncClient,
) -> None:
    """Closing schedules the satisfaction survey; reopening cancels it; a leader's decision
    on a dissatisfied answer takes the case off the review queue; a return visit with a
    verdict answers the survey."""

    if action == "return_visit" and event.data.get("overall"):
        scores = {k: v for k, v in event.data.items() if k != "overall"}
        answer = {"overall": event.data["overall"], "scores": scores}
        await surveys.record_return_visit(rules, case, answer, actor, now)
    elif action == "close":
        await surveys.schedule_survey(rules, case, event, conn)
    elif action in ("reopen", "uphold"):
        if action == "reopen":
            await surveys.cancel_open_survey(case, now, conn)
        await surveys.mark_reviewed(case, now, conn)


async def _apply_rule(
    rules: Rules,
    case: Case,
    action: Action,
    data: dict[str, Any],
    now: datetime,
    conn: BaseDBAsyncClient,
    actor_role: str = "",
) -> dict[str, Any]:
    """Action-specific checks and the case fields the action changes."""
    catalog = rules.catalog
    name = action.name
    if name == "deem_accepted":
        due = [
            c
            for c in await clocks.running_clocks(case, conn)
            if c.on_expiry == name and c.paused_at is None and c.due_at <= now
        ]
        if not due and case.status == S.REJECTED:
            # Only the expiry of a clock that deems acceptance (a rejection never told) does this.
            raise TransitionNotAllowed(
                "不予受理决定的告知期限未届满或已告知,不能视为受理。", field="action"
            )
        if not due:
            return {"accepted_at": now}
        # 「自…收到之日起第5日即为受理」: accepted as of day 5 (a sweep after an outage, or the
        # 15 days of an untold rejection, do not move it), and the handling counts from then.
        deemed_at = await clocks.deemed_acceptance_time(rules, case, due[0], now, conn)
        data["deemed_at"] = deemed_at.isoformat()
        data["deemed_day"] = clocks.last_day(rules, deemed_at)
        data["_start_at"] = deemed_at
        changes: dict[str, Any] = {"accepted_at": deemed_at}
        if case.status == S.REJECTED:
            changes["reject_reason"] = ""
        return changes
    if name == "accept":
        return {"accepted_at": now}
    if name == "tell_citizen":
        what = str(data.get("what", ""))
        if what not in catalog.told or case.status not in TOLD_IN_STATES[what]:
            raise ValidationError("请选择告知市民的事项。", field="what")
        if await citizen_told(case, what, conn):
            raise TransitionNotAllowed(
                f"{catalog.told[what]}已告知市民,无需再次记录。", field="action"
            )
        data["what_name"] = catalog.told[what]
        means = str(data.get("means", ""))
        if means not in catalog.notify_means:
            raise ValidationError("请选择告知方式。", field="means")
        data["means_name"] = catalog.notify_means[means]
        return {}
    if name == "reject":
        code = str(data.get("reason_code", ""))
        if code not in catalog.reasons:
            raise ValidationError("请选择不予受理的理由。", field="reason_code")
        data["reason_text"] = catalog.reasons[code].text
        return {"reject_reason": code}
    if name == "refer_out":
        agency = str(data.get("referred_to", "")).strip()
        if not agency:
            raise ValidationError("请填写移送的机关及联系方式。", field="referred_to")
        contact = str(data.get("referred_contact", "")).strip()
        if not contact and case.status == S.IN_PROGRESS:
            # The unit, not the centre that spoke with the citizen, tells them whom to contact.
            raise ValidationError(
                "请填写市民联系该机关的方式(电话或地址)。", field="referred_contact"
            )
        if contact:
            agency = f"{agency}(联系方式:{contact})"
        data["referred_to"] = agency[:REFERRED_TO_MAX_CHARS]
        return {"referred_to": data["referred_to"]}
    if name == "merge":
        target = await Case.filter(number=str(data.get("into", ""))).using_db(conn).first()
        if target is None or target.id == case.id or target.status not in OPEN_STATES:
            raise ValidationError("请填写一个正在办理中的案件编号作为合并目标。", field="into")
        data["into"] = target.number
        return {"merged_into_id": target.id}
    if name == "hand_over":
        return {"department_id": None}
    if name == "answer":
        settled_by_receiver = catalog.first_receiver_owns and case.department_id is not None
        if not (catalog.kinds[case.kind].answer_at_intake or settled_by_receiver):
            raise TransitionNotAllowed(
                f"“{catalog.kinds[case.kind].name}”类案件不能当场答复办结。", field="action"
            )
        return {"closed_at": now}
    if name == "assign":
        return {"department_id": await _handling_unit(str(data.get("department", "")), conn)}
    if name == "return":
        window = await _running(case, "return_window", conn)
        if window is not None and now > window.due_at:
            raise TransitionNotAllowed("已超过退回期限,请与投诉举报中心联系。", field="action")
        return {"department_id": None}
    if name == "request_extension":
        stage = "handling" if case.status == S.IN_PROGRESS else "acceptance"
        clock = await _running(case, str(data.get("clock", stage)), conn)
        amount = _positive_int(data.get("amount"))
        clocks.check_extension(rules, case, clock, amount, now)
        assert clock is not None
        data.update(clock=clock.name, amount=amount)
        return {}
    if name == "approve_extension":
        request = await _pending_extension(case, conn)
        if request is None:
            raise TransitionNotAllowed("没有待审批的延期申请。", field="action")
        clock = await _running(case, request.data["clock"], conn)
        amount = int(request.data["amount"])
        clocks.check_extension(rules, case, clock, amount, now, verb="批准")
        assert clock is not None
        data.update(
            clock=clock.name,
            amount=amount,
            reason=request.note,
            request_event=request.id,
            _clock=clock,
        )
        return {}
    if name == "refuse_extension":
        request = await _pending_extension(case, conn)
        if request is None:
            raise TransitionNotAllowed("没有待审批的延期申请。", field="action")
        data.update(
            clock=request.data.get("clock", ""),
            asked=int(request.data.get("amount", 0)),
            request_event=request.id,
        )
    if name == "refuse_draft":
        draft = await pending_draft(case, conn)
        if draft is None:
            raise TransitionNotAllowed("没有待审批的草稿。", field="action")
        data.update(draft=draft.id, action=draft.data["action"], drafted_by=draft.actor_name)
        return {}
    if name == "pause_clock":
        if not await clocks.pausable(rules, case, name, paused=False, conn=conn):
            raise TransitionNotAllowed(
                "没有可以暂停的期限:已暂停,或这类案件此阶段的检验检测时间计入期限。",
                field="action",
            )
        return {}
    if name == "resume_clock":
        if not await clocks.pausable(rules, case, name, paused=True, conn=conn):
            raise TransitionNotAllowed("没有暂停计时的期限。", field="action")
        return {}
    if name in ("end_mediation", "open_case", "decline_case"):
        await _decide(catalog, case, name, data, conn)
        return {}
    if name in ("arrive", "notify_parties"):
        if not await clocks.stoppable(rules, case, name, conn):
            raise TransitionNotAllowed(
                "这类案件无需记录到达现场,或已记录。"
                if name == "arrive"
                else "这类案件无需记录通知双方当事人,或已记录。",
                field="action",
            )
        if name == "notify_parties":
            means = str(data.get("means", ""))
            if means not in catalog.notify_means:
                raise ValidationError("请选择通知方式。", field="means")
            data["means_name"] = catalog.notify_means[means]
        return {}
    if name == "rehandle":
        if case.kind not in catalog.satisfaction_kinds:
            raise TransitionNotAllowed(
                f"“{catalog.kinds[case.kind].name}”类案件办结不以满意为条件:"
                "市民不满意的,办结后由领导复核。",
                field="action",
            )
        return {"closed_at": None}
    if name == "close":
        _satisfaction(catalog, case, actor_role, data)
        return {"closed_at": now, **_finding(catalog, case, data)}
    if name == "reopen":
        return {"closed_at": None}
    if name == "raise_severity":
        return {"severity": _next_severity(rules, case, data)}
    return {}


async def _decide(
    catalog: Catalog, case: Case, name: str, data: dict[str, Any], conn: BaseDBAsyncClient
) -> None:
    """A mediation can only end where the profile records mediation for the kind, with one of
    its reasons; a case is filed (or not) once, where the profile records filing."""
    offered = {f.code for f in catalog.findings_for(case.kind)}
    kind = catalog.kinds[case.kind].name
    if name == "end_mediation":
        if "mediated" not in offered or not catalog.mediation_end_reasons:
            raise TransitionNotAllowed(f"“{kind}”类案件不组织调解。", field="action")
        reason = str(data.get("reason", ""))
        if reason not in catalog.mediation_end_reasons:
            raise ValidationError("请选择终止调解的原因。", field="reason")
        data["reason_text"] = catalog.mediation_end_reasons[reason]
    else:
        if "case_filed" not in offered:
            raise TransitionNotAllowed(f"“{kind}”类案件不作立案决定。", field="action")
        filed = await CaseEvent.filter(case_id=case.id, action="open_case").using_db(conn).exists()
        if filed:
            raise TransitionNotAllowed("该案件已立案。", field="action")
    if name in OUTCOME_OF:
        data["outcome"] = OUTCOME_OF[name]


# The patient's view of the result, recorded at closure where the profile closes on it
# ([closing], 001 第二十五条): 满意 or 基本满意 close; 不满意 does not (`rehandle` sends it back);
# 「信访投诉人长期无理取闹的,医院有书面答复的,可以认作结案」 is a leader's decision.
SATISFACTION = {
    "satisfied": "满意",
    "basic": "基本满意",
    "dissatisfied": "不满意",
    "deemed": "长期无理取闹,已书面答复,认作结案",
}


def _satisfaction(catalog: Catalog, case: Case, role: str, data: dict[str, Any]) -> None:
    """A close where the profile ties it to the patient's satisfaction: refused unless the
    patient said 满意 / 基本满意 (or a leader deems it closed after a written reply)."""
    code = str(data.get("satisfaction", "")).strip()
    if case.kind not in catalog.satisfaction_kinds:
        if code:
            raise ValidationError("这类案件办结时不记录患者意见。", field="satisfaction")
        data.pop("satisfaction", None)
        return
    if code not in SATISFACTION:
        raise ValidationError(
            "患者对处理结果表示满意或基本满意的方可结案:请记录患者对处理结果的意见。",
            field="satisfaction",
        )
    if code == "dissatisfied":
        raise TransitionNotAllowed(
            "患者对处理结果不满意,不能结案。请选择“不满意,重新办理”,退回承办科室继续处理。",
            field="satisfaction",
        )
    if code == "deemed" and role != LEADER:
        raise PermissionDenied(
            "投诉人长期无理取闹、已有书面答复而认作结案的,须由领导决定。",
            field="satisfaction",
        )
    data.update(satisfaction=code, satisfaction_name=SATISFACTION[code])


def _finding(catalog: Catalog, case: Case, data: dict[str, Any]) -> dict[str, Any]:
    """What the handling found, required when the profile offers findings for the kind, and
    the staff member the complaint named (optional), for the rates and accountability."""
    offered = {f.code: f for f in catalog.findings_for(case.kind)}
    code = str(data.get("finding", "")).strip()
    if offered and code not in offered:
        raise ValidationError("请选择处理结果。", field="finding")
    if code and not offered:
        raise ValidationError("这类案件不记录处理结果。", field="finding")
    named = str(data.get("named_staff", "")).strip()
    if len(named) > NAMED_STAFF_MAX_CHARS:
        raise ValidationError(
            f"被投诉工作人员姓名最多{NAMED_STAFF_MAX_CHARS}个字。", field="named_staff"
        )
    if code:
        data["finding_name"] = offered[code].name
    data.update(finding=code, named_staff=named)
    return {"finding": code, "named_staff": named}


async def _handling_unit(code: str, conn: BaseDBAsyncClient) -> int:
    dept = await Department.filter(code=code, active=True).using_db(conn).first()
    if dept is None or dept.role != "handling":
        raise ValidationError("请选择一个承办单位。", field="department")
    return dept.id


def _reachable(case: Case) -> bool:
    """Whether anyone can tell the citizen anything: by WeChat, phone or post."""
    return case.citizen_id is not None or bool(case.contact_phone or case.contact_address)


def _real_name(case: Case) -> bool:
    """Whether the citizen signed with their name (署实名)."""
    return not case.anonymous and bool(case.contact_name.strip())


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


async def untold(rules: Rules, case: Case) -> list[str]:
    """What staff could still record having told the citizen (codes of the profile's [told])."""
    return [
        what
        for what in rules.catalog.told
        if case.status in TOLD_IN_STATES[what] and not await citizen_told(case, what)
    ]


async def _running(case: Case, name: str, conn: BaseDBAsyncClient) -> CaseClock | None:
    return (
        await CaseClock.filter(case_id=case.id, name=name, stopped_at__isnull=True)
        .using_db(conn)
        .first()
    )


# A request, and the leader's two answers to it.
EXTENSION_EVENTS = ("request_extension", "approve_extension", "refuse_extension")


async def _pending_extension(case: Case, conn: BaseDBAsyncClient) -> CaseEvent | None:
    """The latest extension request, if no approval or refusal has followed it."""
    last = (
        await CaseEvent.filter(case_id=case.id, action__in=EXTENSION_EVENTS)
        .using_db(conn)
        .order_by("-id")
        .first()
    )
    return last if last is not None and last.action == "request_extension" else None


async def _latest_draft_event(
    case: Case, conn: BaseDBAsyncClient | None = None
) -> CaseEvent | None:
    query = CaseEvent.filter(case_id=case.id, action__in=DRAFT_EVENTS).order_by("-id")
    return await (query.using_db(conn) if conn else query).first()


async def pending_draft(case: Case, conn: BaseDBAsyncClient | None = None) -> CaseEvent | None:
    """The draft awaiting a leader: neither approved nor refused, and the case has not moved
    on since it was drafted (a withdrawn case leaves its draft stale)."""
    last = await _latest_draft_event(case, conn)
    if last is None or last.action != DRAFT_EVENT or last.from_status != case.status:
        return None
    return last


def _positive_int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError("请填写延长的天数(整数)。", field="amount") from None
    if number <= 0:
        raise ValidationError("延长量必须大于 0。", field="amount")
    return number


def _next_severity(rules: Rules, case: Case, data: dict[str, Any]) -> str:
    severities = rules.catalog.severities
    current = severities[case.severity].rank
    wanted = data.get("severity")
    if wanted is None:
        higher = sorted((s for s in severities.values() if s.rank > current), key=lambda s: s.rank)
        if not higher:
            raise TransitionNotAllowed("已是最高等级。", field="severity")
        wanted = higher[0].code
        data["severity"] = wanted
    if wanted not in severities or severities[wanted].rank <= current:
        raise ValidationError("只能升级为更高的等级。", field="severity")
    return str(wanted)
