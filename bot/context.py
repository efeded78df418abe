"""What a handler gets: the rules, the texts, the citizen, and a way to work in the background."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.incoming import Incoming
from bot.texts import Texts
from cases.rules import Rules
from cases.store.models import Citizen


@dataclass
class BotContext:
    rules: Rules
    texts: Texts
    citizen: Citizen
    message: Incoming
    now: datetime
    # The citizen's filing quota (cases in 24 h over every channel, [miniprogram] cases_per_day).
    cases_per_day: int
    # Schedules slow work (media download) after the reply has gone out.
    spawn: Callable[[Coroutine[Any, Any, None]], None]
    # Downloads and stores one photo of this citizen; run through `spawn`.
    save_photo: Callable[[Citizen, str], Coroutine[Any, Any, None]]

    @property
    def sent_at(self) -> datetime:
        """When the citizen sent the message (WeChat's CreateTime), never later than now:
        '昨天' in a message that a retry delivers after midnight still means the day before."""
        if self.message.create_time <= 0:
            return self.now
        return min(datetime.fromtimestamp(self.message.create_time, UTC), self.now)

    def say(self, template: str, **context: Any) -> str:
        return self.texts.render(template, **context)
