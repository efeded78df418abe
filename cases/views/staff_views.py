"""What staff see of one case: every field, photos, the full timeline, likely duplicates,
running deadlines and the actions they can take now, with the choices each action needs.

The case itself comes from `cases.views.access.case_for_staff`; everything here that searches other
cases (duplicates) stays inside the same unit view, so a handler never learns of another
unit's case through this page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q

from cases.errors import CaseError, NotFound, PermissionDenied
from cases.intake.duplicates import similarity
from cases.rules import Rules
from cases.store.models import Case, CaseEvent, Department, EvidenceFile, Status
from cases.views.access import (
    Identity,
    listed_identity,
    may_see_identity,
    reveal_identity,
    visible_cases,
)
from cases.views.staff_actions import REPLY_ACTIONS, REPLY_PARTS, data_fields, tells_separately
from cases.views.supervision import may_press
from cases.workflow.actions import ACTIONS, Action, event_label
from cases.workflow.clocks import (
    Deadline,
    deadlines_of,
    extendable,
    policy_of,
    running_clocks,
    unit_name,
)
from cases.workflow.effects import Step
from cases.workflow.engine import allowed_actions, needs_approval
from cases.workflow.history import (
    DRAFT_EVENT,
    EXTENSION_EVENTS,
    latest_of,
    pending_draft,
    untold,
)
from cases.workflow.history import (
    pending_extension as pending_request,
)
from cases.workflow.states import OPEN_STATES, STATUS_LABELS
from cases.workflow.timeline import CITIZEN, Actor
from config.catalog import DeadlinePolicy
from config.staff_text import UNKNOWN_REASON, StaffText, load_staff_text

_ERRCODE = re.compile(r"errcode (-?\d+)")
# What a photo's content check means to staff (citizens do not see flagged photos).
CHECK_LABELS = {"risky": "内容安全检查:疑似违规", "review": "内容安全检查:待人工复核"}
NOTICE_FAILED = "notice_failed"
# A timeline entry nobody has named yet (config/staff_text.toml [events] lacks it).
# Shown instead of the citizen's name on events they took while the identity is hidden.
CITIZEN_LABEL = "来件人"
MAX_SUGGESTIONS = 10
EXCERPT_CHARS = 80


@dataclass(frozen=True)
class StaffEvent:
    at: datetime
    action: str
    label: str
    actor: str
    note: str
    public: bool
    from_status: str
    to_status: str
    details: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Photo:
    id: int
    width: int
    height: int
    content_check: str
    flag: str


@dataclass(frozen=True)
class Suggestion:
    """An earlier or later case against the same respondent, for intake to compare or merge."""

    number: str
    status: str
    status_label: str
    filed_at: datetime
    respondent_name: str
    excerpt: str
    similarity: float
    # The filing's own duplicate check pointed at it.
    flagged: bool
    open: bool


@dataclass(frozen=True)
class ExtendableClock:
    name: str
    label: str
    unit: str
    left: int


@dataclass(frozen=True)
class PendingExtension:
    clock: str
    amount: int
    unit: str
    reason: str
    by: str


@dataclass(frozen=True)
class RefusedExtension:
    at: datetime
    by: str
    reason: str


@dataclass(frozen=True)
class PendingDraft:
    """A decision drafted for a leader's approval (the profile's [approvals])."""

    action: str
    label: str
    by: str
    at: datetime
    note: str
    details: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ActionForm:
    """One action this actor may take now and the inputs it needs."""

    name: str
    label: str
    needs_note: bool
    fields: tuple[str, ...]
    # Taken by this actor it is a draft that goes out only once a leader approves it.
    needs_approval: bool = False
    # Its partial composes the note from parts (a reply's 经查 / 处理情况 / 处理依据).
    writes_own_note: bool = False


@dataclass(frozen=True)
class CaseDetail:
    case: Case
    kind_name: str
    category_name: str
    channel_name: str
    severity_name: str
    status_label: str
    unit: Department | None
    identity: Identity
    # The identity is shown in full on this view (a confidential one has just been logged).
    revealed: bool
    may_reveal: bool
    confidential: bool
    filed_at: datetime
    incident_at: datetime | None
    merged_into: str
    merged_cases: list[str]
    photos: list[Photo]
    timeline: list[StaffEvent]
    duplicates: list[Suggestion]
    deadlines: list[Deadline]
    actions: list[ActionForm]
    extendable: list[ExtendableClock] = field(default_factory=list)
    pending_extension: PendingExtension | None = None
    refused_extension: RefusedExtension | None = None
    # 催办/督办 offered on the page (cases.views.supervision.may_press).
    may_press: bool = False
    pending_draft: PendingDraft | None = None
    approval_source: str = ""
    return_due: datetime | None = None
    higher_severities: list[tuple[str, str]] = field(default_factory=list)
    # For tell_citizen: what the citizen has not been told yet (code, name).
    tellable: list[tuple[str, str]] = field(default_factory=list)
    # For the assign form: the active handling units, the category's own one first choice.
    handling_units: list[Department] = field(default_factory=list)
    default_unit: str = ""


async def staff_case_view(
    rules: Rules, case: Case, actor: Actor, now: datetime, *, reveal: bool = False
) -> CaseDetail:
    """Everything the case page shows; `reveal` shows (and logs) the citizen's identity.

    Raises PermissionDenied if `reveal` is asked by someone who may not see it (a handler on a
    report): nothing is logged then.
    """
    catalog = rules.catalog
    kind = catalog.kinds.get(case.kind)
    allowed = may_see_identity(rules, case, actor)
    if reveal and not allowed:
        raise PermissionDenied("只有投诉举报中心可以查看举报人身份。", field="reveal")
    # An anonymous case has nothing to show, so there is no view to log either.
    may_reveal = allowed and has_identity(case)
    identity = (
        await reveal_identity(rules, case, actor, now)
        if reveal and may_reveal
        else listed_identity(rules, case)
    )
    unit = await Department.get_or_none(id=case.department_id) if case.department_id else None
    merged_into = ""
    if case.merged_into_id is not None:
        # Named only if this actor may open it: a handler learns nothing of other units.
        target = await visible_cases(actor).filter(id=case.merged_into_id).first()
        merged_into = target.number if target else ""
    merged_cases = (
        await visible_cases(actor).filter(merged_into_id=case.id).values_list("number", flat=True)
    )
    severities = sorted(catalog.severities.values(), key=lambda s: s.rank)
    current_rank = (
        catalog.severities[case.severity].rank if case.severity in catalog.severities else 0
    )
    extendable = await extendable_clocks(rules, case)
    pending = await pending_extension(case)
    draft = await drafted_decision(rules, case)
    deadlines = await deadlines_of(rules, case, now)
    tellable = [(what, catalog.told[what]) for what in await untold(rules, case)]
    actions = await action_forms(rules, case, actor, now, draft)
    assigning = any(a.name == "assign" for a in actions)
    category = catalog.categories.get(case.category)
    return CaseDetail(
        case=case,
        kind_name=kind.name if kind else case.kind,
        category_name=_name(catalog.categories, case.category),
        channel_name=catalog.channels.get(case.channel, case.channel),
        severity_name=_name(catalog.severities, case.severity),
        status_label=STATUS_LABELS[case.status],
        unit=unit,
        identity=identity,
        revealed=not identity.masked,
        may_reveal=may_reveal and identity.masked,
        confidential=bool(kind and kind.confidential),
        filed_at=case.created_at.astimezone(rules.timezone),
        incident_at=case.incident_at.astimezone(rules.timezone) if case.incident_at else None,
        merged_into=merged_into,
        merged_cases=[str(n) for n in merged_cases],
        photos=await photos_of(case),
        timeline=await staff_timeline(rules, case, show_citizen=not identity.masked),
        duplicates=await suggested_duplicates(rules, case, actor, now),
        deadlines=deadlines,
        actions=actions,
        extendable=extendable,
        pending_extension=pending,
        refused_extension=await refused_extension(case),
        may_press=may_press(actor, case),
        pending_draft=draft,
        approval_source=rules.catalog.approval_source,
        return_due=next(
            (d.due_at for d in deadlines if d.name == catalog.stages.return_window), None
        ),
        higher_severities=[(s.code, s.name) for s in severities if s.rank > current_rank],
        tellable=tellable,
        handling_units=await Department.filter(role="handling", active=True).order_by("id")
        if assigning
        else [],
        default_unit=category.default_department if category else "",
    )


async def still_visible(actor: Actor, case: Case) -> bool:
    """Whether the actor can still open the case (a handler who returned it cannot)."""
    return await visible_cases(actor).filter(id=case.id).exists()


def _name(table: Mapping[str, Any], code: str) -> str:
    item = table.get(code)
    return str(item.name) if item is not None else code


def has_identity(case: Case) -> bool:
    return not case.anonymous and any((case.contact_name, case.contact_phone, case.contact_address))


async def photos_of(case: Case) -> list[Photo]:
    """Every photo of the case, flagged ones too (marked): staff must see what was sent."""
    rows = await EvidenceFile.filter(case_id=case.id).order_by("id")
    return [
        Photo(r.id, r.width, r.height, r.content_check, CHECK_LABELS.get(r.content_check, ""))
        for r in rows
    ]


async def photo_for_staff(case: Case, photo_id: str) -> EvidenceFile:
    """A photo of a case the actor already holds; anything else is not found."""
    evidence = None
    if re.fullmatch(r"[0-9]{1,9}", photo_id):
        evidence = await EvidenceFile.get_or_none(id=int(photo_id), case_id=case.id)
    if evidence is None:
        raise NotFound("没有找到这张照片。", field="photo")
    return evidence


async def staff_timeline(rules: Rules, case: Case, *, show_citizen: bool) -> list[StaffEvent]:
    """All events, internal ones too, oldest first, with who took them and what they chose."""
    events = await CaseEvent.filter(case_id=case.id).order_by("at", "id")
    policy = policy_of(rules, case)
    words = load_staff_text()
    return [
        StaffEvent(
            at=e.at.astimezone(rules.timezone),
            action=e.action,
            label=event_label(e.action),
            actor=e.actor_name if show_citizen or e.actor_kind != CITIZEN else CITIZEN_LABEL,
            note=_failure_text(words, e) if e.action == NOTICE_FAILED else e.note,
            public=e.public,
            from_status=_status_label(e.from_status),
            to_status=_status_label(e.to_status),
            details=_details(
                rules, policy, _drafted_data(rules, e.data) if e.action == DRAFT_EVENT else e.data
            ),
        )
        for e in events
    ]


def _failure_text(words: StaffText, event: CaseEvent) -> str:
    """Which notice did not reach the citizen and why, in words: the channel's reason code,
    or (entries written before it was recorded) the WeChat errcode in the technical note."""
    reason = str(event.data.get("reason") or "")
    if not reason:
        found = _ERRCODE.search(event.note)
        reason = found.group(1) if found else UNKNOWN_REASON
    kind = str(event.data.get("kind", ""))
    return words.failure_format.format(
        notice=words.notices.get(kind, words.notices["_any"]),
        reason=words.delivery_error(reason),
    )


def _status_label(value: str) -> str:
    return STATUS_LABELS[Status(value)] if value in Status.__members__.values() else value


def _details(
    rules: Rules, policy: DeadlinePolicy, data: dict[str, Any]
) -> tuple[tuple[str, str], ...]:
    """The choices recorded with an event, in words (codes turned into names)."""
    catalog = rules.catalog
    shown: list[tuple[str, str]] = []
    if "reason_text" in data:
        shown.append(("理由", str(data["reason_text"])))
    if "outcome" in data:
        shown.append(("处理结果", _name(catalog.findings, str(data["outcome"]))))
    if "what_name" in data:
        shown.append(("告知事项", str(data["what_name"])))
    if "means_name" in data:
        shown.append(("告知方式", str(data["means_name"])))
    if "no_contact" in data:
        shown.append(("不予受理告知", str(data["no_contact"])))
    if "deemed_day" in data:
        shown.append(("视为受理之日", f"{data['deemed_day']}(自收到之日起计算)"))
    if "satisfaction_name" in data:
        shown.append(("患者意见", str(data["satisfaction_name"])))
    if "no_real_name" in data:
        label = next((r.label for r in policy.clocks if r.needs_real_name), "告知")
        shown.append((label, str(data["no_real_name"])))
    if "department" in data:
        shown.append(("承办单位", _name(catalog.departments, str(data["department"]))))
    if "referred_to" in data:
        shown.append(("移送至", str(data["referred_to"])))
    if "into" in data:
        shown.append(("并入", str(data["into"])))
    if data.get("public_note"):
        shown.append(("告知市民", str(data["public_note"])))
    if "amount" in data:
        shown.append(("延长", f"{data['amount']} {_unit_of(policy, data)}"))
    if "asked" in data:
        shown.append(("申请延长", f"{data['asked']} {_unit_of(policy, data)}"))
    if "severity" in data:
        shown.append(("等级", _name(catalog.severities, str(data["severity"]))))
    if "drafted_by" in data:
        shown.append(("拟稿人", str(data["drafted_by"])))
    if data.get("approval_note"):
        shown.append(("审批意见", str(data["approval_note"])))
    if "channel" in data:
        shown.append(("渠道", catalog.channels.get(str(data["channel"]), str(data["channel"]))))
    return tuple(shown)


def _unit_of(policy: DeadlinePolicy, data: dict[str, Any]) -> str:
    rule = next((r for r in policy.clocks if r.name == data.get("clock")), None)
    return unit_name(rule.unit) if rule else ""


async def suggested_duplicates(
    rules: Rules, case: Case, actor: Actor, now: datetime
) -> list[Suggestion]:
    """Cases against the same respondent within the duplicate window (and the one the filing
    flagged), most similar first; only cases this actor may see at all."""
    condition = Q(respondent_key=case.respondent_key) if case.respondent_key else None
    if case.duplicate_of_id is not None:
        flagged = Q(id=case.duplicate_of_id)
        condition = flagged if condition is None else condition | flagged
    if condition is None:
        return []
    since = now - timedelta(days=rules.catalog.duplicates.window_days)
    rows = (
        await visible_cases(actor)
        .filter(condition, created_at__gte=since)
        .exclude(id=case.id)
        .order_by("-created_at")
        .limit(MAX_SUGGESTIONS)
    )
    found = [
        Suggestion(
            number=other.number,
            status=str(other.status),
            status_label=STATUS_LABELS[other.status],
            filed_at=other.created_at.astimezone(rules.timezone),
            respondent_name=other.respondent_name,
            excerpt=other.description[:EXCERPT_CHARS],
            similarity=round(similarity(case.description, other.description), 2),
            flagged=other.id == case.duplicate_of_id,
            open=other.status in OPEN_STATES,
        )
        for other in rows
    ]
    return sorted(found, key=lambda s: (not s.flagged, -s.similarity))


async def extendable_clocks(rules: Rules, case: Case) -> list[ExtendableClock]:
    """Running clocks the policy still lets staff extend, with how much is left."""
    return [
        ExtendableClock(clock.name, clock.label, unit_name(clock.unit), left)
        for clock, left in await extendable(rules, case)
    ]


async def refused_extension(case: Case) -> RefusedExtension | None:
    """The leader's refusal, if it is the latest word on an extension (for the handler)."""
    last = await latest_of(case, EXTENSION_EVENTS)
    if last is None or last.action != "refuse_extension":
        return None
    return RefusedExtension(at=last.at, by=last.actor_name, reason=last.note)


