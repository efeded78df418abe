"""Staff worklists: which cases need whom, filters and search, keyset pages, and list rows.

A page is ordered by the earliest running deadline (`Case.next_due_at`), then id, and paged by
keyset: each status is one range of the (department_id, status, next_due_at) or (status,
next_due_at) index, read from the cursor on, however deep the page. Cases with no running
clock (waiting for the citizen, every clock paused) follow, newest first. Filters on other
columns and free-text search cannot narrow the index range; they still stop at one page of
matches. Lists never show a full phone number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from tortoise.expressions import Q
from tortoise.functions import Max
from tortoise.queryset import QuerySet

from cases.errors import PermissionDenied, ValidationError
from cases.intake.duplicates import respondent_key
from cases.intake.forms import normalize_phone
from cases.rules import Rules
from cases.store.models import Case, CaseClock, CaseEvent, Department, Rating, Role, Status, Survey
from cases.views.access import listed_identity, visible_cases
from cases.views.tracking import MAX_NUMBER_CHARS, normalize_number
from cases.workflow.actions import ACTIONS
from cases.workflow.clocks import state_of
from cases.workflow.deadlines import WorkCalendar, due_text
from cases.workflow.history import DRAFT_EVENT, DRAFT_EVENTS, EXTENSION_EVENTS
from cases.workflow.states import OPEN_STATES, STATUS_LABELS
from cases.workflow.surveys import review_queue
from cases.workflow.timeline import Actor

S = Status
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_QUERY_CHARS = 50
MAX_CASE_ID = 2**31 - 1
# Cases someone is working on: open, and past the citizen's draft.
WORKING_STATES = frozenset(OPEN_STATES - {S.DRAFT})
# Submitted: only a case the unit received itself and still owns (首诉负责制) is theirs then.
HANDLER_STATES = (S.SUBMITTED, S.ASSIGNED, S.IN_PROGRESS, S.REPLIED)
EXTENSION_STATES = ACTIONS["approve_extension"].sources
DRAFT_STATES = ACTIONS["approve_draft"].sources
# "Scope": the cases that need me, or every case I may see (what a search looks through).
MINE, ALL = "mine", "all"
UNASSIGNED = "none"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
_DIGITS_ONLY = re.compile(r"[\d\s\-+()（）]+")


@dataclass(frozen=True)
class Filters:
    """What the staff member narrowed the list to; empty values do not filter."""

    scope: str = MINE
    status: Status | None = None
    kind: str = ""
    category: str = ""
    unit: str = ""  # department code, or UNASSIGNED
    channel: str = ""
    filed_from: date | None = None
    filed_to: date | None = None
    overdue: bool = False
    text: str = ""


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the last row's due time (None once past the timed rows) and id."""

    due_at: datetime | None
    case_id: int

    def encode(self) -> str:
        if self.due_at is None:
            return f"n.{self.case_id}"
        micros = (self.due_at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.case_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        head, _, tail = text.partition(".")
        try:
            case_id = int(tail)
            due = None if head == "n" else EPOCH + timedelta(microseconds=int(head))
        except (ValueError, OverflowError):
            case_id = -1
        # An id the store can hold (a 32-bit integer on PostgreSQL); a bigger one made the
        # query itself fail (SQLite: "Python int too large to convert to SQLite INTEGER").
        if not 0 <= case_id <= MAX_CASE_ID:
            raise ValidationError("翻页参数无效,请回到第一页。", field="cursor")
        return cls(due, case_id)

    @classmethod
    def after(cls, case: Case) -> Cursor:
        return cls(case.next_due_at, case.id)


@dataclass(frozen=True)
class Page:
    cases: list[Case]
    next: Cursor | None


@dataclass(frozen=True)
class Branch:
    """One index range of a list: a single status (None: any) and further conditions.

    A list is the union of its branches, each read in due order from the (status,
    next_due_at) or (department_id, status, next_due_at) index and merged here: one query
    with `status IN (...)` would have to sort every matching row.
    """

    status: Status | None
    where: Q = field(default_factory=Q)


@dataclass(frozen=True)
class Need:
    """A list's branches with a running clock (`timed`) and without one (`untimed`)."""

    timed: tuple[Branch, ...]
    untimed: tuple[Branch, ...]


EVERYTHING = Need(tuple(Branch(s) for s in Status), (Branch(None),))


async def needs_me(actor: Actor, now: datetime) -> Need:
    """The cases waiting on this actor: the one definition of every role's worklist.

    * intake: new cases to triage and accept (submitted, needs_info) and accepted ones not yet
      assigned to a unit (交办 is theirs); also closed cases while the 回访 clock runs, since
      the return visit is intake's too.
    * handler: their unit's assigned (to start or return), in-progress and replied cases (to
      close); `visible_cases` already keeps them to the unit, repeating it here lets the
      query use the (department_id, status, next_due_at) index.
    * leader: extension requests and drafted decisions awaiting approval, closed cases whose citizen was not
      satisfied with the result (to reopen or uphold), and every overdue case: approving,
      reviewing and chasing is what leaders do; cases on time are the units' business.
    * admin: everything; they look after the store rather than a queue.
    """
    if actor.role == Role.INTAKE:
        waiting = (S.SUBMITTED, S.NEEDS_INFO, S.ACCEPTED)
        return Need(
            tuple(Branch(s) for s in (*waiting, S.CLOSED)), tuple(Branch(s) for s in waiting)
        )
    if actor.role == Role.HANDLER:
        unit = Q(department_id=actor.department_id or -1)
        mine = tuple(Branch(s, unit) for s in HANDLER_STATES)
        return Need(mine, mine)
    if actor.role == Role.LEADER:
        late = Q(next_due_at__lte=now.astimezone(UTC))
        overdue = tuple(Branch(s, late) for s in sorted(WORKING_STATES))
        pending = await pending_extension_ids()
        extensions = (
            tuple(Branch(s, Q(id__in=pending)) for s in sorted(EXTENSION_STATES)) if pending else ()
        )
        # Decisions drafted for approval (the profile's [approvals]) wait for a leader too.
        drafts = await pending_draft_ids()
        drafted = tuple(Branch(s, Q(id__in=drafts)) for s in sorted(DRAFT_STATES)) if drafts else ()
        # 不满意 with the result: the leader reopens the case or upholds the closure.
        reviews = [c.id for c in await review_queue()]
        reviewing = (Branch(S.CLOSED, Q(id__in=reviews)),) if reviews else ()
        awaiting = extensions + drafted + reviewing
        return Need(overdue + awaiting, awaiting)
    return EVERYTHING


async def pending_extension_ids() -> list[int]:
    """Cases a leader may approve an extension on (accepting or handling) whose latest
    extension event is a request (no answer after it).

    The timeline has no index on action: this reads every extension event of in-progress
    cases once per call, which is few rows but a scan of `case_event`.
    """
    rows = (
        await CaseEvent.filter(action__in=EXTENSION_EVENTS, case__status__in=EXTENSION_STATES)
        .annotate(last=Max("id"))
        .group_by("case_id", "action")
        .values_list("case_id", "action", "last")
    )
    latest: dict[int, dict[str, int]] = {}
    for case_id, action, last in rows:
        latest.setdefault(case_id, {})[action] = last
    return sorted(
        case_id
        for case_id, last in latest.items()
        if last.get("request_extension", 0)
        > max(last.get("approve_extension", 0), last.get("refuse_extension", 0))
    )


async def pending_draft_ids() -> list[int]:
    """Cases whose latest draft event is a draft still waiting for a leader: not approved or
    refused since, and drafted in the state the case is still in (not overtaken)."""
    rows = (
        await CaseEvent.filter(action__in=DRAFT_EVENTS, case__status__in=DRAFT_STATES)
        .annotate(last=Max("id"))
        .group_by("case_id")
        .values_list("case_id", "last")
    )
    if not rows:
        return []
    latest = await CaseEvent.filter(
        id__in=[last for _, last in rows], action=DRAFT_EVENT
    ).values_list("case_id", "from_status", "case__status")
    return sorted(case_id for case_id, drafted_in, now_in in latest if drafted_in == now_in)


async def worklist_page(
    rules: Rules,
    actor: Actor,
    filters: Filters,
    now: datetime,
    *,
    after: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of the actor's list: earliest due first, then cases without a running clock
    (newest first).

    Raises ValidationError for a filter value the catalogue does not know and PermissionDenied
    when someone other than intake searches by phone number.
    """
    size = max(1, min(size, MAX_PAGE_SIZE))
    base = visible_cases(actor).filter(await _filtered(rules, actor, filters, now))
    need = await needs_me(actor, now) if filters.scope == MINE else EVERYTHING
    keys: list[tuple[int, datetime | None]] = []
    if after is None or after.due_at is not None:
        keys = await _timed(base, _only(need.timed, filters.status), after, size + 1)
    if len(keys) <= size and not filters.overdue:
        untimed = _only(need.untimed, filters.status)
        last = after.case_id if after is not None and after.due_at is None else None
        keys += await _untimed(base, untimed, last, size + 1 - len(keys))
    found = {case.id: case for case in await Case.filter(id__in=[i for i, _ in keys[:size]])}
    cases = [found[i] for i, _ in keys[:size] if i in found]
    more = len(keys) > size
    return Page(cases, Cursor(keys[size - 1][1], keys[size - 1][0]) if more else None)


def _only(branches: tuple[Branch, ...], status: Status | None) -> tuple[Branch, ...]:
    """The branches a status filter leaves (a contradictory branch would scan for nothing)."""
    if status is None:
        return branches
    return tuple(Branch(status, b.where) for b in branches if b.status in (None, status))


def _branch(base: QuerySet[Case], branch: Branch, timed: bool) -> QuerySet[Case]:
    # "next_due_at >= 1970" rather than IS NOT NULL: SQLite reads only that index range.
    clock = {"next_due_at__gte": EPOCH} if timed else {"next_due_at__isnull": True}
    query = base.filter(branch.where, **clock)
    return query if branch.status is None else query.filter(status=branch.status)


async def _timed(
    base: QuerySet[Case], branches: tuple[Branch, ...], after: Cursor | None, limit: int
) -> list[tuple[int, datetime | None]]:
    keys: dict[int, datetime] = {}
    for branch in branches:
        query = _branch(base, branch, timed=True)
        if after is not None and after.due_at is not None:
            # ">=" gives the index a range to start from; the rest breaks ties by id.
            due = after.due_at.astimezone(UTC)
            query = query.filter(
                Q(next_due_at__gte=due), Q(next_due_at__gt=due) | Q(id__gt=after.case_id)
            )
        rows = (
            await query.order_by("next_due_at", "id").limit(limit).values_list("id", "next_due_at")
        )
        keys.update(rows)  # a case in two branches (overdue and asking) is listed once
    ordered = sorted(keys.items(), key=lambda row: (row[1], row[0]))[:limit]
    return [(case_id, due) for case_id, due in ordered]


async def _untimed(
    base: QuerySet[Case], branches: tuple[Branch, ...], before: int | None, limit: int
) -> list[tuple[int, datetime | None]]:
    ids: set[int] = set()
    for branch in branches:
        query = _branch(base, branch, timed=False)
        if before is not None:
            query = query.filter(id__lt=before)
        ids.update(row[0] for row in await query.order_by("-id").limit(limit).values_list("id"))
    return [(case_id, None) for case_id in sorted(ids, reverse=True)[:limit]]


async def _filtered(rules: Rules, actor: Actor, filters: Filters, now: datetime) -> Q:
    catalog = rules.catalog
    condition = Q()
    for name, known in (
        ("kind", catalog.kinds),
        ("category", catalog.categories),
        ("channel", catalog.channels),
    ):
        value = getattr(filters, name)
        if value and value not in known:
            raise ValidationError("筛选条件无效,请重新选择。", field=name)
        if value:
            condition &= Q(**{name: value})
    if filters.status is not None:
        condition &= Q(status=filters.status)
    if filters.unit == UNASSIGNED:
        condition &= Q(department_id__isnull=True)
    elif filters.unit:
        unit = await Department.get_or_none(code=filters.unit)
        if unit is None:
            raise ValidationError("筛选条件无效,请重新选择。", field="unit")
        condition &= Q(department_id=unit.id)
    tz = rules.timezone
    if filters.filed_from is not None:
        start = datetime.combine(filters.filed_from, datetime.min.time(), tzinfo=tz)
        condition &= Q(created_at__gte=start.astimezone(UTC))
    if filters.filed_to is not None:
        end = datetime.combine(filters.filed_to + DAY, datetime.min.time(), tzinfo=tz)
        condition &= Q(created_at__lt=end.astimezone(UTC))
    if filters.overdue:
        condition &= Q(next_due_at__lte=now.astimezone(UTC))
    if filters.text:
        condition &= search_condition(rules, actor, filters.text)
    return condition


def search_condition(rules: Rules, actor: Actor, text: str) -> Q:
    """The search box: a case number exactly, a phone number (intake only), else words.

    Words match the respondent (ignoring case, spaces and punctuation) or the description, a
    scan of the table (no text index). A phone-shaped query is never run as words: only the
    intake centre may look a case up by who filed it.
    """
    number = normalize_number(text)
    prefixes = tuple(k.number_prefix for k in rules.catalog.kinds.values())
    if len(number) <= MAX_NUMBER_CHARS and any(
        number.startswith(p) and number[len(p) :].isdigit() for p in prefixes
    ):
        return Q(number=number)
    phone = _phone(text)
    if phone:
        if actor.role != Role.INTAKE:
            raise PermissionDenied(
                "只有受理中心可以按电话号码查找;请用案件编号、被投诉对象或内容查找。", field="q"
            )
        return Q(contact_phone=phone)
    # The respondent through its normalised key: "城东 便民" finds "城东便民超市".
    key = respondent_key(text)
    words = Q(description__icontains=text)
    return words | Q(respondent_key__contains=key) if key else words


def _phone(text: str) -> str:
    if not _DIGITS_ONLY.fullmatch(text) or sum(c.isdigit() for c in text) < 7:
        return ""
    try:
        return normalize_phone(text)
    except ValueError:
        return ""


# --- what a list shows ----------------------------------------------------------------------


@dataclass(frozen=True)
class RowDeadline:
    label: str
    due_at: datetime  # local time
    due_text: str
    countdown: str
    overdue: bool
    due_soon: bool
    provisional: bool = False  # counts days of a year whose schedule is not published: 暂定


@dataclass(frozen=True)
class Review:
    """Why a closed case is back on a leader's list: the citizen's rating and comment."""

    level: str  # the scale's word, e.g. 不满意
    comment: str


@dataclass(frozen=True)
class Row:
    """One case as any list shows it: names instead of codes, identity masked."""

    number: str
    kind: str
    kind_name: str
    category: str
    category_name: str
    channel: str
    channel_name: str
    status: str
    status_label: str
    unit: str
    unit_name: str
    respondent: str
    contact_name: str
    contact_phone: str
    filed_at: datetime  # local time
    deadline: RowDeadline | None
    review: Review | None = None

    def as_json(self) -> dict[str, object]:
        deadline = self.deadline
        return {
            "number": self.number,
            "kind": self.kind,
            "kind_name": self.kind_name,
            "category": self.category,
            "category_name": self.category_name,
            "channel": self.channel,
            "channel_name": self.channel_name,
            "status": self.status,
            "status_label": self.status_label,
            "unit": self.unit or None,
            "unit_name": self.unit_name,
            "respondent_name": self.respondent,
            "contact_name": self.contact_name,
            "contact_phone": self.contact_phone,
            "filed_at": self.filed_at.isoformat(),
            "review": None
            if self.review is None
            else {"level": self.review.level, "comment": self.review.comment},
            "deadline": None
            if deadline is None
            else {
                "label": deadline.label,
                "due_at": deadline.due_at.isoformat(),
                "countdown": deadline.countdown,
                "overdue": deadline.overdue,
                "due_soon": deadline.due_soon,
                "provisional": deadline.provisional,
            },
        }


async def rows_of(rules: Rules, cases: list[Case], now: datetime) -> list[Row]:
    """List rows for `cases`, in order, each with the earliest deadline staff must beat."""
    units = {d.id: d for d in await Department.all()}
    clocks = await _headline_clocks(rules, cases) if cases else {}
    reviews = await _reviews(rules, cases)
    catalog = rules.catalog
    rows = []
    for case in cases:
        unit = units.get(case.department_id) if case.department_id is not None else None
        who = listed_identity(rules, case)
        kind = catalog.kinds.get(case.kind)
        category = catalog.categories.get(case.category)
        rows.append(
            Row(
                number=case.number,
                kind=case.kind,
                kind_name=kind.name if kind else case.kind,
                category=case.category,
                category_name=category.name if category else case.category,
                channel=case.channel,
                channel_name=catalog.channels.get(case.channel, case.channel),
                status=str(case.status),
                status_label=STATUS_LABELS[case.status],
                unit=unit.code if unit else "",
                unit_name=unit.name if unit else "未交办",
                respondent=case.respondent_name,
                contact_name=who.name,
                contact_phone=who.phone,
                filed_at=case.created_at.astimezone(rules.timezone),
                deadline=_deadline(rules, clocks.get(case.id), now),
                review=reviews.get(case.id),
            )
        )
    return rows


async def _reviews(rules: Rules, cases: list[Case]) -> dict[int, Review]:
    """For closed cases awaiting a leader's review: the rating that put them there."""
    closed = [c.id for c in cases if c.status == S.CLOSED]
    if not closed:
        return {}
    waiting = await Survey.filter(
        case_id__in=closed, needs_review=True, reviewed_at__isnull=True
    ).values_list("case_id", "closure")
    levels = rules.survey.levels
    found: dict[int, Review] = {}
    for case_id, closure in waiting:
        rating = (
            await Rating.filter(case_id=case_id, closure=closure).order_by("-created_at").first()
        )
        if rating is not None:
            found[case_id] = Review(levels.get(rating.overall, rating.overall), rating.comment)
    return found


async def _headline_clocks(rules: Rules, cases: list[Case]) -> dict[int, CaseClock]:
    """Each case's earliest running clock that is a duty to beat, not a right like the return
    window (the profile's `right_clocks`). Read by the (case_id, name) index."""
    skip = rules.catalog.right_clocks
    found = await (
        CaseClock.filter(
            case_id__in=[c.id for c in cases], stopped_at__isnull=True, paused_at__isnull=True
        )
        .exclude(name__in=sorted(skip))
        .order_by("-due_at", "-id")
    )
    return {clock.case_id: clock for clock in found}  # the earliest is written last


def _deadline(rules: Rules, clock: CaseClock | None, now: datetime) -> RowDeadline | None:
    if clock is None:
        return None
    due = clock.due_at.astimezone(rules.timezone)
    state = state_of(rules, clock, now)
    return RowDeadline(
        label=clock.label,
        due_at=due,
        due_text=due_text(due),
        countdown=countdown(rules.calendar, clock.unit, due, now),
        overdue=state.overdue,
        due_soon=state.due_soon,
        provisional=rules.calendar.is_provisional(due, clock.unit, clock.rollover_holidays),
    )


def countdown(calendar: WorkCalendar, unit: str, due: datetime, now: datetime) -> str:
    """'剩 3 个工作日', '剩 5 天', '剩 4 小时', '已超期 2 天': in the clock's own unit where it
    counts working days, else in whole days, hours or minutes (rounded down, at least 1)."""
    left = due - now
    if left <= timedelta(0):
        return f"已超期 {_span(now - due)}"
    if unit == "working_days" and left >= DAY:
        today = now.astimezone(calendar.timezone).date()
        last = (due - timedelta(microseconds=1)).astimezone(calendar.timezone).date()
        days = sum(calendar.is_workday(today + DAY * i) for i in range(1, (last - today).days + 1))
        # Full working days after today; the rest of today is a bonus, not promised.
        if days:
            return f"剩 {days} 个工作日"
    return f"剩 {_span(left)}"


def _span(delta: timedelta) -> str:
    if delta >= DAY:
        return f"{delta // DAY} 天"
    if delta >= HOUR:
        return f"{delta // HOUR} 小时"
    return f"{max(1, delta // MINUTE)} 分钟"
