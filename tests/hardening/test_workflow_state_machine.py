"""F3: the workflow as a state machine — random actions by random actors on real cases.

hypothesis drives `perform` on the real store with every action, every staff role, the system,
the case's own citizen and a stranger, valid and invalid arguments, and a clock that moves on by
minutes to weeks. After every step the touched case is compared with what the step promised, and
every case of the run is checked against the invariants (`_check_case`).

The machine is synchronous (hypothesis stateful has no async rules): it runs the store's
coroutines on one `asyncio.Runner`, whose context keeps tortoise's connection across calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as run_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from cases.auth.accounts import sync_departments
from cases.errors import CaseError
from cases.intake.filing import file_case
from cases.rules import Rules
from cases.store import db
from cases.store.models import (
    Case,
    CaseClock,
    CaseEvent,
    Citizen,
    Department,
    Notice,
    Status,
    Survey,
)
from cases.workflow.actions import ACTIONS
from cases.workflow.clocks import policy_of
from cases.workflow.engine import perform as perform_action
from cases.workflow.history import DRAFT_EVENT
from cases.workflow.states import OPEN_STATES
from cases.workflow.timeline import Actor
from config.settings import Settings
from tests.factories import citizen_actor, complaint_form, make_citizen, make_staff

T = TypeVar("T")
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai

# The kinds of case a run files: every deadline policy of the profile is among them (checked
# by test_the_forms_cover_every_policy), and a case a unit received itself (首诉负责制).
FORMS: list[dict[str, Any]] = [
    {},  # complaint, consumer: the default policy
    {"category": "food"},  # food_drug: acceptance clock with deemed acceptance
    {"category": "food", "severity": "important"},  # food_drug_important: handed on in 2 days
    {"category": "product_quality"},  # quality_complaint: both parties told in 5 days
    {"kind": "report", "category": "price", "anonymous": True, "contact_phone": ""},
    {"kind": "report", "category": "product_quality"},  # acceptance pauses for testing
    {"kind": "consultation", "category": "licensing", "respondent_name": ""},
    {"kind": "suggestion", "category": "other", "respondent_name": ""},
    {"severity": "emergency"},  # only staff may set it; the unit must arrive within 30 min
    # Registered by the unit that received it, which may hand it over (hand_over).
    {"received_by": "consumer"},
]
ACTORS = ["intake", "handler", "other_handler", "leader", "admin", "system", "owner", "stranger"]
NOTES = ["", "   ", "经核查,情况属实。"]
# Per action, arguments that pass and ones that must be refused; "{other}" is another case.
DATA: dict[str, list[dict[str, Any]]] = {
    "reject": [{"reason_code": "over_one_year"}, {"reason_code": "nope"}, {}],
    "refer_out": [
        {"referred_to": "县卫健局", "referred_contact": "0571-12320"},
        {"referred_to": "  "},
        {"referred_to": "县卫健局"},  # no contact: refused while in progress
    ],
    "merge": [{"into": "{other}"}, {"into": "nope"}],
    "assign": [{"department": "consumer"}, {"department": "food"}, {"department": "centre"}],
    "request_extension": [
        {"amount": 1},
        {"amount": 10, "clock": "acceptance"},
        {"amount": 0},
        {"amount": "十"},
        {"amount": 1000},
    ],
    "close": [
        {"finding": "mediated"},
        {"finding": "substantiated", "named_staff": "王某"},
        {},
        {"finding": "bogus"},
        {"finding": "mediated", "named_staff": "名" * 51},
    ],
    "raise_severity": [{}, {"severity": "important"}, {"severity": "general"}],
    "end_mediation": [{"reason": "failed"}, {"reason": "settled"}, {"reason": "nope"}, {}],
    "tell_citizen": [
        {"what": "rejected", "means": "phone"},
        {"what": "result", "means": "sms"},
        {"what": "result", "means": "pigeon"},
        {"means": "phone"},
    ],
    "return_visit": [{}, {"overall": "satisfied"}, {"overall": "basic", "result": "dissatisfied"}],
    "notify_parties": [{"means": "letter"}, {"means": "pigeon"}, {}],
}
# Moves that keep a case in the lifecycle (withdrawing or referring ends it early), so most
# runs reach handling, extensions, pauses, replies, closure and reopening.
FORWARD: dict[Status, list[str]] = {
    # deem_accepted is the food policy's expiry action: elsewhere it starts no handling clock.
    Status.SUBMITTED: [
        "accept",
        "accept",
        "request_info",
        "answer",
        "hand_over",
        "notify_parties",
        "request_extension",
        "approve_extension",
        "pause_clock",
        "resume_clock",
        "approve_draft",
    ],
    # Drafts for a leader (the profile's [approvals]) keep the case open until approved.
    Status.NEEDS_INFO: ["supplement", "reject", "approve_draft", "refuse_draft"],
    Status.ACCEPTED: ["assign", "notify_parties"],
    Status.ASSIGNED: ["start", "return", "arrive"],
    Status.IN_PROGRESS: [
        "reply",
        "arrive",
        "notify_parties",
        "request_extension",
        "approve_extension",
        "pause_clock",
        "resume_clock",
        "raise_severity",
        "end_mediation",
        "open_case",
        "decline_case",
        "refer_out",
        "approve_draft",
        "refuse_draft",
    ],
    # rehandle: refused by this profile (it closes without asking satisfaction).
    Status.REPLIED: ["close", "tell_citizen", "notify_result", "rehandle"],
    Status.CLOSED: ["reopen", "return_visit", "uphold", "archive", "tell_citizen"],
    Status.REJECTED: ["notify_rejected", "tell_citizen", "archive"],
}
# One move: which action (of those the state allows), which actor, valid or not (0).
MOVE = st.tuples(st.integers(0, 11), st.integers(0, 7), st.integers(0, 4))
UNIT_HANDLERS = {"consumer": "handler", "food": "other_handler"}
STEPS = [timedelta(0), timedelta(minutes=7), timedelta(hours=5), timedelta(days=3)]
STEPS += [timedelta(days=20)]
# Events a successful action may write besides its own (a return visit's verdict is a rating).
EXTRA_EVENTS = {"return_visit": {"rate"}}


class Harness:
    """The store, its actors and the runner every coroutine of one test runs on."""

    def __init__(self, runner: asyncio.Runner, rules: Rules) -> None:
        self.runner = runner
        self.rules = rules
        self.actors: dict[str, Actor] = {}
        self.citizens: list[Citizen] = []

    def run(self, step: Awaitable[T]) -> T:
        # tortoise's querysets are awaitables, not coroutines: Runner.run wants the latter.
        async def wrapped() -> T:
            return await step

        return self.runner.run(wrapped())

    async def setup(self) -> None:
        self.actors = {
            "intake": await make_staff("intake", "centre"),
            "handler": await make_staff("handler", "consumer"),
            "other_handler": await make_staff("handler", "food"),
            "leader": await make_staff("leader", "leaders"),
            "admin": await make_staff("admin"),
            "system": Actor.system(),
        }
        self.citizens = [await make_citizen(), await make_citizen()]


async def _snapshot(case_id: int) -> dict[str, Any]:
    """Everything an action may write about one case."""
    case = await Case.get(id=case_id)
    row = {f: getattr(case, f) for f in case._meta.db_fields}
    clocks = await CaseClock.filter(case_id=case_id).order_by("id").values()
    notices = await Notice.filter(case_id=case_id).order_by("id").values()
    surveys = await Survey.filter(case_id=case_id).order_by("id").values()
    events = await CaseEvent.filter(case_id=case_id).order_by("id")
    return {"case": row, "clocks": clocks, "notices": notices, "surveys": surveys, "events": events}


async def _check_case(rules: Rules, case_id: int, events_seen: int) -> int:
    """The invariants of one case; returns its event count (which may only grow)."""
    case = await Case.get(id=case_id)
    assert case.status in set(Status), case.status
    events = await CaseEvent.filter(case_id=case_id).order_by("id")
    assert len(events) >= events_seen, "an event was lost"
    # The timeline is append-only, in time order, and its status changes chain up to the
    # case's status: no transition happened without its event.
    assert all(a.at <= b.at for a, b in zip(events, events[1:], strict=False))
    status, entered_by = "", ""
    for event in events:
        if event.to_status and event.to_status != event.from_status:
            assert event.from_status == status, (event.action, event.from_status, status)
            status, entered_by = event.to_status, event.action
    assert status == case.status, (status, case.status)
    if case.status == Status.CLOSED:
        assert case.closed_at is not None
    running = await CaseClock.filter(case_id=case_id, stopped_at__isnull=True)
    if case.status not in OPEN_STATES:
        # A finished case keeps only the clocks its finishing action started (the rejection
        # notice, the return visit); anything else would raise overdue alarms on it.
        # Telling the result outlives closure; archiving ends it too.
        starters = {
            r.name
            for r in policy_of(rules, case).clocks
            if entered_by in r.starts_on or (r.runs_past_closure and case.status != Status.ARCHIVED)
        }
        leftover = [c.name for c in running if c.name not in starters]
        assert not leftover, (case.status, entered_by, leftover)
    due = min((c.due_at for c in running if c.paused_at is None), default=None)
    assert case.next_due_at == due, (case.next_due_at, due)
    return len(events)


async def _received_by(case_id: int, unit: str) -> None:
    department = await Department.get(code=unit)
    await Case.filter(id=case_id).update(department_id=department.id)


async def _unit_code(department_id: int | None) -> str:
    if department_id is None:
        return ""
    return (await Department.get(id=department_id)).code


class WorkflowMachine(RuleBasedStateMachine):
    harness: Harness  # set by the test before the run
    # Every action some run took successfully (the test checks the newer ones are among them).
    taken: set[str] = set()

    cases = Bundle("cases")

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.owner: dict[int, Citizen] = {}
        self.numbers: dict[int, str] = {}
        self.events_seen: dict[int, int] = {}

    def _run(self, step: Awaitable[T]) -> T:
        return self.harness.run(step)

    @rule(target=cases, form=st.sampled_from(FORMS), who=st.integers(0, 1))
    def file(self, form: dict[str, Any], who: int) -> int:
        h = self.harness
        citizen = h.citizens[who]
        form = dict(form)
        unit = form.pop("received_by", "")
        # Staff file on the citizen's behalf when the form sets what only staff may.
        actor = h.actors["intake"] if "severity" in form else citizen_actor(citizen)
        case = self._run(
            file_case(
                h.rules,
                complaint_form(**form),
                actor,
                channel="official_account",
                citizen=citizen,
                now=self.now,
            )
        )
        if unit:  # as when the receiving unit registers it (首诉负责制)
            self._run(_received_by(case.id, unit))
        self.owner[case.id] = citizen
        self.numbers[case.id] = case.number
        self.events_seen[case.id] = 1
        return case.id

    @rule(step=st.sampled_from(STEPS))
    def time_passes(self, step: timedelta) -> None:
        self.now += step

    @rule(
        case_id=cases,
        other=cases,
        name=st.sampled_from(sorted(ACTIONS)),
        who=st.sampled_from(ACTORS),
        note=st.sampled_from(NOTES),
        pick=st.integers(0, 4),
    )
    def act(self, case_id: int, other: int, name: str, who: str, note: str, pick: int) -> None:
        choices = DATA.get(name, [{}])
        if name == "close" and pick == 0:
            # A valid finding is one the profile offers for the case's kind (none: no finding).
            kind = self._run(Case.get(id=case_id)).kind
            offered = [f.code for f in self.harness.rules.catalog.findings_for(kind)]
            choices = [{"finding": offered[-1]} if offered else {}]
        if name == "tell_citizen" and pick == 0:
            # What there is to tell depends on the state: a rejection, or the result.
            status = self._run(Case.get(id=case_id)).status
            what = "rejected" if status == Status.REJECTED else "result"
            choices = [{"what": what, "means": "phone"}]
        data = {
            k: self.numbers[other] if v == "{other}" else v
            for k, v in choices[pick % len(choices)].items()
        }
        actor = self._actor(case_id, who)
        before = self._run(_snapshot(case_id))
        try:
            case, event = self._run(
                perform_action(
                    self.harness.rules, case_id, name, actor, note=note, data=data, now=self.now
                )
            )
        except CaseError:
            # A refusal writes nothing at all.
            assert self._run(_snapshot(case_id)) == before, name
            return
        after = self._run(_snapshot(case_id))
        old, new = before["case"], after["case"]
        assert new["version"] == old["version"] + 1
        added = after["events"][len(before["events"]) :]
        if event.action == DRAFT_EVENT:
            # Drafted for a leader: one internal entry, and nothing else moves (issue 13).
            assert [e.action for e in added] == [DRAFT_EVENT] and not event.public
            assert event.data["action"] == name and new["status"] == old["status"]
            unchanged = ("clocks", "notices", "surveys")
            assert all(after[k] == before[k] for k in unchanged), name
            return
        extra = EXTRA_EVENTS.get(name, set())
        if name == "approve_draft":
            name, extra = event.action, {"approve_draft"} | EXTRA_EVENTS.get(event.action, set())
        action = ACTIONS[name]
        assert new["status"] == (action.target or old["status"])
        assert case.status == new["status"] and case.version == new["version"]
        assert after["events"][: len(before["events"])] == before["events"]
        assert [e.action for e in added if e.action == name] == [name], [e.action for e in added]
        assert {e.action for e in added} - {name} <= extra
        assert (event.from_status, event.to_status) == (old["status"], new["status"])
        assert event.id == added[0].id and event.at == self.now
        WorkflowMachine.taken.add(name)

    @rule(case_id=cases, other=cases, moves=st.lists(MOVE, min_size=1, max_size=6))
    def advance(self, case_id: int, other: int, moves: list[tuple[int, int, int]]) -> None:
        """A few mostly-valid moves in a row (an action the state allows, by a role that may
        take it), so runs go deep into the lifecycle instead of being refused at the door."""
        for action_pick, actor_pick, mode in moves:
            valid = mode != 0  # one move in five with any allowed action, note and arguments
            case = self._run(Case.get(id=case_id))
            names = sorted(n for n, a in ACTIONS.items() if case.status in a.sources)
            if valid:
                names = FORWARD.get(case.status, names)
            if not names:
                return  # archived: nothing more to do
            name = names[action_pick % len(names)]
            roles = ACTIONS[name].roles
            whos = [w for w in ACTORS if w != "stranger" and self._actor(case_id, w).role in roles]
            # The handler of the case's own unit when it has one, so unit-scoped actions pass.
            unit = self._run(_unit_code(case.department_id))
            if unit in UNIT_HANDLERS:
                whos = [UNIT_HANDLERS[unit] if w in UNIT_HANDLERS.values() else w for w in whos]
            who = whos[actor_pick % len(whos)]
            note = NOTES[-1] if valid else NOTES[action_pick % len(NOTES)]
            self.act(case_id, other, name, who, note, 0 if valid else action_pick)

    @rule(case_id=cases, approve=st.booleans())
    def draft_and_decide(self, case_id: int, approve: bool) -> None:
        """A decision drafted by the centre or the unit, then approved or sent back by a
        leader (issue 13): each step is checked like any other action."""
        case = self._run(Case.get(id=case_id))
        unit = self._run(_unit_code(case.department_id))
        if case.status in (Status.SUBMITTED, Status.NEEDS_INFO):
            name, who = "reject", "intake"
        elif case.status == Status.IN_PROGRESS and unit in UNIT_HANDLERS:
            name, who = "refer_out", UNIT_HANDLERS[unit]
        else:
            return
        self.act(case_id, case_id, name, who, NOTES[-1], 0)
        decision = "approve_draft" if approve else "refuse_draft"
        self.act(case_id, case_id, decision, "leader", NOTES[-1], 0)

    @rule(case_id=cases)
    def unit_duty(self, case_id: int) -> None:
        """The steps of issue 13's rule sets that only some cases allow: the receiving unit's
        hand-over (首诉负责制), the emergency unit's arrival, notifying both parties of a
        product-quality appeal. Each is checked like any other action (or refused)."""
        case = self._run(Case.get(id=case_id))
        unit = self._run(_unit_code(case.department_id))
        handler = UNIT_HANDLERS.get(unit, "handler")
        if case.status == Status.SUBMITTED and unit:
            self.act(case_id, case_id, "hand_over", handler, NOTES[-1], 0)
        elif case.status in (Status.ASSIGNED, Status.IN_PROGRESS):
            self.act(case_id, case_id, "arrive", handler, NOTES[-1], 0)
        else:
            self.act(case_id, case_id, "notify_parties", "intake", NOTES[-1], 0)

    def _actor(self, case_id: int, who: str) -> Actor:
        h = self.harness
        if who == "owner":
            return citizen_actor(self.owner[case_id])
        if who == "stranger":
            owner = self.owner[case_id]
            return citizen_actor(next(c for c in h.citizens if c.id != owner.id))
        return h.actors[who]

    @invariant()
    def every_case_holds(self) -> None:
        for case_id in self.owner:
            self.events_seen[case_id] = self._run(
                _check_case(self.harness.rules, case_id, self.events_seen[case_id])
            )


@pytest.fixture
def harness(settings: Settings, rules: Rules) -> Iterator[Harness]:
    with asyncio.Runner() as runner:
        h = Harness(runner, rules)
        runner.run(db.open_store(settings.database_url))
        try:
            runner.run(sync_departments(rules.catalog))
            runner.run(h.setup())
            yield h
        finally:
            runner.run(db.close_store())


def test_the_forms_cover_every_policy(rules: Rules) -> None:
    catalog = rules.catalog
    filed = {
        catalog.policy_for(
            form.get("kind", "complaint"),
            form.get("category", "consumer"),
            form.get("severity", catalog.default_severity),
        ).name
        for form in FORMS
    }
    assert filed == {p.name for p in catalog.policies}
    assert any("received_by" in form for form in FORMS)  # hand_over needs one


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_sequence_of_actions_breaks_the_workflow(harness: Harness) -> None:
    """F3: random actions by random actors never reach an invalid state or lose an event."""
    WorkflowMachine.harness = harness
    WorkflowMachine.taken = set()
    run_state_machine_as_test(
        WorkflowMachine,
        settings=run_settings(
            max_examples=100,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,  # the same sequences in every CI run
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    # The runs took the steps only some cases allow (unit_duty), not only their refusals.
    newer = {"hand_over", "arrive", "notify_parties"}
    assert newer <= WorkflowMachine.taken, newer - WorkflowMachine.taken
