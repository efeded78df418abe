"""The lifecycle: every allowed transition, every forbidden one, roles, units, concurrency."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cases.errors import ConcurrentChange, PermissionDenied, TransitionNotAllowed, ValidationError
from cases.rules import Rules
from cases.store.models import Case, CaseClock, CaseEvent, Notice, Status
from cases.views.staff_actions import register_case
from cases.views.staff_views import action_forms
from cases.views.tracking import public_timeline
from cases.workflow.actions import ACTIONS, event_label
from cases.workflow.engine import allowed_actions, perform
from cases.workflow.history import DRAFT_EVENT
from cases.workflow.timeline import Actor
from tests.factories import (
    citizen_actor,
    make_case,
    make_citizen,
    make_staff,
    perform_approved,
)

S = Status
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


class World:
    """Staff of every role, a citizen, and helpers to drive a case to any state."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    async def setup(self) -> World:
        self.intake = await make_staff("intake", "centre")
        self.handler = await make_staff("handler", "consumer")
        self.other_handler = await make_staff("handler", "food")
        self.leader = await make_staff("leader", "leaders")
        self.admin = await make_staff("admin")
        self.citizen = await make_citizen()
        self.citizen_actor = citizen_actor(self.citizen)
        self.system = Actor.system()
        return self

    async def new_case(self, **form: Any) -> Case:
        severity = form.pop("severity", "")
        case = await make_case(self.rules, citizen=self.citizen, now=NOW, **form)
        if severity:  # as intake would grade it on the phone (citizens cannot)
            policy = self.rules.catalog.policy_for(case.kind, case.category, severity)
            await Case.filter(id=case.id).update(severity=severity, policy=policy.name)
            case = await Case.get(id=case.id)
        return case

    async def act(self, case: Case, action: str, actor: Actor, **kw: Any) -> Case:
        case, _ = await perform(self.rules, case.id, action, actor, now=NOW, **kw)
        return case

    async def reach(self, case: Case, action: str, actor: Actor, **kw: Any) -> Case:
        """Take the action, with a leader's approval when the profile makes it a draft."""
        case, _ = await perform_approved(
            self.rules, case.id, action, actor, leader=self.leader, now=NOW, **kw
        )
        return case

    async def drive_to(self, state: Status, **form: Any) -> Case:
        """Reach `state` through real actions (draft is set directly: only bots create drafts)."""
        case = await self.new_case(**form)
        if state == S.MERGED:
            target = await _merge_target(self, case)
            return await self.act(case, "merge", self.intake, data=target)
        steps = PATHS[state]
        for action, who, kw in steps:
            case = await self.reach(case, action, getattr(self, who), **kw)
        if state == S.DRAFT:
            await Case.filter(id=case.id).update(status=S.DRAFT)
            case = await Case.get(id=case.id)
        assert case.status == state
        return case


_ACCEPTED = [("accept", "intake", {})]
_ASSIGNED = [*_ACCEPTED, ("assign", "intake", {"data": {"department": "consumer"}})]
_IN_PROGRESS = [*_ASSIGNED, ("start", "handler", {})]
_REPLIED = [*_IN_PROGRESS, ("reply", "handler", {"note": "经核查,商家已同意退货。"})]
_CLOSED = [*_REPLIED, ("close", "intake", {"data": {"finding": "mediated"}})]
PATHS: dict[Status, list[tuple[str, str, dict[str, Any]]]] = {
    S.DRAFT: [],
    S.SUBMITTED: [],
    S.NEEDS_INFO: [("request_info", "intake", {"note": "请补充购物小票照片。"})],
    S.ACCEPTED: _ACCEPTED,
    S.ASSIGNED: _ASSIGNED,
    S.IN_PROGRESS: _IN_PROGRESS,
    S.REPLIED: _REPLIED,
    S.CLOSED: _CLOSED,
    S.ARCHIVED: [*_CLOSED, ("archive", "intake", {})],
    S.REJECTED: [
        ("reject", "intake", {"note": "超过一年", "data": {"reason_code": "over_one_year"}})
    ],
    S.REFERRED_OUT: [("refer_out", "intake", {"data": {"referred_to": "县人社局 0571-12333"}})],
    S.WITHDRAWN: [("withdraw", "citizen_actor", {})],
}

ACTION_PARTIALS = Path(__file__).resolve().parents[2] / "templates" / "staff" / "actions"

# For each action: who takes it, its arguments, and any preparation on the case.
Prep = Callable[[World, Case], Awaitable[Case]]


async def _no_prep(world: World, case: Case) -> Case:
    return case


async def _pending_extension(world: World, case: Case) -> Case:
    asker = world.handler if case.status == S.IN_PROGRESS else world.intake
    amount = 10 if case.status == S.IN_PROGRESS else 8
    return await world.act(
        case, "request_extension", asker, note="需要抽样检测", data={"amount": amount}
    )


