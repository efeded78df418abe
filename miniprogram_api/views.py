"""What the mini-program receives: the JSON shapes of cases, timelines and photos."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime, timedelta
from typing import Any

from cases.rules import Rules
from cases.store.models import Case, EvidenceFile
from cases.views.tracking import VISIBLE_CHECKS, WITHHELD_NOTE, public_timeline
from cases.workflow.clocks import citizen_deadline
from cases.workflow.states import STATUS_LABELS
from config.settings import Settings

BASE = "/api/mp/v1"
# Photo links carry a signature instead of the session token (an <image> sends no header).
PHOTO_LINK_SECONDS = 3600


def case_summary(rules: Rules, case: Case) -> dict[str, Any]:
    catalog = rules.catalog
    return {
        "number": case.number,
        "kind": case.kind,
        "kind_name": catalog.kinds[case.kind].name if case.kind in catalog.kinds else case.kind,
        "category": case.category,
        "category_name": catalog.categories[case.category].name
        if case.category in catalog.categories
        else case.category,
        "status": str(case.status),
        "status_label": STATUS_LABELS[case.status],
        "filed_at": case.created_at.astimezone(rules.timezone).isoformat(),
    }


async def deadlines(rules: Rules, case: Case, now: datetime) -> list[dict[str, Any]]:
    """The date the citizen's stage promises (none or one; a list for the API's shape)."""
    result = []
    deadline = await citizen_deadline(rules, case, now)
    for d in [deadline] if deadline is not None else []:
        last_day = (d.due_at - timedelta(microseconds=1)).astimezone(rules.timezone).date()
        result.append(
            {
                "name": d.name,
                "label": d.label,
                "due_at": d.due_at.astimezone(rules.timezone).isoformat(),
                "due_date": last_day.isoformat(),
                "overdue": d.overdue,
                "paused": d.paused,
                "provisional": d.provisional,
            }
        )
    return result


async def case_detail(
    rules: Rules, settings: Settings, case: Case, photos: list[EvidenceFile], now: datetime
) -> dict[str, Any]:
    timeline = [
        {"at": e.at.isoformat(), "action": e.action, "label": e.label, "note": e.note}
        for e in await public_timeline(rules, case)
    ]
    replies = [t for t in timeline if t["action"] in ("reply", "answer") and t["note"]]
    return {
        **case_summary(rules, case),
        "respondent_name": case.respondent_name,
        "description": case.description,
        "demands": case.demands,
        "anonymous": case.anonymous,
        "deadlines": await deadlines(rules, case, now),
        "timeline": timeline,
        "replies": replies,
        "photos": [photo(settings, p) for p in photos],
    }


def photo(settings: Settings, evidence: EvidenceFile) -> dict[str, Any]:
    """A photo as its owner sees it: links while it may be shown, a note once withheld."""
    if evidence.content_check not in VISIBLE_CHECKS:
        return {"id": evidence.id, "withheld": True, "note": WITHHELD_NOTE}
    return {
        "id": evidence.id,
        "withheld": False,
        "width": evidence.width,
        "height": evidence.height,
        "thumb_url": photo_link(settings, evidence.id, "thumb"),
        "url": photo_link(settings, evidence.id, "full"),
    }


def photo_link(settings: Settings, evidence_id: int, size: str, now: float | None = None) -> str:
    """An absolute link on `[miniprogram] public_url` (an <image> takes no relative path)."""
    expires = int((now or time.time()) + PHOTO_LINK_SECONDS)
    sig = _photo_signature(settings, evidence_id, size, expires)
    base = settings.miniprogram.public_url
    return f"{base}{BASE}/evidence/{evidence_id}/{size}?exp={expires}&sig={sig}"


def photo_link_valid(
    settings: Settings, evidence_id: int, size: str, expires: str, sig: str
) -> bool:
    try:
        stamp = int(expires)
    except ValueError:
        return False
    if stamp < time.time():
        return False
    return hmac.compare_digest(_photo_signature(settings, evidence_id, size, stamp), sig)


def _photo_signature(settings: Settings, evidence_id: int, size: str, expires: int) -> str:
    # Keyed by the mini-program's AppSecret: a server secret every process already shares.
    key = hashlib.sha256(b"photo-link:" + str(settings.wechat.mp.secret).encode()).digest()
    message = f"{evidence_id}:{size}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]
