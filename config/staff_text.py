"""Words the staff console shows for recorded codes, from config/staff_text.toml: timeline
entries outside the workflow, notice kinds, and why a notice was not delivered."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache

from config.settings import CONFIG_DIR, ConfigError

STAFF_TEXT_FILE = CONFIG_DIR / "staff_text.toml"
UNKNOWN_REASON = "unknown"


@dataclass(frozen=True)
class StaffText:
    events: dict[str, str]  # event action -> label
    notices: dict[str, str]  # notice kind -> name
    delivery_errors: dict[str, str]  # WeChat errcode or our reason code -> plain words
    failure_format: str  # "{notice}未能送达:{reason}"

    def delivery_error(self, code: str) -> str:
        """Why a notice was not delivered, in words; an unknown code says so."""
        return self.delivery_errors.get(code) or self.delivery_errors[UNKNOWN_REASON]


@cache
def load_staff_text() -> StaffText:
    try:
        with STAFF_TEXT_FILE.open("rb") as f:
            raw = tomllib.load(f)
        text = StaffText(
            events={str(k): str(v) for k, v in raw["events"].items()},
            notices={str(k): str(v) for k, v in raw["notices"].items()},
            delivery_errors={str(k): str(v) for k, v in raw["delivery_errors"].items()},
            failure_format=str(raw["failure_format"]),
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(STAFF_TEXT_FILE.name, f"invalid staff text ({exc})") from None
    if "_any" not in text.notices:
        raise ConfigError(STAFF_TEXT_FILE.name, "notices needs `_any`")
    if UNKNOWN_REASON not in text.delivery_errors:
        raise ConfigError(STAFF_TEXT_FILE.name, f"delivery_errors needs `{UNKNOWN_REASON}`")
    return text
