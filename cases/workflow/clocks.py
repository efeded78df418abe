"""Deadline clocks of a case: started, paused, resumed, extended and stopped by workflow actions.

Which action does what to which clock is configuration (the policy's clock rules); this module
only applies it and keeps `Case.next_due_at` equal to the earliest running deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient

from cases.errors import TransitionNotAllowed
from cases.rules import Rules
from cases.store.models import Case, CaseClock
from cases.workflow.deadlines import ClockState, clock_state, compute_due
from config.catalog import ClockRule, DeadlinePolicy


def policy_of(rules: Rules, case: Case) -> DeadlinePolicy:
    """The policy the case was filed under, or today's match if that policy left the config."""
    for policy in rules.catalog.policies:
        if policy.name == case.policy:
            return policy
    return rules.catalog.policy_for(case.kind, case.category, case.severity)


def _pauses(clock: CaseClock) -> list[tuple[datetime, datetime]]:
    return [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in clock.pauses]


def recompute_due(rules: Rules, clock: CaseClock) -> datetime:
    """The clock's due time in UTC (stored times are UTC so SQLite compares them as text)."""
    return compute_due(
        clock.started_at,
        clock.amount + clock.extended_by,
        clock.unit,
        rules.calendar,
        _pauses(clock),
        clock.rollover_holidays,
    ).astimezone(UTC)


async def running_clocks(case: Case, conn: BaseDBAsyncClient | None = None) -> list[CaseClock]:
    query = CaseClock.filter(case_id=case.id, stopped_at__isnull=True).order_by("due_at")
    return await (query.using_db(conn) if conn else query)


async def apply_action(
    rules: Rules,
    case: Case,
    action: str,
    now: datetime,
    conn: BaseDBAsyncClient,
    *,
    finished: bool = False,
    reachable: bool = True,
    named: bool = True,
    archived: bool = False,
    start_at: datetime | None = None,
    new_case: bool = False,
) -> list[CaseClock]:
    """Stop, pause, resume and start this case's clocks as the policy says for `action`.

    `reachable`: the citizen can be reached; if not, clocks that need a contact do not start.
    `named`: the citizen gave their real name; if not, clocks that need one do not start.

    `finished`: the action ends the handling (referred out, merged, closed, archived …); every
    clock it does not start stops, whatever the policy's stop lists forgot, so a finished case
    never runs overdue or fires an expiry action; a clock that `runs_past_closure` stops only
    when the case is `archived`. `start_at`: when the clocks the action starts count from, if
    not now (a deemed acceptance dated at day 5 from receipt). `new_case`: the case is being
    filed in this transaction, so no clock runs yet (one read fewer per filing). Returns the
    clocks started by the action.
    Updates `case.next_due_at` (not saved).
    """
    policy = policy_of(rules, case)
    running = {} if new_case else {c.name: c for c in await running_clocks(case, conn)}
    started: list[CaseClock] = []
    for rule in policy.clocks:
        clock = running.get(rule.name)
        ends = finished and (archived or not rule.runs_past_closure)
        if clock is not None and (action in rule.stops_on or ends):
            await _stop(clock, now, conn)
            clock = None
        if clock is not None and action in rule.pauses_on and clock.paused_at is None:
            clock.paused_at = now
            await clock.save(using_db=conn, update_fields=["paused_at"])
        if clock is not None and action in rule.resumes_on and clock.paused_at is not None:
            clock.pauses = [*clock.pauses, [clock.paused_at.isoformat(), now.isoformat()]]
            clock.paused_at = None
            clock.due_at = recompute_due(rules, clock)
            await clock.save(using_db=conn, update_fields=["pauses", "paused_at", "due_at"])
        if action in rule.starts_on and _may_start(rule, reachable, named):
            if clock is not None:
                await _stop(clock, now, conn)
            clock = await _start(rules, case, rule, start_at or now, conn)
            started.append(clock)
        if clock is not None:
            running[rule.name] = clock
        else:
            running.pop(rule.name, None)
    case.next_due_at = min(
        (c.due_at for c in running.values() if c.paused_at is None), default=None
    )
    return started


async def pausable(
    rules: Rules,
    case: Case,
    action: str,
    *,
    paused: bool,
    conn: BaseDBAsyncClient | None = None,
) -> list[CaseClock]:
    """The running clocks `action` would pause (paused=False) or resume (paused=True) under
    the case's policy: what pause_clock / resume_clock may act on now."""
    rules_by_name = {r.name: r for r in policy_of(rules, case).clocks}
    found = []
    for clock in await running_clocks(case, conn):
        rule = rules_by_name.get(clock.name)
        if rule is None or (clock.paused_at is not None) != paused:
            continue
        if action in (rule.resumes_on if paused else rule.pauses_on):
            found.append(clock)
    return found


