"""Menu clicks: the keys are defined with the menu in config/menu.toml."""

from __future__ import annotations

from bot.context import BotContext
from bot.handlers import filing, help, status

FILE_PREFIX = "FILE_"


async def handle(ctx: BotContext) -> str | None:
    key = ctx.message.event_key
    if key.startswith(FILE_PREFIX):
        return await filing.start(ctx, key.removeprefix(FILE_PREFIX))
    if key == "STATUS":
        return await status.handle(ctx, "")
    if key == "GUIDE":
        return await help.guide(ctx)
    return None
