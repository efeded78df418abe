"""Every text the bot sends is a jinja2 template in templates/bot/."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


def due_date(value: datetime) -> str:
    """A deadline that ends at midnight is shown as the last day it covers: '11月30日'."""
    last = value - timedelta(microseconds=1)
    return f"{last.month}月{last.day}日"


class Texts:
    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("templates", "bot"),
            undefined=StrictUndefined,
            autoescape=False,  # plain text; wechatpy escapes it into the XML reply
            keep_trailing_newline=False,
            trim_blocks=False,
            auto_reload=False,  # shipped files: no stat() per reply
        )
        self._env.filters["due_date"] = due_date

    def render(self, name: str, **context: Any) -> str:
        return self._env.get_template(f"{name}.j2").render(**context).strip()
