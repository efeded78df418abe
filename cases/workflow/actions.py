"""Every workflow action, declared once (DESIGN.md "Lifecycle").

An action's declaration says all there is to it: its name and its label for staff and for
citizens, who may take it from which states (and where a handler only on their own unit's
cases), the input it reads (`fields`: the console's partial `templates/staff/actions/<name>.html`
has an input for each), whether it needs a note and whether that note is the citizen's to read,
the state it leads to, the notice the citizen gets, and its own rule: a check (can it be taken
now at all), an effect (validate the input, the case fields it changes) and a sequel (what else it
writes), from `cases/workflow/effects.py`. Which clocks it starts, stops or pauses is the
profile's. `cases/workflow/engine.py` takes any of them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cases.store.models import CaseEvent, Role, Status
from cases.workflow import effects as E
from cases.workflow.states import (
    ACCEPTING,
    BEFORE_HANDLING,
    DRAFTABLE_STATES,
    FINISHED_STATES,
    OPEN_STATES,
)
from cases.workflow.timeline import CITIZEN, SYSTEM
from config.catalog import Catalog
from config.staff_text import load_staff_text

S = Status


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
    # The clocks see the action as "name:value" of this data field (tell_citizen:result), so
    # telling one thing stops only the clock waiting for it.
    qualified_by: str = ""
    # What the citizen's timeline calls it, where staff's word would not do ("" = `label`).
    citizen_label: str = ""
    # The input the action reads besides the note; staff input is kept to these keys.
    fields: tuple[str, ...] = ()
    # Reads a verdict on the survey's scale too (its overall level and each dimension).
    reads_survey: bool = False
    check: E.Check | None = None
    effect: E.Effect | None = None
    sequel: E.Sequel | None = None
    # The outcome the decision records for the rates (config/catalog.py FINDING_CODES).
    outcome: str = ""

    def states_for(self, role: str) -> frozenset[Status]:
        return next((s for r, s in self.role_states if r == role), self.sources)


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
            citizen_label="请您补充材料",
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
        _action(
            "accept",
            "受理",
            {S.SUBMITTED},
            S.ACCEPTED,
            {INTAKE, LEADER},
            notice="accepted",
            effect=E.accept,
        ),
        # From a rejection too: a food/drug rejection never told counts as accepted (profile).
        _action(
            "deem_accepted",
            "视为受理",
            {S.SUBMITTED, S.NEEDS_INFO, S.REJECTED},
            S.ACCEPTED,
            {SYSTEM},
            notice="accepted",
            effect=E.deem_accepted,
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
            fields=("reason_code",),
            effect=E.reject,
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
                (INTAKE, BEFORE_HANDLING),
                (LEADER, BEFORE_HANDLING),
                (HANDLER, frozenset({S.IN_PROGRESS})),
            ),
            fields=("referred_to", "referred_contact"),
            effect=E.refer_out,
        ),
        _action(
            "merge",
            "合并办理",
            {S.SUBMITTED, S.NEEDS_INFO, S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS},
            S.MERGED,
            {INTAKE, LEADER},
            notice="merged",
            fields=("into",),
            effect=E.merge,
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
            check=E.answerable,
            effect=E.close_now,
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
            effect=E.leave_unit,
        ),
        _action(
            "assign",
            "交办",
            {S.ACCEPTED},
            S.ASSIGNED,
            {INTAKE, LEADER},
            fields=("department",),
            effect=E.assign,
        ),
        _action(
            "return",
            "退回",
            {S.ASSIGNED},
            S.SUBMITTED,
            {HANDLER},
            unit_scoped=True,
            needs_note=True,
            public=False,
            check=E.within_return_window,
            effect=E.leave_unit,
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
            check=E.on_site_due,
        ),
        # 000 产品质量申诉处理办法 第十九条 「五日内分别通知申诉人和被申诉人」: who recorded that
        # both parties were told, and by which means.
        _action(
            "notify_parties",
            "通知双方当事人",
            {*BEFORE_HANDLING, S.ASSIGNED, S.IN_PROGRESS},
            None,
            {INTAKE, LEADER, HANDLER},
            unit_scoped=True,
            public=False,
            fields=("means",),
            check=E.parties_notice_due,
            effect=E.notify_parties,
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
            fields=("clock", "amount"),
            check=E.some_clock_extendable,
            effect=E.request_extension,
        ),
        _action(
            "approve_extension",
            "批准延期",
            {*ACCEPTING, S.IN_PROGRESS},
            None,
            {LEADER},
            notice="extended",
            citizen_label="延长办理期限",
            check=E.extension_pending,
            effect=E.approve_extension,
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
            check=E.extension_pending,
            effect=E.refuse_extension,
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
            check=E.pausable,
        ),
        _action(
            "resume_clock",
            "恢复计时",
            {S.SUBMITTED, S.IN_PROGRESS},
            None,
            {HANDLER, INTAKE},
            unit_scoped=True,
            check=E.resumable,
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
            fields=("reason",),
            check=E.mediated,
            effect=E.end_mediation,
            outcome="mediation_failed",
        ),
        _action(
            "open_case",
            "立案",
            {S.IN_PROGRESS},
            None,
            {HANDLER, LEADER},
            unit_scoped=True,
            check=E.not_yet_filed,
            outcome="case_filed",
        ),
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
            check=E.not_yet_filed,
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
            check=E.closes_on_satisfaction,
            effect=E.reopen,
        ),
        _action(
            "close",
            "办结",
            {S.REPLIED},
            S.CLOSED,
            {INTAKE, LEADER, HANDLER},
            unit_scoped=True,
            notice="closed",
            fields=("finding", "named_staff", "satisfaction"),
            effect=E.close,
            sequel=E.schedule_survey,
        ),
        _action(
            "reopen",
            "重新办理",
            {S.CLOSED},
            S.IN_PROGRESS,
            {LEADER},
            needs_note=True,
            notice="reopened",
            effect=E.reopen,
            sequel=E.cancel_survey,
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
            sequel=E.mark_reviewed,
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
            fields=("severity",),
            check=E.below_top_severity,
            effect=E.raise_severity,
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
            fields=("what", "means"),
            check=E.something_untold,
            effect=E.tell_citizen,
        ),
        _action(
            "return_visit",
            "回访",
            {S.CLOSED},
            None,
            {INTAKE},
            needs_note=True,
            public=False,
            reads_survey=True,
            sequel=E.answer_survey,
        ),
        # A drafted decision (the profile's [approvals]): the leader's approval takes the drafted
        # action itself; a refusal sends the draft back to its drafter with the reason.
        _action(
            "approve_draft",
            "批准",
            DRAFTABLE_STATES,
            None,
            {LEADER},
            public=False,
            check=E.approvable_draft,
        ),
        _action(
            "refuse_draft",
            "退回修改",
            DRAFTABLE_STATES,
            None,
            {LEADER},
            needs_note=True,
            public=False,
            check=E.draft_pending,
            effect=E.refuse_draft,
        ),
    )
}

# The label of a decision drafted for approval (the timeline's `draft`, not an action).
DRAFT_LABEL = "提交审批"

# The system action recorded when a notice of this kind has been delivered.
DELIVERED_ACTIONS = {
    "rejected": "notify_rejected",
    "replied": "notify_result",
    "mediation_ended": "notify_result",
    "not_filed": "notify_result",
}

# Outcomes a decision records besides the finding chosen at closure: a case may carry several,
# and the rates of cases/views/stats.py count each.
OUTCOME_OF = {a.name: a.outcome for a in ACTIONS.values() if a.outcome}
# What the clocks and the timeline know besides the actions: the filing itself.
FILE_EVENT = "file"


def citizen_note(event: CaseEvent) -> str:
    """What the citizen may read of an event: their own words, a note that is meant for them
    (a reply …), or the staff's separate `public_note`; never an internal note."""
    action = ACTIONS.get(event.action)
    if event.actor_kind == CITIZEN or (action is not None and action.note_public):
        return event.note
    return str(event.data.get("public_note", ""))


