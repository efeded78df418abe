"""The subscribe-message consent ledger: one "accept" in the mini-program allows one message.

WeChat answers 43101 to a message sent without a consent left, and a consent once spent is
gone, so the ledger is decremented before sending and given back only when WeChat surely did
not deliver.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from cases.errors import ValidationError
from cases.models import SubscribeConsent

# What wx.requestSubscribeMessage reports per template; only "accept" grants a message.
RESULTS = frozenset({"accept", "reject", "ban", "filter"})


async def record_consents(
    citizen_id: int, results: Mapping[str, str], offered: Collection[str] | None = None
) -> dict[str, int]:
    """Add one consent per accepted template; returns what is left of each template named.

    Only the templates we send (`offered`, the catalogue's subscribe_templates) are kept: any
    other id would grow the ledger with rows nothing reads. A report naming none is refused.
    (None: every id, for callers that hold no catalogue.)"""
    ours = {t: r for t, r in results.items() if offered is None or t in offered}
    if not ours:
        raise ValidationError("results 中没有本小程序的订阅消息模板。", field="results")
    left = {}
    for template_id, result in ours.items():
        if result == "accept":
            await _add_one(citizen_id, template_id)
        left[template_id] = await consents_left(citizen_id, template_id)
    return left


async def _add_one(citizen_id: int, template_id: str) -> None:
    mine = SubscribeConsent.filter(citizen_id=citizen_id, template_id=template_id)
    if await mine.update(remaining=F("remaining") + 1):
        return
    try:
        await SubscribeConsent.create(citizen_id=citizen_id, template_id=template_id, remaining=1)
    except IntegrityError:  # a concurrent report created the row first
        await mine.update(remaining=F("remaining") + 1)


async def consents_left(citizen_id: int, template_id: str) -> int:
    row = await SubscribeConsent.filter(citizen_id=citizen_id, template_id=template_id).first()
    return row.remaining if row is not None else 0


async def take_consent(citizen_id: int, template_id: str) -> bool:
    """Spend one consent (atomically); False when none is left."""
    spent = await SubscribeConsent.filter(
        citizen_id=citizen_id, template_id=template_id, remaining__gt=0
    ).update(remaining=F("remaining") - 1)
    return spent > 0


async def give_back(citizen_id: int, template_id: str) -> None:
    """Return a consent taken for a message WeChat refused before delivering it."""
    await _add_one(citizen_id, template_id)


async def forget_consents(citizen_id: int, template_id: str) -> None:
    """WeChat says there is none (43101: the citizen withdrew it in their settings)."""
    await SubscribeConsent.filter(citizen_id=citizen_id, template_id=template_id).update(
        remaining=0
    )
