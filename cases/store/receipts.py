"""Push receipts: each WeChat push acts once, a retry gets the first answer, a replayed
request (the same timestamp and nonce) acts not at all; and their pruning.

A receipt is a row with a unique key written in the same transaction as the push's effects:
a repeat fails on that key and rolls its own effects back. WeChat retries a push within
seconds and a replayed request is refused by the 300 s timestamp window anyway; two days keeps
every retry answered (research B.2, I4) while the table stays small.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from cases.store.models import PushReceipt
from cases.store.rows import write_receipts

log = logging.getLogger(__name__)
RECEIPT_KEEP = timedelta(days=2)


async def answer_once(key: str, nonce_key: str, act: Callable[[], Awaitable[str]]) -> str | None:
    """Run `act` and keep the answer it returns under the push's `key`, with the request's
    `nonce_key`, in one transaction; returns that answer, or None for a repeat.

    The receipts are written last, after the effects: a crash leaves all or nothing, and a
    repeat of the push (sequential or concurrent) or of its request fails on a receipt's unique
    key, so nothing of `act` is kept (then `repeat_answer` has what to say). One commit and no
    extra round trips per push keep the bot fast on SQLite. Any other error of `act` is raised,
    its effects rolled back.
    """
    try:
        async with in_transaction():
            reply = await act()
            await write_receipts(key, reply, nonce_key, datetime.now(UTC))
    except IntegrityError:
        return None
    return reply


async def repeat_answer(key: str) -> str:
    """A retry of a push gets its stored answer; a replayed request with another body none."""
    receipt = await PushReceipt.get_or_none(key=key)
    if receipt is not None:
        return receipt.reply
    log.warning("replayed push request ignored (timestamp and nonce seen before)")
    return ""


async def act_once_per_request(nonce_key: str, act: Callable[[], Awaitable[None]]) -> bool:
    """Run `act` in one transaction with the request's `nonce_key` recorded first; False,
    nothing of `act` kept, when that request was seen before (a replay)."""
    try:
        async with in_transaction():
            await PushReceipt.create(key=nonce_key)
            await act()
    except IntegrityError:
        return False
    return True


async def prune_push_receipts(now: datetime) -> int:
    """Delete receipts older than RECEIPT_KEEP; returns how many went."""
    return await PushReceipt.filter(created_at__lt=now - RECEIPT_KEEP).delete()