async def _paused(world: World, case: Case) -> Case:
    who = world.handler if case.status == S.IN_PROGRESS else world.intake
    return await world.act(case, "pause_clock", who, note="送检")


async def _untold_rejection_expired(world: World, case: Case) -> Case:
    """A food/drug rejection whose notice deadline ran out untold (only then is a rejected
    case deemed accepted): its stored clock is moved to now instead of waiting 15 days."""
    if case.status == S.REJECTED:
        await CaseClock.filter(case_id=case.id, name="rejection_notice").update(due_at=NOW)
    return case


async def _received_by_unit(world: World, case: Case) -> Case:
    """首诉负责制: the consumer unit received the case and owns it (as it registers it)."""
    await Case.filter(id=case.id).update(department_id=world.handler.department_id)
    return await Case.get(id=case.id)


async def _drafted(world: World, case: Case) -> Case:
    """A decision drafted for the leader: the unit's referral while handling, else intake's
    rejection (before acceptance) or referral (accepted)."""
    if case.status == S.IN_PROGRESS:
        data = {"referred_to": "县卫健局", "referred_contact": "0571-12320"}
        return await world.act(case, "refer_out", world.handler, data=data)
    if case.status == S.ACCEPTED:
        return await world.act(case, "refer_out", world.intake, data={"referred_to": "县卫健局"})
    reason = {"reason_code": "duplicate_open"}
    return await world.act(case, "reject", world.intake, note="重复", data=reason)


async def _closing_on_satisfaction(world: World, case: Case) -> Case:
    """The hospital's rule (001 第二十五条) in this world: complaints close only on the
    patient's satisfaction, so a dissatisfied one can be sent back for handling."""
    catalog = dataclasses.replace(
        world.rules.catalog,
        satisfaction_kinds=frozenset({"complaint"}),
        satisfaction_source="001 篇一 第二十五条",
    )
    world.rules = dataclasses.replace(world.rules, catalog=catalog)
    return case


async def _merge_target(world: World, case: Case) -> dict[str, Any]:
    other = await world.new_case(
        description="另一件完全不同的事情,发生在别的地方。", respondent_name="别的公司"
    )
    return {"into": other.number}


ACTION_SPECS: dict[str, tuple[str, dict[str, Any], Prep]] = {
    "submit": ("citizen_actor", {}, _no_prep),
    "request_info": ("intake", {"note": "请补充小票"}, _no_prep),
    "supplement": ("citizen_actor", {"note": "小票照片已上传"}, _no_prep),
    "accept": ("intake", {}, _no_prep),
    "deem_accepted": ("system", {}, _untold_rejection_expired),
    # A leader's own rejection or referral is the approval itself (000 第十八条).
    "reject": ("leader", {"note": "重复", "data": {"reason_code": "duplicate_open"}}, _no_prep),
    "refer_out": ("leader", {"data": {"referred_to": "县卫健局"}}, _no_prep),
    "approve_draft": ("leader", {}, _drafted),
    "refuse_draft": ("leader", {"note": "理由不充分"}, _drafted),
    "merge": ("intake", {}, _no_prep),
    "answer": ("intake", {"note": "营业执照可在政务服务网办理。"}, _no_prep),
    "assign": ("intake", {"data": {"department": "consumer"}}, _no_prep),
    "return": ("handler", {"note": "不属本科室职责"}, _no_prep),
    "hand_over": ("handler", {"note": "无法当场协调,移交投诉办公室"}, _received_by_unit),
    "start": ("handler", {}, _no_prep),
    "arrive": ("handler", {}, _no_prep),
    "notify_parties": ("intake", {"data": {"means": "letter"}}, _no_prep),
    "rehandle": ("intake", {"note": "患者对答复不满意"}, _closing_on_satisfaction),
    "request_extension": ("handler", {"note": "需要检测", "data": {"amount": 10}}, _no_prep),
    "approve_extension": ("leader", {}, _pending_extension),
    "refuse_extension": ("leader", {"note": "检测可在期限内完成"}, _pending_extension),
    "pause_clock": ("handler", {"note": "送检"}, _no_prep),
    "resume_clock": ("handler", {}, _paused),
    "reply": ("handler", {"note": "已责令商家退货。"}, _no_prep),
    "end_mediation": ("handler", {"note": "可向法院起诉", "data": {"reason": "failed"}}, _no_prep),
    "open_case": ("handler", {}, _no_prep),
    "decline_case": ("leader", {"note": "未发现违法行为"}, _no_prep),  # a unit only drafts
    "close": ("intake", {"data": {"finding": "mediated"}}, _no_prep),
    "reopen": ("leader", {"note": "复核后重办"}, _no_prep),
    "uphold": ("leader", {"note": "经复核,办理结果符合规定,维持办结。"}, _no_prep),
    "archive": ("intake", {}, _no_prep),
    "withdraw": ("citizen_actor", {}, _no_prep),
    "raise_severity": ("leader", {}, _no_prep),
    "notify_rejected": ("system", {}, _no_prep),
    "notify_result": ("system", {}, _no_prep),
    "tell_citizen": ("intake", {"data": {"what": "rejected", "means": "phone"}}, _no_prep),
    "return_visit": ("intake", {"note": "电话回访,满意"}, _no_prep),
}
ALLOWED = sorted((name, src) for name, a in ACTIONS.items() for src in a.sources)
FORBIDDEN = sorted(
    (name, src) for name, a in ACTIONS.items() for src in Status if src not in a.sources
)


