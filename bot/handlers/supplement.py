"""Answering 要求补充材料 in the chat: what the citizen sends becomes the supplement.

While a case of theirs waits for information, the citizen's texts and photos are collected
in a conversation saved after every message; "确认" hands them in (the case goes back to its
queue), "取消" drops them and the case keeps waiting. With several cases waiting the citizen
first picks one; what they sent before choosing is kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.context import BotContext
from cases.errors import CaseError
from cases.intake.drafts import discard_conversation, load_conversation, save_conversation
from cases.intake.photos import SentSince
from cases.intake.supplements import (
    AwaitedSupplement,
    cases_awaiting_supplement,
    hand_in_supplement,
)
from cases.views.tracking import normalize_number
from config.chat import load_chat_words

STATE = "supplement"


async def waiting(ctx: BotContext) -> list[AwaitedSupplement]:
    return await cases_awaiting_supplement(ctx.citizen)


async def show(ctx: BotContext) -> str:
    """The keyword: list the cases waiting for the citizen, or start on the only one."""
    cases = await waiting(ctx)
    if not cases:
        return ctx.say("supplement_none")
    data = _new(ctx, cases)
    await _save(ctx, data)
    if data["case_id"] is None:
        return _list(ctx, data)
    return ctx.say("supplement_ask", number=data["number"], asked=data["asked"])


async def begin(ctx: BotContext, cases: list[AwaitedSupplement]) -> str:
    """A message while cases wait and nothing else is going on: it is the supplement."""
    data = _new(ctx, cases)
    problem = _absorb(ctx, data)
    await _save(ctx, data)
    if problem:
        return problem
    if data["case_id"] is None:
        return _list(ctx, data)
    return _received(ctx, data)


async def handle(ctx: BotContext, data: dict[str, Any]) -> str:
    """One message while a supplement is being collected."""
    msg = ctx.message
    text = msg.text.lower() if msg.type == "text" else ""
    if data["case_id"] is None:
        if msg.type == "image":
            problem = _absorb(ctx, data)
            await _save(ctx, data)
            return problem or _list(ctx, data)
        if not _choose(data, text):
            expected = ctx.say("supplement_expected", count=len(data["choices"]))
            return ctx.say("not_understood", expected=expected) + "\n" + _list(ctx, data)
        await _save(ctx, data)
        if data["texts"] or data["photo_count"]:
            return _received(ctx, data)
        return ctx.say("supplement_ask", number=data["number"], asked=data["asked"])
    if text in load_chat_words().confirm:
        return await _hand_in(ctx, data)
    problem = _absorb(ctx, data)
    await _save(ctx, data)
    return problem or _received(ctx, data)


async def busy(ctx: BotContext, new_kind: str) -> str | None:
    """Starting a filing now would drop what the citizen sent as a supplement: say so."""
    state = await load_conversation(ctx.citizen.oa_openid or "")
    if state is None or state.state != STATE:
        return None
    data = state.data
    if data["case_id"] is None or not (data["texts"] or data["photo_count"]):
        return None
    return ctx.say("supplement_busy", number=data["number"], new_kind=new_kind)


async def prompt(ctx: BotContext, data: dict[str, Any]) -> str:
    """What the conversation waits for (after help, for instance)."""
    if data["case_id"] is None:
        return _list(ctx, data)
    if data["texts"] or data["photo_count"]:
        return _received(ctx, data)
    return ctx.say("supplement_ask", number=data["number"], asked=data["asked"])


async def cancel(ctx: BotContext, data: dict[str, Any]) -> str:
    await discard_conversation(ctx.citizen.oa_openid or "")
    if data["case_id"] is None:
        return ctx.say("cancelled")
    return ctx.say("supplement_cancelled", number=data["number"])


def _new(ctx: BotContext, cases: list[AwaitedSupplement]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "case_id": None,
        "number": "",
        "asked": "",
        "choices": [[c.case_id, c.number, c.asked] for c in cases],
        "texts": [],
        "photo_count": 0,
        "started": ctx.now.isoformat(),
    }
    if len(cases) == 1:
        _choose(data, "1")
    return data


def _choose(data: dict[str, Any], text: str) -> bool:
    choices = data["choices"]
    picked = None
    if text.isdigit() and 1 <= int(text) <= len(choices):
        picked = choices[int(text) - 1]
    else:
        number = normalize_number(text)
        picked = next((c for c in choices if c[1] == number), None)
    if picked is None:
        return False
    data["case_id"], data["number"], data["asked"] = picked
    return True


def _absorb(ctx: BotContext, data: dict[str, Any]) -> str | None:
    """Keep this message's text or photo in the supplement; a short refusal if it cannot be."""
    msg = ctx.message
    limits = ctx.rules.catalog.limits
    if msg.type == "image":
        if data["photo_count"] >= limits.max_photos:
            return ctx.say("photo_limit", max_photos=limits.max_photos)
        data["photo_count"] += 1
        ctx.spawn(ctx.save_photo(ctx.citizen, msg.media_id))
        return None
    if msg.type == "text" and msg.text:
        limit = limits.max_chars.get("note", 1000)
        if len("\n".join([*data["texts"], msg.text])) > limit:
            return ctx.say("supplement_too_long", limit=limit)
        data["texts"].append(msg.text)
        return None
    return ctx.say("unsupported")


async def _hand_in(ctx: BotContext, data: dict[str, Any]) -> str:
    if not data["texts"] and not data["photo_count"]:
        return ctx.say("supplement_empty")
    note = ctx.say("supplement_note", texts=data["texts"], photos=data["photo_count"])
    # The chat's photos arrive one by one: those sent since the supplement began.
    photos = SentSince(datetime.fromisoformat(data["started"])) if data["photo_count"] else None
    try:
        case, _ = await hand_in_supplement(
            ctx.rules, ctx.citizen, data["case_id"], note, photos=photos, now=ctx.now
        )
    except CaseError as exc:
        # Staff acted on the case meanwhile (withdrawn, accepted…): say so; nothing is kept.
        await discard_conversation(ctx.citizen.oa_openid or "")
        return exc.message
    await discard_conversation(ctx.citizen.oa_openid or "")
    return ctx.say("supplement_done", number=case.number)


def _list(ctx: BotContext, data: dict[str, Any]) -> str:
    choices = [{"number": c[1], "asked": c[2]} for c in data["choices"]]
    received = bool(data["texts"] or data["photo_count"])
    return ctx.say("supplement_list", choices=choices, received=received)


def _received(ctx: BotContext, data: dict[str, Any]) -> str:
    return ctx.say(
        "supplement_received",
        number=data["number"],
        texts=len(data["texts"]),
        photos=data["photo_count"],
    )


async def _save(ctx: BotContext, data: dict[str, Any]) -> None:
    data["updated"] = ctx.now.isoformat()
    await save_conversation(ctx.citizen.oa_openid or "", STATE, data)
