"""Help and the service guide."""

from __future__ import annotations

from bot.context import BotContext


async def handle(ctx: BotContext) -> str:
    return ctx.say("help")


async def guide(ctx: BotContext) -> str:
    return ctx.say("guide")