def test_every_action_has_a_spec() -> None:
    assert set(ACTION_SPECS) == set(ACTIONS)


@pytest.fixture
async def world(store: Rules) -> World:
    return await World(store).setup()


def _form_for(action: str, state: Status) -> dict[str, Any]:
    if action == "answer":
        return {
            "kind": "consultation",
            "category": "licensing",
            "respondent_name": "",
            "demands": "",
            "description": "请问办理营业执照需要哪些材料?",
        }
    if action == "merge":
        return {}
    if action == "arrive":
        return {"severity": "emergency"}  # 004: on site within 30 minutes of the task
    if action == "notify_parties":
        return {"category": "product_quality"}  # 产品质量申诉: both parties told in 5 days
    if action == "deem_accepted" and state == S.REJECTED:
        return {"category": "food"}  # the policy whose rejection notice deems acceptance
    if action in ("pause_clock", "resume_clock") and state == S.SUBMITTED:
        return {"kind": "report", "category": "product_quality"}  # testing time not counted
    if action in _EXTENSIONS and state in (S.SUBMITTED, S.NEEDS_INFO):
        return {"kind": "report", "category": "price"}  # an acceptance clock that extends
    return {}


_EXTENSIONS = ("request_extension", "approve_extension", "refuse_extension")


def _spec_for(action: str, state: Status) -> tuple[str, dict[str, Any], Prep]:
    """The action's spec; the centre, not a unit, asks for an extension while accepting."""
    who, kw, prep = ACTION_SPECS[action]
    if action == "request_extension" and state in (S.SUBMITTED, S.NEEDS_INFO):
        return "intake", {"note": "需要核查", "data": {"amount": 8}}, prep
    if action in ("pause_clock", "resume_clock") and state == S.SUBMITTED:
        return "intake", kw, prep
    if action == "refer_out" and state == S.IN_PROGRESS:  # a leader: only before handling
        data = {"referred_to": "县卫健局", "referred_contact": "0571-12320"}
        return "handler", {"data": data}, prep
    return who, kw, prep


@pytest.mark.parametrize(("action", "source"), ALLOWED, ids=[f"{a}-{s}" for a, s in ALLOWED])
async def test_allowed_transition(world: World, action: str, source: Status) -> None:
    case = await world.drive_to(source, **_form_for(action, source))
    who, kw, prep = _spec_for(action, source)
    case = await prep(world, case)
    kw = dict(kw)
    if action == "tell_citizen" and source != S.REJECTED:
        kw["data"] = {"what": "result", "means": "phone"}
    if action == "merge":
        kw["data"] = await _merge_target(world, case)
    before = await CaseEvent.filter(case_id=case.id).count()
    updated, event = await perform(world.rules, case.id, action, getattr(world, who), now=NOW, **kw)
    written = 1
    if event.action == DRAFT_EVENT:
        # The unit's referral waits for a leader (000 第十八条): nothing moves until approved.
        assert (updated.status, await Notice.filter(event_id=event.id).count()) == (source, 0)
        case, before = updated, before + 1
        updated, event = await perform(world.rules, case.id, "approve_draft", world.leader, now=NOW)
        written = 2
    if action == "approve_draft":
        written = 2
    taken = event.action  # an approval takes the drafted action; its own entry follows

    target = ACTIONS[taken].target
    assert updated.status == (target if target is not None else source)
    stored = await Case.get(id=case.id)
    assert stored.status == updated.status and stored.version == case.version + 1
    assert await CaseEvent.filter(case_id=case.id).count() == before + written
    assert (event.action, event.from_status, event.to_status) == (taken, source, updated.status)
    notices = await Notice.filter(event_id=event.id).order_by("id").values_list("kind", flat=True)
    expected = [ACTIONS[taken].notice] if ACTIONS[taken].notice else []
    # Closing also schedules the satisfaction survey's invitation.
    assert notices == expected + (["survey"] if action == "close" else [])


