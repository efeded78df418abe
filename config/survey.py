"""The satisfaction scale (levels and dimensions) from config/survey.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from config.settings import CONFIG_DIR, ConfigError

SURVEY_FILE = CONFIG_DIR / "survey.toml"


@dataclass(frozen=True)
class SurveyScale:
    levels: dict[str, str]  # code -> label, e.g. satisfied -> 满意
    dimensions: dict[str, str]  # code -> label, e.g. timeliness -> 办理时效
    comment_max_chars: int
    invite_after_working_days: int
    invite_hour: int
    answer_within_days: int
    chat_answers: dict[str, str]  # reply text -> level


def load_survey_scale() -> SurveyScale:
    """Read and check config/survey.toml (once, by `cases.rules.load_rules`)."""
    try:
        with SURVEY_FILE.open("rb") as f:
            raw = tomllib.load(f)
        scale = SurveyScale(
            levels={str(k): str(v) for k, v in raw["levels"].items()},
            dimensions={str(k): str(v) for k, v in raw["dimensions"].items()},
            comment_max_chars=int(raw["comment_max_chars"]),
            invite_after_working_days=int(raw["invitation"]["after_working_days"]),
            invite_hour=int(raw["invitation"]["send_hour"]),
            answer_within_days=int(raw["invitation"]["answer_within_days"]),
            chat_answers={str(k): str(v) for k, v in raw.get("chat_answers", {}).items()},
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(SURVEY_FILE.name, f"invalid survey scale ({exc})") from None
    if not scale.levels or not scale.dimensions:
        raise ConfigError(SURVEY_FILE.name, "levels and dimensions must not be empty")
    # The invitation must go out within 5 working days (the rule) and the answer window
    # must not be empty.
    if not 0 <= scale.invite_after_working_days <= 5 or not 0 <= scale.invite_hour <= 23:
        raise ConfigError(SURVEY_FILE.name, "invitation: 0-5 working days, hour 0-23")
    if not set(scale.chat_answers.values()) <= set(scale.levels):
        raise ConfigError(SURVEY_FILE.name, "chat_answers must name levels")
    if not 1 <= scale.answer_within_days <= 31:
        raise ConfigError(SURVEY_FILE.name, "invitation: answer_within_days must be 1-31")
    return scale