async def deemed_acceptance_time(
    rules: Rules, case: Case, expired: CaseClock, now: datetime, conn: BaseDBAsyncClient
) -> datetime:
    """When a case deemed accepted by the expiry of `expired` counts as accepted, never later
    than now: the due time of the clock its rule names in `deemed_as_of` (the rejection
    notice: the acceptance decision's day 5 from receipt, 000 第十五条 「收到之日起第5日即为
    受理」), or its own due time when it is that clock (started at filing); else now."""
    policy = policy_of(rules, case)
    rule = next((r for r in policy.clocks if r.name == expired.name), None)
    if rule is not None and not rule.deemed_as_of and "file" in rule.starts_on:
        return min(expired.due_at, now)  # the acceptance clock itself: its own day 5
    if rule is None or not rule.deemed_as_of:
        return now
    dating = next(r for r in policy.clocks if r.name == rule.deemed_as_of)
    row = (
        await CaseClock.filter(case_id=case.id, name=dating.name)
        .using_db(conn)
        .order_by("-id")
        .first()
    )
    if row is not None:  # its own pauses (waiting for the citizen's supplement) do not count
        due = recompute_due(rules, row)
    else:
        due = compute_due(
            case.created_at,
            dating.amount,
            dating.unit,
            rules.calendar,
            (),
            dating.rollover_holidays,
        ).astimezone(UTC)
    return min(due, now)


async def extendable(
    rules: Rules, case: Case, conn: BaseDBAsyncClient | None = None
) -> list[tuple[CaseClock, int]]:
    """The running clocks the policy still lets staff extend, each with how much is left."""
    rules_by_name = {r.name: r for r in policy_of(rules, case).clocks}
    found = []
    for clock in await running_clocks(case, conn):
        rule = rules_by_name.get(clock.name)
        if rule is None or clock.extensions_used >= rule.max_extensions:
            continue
        if (left := rule.extension_cap - clock.extended_by) > 0:
            found.append((clock, left))
    return found


async def stoppable(
    rules: Rules, case: Case, action: str, conn: BaseDBAsyncClient | None = None
) -> list[CaseClock]:
    """The running clocks `action` would stop under the case's policy: what an action that
    exists only to record a duty done (到达现场, 通知双方) may act on now."""
    rules_by_name = {r.name: r for r in policy_of(rules, case).clocks}
    return [
        c
        for c in await running_clocks(case, conn)
        if c.name in rules_by_name and action in rules_by_name[c.name].stops_on
    ]


def _may_start(rule: ClockRule, reachable: bool, named: bool) -> bool:
    return (reachable or not rule.needs_contact) and (named or not rule.needs_real_name)


def unstarted(
    rules: Rules, case: Case, action: str, *, reachable: bool, named: bool
) -> list[ClockRule]:
    """The clocks `action` would start but does not: the citizen cannot be reached, or did not
    give their real name."""
    return [
        r
        for r in policy_of(rules, case).clocks
        if action in r.starts_on and not _may_start(r, reachable, named)
    ]


async def _start(
    rules: Rules, case: Case, rule: ClockRule, now: datetime, conn: BaseDBAsyncClient
) -> CaseClock:
    clock = CaseClock(
        case_id=case.id,
        name=rule.name,
        label=rule.label,
        amount=rule.amount,
        unit=rule.unit,
        rollover_holidays=rule.rollover_holidays,
        on_expiry=rule.on_expiry,
        started_at=now,
        pauses=[],
        department_id=case.department_id,
    )
    clock.due_at = recompute_due(rules, clock)
    await clock.save(using_db=conn)
    return clock


async def _stop(clock: CaseClock, now: datetime, conn: BaseDBAsyncClient) -> None:
    if clock.paused_at is not None:
        clock.pauses = [*clock.pauses, [clock.paused_at.isoformat(), now.isoformat()]]
        clock.paused_at = None
    clock.stopped_at = now
    await clock.save(using_db=conn, update_fields=["pauses", "paused_at", "stopped_at"])


