"""The satisfaction scale (levels and dimensions) from config/survey.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache

from config.settings import CONFIG_DIR, ConfigError

SURVEY_FILE = CONFIG_DIR / "survey.toml"


@dataclass(frozen=True)
class SurveyScale:
    levels: dict[str, str]  # code -> label, e.g. satisfied -> 满意
    dimensions: dict[str, str]  # code -> label, e.g. timeliness -> 办理时效
    comment_max_chars: int


@cache
def load_survey_scale() -> SurveyScale:
    try:
        with SURVEY_FILE.open("rb") as f:
            raw = tomllib.load(f)
        scale = SurveyScale(
            levels={str(k): str(v) for k, v in raw["levels"].items()},
            dimensions={str(k): str(v) for k, v in raw["dimensions"].items()},
            comment_max_chars=int(raw["comment_max_chars"]),
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(SURVEY_FILE.name, f"invalid survey scale ({exc})") from None
    if not scale.levels or not scale.dimensions:
        raise ConfigError(SURVEY_FILE.name, "levels and dimensions must not be empty")
    return scale
