"""Reply templates: the facts / handling / basis texts a handler starts a reply from.

One TOML file per organisation profile under templates/staff/replies/ (a profile without one
simply offers none). The texts are domain wording, edited there, never in code. `$number`,
`$respondent_name` and `$incident_place` are filled in from the case; nothing that could
identify the citizen is offered as a placeholder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import templates
from cases.rules import Rules
from cases.store.models import Case

REPLIES_DIR = Path(templates.__file__).parent / "staff" / "replies"
TEMPLATE_PARTS = ("facts", "handling", "basis")


class ReplyTemplatesInvalid(ValueError):
    """A reply-template file that cannot be used; the message names the file and entry."""


@dataclass(frozen=True)
class ReplyTemplate:
    code: str
    title: str
    # Kinds it suits; empty = every kind.
    kinds: tuple[str, ...]
    facts: str
    handling: str
    basis: str

    def filled(self, case: Case) -> dict[str, str]:
        """The three parts with the case's placeholders filled in (unknown ones left as is)."""
        values = {
            "number": case.number,
            "respondent_name": case.respondent_name or "被投诉(举报)对象",
            "incident_place": case.incident_place,
        }
        return {
            part: Template(getattr(self, part)).safe_substitute(values) for part in TEMPLATE_PARTS
        }


def load_reply_templates(profile: str, directory: Path = REPLIES_DIR) -> tuple[ReplyTemplate, ...]:
    """The templates of a profile (by catalogue name); ReplyTemplatesInvalid if malformed."""
    path = directory / f"{profile}.toml"
    if not path.is_file():
        return ()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return tuple(_build(entry) for entry in raw.get("replies", []))
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ReplyTemplatesInvalid(f"{path.name}: {exc}") from None


def _build(entry: dict[str, Any]) -> ReplyTemplate:
    texts = {part: entry.get(part, "") for part in TEMPLATE_PARTS}
    if not all(isinstance(v, str) for v in (entry["code"], entry["title"], *texts.values())):
        raise ValueError(f"reply {entry.get('code')!r}: code, title and texts must be strings")
    return ReplyTemplate(
        code=entry["code"], title=entry["title"], kinds=tuple(entry.get("kinds", ())), **texts
    )


def templates_for(rules: Rules, case: Case) -> list[ReplyTemplate]:
    """The templates offered on this case's reply form."""
    return [
        t for t in load_reply_templates(rules.catalog.name) if not t.kinds or case.kind in t.kinds
    ]


def template_for(rules: Rules, case: Case, code: str) -> ReplyTemplate | None:
    """The template a "start from" link names, if it still exists for this case."""
    return next((t for t in templates_for(rules, case) if t.code == code), None)
