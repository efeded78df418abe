"""Filing a case, the one way every channel files: the chat, the mini-program, staff
registering a call, a visit or a letter, and the demo seed.

One transaction holds all of it: the citizen's lock and daily quota, the case with its
number, 'file' event, clocks and duplicate check, the photos it takes along and, for a request
sent with an idempotency key, the answer a retry will get. Refused or interrupted, it leaves
none of it: no case without its photos, no quota spent, no answer for a case that is not
there. The form's rules are in `forms`; what needs the network (WeChat's text check) stays in
the face, handed in as `screen`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from cases.intake.duplicates import find_duplicate, respondent_key
from cases.intake.forms import CaseForm, validate_form
from cases.intake.photos import Photos, attach_photos
from cases.intake.quotas import check_filing_quota, lock_citizen
from cases.rules import Rules
from cases.store.idempotency import Answer, remember_answer, stored_answer
from cases.store.models import Case, Citizen, Status
from cases.store.numbering import next_case_number
from cases.workflow import clocks
from cases.workflow.timeline import CITIZEN, Actor, record_event

# The face's own check that needs the network; it raises to refuse the filing.
Screen = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Once:
    """A filing sent with an idempotency key (cases/store/idempotency.py): a retry, and a twin
    request racing it, get the answer stored with the first case instead of a second case.

    `answer` builds the body from the new case inside the filing's transaction (the face's view
    of it, with deadlines its clocks give); it is stored with `status`."""

    key: str
    request_hash: str
    answer: Callable[[Case], Awaitable[dict[str, Any]]]
    status: int = 201


@overload
async def file_case(
    rules: Rules,
    raw: Mapping[str, Any],
    actor: Actor,
    *,
    channel: str,
    citizen: Citizen | None = None,
    now: datetime | None = None,
    owner: int | None = None,
    cases_per_day: int | None = None,
    photos: Photos | None = None,
    screen: Screen | None = None,
    once: None = None,
) -> Case: ...


@overload
async def file_case(
    rules: Rules,
    raw: Mapping[str, Any],
    actor: Actor,
    *,
    channel: str,
    citizen: Citizen,
    now: datetime | None = None,
    cases_per_day: int | None = None,
    photos: Photos | None = None,
    screen: Screen | None = None,
    once: Once,
) -> Answer: ...


async def file_case(
    rules: Rules,
    raw: Mapping[str, Any],
    actor: Actor,
    *,
    channel: str,
    citizen: Citizen | None = None,
    now: datetime | None = None,
    owner: int | None = None,
    cases_per_day: int | None = None,
    photos: Photos | None = None,
    screen: Screen | None = None,
    once: Once | None = None,
) -> Case | Answer:
    """Validate and store a new case with its number, 'file' event, clocks and duplicate flag;
    returns the case, or with `once` the answer (status, body).

    `owner`: the unit that received it and owns it from the start (首诉负责制).
    `cases_per_day`: the citizen's filing quota (every citizen channel passes it; staff
    registering a call do not). `photos`: the citizen's photos the case takes along.
    `screen`: run before the transaction, only for a request not answered before and a citizen
    within the quota (WeChat is not asked about a filing that would be refused anyway).
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)  # stored times are UTC
    if citizen is None and (photos is not None or once is not None):
        raise ValueError("only a citizen's filing takes photos or an idempotency key")
    if once is not None and citizen is not None:
        answer = await stored_answer(citizen.id, once.key, once.request_hash)
        if answer is not None:
            return answer  # a retry: nothing is checked, asked or filed again
    form = validate_form(rules, raw, channel=channel, staff=actor.kind != CITIZEN, now=now)
    if screen is not None:
        if citizen is not None and cases_per_day is not None:
            # Counted again under the lock below: this count only spares the network.
            await check_filing_quota(citizen.id, now, cases_per_day)
        await screen()
    async with in_transaction() as conn:
        if citizen is None:
            return await _store_case(rules, form, actor, now, conn, citizen_id=None, owner=owner)
        # What this filing counts or takes waits here until it commits: a twin request,
        # another filing's quota count, a chat photo being stored (cases/intake/photos.py).
        await lock_citizen(citizen.id, conn)
        if once is not None:
            answer = await stored_answer(citizen.id, once.key, once.request_hash, conn)
            if answer is not None:
                return answer  # a twin request committed while this one waited
        if cases_per_day is not None:
            await check_filing_quota(citizen.id, now, cases_per_day, conn)
        case = await _store_case(rules, form, actor, now, conn, citizen_id=citizen.id, owner=owner)
        if photos is not None:
            await attach_photos(photos, case.id, citizen.id, conn)
        if once is None:
            return case
        body = await once.answer(case)
        await remember_answer(citizen.id, once.key, once.request_hash, once.status, body, conn)
    return once.status, body


async def _store_case(
    rules: Rules,
    form: CaseForm,
    actor: Actor,
    now: datetime,
    conn: BaseDBAsyncClient,
    *,
    citizen_id: int | None,
    owner: int | None,
) -> Case:
    catalog = rules.catalog
    policy = catalog.policy_for(form.kind, form.category, form.severity)
    local_day = now.astimezone(rules.timezone).date()
    number = await next_case_number(
        conn, catalog.kinds[form.kind].number_prefix, local_day, catalog.number_seq_digits
    )
    case = Case(
        number=number,
        kind=form.kind,
        category=form.category,
        channel=form.channel,
        severity=form.severity,
        status=Status.SUBMITTED,
        policy=policy.name,
        citizen_id=citizen_id,
        anonymous=form.anonymous,
        contact_name=form.contact_name,
        contact_phone=form.contact_phone,
        contact_address=form.contact_address,
        respondent_name=form.respondent_name,
        respondent_key=respondent_key(form.respondent_name),
        respondent_address=form.respondent_address,
        incident_at=form.incident_at,
        incident_place=form.incident_place,
        latitude=form.latitude,
        longitude=form.longitude,
        description=form.description,
        demands=form.demands,
        created_at=now,
        department_id=owner,
    )
    case.duplicate_of_id = await find_duplicate(rules, case, now, conn)
    await case.save(using_db=conn)
    data: dict[str, Any] = {"channel": form.channel, "policy": policy.name}
    if case.duplicate_of_id is not None:
        data["duplicate_of"] = case.duplicate_of_id
    if form.claim_amount is not None:
        data["claim_amount"] = form.claim_amount
    if owner is not None:
        data["first_receiver"] = owner
    await record_event(case, "file", actor, now, conn, to_status=Status.SUBMITTED, data=data)
    await _claim_measures(rules, case, form.claim_amount, now, conn)
    await clocks.apply_action(rules, case, "file", now, conn, new_case=True)
    await Case.filter(id=case.id).using_db(conn).update(next_due_at=case.next_due_at)
    return case


async def _claim_measures(
    rules: Rules, case: Case, amount: int | None, now: datetime, conn: BaseDBAsyncClient
) -> None:
    """The profile's claim rules this sum reaches, each an internal note on the timeline."""
    if amount is None:
        return
    for rule in rules.catalog.claim_rules:
        if rule.applies(amount):
            await record_event(
                case,
                "claim_rule",
                Actor.system(),
                now,
                conn,
                note=rule.measure,
                data={"claim_amount": amount, "source": rule.source},
                public=False,
            )