async def pending_extension(case: Case) -> PendingExtension | None:
    """The latest extension request if no answer has followed it (what a leader decides)."""
    last = await pending_request(case)
    if last is None:
        return None
    clock = next((c for c in await running_clocks(case) if c.name == last.data.get("clock")), None)
    if clock is None:
        return None  # asked while accepting, and the decision came first: nothing to approve
    return PendingExtension(
        clock=clock.label,
        amount=int(last.data.get("amount", 0)),
        unit=unit_name(clock.unit),
        reason=last.note,
        by=last.actor_name,
    )


async def drafted_decision(rules: Rules, case: Case) -> PendingDraft | None:
    """The draft waiting for a leader, in words, for everyone who can see the case."""
    draft = await pending_draft(case)
    if draft is None:
        return None
    name = str(draft.data.get("action", ""))
    action = ACTIONS.get(name)
    return PendingDraft(
        action=name,
        label=action.label if action else name,
        by=draft.actor_name,
        at=draft.at.astimezone(rules.timezone),
        note=draft.note,
        details=_details(rules, policy_of(rules, case), _drafted_data(rules, draft.data)),
    )


def _drafted_data(rules: Rules, data: dict[str, Any]) -> dict[str, Any]:
    """What a draft would record, for the words of `_details` (the reason's text…)."""
    drafted = dict(data.get("data") or {})
    reason = rules.catalog.reasons.get(str(drafted.get("reason_code", "")))
    if reason is not None:
        drafted["reason_text"] = reason.text
    return drafted


async def action_forms(
    rules: Rules,
    case: Case,
    actor: Actor,
    now: datetime,
    draft: PendingDraft | None = None,
) -> list[ActionForm]:
    """The actions the workflow allows this actor now, less those whose own check refuses them
    on this case (no paused clock to resume, no request to approve…): no button that can only
    fail."""
    forms = []
    for a in allowed_actions(case, actor):
        drafts = needs_approval(rules, a.name, actor)
        # One draft at a time: while one waits, the drafter has nothing more to submit.
        if drafts and draft is not None:
            continue
        if a.check is not None:
            try:
                await a.check(Step(rules, case, actor.role, now))
            except CaseError:
                continue
        forms.append(
            ActionForm(
                a.name,
                a.label,
                a.needs_note,
                _inputs(rules, a),
                drafts,
                writes_own_note=a.name in REPLY_ACTIONS,
            )
        )
    return forms


def _inputs(rules: Rules, action: Action) -> tuple[str, ...]:
    if action.name in REPLY_ACTIONS:
        return tuple(name for name, _ in REPLY_PARTS)
    told = ("public_note",) if tells_separately(action.name) else ()
    return (*data_fields(rules, action.name), *told)
