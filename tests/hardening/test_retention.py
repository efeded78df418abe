"""Retention (P5) and the identity access log (P4) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cases.rules import Rules
from cases.store.evidence import process_image, store_evidence
from cases.store.models import Case, CaseEvent, EvidenceFile, Status
from cases.views.access import reveal_identity
from cases.views.staff_views import staff_case_view
from cases.workflow.retention import ANONYMISED, anonymise_expired_cases, years_before
from cases.workflow.sweeps import run_sweeps
from config.settings import ConfigError, Settings, load_settings
from tests.factories import make_case, make_staff
from tests.images import encode, two_tone

NOW = datetime(2032, 3, 10, 2, 0, tzinfo=UTC)


async def _finished(
    rules: Rules, media_dir: Path, ended: datetime, status: Status = Status.CLOSED, **form: str
) -> Case:
    """A case that ended at `ended`, with one photo and the filer's details."""
    case = await make_case(rules, now=ended - timedelta(days=30), **form)
    image = process_image(encode(two_tone((64, 48))))
    await store_evidence(media_dir, image, citizen_id=case.citizen_id, case_id=case.id)  # type: ignore[attr-defined]
    closed_at = ended if status in (Status.CLOSED, Status.ARCHIVED) else None
    await Case.filter(id=case.id).update(
        status=status, closed_at=closed_at, updated_at=ended, finding="属实"
    )
    return await Case.get(id=case.id)


async def test_old_finished_cases_are_anonymised_once(store: Rules, settings: Settings) -> None:
    """P5: after `closed_case_years` the contact, location, citizen link and photos go; the
    statistics fields stay; running again changes nothing."""
    media = settings.media_dir
    years = settings.retention.closed_case_years
    old_end = years_before(NOW, years) - timedelta(days=1)
    old = await _finished(store, media, old_end)
    rejected = await _finished(store, media, old_end, Status.REJECTED)
    recent = await _finished(store, media, NOW - timedelta(days=365))
    still_open = await make_case(store, now=old_end - timedelta(days=30))
    files = set(media.rglob("*.jpg"))
    assert len(files) == 6  # three photos and their thumbnails

    assert await run_sweeps(store, NOW, settings) >= 2
    for case in (old, rejected):
        after = await Case.get(id=case.id)
        assert (after.contact_name, after.contact_phone, after.contact_address) == ("", "", "")
        assert after.citizen_id is None and after.latitude is None  # type: ignore[attr-defined]
        assert (after.kind, after.category, after.finding, after.status) == (
            case.kind,
            case.category,
            "属实",
            case.status,
        )
        assert after.created_at == case.created_at and after.closed_at == case.closed_at
        assert after.department_id == case.department_id  # type: ignore[attr-defined]
        assert not await EvidenceFile.filter(case_id=case.id).exists()
        mark = await CaseEvent.get(case_id=case.id, action=ANONYMISED)
        assert not mark.public and mark.data == {"photos": 1}
    kept = await Case.get(id=recent.id)
    assert kept.contact_phone == "13800000000" and await EvidenceFile.exists(case_id=recent.id)
    assert (await Case.get(id=still_open.id)).contact_phone == "13800000000"
    left = set(media.rglob("*.jpg"))
    assert len(left) == 2 and left < files  # only the recent case's photo and thumbnail

    assert await anonymise_expired_cases(NOW, years, media) == 0
    assert await CaseEvent.filter(action=ANONYMISED).count() == 2


async def test_identity_views_outlive_anonymisation(store: Rules, settings: Settings) -> None:
    """P4: every view of a reporter's identity stays on the timeline (the access log) through
    the retention job; nothing is deleted from it, so it is kept well beyond 3 years."""
    media = settings.media_dir
    ended = years_before(NOW, settings.retention.closed_case_years) - timedelta(days=1)
    case = await make_case(store, now=ended - timedelta(days=40), kind="report")
    intake = await make_staff("intake", "centre")
    seen = await reveal_identity(store, case, intake, ended - timedelta(days=35))
    assert not seen.masked
    await Case.filter(id=case.id).update(status=Status.CLOSED, closed_at=ended)
    before = await CaseEvent.filter(case_id=case.id).count()

    assert await anonymise_expired_cases(NOW, settings.retention.closed_case_years, media) == 1
    assert await CaseEvent.filter(case_id=case.id).count() == before + 1
    view = await CaseEvent.get(case_id=case.id, action="view_identity")
    assert view.actor_id == intake.id and not view.public
    detail = await staff_case_view(store, await Case.get(id=case.id), intake, NOW)
    assert {"view_identity", ANONYMISED} <= {e.action for e in detail.timeline}


def test_the_period_is_configured() -> None:
    """P5: `[retention] closed_case_years`, documented default 5, at least 1."""
    assert load_settings(env={}).retention.closed_case_years == 5
    env = {"COMPLAINT_DESK_RETENTION_CLOSED_CASE_YEARS": "10"}
    assert load_settings(env=env).retention.closed_case_years == 10
    with pytest.raises(ConfigError, match="retention.closed_case_years"):
        load_settings(env={}, overrides={"retention.closed_case_years": 0})
