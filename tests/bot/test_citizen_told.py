"""查询 tells the citizen the date of the stage they wait for, never an internal clock (issue 14)."""

from __future__ import annotations

from datetime import timedelta

from cases.models import Case, CaseClock
from cases.rules import Rules
from cases.workflow import perform
from complaint_desk.keys import RULES
from tests.bot.conftest import BotWorld
from tests.factories import make_case, make_citizen, make_staff


async def _day(rules: Rules, case: Case, name: str) -> str:
    """The last day the case's running clock `name` covers, as the bot writes it."""
    clock = await CaseClock.get(case_id=case.id, name=name, stopped_at__isnull=True)
    last = (clock.due_at - timedelta(microseconds=1)).astimezone(rules.timezone)
    return f"{last.month}月{last.day}日"


async def test_status_shows_the_promised_date_of_each_stage(bot: BotWorld) -> None:
    app = bot.client.server.app
    assert app is not None
    rules = app[RULES]
    chat = bot.make_chat()
    case = await make_case(rules, citizen=await make_citizen(oa_openid=chat.openid))

    filed = await chat.say(f"查询 {case.number}")
    assert f"受理决定期限:{await _day(rules, case, 'acceptance')}" in filed
    assert "分流" not in filed

    intake = await make_staff("intake", "centre")
    await perform(rules, case.id, "accept", intake)
    await perform(rules, case.id, "assign", intake, data={"department": "consumer"})
    assigned = await chat.say(f"查询 {case.number}")
    assert f"办理期限:{await _day(rules, case, 'handling')}" in assigned
    assert "退回" not in assigned and "期限期限" not in assigned
