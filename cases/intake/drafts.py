"""Chat-bot drafts: where each citizen is in a dialogue, saved after every step."""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import IntegrityError

from cases.store.models import ConversationState


async def load_conversation(openid: str) -> ConversationState | None:
    return await ConversationState.get_or_none(openid=openid)


async def save_conversation(openid: str, state: str, data: dict[str, Any]) -> None:
    """Upsert the citizen's dialogue state; the draft survives restarts and long pauses."""
    updated = await ConversationState.filter(openid=openid).update(state=state, data=data)
    if updated:
        return
    try:
        await ConversationState.create(openid=openid, state=state, data=data)
    except IntegrityError:
        await ConversationState.filter(openid=openid).update(state=state, data=data)


async def discard_conversation(openid: str) -> None:
    await ConversationState.filter(openid=openid).delete()
