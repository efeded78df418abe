"""Rules that act on their own when a clock runs out (DESIGN.md "Deadlines").

A food/drug case not refused by day 5 counts as accepted (`deem_accepted`); a valid complaint
unresolved after a month becomes more severe (`raise_severity`). Which clock does what is the
profile's `on_expiry`; this runs the action as the system, once per clock run.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from cases.auth.sessions import purge_expired_sessions
from cases.errors import CaseError
from cases.rules import Rules
from cases.store.models import Case, CaseClock
from cases.store.receipts import prune_push_receipts
from cases.workflow.clocks import policy_of
from cases.workflow.engine import perform
from cases.workflow.recalendar import recompute_for_calendar
from cases.workflow.reminders import raise_reminders
from cases.workflow.retention import anonymise_expired_cases, delete_unattached_uploads
from cases.workflow.surveys import close_unanswered
from cases.workflow.timeline import Actor
from config.settings import Settings

log = logging.getLogger(__name__)
# Bounded so one sweep cannot hold the database for long after an outage.
SWEEP_BATCH = 200


async def apply_expired_clocks(rules: Rules, now: datetime | None = None) -> int:
    """Run the expiry action of every running clock that is past due; returns how many ran."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    expired = (
        await CaseClock.filter(
            stopped_at__isnull=True,
            paused_at__isnull=True,
            expiry_handled=False,
            due_at__lte=now,
        )
        .exclude(on_expiry="")
        .order_by("due_at")
        .limit(SWEEP_BATCH)
    )
    done = 0
    for clock in expired:
        note = f"“{clock.label}”期限届满,系统自动处理。"
        case = await Case.get(id=clock.case_id)
        rule = next((r for r in policy_of(rules, case).clocks if r.name == clock.name), None)
        data = {"severity": rule.expiry_severity} if rule and rule.expiry_severity else {}
        try:
            await perform(
                rules, case.id, clock.on_expiry, Actor.system(), note=note, data=data, now=now
            )
            done += 1
        except CaseError as exc:
            # The case moved on (e.g. already closed): the rule no longer applies.
            log.info(
                "expiry of clock %s on case %s skipped: %s", clock.id, clock.case_id, exc.message
            )
        await CaseClock.filter(id=clock.id).update(expiry_handled=True)
    return done


async def run_sweeps(
    rules: Rules, now: datetime | None = None, settings: Settings | None = None
) -> int:
    """Everything that acts on its own with time: expired clocks, ended survey windows, and
    due-soon / overdue reminders (after the expiries, which may stop the clocks concerned)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    expired = await apply_expired_clocks(rules, now)
    # Housekeeping, not a change to any case: not counted.
    await prune_push_receipts(now)
    await purge_expired_sessions(now)  # a mini-program token past its time is never read again
    changed = expired + await close_unanswered(now) + await raise_reminders(rules, now)
    if settings is not None:  # retention needs the configured period and the photo folder
        retention = settings.retention
        changed += await anonymise_expired_cases(
            now, retention.closed_case_years, settings.media_dir
        )
        # Housekeeping too: photos of filings never made are not a change to any case.
        await delete_unattached_uploads(now, retention.unattached_upload_hours, settings.media_dir)
    return changed


class Sweeper:
    """One process's sweep: its first round first brings running clocks in line with the
    calendar (which changes only at start), then every round runs `run_sweeps`."""

    def __init__(self, rules: Rules, settings: Settings | None = None) -> None:
        self.rules, self.settings = rules, settings
        self._calendar_checked = False

    async def __call__(self, now: datetime | None = None) -> int:
        changed = 0
        if not self._calendar_checked:
            changed += await recompute_for_calendar(self.rules, now)
            self._calendar_checked = True
        return changed + await run_sweeps(self.rules, now, self.settings)
