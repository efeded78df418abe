"""Which WeChat template carries which notice, and what each of its fields says."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, StrictUndefined, Template, TemplateError

from config.settings import CONFIG_DIR, ConfigError

NOTICES_FILE = CONFIG_DIR / "notices.toml"
# WeChat dropped these lines from template messages in 2023: a template using them is refused.
RETIRED_KEYS = frozenset({"first", "remark"})


@dataclass(frozen=True)
class TemplateSpec:
    template_id: str
    fields: dict[str, Template]


@dataclass(frozen=True)
class NoticeTemplates:
    field_max_chars: int
    oa: dict[str, TemplateSpec]

    def render_oa(self, kind: str, values: dict[str, object]) -> tuple[str, dict[str, str]]:
        """Template id and field values (each cut to the limit with '…') for a notice kind."""
        spec = self.oa[kind]
        data = {}
        for key, template in spec.fields.items():
            text = " ".join(template.render(**values).split())
            if len(text) > self.field_max_chars:
                text = text[: self.field_max_chars - 1] + "…"
            data[key] = text
        return spec.template_id, data


def load_notice_templates(path: Path | None = None) -> NoticeTemplates:
    path = path or NOTICES_FILE
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read notice templates ({exc})") from None
    env = Environment(undefined=StrictUndefined, autoescape=False)
    oa = {}
    for kind, entry in raw.get("oa", {}).items():
        retired = RETIRED_KEYS & set(entry.get("fields", {}))
        if retired:
            raise ConfigError(
                f"{path.name}: oa.{kind}", f"WeChat no longer allows {sorted(retired)}"
            )
        try:
            fields = {k: env.from_string(v) for k, v in entry["fields"].items()}
        except (KeyError, TemplateError) as exc:
            raise ConfigError(f"{path.name}: oa.{kind}", f"invalid fields ({exc})") from None
        oa[kind] = TemplateSpec(template_id=str(entry["template_id"]), fields=fields)
    return NoticeTemplates(field_max_chars=int(raw.get("field_max_chars", 20)), oa=oa)
