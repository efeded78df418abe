"""What each workflow action checks and changes beyond what every action does.

`cases/workflow/actions.py` declares which of these belong to which action. Three parts:

- a *check* (`Check`): whether the action can be taken on this case now at all; it reads no
  input, so the console asks it too and offers no button that can only fail;
- an *effect* (`Effect`): validates the action's input, adds what the event should record to
  `step.data` and returns the case fields the action changes; it writes nothing, so a decision
  drafted for a leader's approval is checked exactly as it would be applied;
- a *sequel* (`Sequel`): what the action writes besides the case row, its event, its clocks
  and its notice (the survey scheduled, cancelled or answered).

An effect speaks to the engine through two keys of `step.data` that are not recorded: `_start_at`
(when the clocks the action starts count from) and `_extend` (a clock and the amount granted).

Each raises TransitionNotAllowed or ValidationError with a message for the person acting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from cases.errors import PermissionDenied, TransitionNotAllowed, ValidationError
from cases.rules import Rules
from cases.store.models import Case, CaseClock, CaseEvent, Department, Role, Status
from cases.workflow import clocks, history, surveys
from cases.workflow.states import OPEN_STATES, STATUS_LABELS
from cases.workflow.timeline import Actor
from config.catalog import Catalog

S = Status
NAMED_STAFF_MAX_CHARS = 50  # the column's size
REFERRED_TO_MAX_CHARS = 200  # the column's size


@dataclass
class Step:
    """One action being taken: the case as read, who acts, and the action's input, to which the
    effect adds what the event records (keys starting with `_` are for the engine only)."""

    rules: Rules
    case: Case
    role: str
    now: datetime
    conn: BaseDBAsyncClient | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def catalog(self) -> Catalog:
        return self.rules.catalog


Changes = dict[str, Any]
Check = Callable[[Step], Awaitable[None]]
Effect = Callable[[Step], Awaitable[Changes]]
Sequel = Callable[[Step, CaseEvent, Actor], Awaitable[None]]


def _refuse(message: str, field: str = "action") -> TransitionNotAllowed:
    return TransitionNotAllowed(message, field=field)


async def _running(step: Step, name: str) -> CaseClock | None:
    return next(
        (c for c in await clocks.running_clocks(step.case, step.conn) if c.name == name), None
    )


# --- checks ---------------------------------------------------------------------------------


async def answerable(step: Step) -> None:
    # Answered at intake, or settled on the spot by the unit that received it (首诉负责制).
    kind = step.catalog.kinds[step.case.kind]
    settled_by_receiver = step.catalog.first_receiver_owns and step.case.department_id is not None
    if not (kind.answer_at_intake or settled_by_receiver):
        raise _refuse(f"“{kind.name}”类案件不能当场答复办结。")


async def within_return_window(step: Step) -> None:
    window = await _running(step, step.catalog.stages.return_window)
    if window is not None and step.now > window.due_at:
        raise _refuse("已超过退回期限,请与投诉举报中心联系。")


async def some_clock_extendable(step: Step) -> None:
    """A clock of the stage can still be extended; if none, the reason of the stage's own."""
    if await clocks.extendable(step.rules, step.case, step.conn):
        return
    clock = await _running(step, _extension_stage(step))
    clocks.check_extension(step.rules, step.case, clock, 1, step.now)
    raise _refuse("没有可以延期的期限。")


async def extension_pending(step: Step) -> None:
    """A request waits, and the clock it asks about still runs (asked while accepting, the
    decision may have come first)."""
    request = await history.pending_extension(step.case, step.conn)
    if request is None or await _running(step, str(request.data.get("clock", ""))) is None:
        raise _refuse("没有待审批的延期申请。")


async def approvable_draft(step: Step) -> None:
    """A draft waits, and its case has not moved on since (withdrawn, accepted …)."""
    last = await history.latest_of(step.case, history.DRAFT_EVENTS, step.conn)
    if last is None or last.action != history.DRAFT_EVENT:
        raise _refuse("没有待审批的草稿。")
    if last.from_status != step.case.status:
        raise _refuse(
            f"草稿提交后案件已变为“{STATUS_LABELS[step.case.status]}”,该草稿已失效,不能批准。"
        )


