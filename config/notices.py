"""Which WeChat template carries which notice, and what each of its fields says."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined, Template, TemplateError

from config.settings import CONFIG_DIR, ConfigError

NOTICES_FILE = CONFIG_DIR / "notices.toml"
# WeChat dropped these lines from template messages in 2023: a template using them is refused.
RETIRED_KEYS = frozenset({"first", "remark"})
_FIELD_TYPE = re.compile(r"^([a-z_]+?)\d*$")


@dataclass(frozen=True)
class TemplateSpec:
    template_id: str
    fields: dict[str, Template]
    # Mini-program page the message opens; official account: the longer customer-service
    # text sent after the template message while the 48-hour window is open.
    page: Template | None = None
    text: Template | None = None


@dataclass(frozen=True)
class RenderedNotice:
    template_id: str
    data: dict[str, str]
    page: str
    text: str  # only when a field was cut
    # True when a field had to be shortened: the citizen has not read everything.
    cut: bool


@dataclass(frozen=True)
class NoticeTemplates:
    field_max_chars: int
    mp_field_limits: dict[str, int]
    oa: dict[str, TemplateSpec]
    mp: dict[str, TemplateSpec]

    def render_oa(self, kind: str, values: dict[str, Any]) -> RenderedNotice:
        """Every field of an official-account template is held to `field_max_chars`."""
        return _render(self.oa[kind], values, lambda _key: self.field_max_chars)

    def render_mp(self, kind: str, values: dict[str, Any]) -> RenderedNotice:
        """Mini-program fields are held to the limit of their type (thing, phrase…)."""
        return _render(self.mp[kind], values, self.mp_limit)

    def mp_limit(self, key: str) -> int:
        match = _FIELD_TYPE.match(key)
        kind = match.group(1) if match else key
        return self.mp_field_limits.get(kind, self.field_max_chars)


def _render(spec: TemplateSpec, values: dict[str, Any], limit: Any) -> RenderedNotice:
    data, cut = {}, False
    for key, template in spec.fields.items():
        text = " ".join(template.render(**values).split())  # one line, as WeChat requires
        most = limit(key)
        if len(text) > most:
            text, cut = text[: most - 1] + "…", True
        data[key] = text
    page = spec.page.render(**values) if spec.page else ""
    text = spec.text.render(**values).strip() if spec.text and cut else ""
    return RenderedNotice(spec.template_id, data, page, text, cut)


def load_notice_templates(path: Path | None = None) -> NoticeTemplates:
    path = path or NOTICES_FILE
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read notice templates ({exc})") from None
    env = Environment(undefined=StrictUndefined, autoescape=False)
    specs: dict[str, dict[str, TemplateSpec]] = {"oa": {}, "mp": {}}
    for channel, by_kind in specs.items():
        for kind, entry in raw.get(channel, {}).items():
            where = f"{path.name}: {channel}.{kind}"
            retired = RETIRED_KEYS & set(entry.get("fields", {}))
            if retired:
                raise ConfigError(where, f"WeChat no longer allows {sorted(retired)}")
            try:
                by_kind[kind] = TemplateSpec(
                    template_id=str(entry["template_id"]),
                    fields={k: env.from_string(v) for k, v in entry["fields"].items()},
                    page=env.from_string(entry["page"]) if "page" in entry else None,
                    text=env.from_string(entry["text"]) if "text" in entry else None,
                )
            except (KeyError, TemplateError) as exc:
                raise ConfigError(where, f"invalid template ({exc})") from None
    limits = raw.get("mp_field_limits", {})
    return NoticeTemplates(
        field_max_chars=int(raw.get("field_max_chars", 20)),
        mp_field_limits={str(k): int(v) for k, v in limits.items()},
        oa=specs["oa"],
        mp=specs["mp"],
    )
