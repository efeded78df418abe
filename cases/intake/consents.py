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
from cases.store.models import SubscribeConsent

# What wx.requestSubscribeMessage reports per template id that grants a message. The
# documented values are accept / reject / ban / filter; clients with voice reminders (base
# library 2.10.0) answer acceptWithAudio, and some answer acceptWithAlert: both are a consent.
# Any other value (a newer client's) grants nothing and spoils no other template's answer.
ACCEPTED = frozenset({"accept", "acceptWithAudio", "acceptWithAlert"})
# The callback's own status keys, beside the template ids: errMsg always, errCode on failure.
STATUS_KEYS = frozenset({"errMsg", "errCode"})
MAX_KEYS_PER_REPORT = 20  # WeChat asks about at most 5 templates per call
TEMPLATE_ID_CHARS = 64  # SubscribeConsent.template_id


def template_results(results: object) -> dict[str, str]:
    """The per-template answers of a success or fail callback, as the mini-program got it.

    A fail callback (`errMsg` not ending in ":ok", with `errCode`) asked nothing: no
    template. Keys that cannot be a template id are ignored like unknown values are."""
    if (
        not isinstance(results, dict)
        or not 0 < len(results) <= MAX_KEYS_PER_REPORT
        or not isinstance(results.get("errMsg", ""), str)
        or not _is_int(results.get("errCode", 0))
        or not all(isinstance(v, str) for k, v in results.items() if k not in STATUS_KEYS)
    ):
        raise ValidationError(
            "results 应为 wx.requestSubscribeMessage 回调的结果 {模板ID: accept/reject/…}。",
            field="results",
        )
    status = results.get("errMsg", "")
    if "errCode" in results or (status and not status.endswith(":ok")):
        return {}
    return {
        k: v for k, v in results.items() if k not in STATUS_KEYS and 0 < len(k) <= TEMPLATE_ID_CHARS
    }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
        if result in ACCEPTED:
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
