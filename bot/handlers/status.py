"""Status: `查询` lists the citizen's cases; `查询 <number>` shows one of their own."""

from __future__ import annotations

from bot.context import BotContext
from cases.errors import NotFound
from cases.views.tracking import case_for_citizen, recent_cases, view_for_citizen
from cases.workflow.states import STATUS_LABELS


async def handle(ctx: BotContext, query: str) -> str:
    if not query:
        cases = await recent_cases(ctx.citizen)
        kinds = ctx.rules.catalog.kinds
        rows = [
            {
                "number": c.number,
                "kind": kinds[c.kind].name if c.kind in kinds else c.kind,
                "status": STATUS_LABELS[c.status],
            }
            for c in cases
        ]
        return ctx.say("status_list", cases=rows)
    try:
        case = await case_for_citizen(ctx.citizen, query)
    except NotFound:
        return ctx.say("not_found")
    view = await view_for_citizen(ctx.rules, case, ctx.now)
    return ctx.say("status_detail", v=view)
