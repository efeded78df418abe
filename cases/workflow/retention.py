"""Retention (PIPL Art. 19, research B.5 P5): finished cases lose their personal data in time.

A case closed, archived, rejected, referred out, merged or withdrawn more than `[retention]
closed_case_years` ago is anonymised: the contact name, phone and address, the location and
the link to the citizen are cleared and its photos are deleted (files and rows). What the
statistics count — kind, category, unit, dates, status, finding — stays, and so does the
timeline: events are append-only, so every recorded view of a reporter's identity (P4) is
kept with it. A non-public `anonymised` event marks the case, which makes the job idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tortoise.expressions import F, Q, Subquery
from tortoise.transactions import in_transaction

from cases.store.evidence import evidence_path
from cases.store.models import Case, CaseEvent, EvidenceFile, Status
from cases.workflow.states import FINISHED_STATES
from cases.workflow.timeline import Actor, record_event

log = logging.getLogger(__name__)
ANONYMISED = "anonymised"
# Bounded like the other sweeps: a backlog after a long outage is worked off over rounds.
RETENTION_BATCH = 200
ENDED_STATES = tuple(str(s) for s in (*FINISHED_STATES, Status.ARCHIVED))


def years_before(now: datetime, years: int) -> datetime:
    """The same calendar moment `years` earlier (29 February falls back to the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


async def anonymise_expired_cases(
    now: datetime, years: int, media_dir: Path, batch: int = RETENTION_BATCH
) -> int:
    """Anonymise up to `batch` cases that ended more than `years` ago; returns how many."""
    now = now.astimezone(UTC)
    cutoff = years_before(now, years)
    done = Subquery(CaseEvent.filter(action=ANONYMISED).values("case_id"))
    # closed_at marks the end of a closed or archived case; the other ends leave it empty,
    # and their last change (updated_at) is when they ended.
    ended = Q(closed_at__lte=cutoff) | Q(closed_at__isnull=True, updated_at__lte=cutoff)
    due = (
        await Case.filter(ended, status__in=ENDED_STATES)
        .exclude(id__in=done)
        .order_by("id")
        .limit(batch)
    )
    photos = 0
    for case in due:
        photos += await _anonymise(case, now, media_dir)
    if due:
        # Counts only: the log never carries what was removed.
        log.info("retention: %d case(s) anonymised, %d photo(s) deleted", len(due), photos)
    return len(due)


async def _anonymise(case: Case, now: datetime, media_dir: Path) -> int:
    async with in_transaction() as conn:
        evidence = await EvidenceFile.filter(case_id=case.id).using_db(conn)
        await EvidenceFile.filter(case_id=case.id).using_db(conn).delete()
        await (
            Case.filter(id=case.id)
            .using_db(conn)
            .update(
                contact_name="",
                contact_phone="",
                contact_address="",
                latitude=None,
                longitude=None,
                citizen_id=None,
                version=F("version") + 1,  # a form opened before this cannot write it back
            )
        )
        await record_event(
            case,
            ANONYMISED,
            Actor.system(),
            now,
            conn,
            note="保存期限届满,已删除联系人信息和照片。",
            data={"photos": len(evidence)},
            public=False,
        )
    # Files go after the commit: a rolled-back round must not lose photos it still lists.
    keys = [k for e in evidence for k in (e.storage_key, e.thumb_key) if k]
    await asyncio.to_thread(_remove, media_dir, keys)
    return len(evidence)


async def delete_unattached_uploads(
    now: datetime, hours: float, media_dir: Path, batch: int = RETENTION_BATCH
) -> int:
    """Delete (row, then files) up to `batch` uploads that no case took within `hours`; they
    are a citizen's photos kept for nothing. Returns how many went.

    Each row is deleted only while it is still unattached, so a filing that attaches it at the
    same moment keeps it (its UPDATE and this DELETE cannot both match)."""
    cutoff = now.astimezone(UTC) - timedelta(hours=hours)
    stale = (
        await EvidenceFile.filter(case_id__isnull=True, created_at__lt=cutoff)
        .order_by("id")
        .limit(batch)
    )
    keys: list[str] = []
    for upload in stale:
        if await EvidenceFile.filter(id=upload.id, case_id__isnull=True).delete():
            keys += [k for k in (upload.storage_key, upload.thumb_key) if k]
    await asyncio.to_thread(_remove, media_dir, keys)
    if keys:
        log.info("retention: unattached upload(s) deleted, %d file(s)", len(keys))
    return len(stale)


def _remove(media_dir: Path, keys: list[str]) -> None:
    for key in keys:
        try:
            evidence_path(media_dir, key).unlink(missing_ok=True)
        except (OSError, ValueError) as exc:
            log.warning("retention: could not delete a photo file (%s)", exc.__class__.__name__)