async def draft_pending(step: Step) -> None:
    if await history.pending_draft(step.case, step.conn) is None:
        raise _refuse("没有待审批的草稿。")


async def something_untold(step: Step) -> None:
    if not await history.untold(step.rules, step.case, step.conn):
        raise _refuse("需要告知市民的决定均已告知,无需再次记录。")


async def pausable(step: Step) -> None:
    if not await clocks.pausable(
        step.rules, step.case, "pause_clock", paused=False, conn=step.conn
    ):
        raise _refuse("没有可以暂停的期限:已暂停,或这类案件此阶段的检验检测时间计入期限。")


async def resumable(step: Step) -> None:
    if not await clocks.pausable(
        step.rules, step.case, "resume_clock", paused=True, conn=step.conn
    ):
        raise _refuse("没有暂停计时的期限。")


async def on_site_due(step: Step) -> None:
    if not await clocks.stoppable(step.rules, step.case, "arrive", step.conn):
        raise _refuse("这类案件无需记录到达现场,或已记录。")


async def parties_notice_due(step: Step) -> None:
    if not await clocks.stoppable(step.rules, step.case, "notify_parties", step.conn):
        raise _refuse("这类案件无需记录通知双方当事人,或已记录。")


async def mediated(step: Step) -> None:
    """A mediation can only end where the profile records mediation for the kind."""
    offered = {f.code for f in step.catalog.findings_for(step.case.kind)}
    if "mediated" not in offered or not step.catalog.mediation_end_reasons:
        raise _refuse(f"“{step.catalog.kinds[step.case.kind].name}”类案件不组织调解。")


async def not_yet_filed(step: Step) -> None:
    """A case is filed (or not) once, where the profile records filing."""
    offered = {f.code for f in step.catalog.findings_for(step.case.kind)}
    if "case_filed" not in offered:
        raise _refuse(f"“{step.catalog.kinds[step.case.kind].name}”类案件不作立案决定。")
    if await history.case_filed(step.case, step.conn):
        raise _refuse("该案件已立案。")


async def closes_on_satisfaction(step: Step) -> None:
    if step.case.kind not in step.catalog.satisfaction_kinds:
        raise _refuse(
            f"“{step.catalog.kinds[step.case.kind].name}”类案件办结不以满意为条件:"
            "市民不满意的,办结后由领导复核。"
        )


async def below_top_severity(step: Step) -> None:
    severities = step.catalog.severities.values()
    if step.catalog.severities[step.case.severity].rank >= max(s.rank for s in severities):
        raise _refuse("已是最高等级。", field="severity")


# --- effects --------------------------------------------------------------------------------


async def deem_accepted(step: Step) -> Changes:
    case, now = step.case, step.now
    due = [
        c
        for c in await clocks.running_clocks(case, step.conn)
        if c.on_expiry == "deem_accepted" and c.paused_at is None and c.due_at <= now
    ]
    if not due and case.status == S.REJECTED:
        # Only the expiry of a clock that deems acceptance (a rejection never told) does this.
        raise _refuse("不予受理决定的告知期限未届满或已告知,不能视为受理。")
    if not due:
        return {"accepted_at": now}
    # 「自…收到之日起第5日即为受理」: accepted as of day 5 (a sweep after an outage, or the
    # 15 days of an untold rejection, do not move it), and the handling counts from then.
    assert step.conn is not None
    deemed_at = await clocks.deemed_acceptance_time(step.rules, case, due[0], now, step.conn)
    step.data["deemed_at"] = deemed_at.isoformat()
    step.data["deemed_day"] = clocks.last_day(step.rules, deemed_at)
    step.data["_start_at"] = deemed_at
    changes: Changes = {"accepted_at": deemed_at}
    if case.status == S.REJECTED:
        changes["reject_reason"] = ""
    return changes


async def accept(step: Step) -> Changes:
    return {"accepted_at": step.now}


