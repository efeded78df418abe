"""Words the staff console shows for recorded codes, from config/staff_text.toml: timeline
entries outside the workflow (and the few a citizen's timeline shows, in the citizen's words),
notice kinds, and why a notice was not delivered."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache

from config.settings import CONFIG_DIR, ConfigError

STAFF_TEXT_FILE = CONFIG_DIR / "staff_text.toml"
UNKNOWN_REASON = "unknown"
# "004 12312分流": the number of a seed file of the research notes, meaningless to staff.
_SEED_NUMBER = re.compile(r"(?<![\w.])\d{3} (?=\S)")


@dataclass(frozen=True)
class StaffText:
    events: dict[str, str]  # event action -> label
    citizen_events: dict[str, str]  # event action -> label on the citizen's timeline
    notices: dict[str, str]  # notice kind -> name
    delivery_errors: dict[str, str]  # WeChat errcode or our reason code -> plain words
    failure_format: str  # "{notice}未能送达:{reason}"
    citations: dict[str, str]  # phrase -> what staff read instead

    def citation(self, source: str) -> str:
        """A profile's citation as staff read it: no seed file numbers, no English notes."""
        for phrase, words in self.citations.items():
            source = source.replace(phrase, words)
        return _SEED_NUMBER.sub("", source)

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
            citizen_events={str(k): str(v) for k, v in raw["citizen_events"].items()},
            notices={str(k): str(v) for k, v in raw["notices"].items()},
            delivery_errors={str(k): str(v) for k, v in raw["delivery_errors"].items()},
            failure_format=str(raw["failure_format"]),
            citations={str(k): str(v) for k, v in raw.get("citations", {}).items()},
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(STAFF_TEXT_FILE.name, f"invalid staff text ({exc})") from None
    if not set(text.citizen_events) <= set(text.events):
        raise ConfigError(STAFF_TEXT_FILE.name, "citizen_events must name entries of events")
    if "_any" not in text.notices:
        raise ConfigError(STAFF_TEXT_FILE.name, "notices needs `_any`")
    if UNKNOWN_REASON not in text.delivery_errors:
        raise ConfigError(STAFF_TEXT_FILE.name, f"delivery_errors needs `{UNKNOWN_REASON}`")
    return text
