"""Likely duplicates: the same citizen, the same respondent, a similar story, still open.

Staff decide whether to merge; this only flags (暂行办法: 「就同一事项重复投诉举报的」 may be
refused, so intake must see the earlier case).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from difflib import SequenceMatcher

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from cases.rules import Rules
from cases.store.models import Case, Status

_OPEN = [
    Status.SUBMITTED,
    Status.NEEDS_INFO,
    Status.ACCEPTED,
    Status.ASSIGNED,
    Status.IN_PROGRESS,
    Status.REPLIED,
]
_NOISE = re.compile(r"[\W_]+", re.UNICODE)
# Enough candidates for a real repeat complainant; bounded so filing stays fast.
MAX_CANDIDATES = 20


def respondent_key(name: str) -> str:
    """Normalise a respondent's name: full-width to half-width, no spaces or punctuation."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", name)).lower()[:100]


def similarity(a: str, b: str) -> float:
    """Similarity of two descriptions in [0, 1], on normalised characters."""
    return SequenceMatcher(None, respondent_key(a), respondent_key(b), autojunk=False).ratio()


async def find_duplicate(
    rules: Rules, case: Case, now: datetime, conn: BaseDBAsyncClient
) -> int | None:
    """The id of the most similar open case by the same person against the same respondent."""
    if not case.respondent_key:
        return None
    same_person = Q()
    if case.citizen_id is not None:
        same_person |= Q(citizen_id=case.citizen_id)
    if case.contact_phone:
        same_person |= Q(contact_phone=case.contact_phone)
    if not same_person.children and not same_person.filters:
        return None
    rule = rules.catalog.duplicates
    candidates = await (
        Case.filter(
            same_person,
            respondent_key=case.respondent_key,
            status__in=_OPEN,
            created_at__gte=now - timedelta(days=rule.window_days),
        )
        .using_db(conn)
        .order_by("-created_at")
        .limit(MAX_CANDIDATES)
        .only("id", "description")
    )
    best_id, best = None, rule.similarity
    for other in candidates:
        score = similarity(case.description, other.description)
        if score >= best:
            best_id, best = other.id, score
    return best_id
