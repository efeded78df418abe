"""Follow (subscribe): welcome and how to use the account."""

from __future__ import annotations

from bot.context import BotContext


async def handle(ctx: BotContext) -> str:
    return ctx.say("welcome", title=ctx.rules.catalog.title)