UNLABELLED = "其他记录"


def event_label(name: str, *, citizen: bool = False) -> str:
    """A timeline entry's name for staff or for the citizen: the action's own label, or
    config/staff_text.toml's for the entries that are not actions (filing, rating …)."""
    action = ACTIONS.get(name)
    text = load_staff_text()
    if action is not None:
        return (action.citizen_label or action.label) if citizen else action.label
    if citizen and name in text.citizen_events:
        return text.citizen_events[name]
    return text.events.get(name, UNLABELLED)


def unknown_actions(catalog: Catalog) -> list[str]:
    """What the profile names as an action that is none (its clocks' start, stop, pause and
    resume lists, its approvals): each as "where: name", for the load check."""
    wrong = []
    for policy in catalog.policies:
        for clock in policy.clocks:
            for name in {*clock.starts_on, *clock.stops_on, *clock.pauses_on, *clock.resumes_on}:
                base, _, value = name.partition(":")
                known = base == FILE_EVENT or (
                    base in ACTIONS and bool(value) == bool(ACTIONS[base].qualified_by)
                )
                if not known:
                    wrong.append(f"policy {policy.name} clock {clock.name}: {name}")
    wrong += [f"approvals: {a}" for a in sorted(catalog.approval_actions - set(ACTIONS))]
    return wrong
