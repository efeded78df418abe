"""Menu clicks: the keys are defined with the menu in config/menu.toml."""

from __future__ import annotations

from bot.context import BotContext
from bot.handlers import filing, help, status, supplement

FILE_PREFIX = "FILE_"


async def handle(ctx: BotContext) -> str | None:
    key = ctx.message.event_key
    if key.startswith(FILE_PREFIX):
        code = key.removeprefix(FILE_PREFIX)
        kind = ctx.rules.catalog.kinds.get(code)
        if kind is not None and (refusal := await supplement.busy(ctx, kind.name)) is not None:
            return refusal
        return await filing.start_or_offer(ctx, code)
    if key == "STATUS":
        return await status.handle(ctx, "")
    if key == "GUIDE":
        return await help.guide(ctx)
    return None
