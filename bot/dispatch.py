"""Route one push to the handler for its intent."""

from __future__ import annotations

from bot.context import BotContext
from bot.handlers import filing, follow, help, menu, status, survey
from cases.outbox import record_delivery_report

STATUS_WORD = "查询"
HELP_WORDS = {"帮助", "help", "?"}
CANCEL_WORD = "取消"


async def dispatch(ctx: BotContext) -> str | None:
    """The reply text for this push, or None for pushes that need no answer."""
    msg = ctx.message
    if msg.type == "event":
        if msg.event == "subscribe":
            return await follow.handle(ctx)
        if msg.event == "click":
            return await menu.handle(ctx)
        if msg.event == "templatesendjobfinish":
            await record_delivery_report(msg.report_msg_id, msg.report_status)
            return None
        return None  # unsubscribe, location reports, template delivery reports…

    draft = await filing.active_draft(ctx)
    text = msg.text if msg.type == "text" else ""
    if text in HELP_WORDS:
        if draft is not None:
            return await help.handle(ctx) + "\n\n" + await filing.current_question(ctx, draft)
        return await help.handle(ctx)
    if text == CANCEL_WORD:
        return await filing.cancel(ctx)
    if text.startswith(STATUS_WORD):
        return await status.handle(ctx, text.removeprefix(STATUS_WORD).strip())
    if draft is not None:
        return await filing.handle(ctx, draft)
    verdict = survey.verdict_of(text) if text else None
    if verdict is not None and (case := await survey.invited_case(ctx)) is not None:
        return await survey.handle(ctx, case, verdict)
    if msg.type == "text":
        kind = filing.kind_by_word(ctx, text)
        if kind is not None:
            return await filing.start(ctx, kind)
        return await follow.handle(ctx)
    if msg.type in ("image", "location"):
        return await help.handle(ctx)
    return ctx.say("unsupported")