async def tell_citizen(step: Step) -> Changes:
    catalog, data = step.catalog, step.data
    what = str(data.get("what", ""))
    if what not in catalog.told or step.case.status not in history.TOLD_IN_STATES[what]:
        raise ValidationError("请选择告知市民的事项。", field="what")
    if await history.citizen_told(step.case, what, step.conn):
        raise _refuse(f"{catalog.told[what]}已告知市民,无需再次记录。")
    data["what_name"] = catalog.told[what]
    data["means_name"] = _means(catalog, data, "请选择告知方式。")
    return {}


async def notify_parties(step: Step) -> Changes:
    step.data["means_name"] = _means(step.catalog, step.data, "请选择通知方式。")
    return {}


def _means(catalog: Catalog, data: dict[str, Any], message: str) -> str:
    means = str(data.get("means", ""))
    if means not in catalog.notify_means:
        raise ValidationError(message, field="means")
    return catalog.notify_means[means]


async def reject(step: Step) -> Changes:
    code = str(step.data.get("reason_code", ""))
    if code not in step.catalog.reasons:
        raise ValidationError("请选择不予受理的理由。", field="reason_code")
    step.data["reason_text"] = step.catalog.reasons[code].text
    return {"reject_reason": code}


async def refer_out(step: Step) -> Changes:
    data = step.data
    agency = str(data.get("referred_to", "")).strip()
    if not agency:
        raise ValidationError("请填写移送的机关及联系方式。", field="referred_to")
    contact = str(data.get("referred_contact", "")).strip()
    if not contact and step.case.status == S.IN_PROGRESS:
        # The unit, not the centre that spoke with the citizen, tells them whom to contact.
        raise ValidationError("请填写市民联系该机关的方式(电话或地址)。", field="referred_contact")
    if contact:
        agency = f"{agency}(联系方式:{contact})"
    data["referred_to"] = agency[:REFERRED_TO_MAX_CHARS]
    return {"referred_to": data["referred_to"]}


async def merge(step: Step) -> Changes:
    query = Case.filter(number=str(step.data.get("into", "")))
    target = await (query.using_db(step.conn) if step.conn else query).first()
    if target is None or target.id == step.case.id or target.status not in OPEN_STATES:
        raise ValidationError("请填写一个正在办理中的案件编号作为合并目标。", field="into")
    step.data["into"] = target.number
    return {"merged_into_id": target.id}


async def leave_unit(_step: Step) -> Changes:
    """The case goes back to the centre (handed over, or returned as not the unit's own)."""
    return {"department_id": None}


async def close_now(step: Step) -> Changes:
    return {"closed_at": step.now}


async def assign(step: Step) -> Changes:
    code = str(step.data.get("department", ""))
    query = Department.filter(code=code, active=True)
    dept = await (query.using_db(step.conn) if step.conn else query).first()
    if dept is None or dept.role != "handling":
        raise ValidationError("请选择一个承办单位。", field="department")
    return {"department_id": dept.id}


def _extension_stage(step: Step) -> str:
    stages = step.catalog.stages
    return stages.handling if step.case.status == S.IN_PROGRESS else stages.acceptance


async def request_extension(step: Step) -> Changes:
    clock = await _running(step, str(step.data.get("clock", _extension_stage(step))))
    amount = _positive_int(step.data.get("amount"))
    clocks.check_extension(step.rules, step.case, clock, amount, step.now)
    assert clock is not None
    step.data.update(clock=clock.name, amount=amount)
    return {}


async def approve_extension(step: Step) -> Changes:
    request = await history.pending_extension(step.case, step.conn)
    assert request is not None  # extension_pending
    clock = await _running(step, request.data["clock"])
    amount = int(request.data["amount"])
    clocks.check_extension(step.rules, step.case, clock, amount, step.now, verb="批准")
    assert clock is not None
    step.data.update(
        clock=clock.name,
        amount=amount,
        reason=request.note,
        request_event=request.id,
        _extend=(clock, amount),
    )
    return {}


async def refuse_extension(step: Step) -> Changes:
    request = await history.pending_extension(step.case, step.conn)
    assert request is not None  # extension_pending
    step.data.update(
        clock=request.data.get("clock", ""),
        asked=int(request.data.get("amount", 0)),
        request_event=request.id,
    )
    return {}


