"""Pruning the push receipts: retry answers and replay nonces of WeChat's pushes.

WeChat retries a push within seconds and a replayed request is refused by the 300 s
timestamp window anyway; two days keeps every retry answered (research B.2, I4) while the
table stays small.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cases.store.models import PushReceipt

RECEIPT_KEEP = timedelta(days=2)


async def prune_push_receipts(now: datetime) -> int:
    """Delete receipts older than RECEIPT_KEEP; returns how many went."""
    return await PushReceipt.filter(created_at__lt=now - RECEIPT_KEEP).delete()
