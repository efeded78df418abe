"""Filing a case: validate the form against the catalogue, then create it in one transaction.

A form that breaks a rule raises ValidationError naming the field (cases/intake/forms.py),
before anything is written; a valid one gets its number, its 'file' event, its clocks and its
duplicate check together.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from cases.intake.duplicates import find_duplicate, respondent_key
from cases.intake.forms import validate_form
from cases.intake.quotas import check_filing_quota
from cases.rules import Rules
from cases.store.models import Case, Citizen, Status
from cases.store.numbering import next_case_number
from cases.workflow import clocks
from cases.workflow.engine import CITIZEN, Actor, record_event


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
) -> Case:
    """Validate and store a new case with its number, 'file' event, clocks and duplicate flag.

    `owner`: the unit that received it and owns it from the start (首诉负责制).
    `cases_per_day`: the citizen's filing quota, counted under their lock in the filing's own
    transaction (every citizen channel passes it; staff registering a call do not)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)  # stored times are UTC
    form = validate_form(rules, raw, channel=channel, staff=actor.kind != CITIZEN, now=now)
    catalog = rules.catalog
    policy = catalog.policy_for(form.kind, form.category, form.severity)
    local_day = now.astimezone(rules.timezone).date()
    async with in_transaction() as conn:
        if citizen is not None and cases_per_day is not None:
            await check_filing_quota(citizen.id, now, cases_per_day, conn)
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
            citizen_id=None if citizen is None else citizen.id,
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
        await clocks.apply_action(rules, case, "file", now, conn)
        await Case.filter(id=case.id).using_db(conn).update(next_due_at=case.next_due_at)
    return case