def check_extension(
    rules: Rules,
    case: Case,
    clock: CaseClock | None,
    amount: int,
    now: datetime,
    *,
    verb: str = "申请",
) -> ClockRule:
    """Refuse an extension the policy does not allow: no such clock, too many, too long, or
    too late. `verb` names the step refused (申请 / 批准) in the message."""
    if clock is None:
        raise TransitionNotAllowed("这一期限没有在计时,无法延期。", field="clock")
    # 「在60日期限届满前经批准可适当延长」: both the request and the approval come before the
    # deadline. A paused clock has not run out (its due time moves on when it resumes).
    if clock.paused_at is None and now >= clock.due_at:
        raise TransitionNotAllowed(
            f"“{clock.label}”期限已于{last_day(rules, clock.due_at)}届满,不能再{verb}延期。",
            field="action",
        )
    rule = next((r for r in policy_of(rules, case).clocks if r.name == clock.name), None)
    if rule is None or rule.max_extensions == 0:
        raise TransitionNotAllowed(f"“{clock.label}”期限不允许延长。", field="clock")
    if clock.extensions_used >= rule.max_extensions:
        raise TransitionNotAllowed(
            f"“{clock.label}”已延期 {clock.extensions_used} 次,达到上限。", field="clock"
        )
    if amount <= 0 or clock.extended_by + amount > rule.extension_cap:
        left = rule.extension_cap - clock.extended_by
        raise TransitionNotAllowed(
            f"延长量须在 1–{left} {_UNIT_NAMES[clock.unit]}之间。", field="amount"
        )
    return rule


async def extend(
    rules: Rules, case: Case, clock: CaseClock, amount: int, conn: BaseDBAsyncClient
) -> None:
    clock.extended_by += amount
    clock.extensions_used += 1
    clock.due_at = recompute_due(rules, clock)
    await clock.save(using_db=conn, update_fields=["extended_by", "extensions_used", "due_at"])
    running = await running_clocks(case, conn)
    case.next_due_at = min((c.due_at for c in running if c.paused_at is None), default=None)


def last_day(rules: Rules, due_at: datetime) -> str:
    """The last day a deadline covers, as a local date ("12月7日"): a due time at midnight
    ends the day before."""
    last = (due_at - timedelta(microseconds=1)).astimezone(rules.timezone)
    return f"{last.month}月{last.day}日"


_UNIT_NAMES = {"minutes": "分钟", "hours": "小时", "natural_days": "日", "working_days": "个工作日"}


def unit_name(unit: str) -> str:
    return _UNIT_NAMES[unit]


def state_of(rules: Rules, clock: CaseClock, now: datetime) -> ClockState:
    """Overdue / due-soon status of a clock; a paused clock is neither."""
    state = clock_state(clock.started_at, clock.due_at, now, rules.catalog.due_soon_ratio)
    if clock.paused_at is not None:
        return ClockState(
            due_at=clock.due_at, overdue=False, due_soon=False, remaining=state.remaining
        )
    return state


@dataclass(frozen=True)
class Deadline:
    """A running clock as staff and citizens see it."""

    name: str
    label: str
    due_at: datetime
    overdue: bool
    due_soon: bool
    paused: bool
    # Counts days of a year whose official schedule is not known yet: shown as 暂定.
    provisional: bool = False


def deadline_of(rules: Rules, clock: CaseClock, now: datetime) -> Deadline:
    """One running clock as people see it, with overdue / due-soon / 暂定 flags."""
    state = state_of(rules, clock, now)
    return Deadline(
        name=clock.name,
        label=clock.label,
        due_at=clock.due_at.astimezone(rules.timezone),
        overdue=state.overdue,
        due_soon=state.due_soon,
        paused=clock.paused_at is not None,
        provisional=rules.calendar.is_provisional(
            clock.due_at, clock.unit, clock.rollover_holidays
        ),
    )


async def deadlines_of(rules: Rules, case: Case, now: datetime) -> list[Deadline]:
    """The case's running clocks, earliest first, with overdue / due-soon flags."""
    return [deadline_of(rules, clock, now) for clock in await running_clocks(case)]


async def citizen_deadline(
    rules: Rules,
    case: Case,
    now: datetime,
    conn: BaseDBAsyncClient | None = None,
    stage: str | None = None,
) -> Deadline | None:
    """The date the citizen is promised now: the running clock of the stage they wait for.

    Only clocks the profile marks `citizen_facing` (acceptance decision, handling) count; the
    office's own clocks (triage, return window, escalation …) are never a citizen's date.
    Read from the stored clock, so every extension, pause and reopen is already in it. Every
    citizen surface (notices, 查询, mini-program) calls this. `stage` names the clock a notice
    is about (an extension tells the date of the clock it extended, even when an earlier
    citizen-facing clock runs beside it).
    """
    facing = {r.name for r in policy_of(rules, case).clocks if r.citizen_facing}
    running = [c for c in await running_clocks(case, conn) if c.name in facing]
    for clock in running:
        if clock.name == stage:
            return deadline_of(rules, clock, now)
    return deadline_of(rules, running[0], now) if running else None


def decides_acceptance(rules: Rules, case: Case, clock_name: str) -> bool:
    """Whether the clock is the acceptance decision: the profile stops it when the case is
    accepted (the citizen is told "给出受理意见", not "答复您")."""
    return any(
        r.name == clock_name and "accept" in r.stops_on for r in policy_of(rules, case).clocks
    )
