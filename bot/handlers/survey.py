"""Answering the satisfaction invitation in the chat: "1/2/3" or 满意/基本满意/不满意."""

from __future__ import annotations

from bot.context import BotContext
from cases.errors import TransitionNotAllowed
from cases.store.models import Case
from cases.workflow.surveys import (
    DISSATISFIED,
    answer_survey,
    answered_survey_case,
    invited_survey_case,
)
from config.survey import SurveyScale


def verdict_of(scale: SurveyScale, text: str) -> str | None:
    """The level a chat reply names, if it names one."""
    by_label = {label: level for level, label in scale.levels.items()}
    return scale.chat_answers.get(text) or by_label.get(text)


async def invited_case(ctx: BotContext) -> Case | None:
    """The citizen's case whose invitation has gone out and whose window is open."""
    return await invited_survey_case(ctx.citizen.id, ctx.now)


async def answered_case(ctx: BotContext) -> Case | None:
    """The citizen's case already rated while its survey window is open."""
    return await answered_survey_case(ctx.citizen.id, ctx.now)


def already_answered(ctx: BotContext, case: Case) -> str:
    return ctx.say("survey_already", number=case.number)


async def handle(ctx: BotContext, case: Case, verdict: str) -> str:
    try:
        await answer_survey(ctx.rules, case, {"overall": verdict}, "official_account", ctx.now)
    except TransitionNotAllowed as exc:
        return exc.message
    label = ctx.rules.survey.levels[verdict]
    if verdict == DISSATISFIED:
        return ctx.say("survey_review", number=case.number)
    return ctx.say("survey_thanks", number=case.number, label=label)