@pytest.mark.parametrize(("action", "source"), FORBIDDEN, ids=[f"{a}-{s}" for a, s in FORBIDDEN])
async def test_forbidden_transition(world: World, action: str, source: Status) -> None:
    case = await world.drive_to(source)
    who, kw, _ = ACTION_SPECS[action]
    events = await CaseEvent.filter(case_id=case.id).count()
    with pytest.raises(TransitionNotAllowed) as exc:
        await perform(world.rules, case.id, action, getattr(world, who), now=NOW, **kw)
    assert ACTIONS[action].label in exc.value.message
    stored = await Case.get(id=case.id)
    assert (stored.status, stored.version) == (source, case.version)
    assert await CaseEvent.filter(case_id=case.id).count() == events


@pytest.mark.parametrize("action", sorted(ACTIONS))
async def test_roles_not_listed_are_refused(world: World, action: str) -> None:
    source = sorted(ACTIONS[action].sources)[0]
    case = await world.drive_to(source)
    refused = [
        a
        for a in (world.intake, world.handler, world.leader, world.admin, world.system)
        if a.role not in ACTIONS[action].roles
    ]
    for actor in refused:
        with pytest.raises(PermissionDenied):
            await perform(world.rules, case.id, action, actor, now=NOW)
    assert (await Case.get(id=case.id)).version == case.version


async def test_handler_of_another_unit_is_refused_and_the_right_one_accepted(world: World) -> None:
    case = await world.drive_to(S.ASSIGNED)
    with pytest.raises(PermissionDenied):
        await world.act(case, "start", world.other_handler)
    started = await world.act(case, "start", world.handler)
    assert started.status == S.IN_PROGRESS


async def test_citizen_cannot_touch_someone_elses_case(world: World) -> None:
    case = await world.drive_to(S.SUBMITTED)
    stranger = citizen_actor(await make_citizen())
    from cases.errors import NotFound

    with pytest.raises(NotFound):
        await world.act(case, "withdraw", stranger)
    assert (await world.act(case, "withdraw", world.citizen_actor)).status == S.WITHDRAWN


async def test_allowed_actions_lists_buttons_for_the_actor(world: World) -> None:
    case = await world.drive_to(S.ASSIGNED)
    # The workflow's list; the console drops those the case's policy has no use for (on-site
    # arrival, notifying both parties).
    assert {a.name for a in allowed_actions(case, world.handler)} == {
        "arrive",
        "notify_parties",
        "return",
        "start",
    }
    assert allowed_actions(case, world.other_handler) == []


