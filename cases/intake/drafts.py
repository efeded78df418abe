"""Chat-bot drafts: where each citizen is in a dialogue, saved after every step (in plain SQL:
every push reads and writes one, cases/store/rows.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cases.store import rows
from cases.store.models import ConversationState


async def load_conversation(openid: str) -> ConversationState | None:
    return await rows.draft_of(openid)


async def save_conversation(openid: str, state: str, data: dict[str, Any]) -> None:
    """Upsert the citizen's dialogue state; the draft survives restarts and long pauses."""
    await rows.save_draft(openid, state, data, datetime.now(UTC))


async def discard_conversation(openid: str) -> None:
    await rows.discard_draft(openid)
