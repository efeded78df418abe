"""Route one push to the handler for its intent."""

from __future__ import annotations

from bot.context import BotContext
from bot.handlers import filing, follow, help, menu, status, supplement, survey
from cases.intake.drafts import load_conversation
from cases.workflow.outbox import record_delivery_report
from config.chat import load_chat_words

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

    state = await load_conversation(ctx.citizen.oa_openid or "")
    draft = dict(state.data) if state is not None and state.state == filing.STATE else None
    adding = dict(state.data) if state is not None and state.state == supplement.STATE else None
    text = msg.text if msg.type == "text" else ""
    words = load_chat_words()
    if text in HELP_WORDS:
        if draft is not None:
            return await help.handle(ctx) + "\n\n" + await filing.current_question(ctx, draft)
        if adding is not None:
            return await help.handle(ctx) + "\n\n" + await supplement.prompt(ctx, adding)
        return await help.handle(ctx)
    if text == CANCEL_WORD:
        if adding is not None:
            return await supplement.cancel(ctx, adding)
        return await filing.cancel(ctx)
    if text.startswith(STATUS_WORD):
        return await status.handle(ctx, text.removeprefix(STATUS_WORD).strip())
    if draft is not None:
        return await filing.handle(ctx, draft)
    kind = filing.kind_by_word(ctx, text) if text else None
    if adding is not None:
        if kind is not None:
            name = ctx.rules.catalog.kinds[kind].name
            if (refusal := await supplement.busy(ctx, name)) is not None:
                return refusal
            return await filing.start(ctx, kind)
        return await supplement.handle(ctx, adding)
    if text.lower() in words.supplement:
        return await supplement.show(ctx)
    verdict = survey.verdict_of(ctx.rules.survey, text) if text else None
    if verdict is not None:
        if (case := await survey.invited_case(ctx)) is not None:
            return await survey.handle(ctx, case, verdict)
        if (case := await survey.answered_case(ctx)) is not None:
            return survey.already_answered(ctx, case)
    if kind is not None:
        return await filing.start(ctx, kind)
    if msg.type in ("text", "image") and text.lower() not in words.greetings:
        # While a case waits for information, what the citizen sends is taken as the answer.
        waiting = await supplement.waiting(ctx)
        if waiting:
            return await supplement.begin(ctx, waiting)
    if msg.type == "text":
        if text.lower() in words.greetings:
            return await follow.handle(ctx)
        return ctx.say("not_understood", expected=ctx.say("not_understood_expected"))
    if msg.type in ("image", "location"):
        return await help.handle(ctx)
    return ctx.say("unsupported")