async def refuse_draft(step: Step) -> Changes:
    draft = await history.pending_draft(step.case, step.conn)
    assert draft is not None  # draft_pending
    step.data.update(draft=draft.id, action=draft.data["action"], drafted_by=draft.actor_name)
    return {}


async def end_mediation(step: Step) -> Changes:
    reason = str(step.data.get("reason", ""))
    if reason not in step.catalog.mediation_end_reasons:
        raise ValidationError("请选择终止调解的原因。", field="reason")
    step.data["reason_text"] = step.catalog.mediation_end_reasons[reason]
    return {}


async def reopen(_step: Step) -> Changes:
    return {"closed_at": None}


async def raise_severity(step: Step) -> Changes:
    severities = step.catalog.severities
    current = severities[step.case.severity].rank
    wanted = step.data.get("severity")
    if wanted is None:
        higher = sorted((s for s in severities.values() if s.rank > current), key=lambda s: s.rank)
        wanted = higher[0].code  # below_top_severity
        step.data["severity"] = wanted
    if wanted not in severities or severities[wanted].rank <= current:
        raise ValidationError("只能升级为更高的等级。", field="severity")
    return {"severity": str(wanted)}


# The patient's view of the result, recorded at closure where the profile closes on it
# ([closing], 001 第二十五条): 满意 or 基本满意 close; 不满意 does not (`rehandle` sends it back);
# 「信访投诉人长期无理取闹的,医院有书面答复的,可以认作结案」 is a leader's decision.
SATISFACTION = {
    "satisfied": "满意",
    "basic": "基本满意",
    "dissatisfied": "不满意",
    "deemed": "长期无理取闹,已书面答复,认作结案",
}


async def close(step: Step) -> Changes:
    _satisfaction(step)
    return {"closed_at": step.now, **_finding(step)}


def _satisfaction(step: Step) -> None:
    """A close where the profile ties it to the patient's satisfaction: refused unless the
    patient said 满意 / 基本满意 (or a leader deems it closed after a written reply)."""
    data = step.data
    code = str(data.get("satisfaction", "")).strip()
    if step.case.kind not in step.catalog.satisfaction_kinds:
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
    if code == "deemed" and step.role != Role.LEADER.value:
        raise PermissionDenied(
            "投诉人长期无理取闹、已有书面答复而认作结案的,须由领导决定。",
            field="satisfaction",
        )
    data.update(satisfaction=code, satisfaction_name=SATISFACTION[code])


def _finding(step: Step) -> Changes:
    """What the handling found, required when the profile offers findings for the kind, and
    the staff member the complaint named (optional), for the rates and accountability."""
    data = step.data
    offered = {f.code: f for f in step.catalog.findings_for(step.case.kind)}
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


def _positive_int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError("请填写延长的天数(整数)。", field="amount") from None
    if number <= 0:
        raise ValidationError("延长量必须大于 0。", field="amount")
    return number


# --- sequels --------------------------------------------------------------------------------


async def schedule_survey(step: Step, event: CaseEvent, _actor: Actor) -> None:
    assert step.conn is not None
    await surveys.schedule_survey(step.rules, step.case, event, step.conn)


async def cancel_survey(step: Step, _event: CaseEvent, _actor: Actor) -> None:
    """Reopened: the survey of the closure is moot, and the case leaves the review queue."""
    assert step.conn is not None
    await surveys.cancel_open_survey(step.case, step.now, step.conn)
    await surveys.mark_reviewed(step.case, step.now, step.conn)


async def mark_reviewed(step: Step, _event: CaseEvent, _actor: Actor) -> None:
    """A leader's decision on a dissatisfied answer takes the case off the review queue."""
    assert step.conn is not None
    await surveys.mark_reviewed(step.case, step.now, step.conn)


async def answer_survey(step: Step, event: CaseEvent, actor: Actor) -> None:
    """A telephone return visit with a verdict answers the survey."""
    if event.data.get("overall"):
        scores = {k: v for k, v in event.data.items() if k != "overall"}
        answer = {"overall": event.data["overall"], "scores": scores}
        await surveys.record_return_visit(step.rules, step.case, answer, actor, step.now)