async def test_concurrent_transitions_only_one_wins(world: World) -> None:
    case = await world.drive_to(S.SUBMITTED)
    results = await asyncio.gather(
        perform(
            world.rules, case.id, "accept", world.intake, now=NOW, expected_version=case.version
        ),
        perform(
            world.rules,
            case.id,
            "reject",
            world.leader,
            now=NOW,
            note="x",
            data={"reason_code": "other"},
            expected_version=case.version,
        ),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1 and len(losses) == 1
    assert isinstance(losses[0], ConcurrentChange)
    stored = await Case.get(id=case.id)
    assert stored.version == case.version + 1
    assert await CaseEvent.filter(case_id=case.id, action__in=["accept", "reject"]).count() == 1


async def test_stale_version_from_a_form_is_refused(world: World) -> None:
    case = await world.drive_to(S.SUBMITTED)
    await world.act(case, "request_info", world.intake, note="补充")
    with pytest.raises(ConcurrentChange):  # reject is allowed in needs_info, but not blind
        await perform_approved(
            world.rules,
            case.id,
            "reject",
            world.intake,
            leader=world.leader,
            now=NOW,
            note="x",
            data={"reason_code": "other"},
            expected_version=case.version,
        )


async def test_reject_needs_a_known_reason_and_tells_the_citizen(world: World) -> None:
    case = await world.drive_to(S.SUBMITTED)
    with pytest.raises(ValidationError) as exc:
        await world.act(case, "reject", world.intake, note="x", data={"reason_code": "nope"})
    assert exc.value.field == "reason_code"
    _, event = await perform_approved(
        world.rules,
        case.id,
        "reject",
        world.intake,
        leader=world.leader,
        now=NOW,
        note="已过一年",
        data={"reason_code": "over_one_year"},
    )
    assert event.data["reason_text"] == world.rules.catalog.reasons["over_one_year"].text
    notice = await Notice.get(event_id=event.id)
    assert notice.kind == "rejected" and notice.payload["number"] == case.number
    clock = await CaseClock.get(case_id=case.id, name="rejection_notice", stopped_at__isnull=True)
    assert clock.label == "不予受理告知"


async def test_extension_needs_approval_and_respects_the_cap(world: World) -> None:
    case = await world.drive_to(S.IN_PROGRESS)
    handling = await CaseClock.get(case_id=case.id, name="handling", stopped_at__isnull=True)
    with pytest.raises(TransitionNotAllowed):
        await world.act(case, "approve_extension", world.leader)
    with pytest.raises(TransitionNotAllowed):  # the complaint policy caps extensions at 30 days
        await world.act(case, "request_extension", world.handler, note="x", data={"amount": 31})
    await world.act(case, "request_extension", world.handler, note="需要检测", data={"amount": 30})
    _, event = await perform(world.rules, case.id, "approve_extension", world.leader, now=NOW)
    extended = await CaseClock.get(id=handling.id)
    assert extended.due_at > handling.due_at and extended.extensions_used == 1
    assert event.data["reason"] == "需要检测"
    assert (await Notice.get(event_id=event.id)).kind == "extended"
    with pytest.raises(TransitionNotAllowed):  # one extension only
        await world.act(case, "request_extension", world.handler, note="再延", data={"amount": 1})


async def test_pause_and_resume_move_the_handling_deadline(world: World) -> None:
    case = await world.drive_to(S.IN_PROGRESS)
    clock = await CaseClock.get(case_id=case.id, name="handling", stopped_at__isnull=True)
    paused, _ = await perform(
        world.rules, case.id, "pause_clock", world.handler, note="送检", now=NOW
    )
    assert paused.next_due_at != clock.due_at  # the paused clock no longer drives the worklist
    resumed, _ = await perform(
        world.rules, case.id, "resume_clock", world.handler, now=NOW + timedelta(days=3)
    )
    after = await CaseClock.get(id=clock.id)
    assert after.paused_at is None and len(after.pauses) == 1
    assert after.due_at > clock.due_at


async def test_return_is_refused_after_the_return_window(world: World) -> None:
    case = await world.drive_to(S.ASSIGNED)
    window = await CaseClock.get(case_id=case.id, name="return_window", stopped_at__isnull=True)
    late = window.due_at + timedelta(minutes=1)
    with pytest.raises(TransitionNotAllowed, match="退回期限"):
        await perform(world.rules, case.id, "return", world.handler, note="非本科室", now=late)
    returned, _ = await perform(
        world.rules,
        case.id,
        "return",
        world.handler,
        note="非本科室",
        now=window.due_at - timedelta(minutes=1),
    )
    assert returned.status == S.SUBMITTED and returned.department_id is None


async def test_answer_at_intake_only_for_consultations(world: World) -> None:
    complaint = await world.drive_to(S.SUBMITTED)
    with pytest.raises(TransitionNotAllowed):
        await world.act(complaint, "answer", world.intake, note="答复")
    consultation = await world.drive_to(S.SUBMITTED, **_form_for("answer", S.SUBMITTED))
    answered = await world.act(consultation, "answer", world.intake, note="可网上办理")
    assert answered.status == S.CLOSED


async def test_events_are_append_only(world: World) -> None:
    case = await world.drive_to(S.SUBMITTED)
    event = await CaseEvent.filter(case_id=case.id).first()
    assert event is not None
    event.note = "changed"
    with pytest.raises(PermissionError):
        await event.save()
    with pytest.raises(PermissionError):
        await event.delete()


def _last_day(due_at: datetime) -> str:
    """The clock's last day as staff read it (Asia/Shanghai), from its stored due time."""
    last = (due_at - timedelta(microseconds=1)).astimezone(ZoneInfo("Asia/Shanghai"))
    return f"{last.month}月{last.day}日"


async def test_extension_is_refused_once_the_deadline_has_passed(world: World) -> None:
    # 「在60日期限届满前经批准可适当延长办理期限」 (seed 000, 食品药品投诉举报管理办法 第二十条)
    case = await world.drive_to(S.IN_PROGRESS)
    handling = await CaseClock.get(case_id=case.id, name="handling", stopped_at__isnull=True)
    late = handling.due_at + timedelta(minutes=1)
    events = await CaseEvent.filter(case_id=case.id).count()
    with pytest.raises(TransitionNotAllowed) as exc:
        await perform(
            world.rules,
            case.id,
            "request_extension",
            world.handler,
            note="需要检测",
            data={"amount": 10},
            now=late,
        )
    assert exc.value.message == (
        f"“{handling.label}”期限已于{_last_day(handling.due_at)}届满,不能再申请延期。"
    )
    assert await CaseEvent.filter(case_id=case.id).count() == events

    # Requested in time, approved too late: refused, and the clock keeps its due time.
    in_time = handling.due_at - timedelta(minutes=1)
    await perform(
        world.rules,
        case.id,
        "request_extension",
        world.handler,
        note="需要检测",
        data={"amount": 10},
        now=in_time,
    )
    with pytest.raises(TransitionNotAllowed) as exc:
        await perform(world.rules, case.id, "approve_extension", world.leader, now=late)
    assert exc.value.message == (
        f"“{handling.label}”期限已于{_last_day(handling.due_at)}届满,不能再批准延期。"
    )
    assert (await CaseClock.get(id=handling.id)).due_at == handling.due_at
    _, event = await perform(world.rules, case.id, "approve_extension", world.leader, now=in_time)
    assert (await CaseClock.get(id=handling.id)).due_at > handling.due_at
    assert event.data["amount"] == 10


async def test_staff_record_telling_the_citizen_of_a_rejection_and_the_clock_stops(
    world: World,
) -> None:
    # Seed 000 (食品药品投诉举报管理办法 第十五条): 「15日内以适当方式……告知投诉举报人」;
    # a phone call, letter, SMS or visit is such a way, recorded with its means.
    case = await world.drive_to(S.REJECTED)
    clock = await CaseClock.get(case_id=case.id, name="rejection_notice", stopped_at__isnull=True)
    later = NOW + timedelta(days=2)
    with pytest.raises(ValidationError) as exc:
        await perform(
            world.rules,
            case.id,
            "tell_citizen",
            world.intake,
            data={"what": "rejected", "means": "pigeon"},
        )
    assert exc.value.field == "means"
    assert (await CaseClock.get(id=clock.id)).stopped_at is None
    told, event = await perform(
        world.rules,
        case.id,
        "tell_citizen",
        world.intake,
        note="电话告知本人,已解释理由",
        data={"what": "rejected", "means": "phone"},
        now=later,
    )
    assert told.status == S.REJECTED
    assert event.data == {
        "what": "rejected",
        "what_name": "不予受理决定",
        "means": "phone",
        "means_name": "电话",
    }
    assert (await CaseClock.get(id=clock.id)).stopped_at == later
    assert (await Case.get(id=case.id)).next_due_at is None
    with pytest.raises(TransitionNotAllowed):  # told once: nothing left to record
        await perform(
            world.rules,
            case.id,
            "tell_citizen",
            world.intake,
            data={"what": "rejected", "means": "sms"},
            now=later,
        )


async def test_no_rejection_notice_clock_without_any_contact_and_the_timeline_says_why(
    world: World,
) -> None:
    # 「投诉举报人联系方式不详的除外」 (seed 000, 第十五条)
    anonymous = await register_case(
        world.rules,
        world.intake,
        {
            "channel": "letter",
            "kind": "report",
            "category": "price",
            "anonymous": True,
            "respondent_name": "城东便民超市",
            "description": "该超市长期对同一商品标示两种价格,结账时按高价收取。",
        },
        now=NOW,
    )
    _, event = await perform_approved(
        world.rules,
        anonymous.id,
        "reject",
        world.intake,
        leader=world.leader,
        note="无明确违法行为",
        data={"reason_code": "no_clear_respondent"},
        now=NOW,
    )
    assert not await CaseClock.filter(case_id=anonymous.id, name="rejection_notice").exists()
    assert event.data["no_contact"] == "投诉举报人联系方式不详,依法无需告知不予受理决定"
    assert (await Case.get(id=anonymous.id)).next_due_at is None
    # The same letter with a phone number: the clock runs.
    known = await register_case(
        world.rules,
        world.intake,
        {
            "channel": "letter",
            "kind": "report",
            "category": "price",
            "contact_phone": "13800000000",
            "respondent_name": "城东便民超市",
            "description": "该超市长期对同一商品标示两种价格,结账时按高价收取。",
        },
        now=NOW,
    )
    _, event = await perform_approved(
        world.rules,
        known.id,
        "reject",
        world.intake,
        leader=world.leader,
        note="无明确违法行为",
        data={"reason_code": "no_clear_respondent"},
        now=NOW,
    )
    assert await CaseClock.filter(case_id=known.id, name="rejection_notice").exists()
    assert "no_contact" not in event.data


async def test_report_acceptance_clock_extends_to_fifteen_working_days(world: World) -> None:
    # Seed 000, 行政处罚程序规定 第十七条: 「七个工作日内予以核查,并决定是否立案」;
    # 「特殊情况下,可以延长至十五个工作日内决定是否立案」: the centre asks, a leader approves.
    from cases.workflow.deadlines import compute_due

    case = await world.new_case(kind="report", category="price")
    clock = await CaseClock.get(case_id=case.id, name="acceptance", stopped_at__isnull=True)
    with pytest.raises(TransitionNotAllowed):  # 7 + 9 would pass the seed's 15
        await world.act(
            case, "request_extension", world.intake, note="需要现场核查", data={"amount": 9}
        )
    await world.act(
        case, "request_extension", world.intake, note="需要现场核查", data={"amount": 8}
    )
    _, event = await perform(world.rules, case.id, "approve_extension", world.leader, now=NOW)
    extended = await CaseClock.get(id=clock.id)
    fifteen = compute_due(
        clock.started_at, 15, "working_days", world.rules.calendar, [], clock.rollover_holidays
    )
    assert extended.extended_by == 8 and extended.due_at == fifteen.astimezone(UTC)
    assert event.data["clock"] == "acceptance" and event.data["reason"] == "需要现场核查"
    notice = await Notice.get(event_id=event.id)
    assert notice.kind == "extended"
    assert datetime.fromisoformat(notice.payload["due_at"]) == extended.due_at
    with pytest.raises(TransitionNotAllowed):  # once only
        await world.act(case, "request_extension", world.intake, note="再延", data={"amount": 1})


async def test_acceptance_extension_is_refused_after_its_deadline(world: World) -> None:
    case = await world.new_case(kind="report", category="price")
    clock = await CaseClock.get(case_id=case.id, name="acceptance", stopped_at__isnull=True)
    late = clock.due_at + timedelta(minutes=1)
    with pytest.raises(TransitionNotAllowed) as exc:
        await perform(
            world.rules,
            case.id,
            "request_extension",
            world.intake,
            note="需要核查",
            data={"amount": 3},
            now=late,
        )
    assert exc.value.message == (
        f"“{clock.label}”期限已于{_last_day(clock.due_at)}届满,不能再申请延期。"
    )
    # A complaint's acceptance clock has no extension in the profile: refused, not stretched.
    complaint = await world.new_case()
    with pytest.raises(TransitionNotAllowed, match="不允许延长"):
        await world.act(complaint, "request_extension", world.intake, note="x", data={"amount": 1})
    # The handling unit asks only while handling; the centre only while accepting.
    handled = await world.drive_to(S.IN_PROGRESS)
    with pytest.raises(TransitionNotAllowed):
        await world.act(handled, "request_extension", world.intake, note="x", data={"amount": 1})


async def test_the_handling_unit_refers_a_case_out_and_the_citizen_is_told_whom_to_contact(
    world: World,
) -> None:
    # Seed 000 第十八条: 「由承办机构负责回复投诉举报人、移送至其他机关」.
    case = await world.drive_to(S.IN_PROGRESS)
    agency = {"referred_to": "县人力资源和社会保障局劳动监察大队"}
    with pytest.raises(ValidationError) as exc:  # the citizen must learn how to reach it
        await world.act(case, "refer_out", world.handler, data=agency)
    assert exc.value.field == "referred_contact"
    with pytest.raises(PermissionDenied):  # another unit's case
        await world.act(
            case, "refer_out", world.other_handler, data={**agency, "referred_contact": "12333"}
        )
    with pytest.raises(TransitionNotAllowed):  # the centre refers out before handling only
        await world.act(case, "refer_out", world.intake, data=agency)
    _, event = await perform_approved(
        world.rules,
        case.id,
        "refer_out",
        world.handler,
        leader=world.leader,
        note="涉及劳动报酬,属劳动监察职责",
        data={**agency, "referred_contact": "电话 0571-12333"},
        now=NOW,
    )
    stored = await Case.get(id=case.id)
    assert stored.status == S.REFERRED_OUT
    assert stored.referred_to == "县人力资源和社会保障局劳动监察大队(联系方式:电话 0571-12333)"
    assert not await CaseClock.filter(case_id=case.id, stopped_at__isnull=True).exists()
    notice = await Notice.get(event_id=event.id)
    assert notice.kind == "referred"


async def test_testing_pauses_a_quality_report_acceptance_clock(world: World) -> None:
    # Seed 000, 质量技术监督行政处罚程序规定 第十二条: 「15日内组织核查,并决定是否立案。检验、
    # 检测、检定、鉴定等所需时间,不计入前款规定期限」.
    case = await world.new_case(kind="report", category="product_quality")
    clock = await CaseClock.get(case_id=case.id, name="acceptance", stopped_at__isnull=True)
    assert (clock.amount, clock.unit) == (15, "natural_days")
    paused, _ = await perform(
        world.rules, case.id, "pause_clock", world.intake, note="样品送检", now=NOW
    )
    assert (await CaseClock.get(id=clock.id)).paused_at is not None
    assert paused.next_due_at != clock.due_at
    await perform(world.rules, case.id, "resume_clock", world.intake, now=NOW + timedelta(days=4))
    after = await CaseClock.get(id=clock.id)
    assert after.paused_at is None and len(after.pauses) == 1
    from cases.workflow.deadlines import compute_due

    expected = compute_due(
        clock.started_at,
        15,
        "natural_days",
        world.rules.calendar,
        [(NOW, NOW + timedelta(days=4))],
        clock.rollover_holidays,
    )
    assert after.due_at == expected.astimezone(UTC) and after.due_at > clock.due_at
    # A consumer complaint's acceptance clock counts testing time: nothing to pause.
    complaint = await world.new_case()
    with pytest.raises(TransitionNotAllowed, match="没有可以暂停"):
        await world.act(complaint, "pause_clock", world.intake, note="送检")


@pytest.mark.parametrize("state", sorted(PATHS, key=lambda s: s.value))
async def test_what_the_console_does_not_offer_cannot_be_taken(world: World, state: Status) -> None:
    # Issue 16: one check per action serves both the console's buttons and `perform`; an
    # action the role and state allow but its check hides is refused, and nothing is written.
    case = await world.drive_to(state)
    hidden_seen = 0
    for who in ("intake", "handler", "leader", "admin", "system"):
        actor = getattr(world, who)
        offered = {f.name for f in await action_forms(world.rules, case, actor, NOW)}
        for action in allowed_actions(case, actor):
            if action.name in offered:
                continue
            assert action.check is not None, (state, who, action.name)
            hidden_seen += 1
            version = (await Case.get(id=case.id)).version
            events = await CaseEvent.filter(case_id=case.id).count()
            with pytest.raises(TransitionNotAllowed):
                await perform(world.rules, case.id, action.name, actor, note="说明", now=NOW)
            assert (await Case.get(id=case.id)).version == version
            assert await CaseEvent.filter(case_id=case.id).count() == events
    # Where the check is known to hide something (return window, extension, resume …).
    if state in (S.SUBMITTED, S.IN_PROGRESS):
        assert hidden_seen > 0


def test_every_action_input_has_its_console_partial() -> None:
    # The declaration's `fields` and the form the console shows for it agree, both ways.
    def text_of(path: Path) -> str:  # with the shared pieces it includes
        text = path.read_text(encoding="utf-8")
        return re.sub(
            r'\{% include "([^"]+)" %\}',
            lambda m: text_of(ACTION_PARTIALS.parent / m.group(1)),
            text,
        )

    partials = {p.stem: text_of(p) for p in ACTION_PARTIALS.glob("*.html")}
    assert set(partials) <= set(ACTIONS), set(partials) - set(ACTIONS)
    for name, action in ACTIONS.items():
        for field in action.fields:
            assert name in partials, f"{name} reads {field} but has no partial"
            assert f'name="{field}"' in partials[name], (name, field)
    for name, text in partials.items():
        named = set(re.findall(r'name="([a-z_]+)"', text))
        survey = {"overall"} if ACTIONS[name].reads_survey else set()
        assert named <= {*ACTIONS[name].fields, *survey, "facts", "handling", "basis"}, name


def test_each_audience_reads_its_own_label() -> None:
    assert (event_label("file"), event_label("file", citizen=True)) == ("登记", "提交")
    assert event_label("approve_extension") == "批准延期"
    assert event_label("approve_extension", citizen=True) == "延长办理期限"
    assert event_label("accept", citizen=True) == event_label("accept") == "受理"
    # Internal entries have a staff label only; unknown ones say so rather than show a code.
    assert event_label("view_identity", citizen=True) == "查看举报人身份"
    assert event_label("no_such_entry") == "其他记录"


async def test_the_citizen_timeline_names_each_step_in_the_citizen_s_words(world: World) -> None:
    # What the citizen's timeline shows is read from the case's own events: the citizen's
    # label for each public one, the note meant for them, nothing internal.
    case = await world.new_case()
    await world.act(case, "request_info", world.intake, note="请补充购物小票照片。")
    await world.act(case, "supplement", world.citizen_actor, note="小票已上传")
    case = await world.act(case, "accept", world.intake)
    case = await world.act(case, "assign", world.intake, data={"department": "consumer"})
    case = await world.act(case, "start", world.handler)
    await world.act(
        case, "request_extension", world.handler, note="内部:等检测报告", data={"amount": 5}
    )
    await world.act(case, "approve_extension", world.leader)
    shown = [(e.action, e.label, e.note) for e in await public_timeline(world.rules, case)]
    events = await CaseEvent.filter(case_id=case.id, public=True).order_by("at", "id")
    assert [a for a, _, _ in shown] == [e.action for e in events]
    assert ("request_info", "请您补充材料", "请补充购物小票照片。") in shown
    assert ("approve_extension", "延长办理期限", "") in shown
    assert shown[0][:2] == ("file", "提交")
    assert "request_extension" not in {a for a, _, _ in shown}
    assert all("内部" not in note for _, _, note in shown)
    # Staff read their own words for the same events.
    assert event_label("request_info") == "要求补充材料"
