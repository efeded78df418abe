"""Building the rules at start-up: the profile, checked against the workflow's actions (a clock
that names an action that does not exist would never start or stop), the holiday tables and the
survey's scale."""

from __future__ import annotations

from cases.rules import Rules
from cases.workflow.actions import unknown_actions
from cases.workflow.deadlines import WorkCalendar, load_year_tables
from config.catalog import load_catalog
from config.settings import ConfigError, Settings
from config.survey import load_survey_scale


def load_rules(settings: Settings) -> Rules:
    """Build the rules once at start-up from the settings' profile and holiday tables."""
    overrides = {}
    if settings.holidays_file is not None:
        if not settings.holidays_file.is_file():
            raise ConfigError(
                "organisation.holidays_file", f"file not found: {settings.holidays_file}"
            )
        try:
            overrides = load_year_tables(settings.holidays_file)
        except (ValueError, TypeError) as exc:
            raise ConfigError("organisation.holidays_file", str(exc)) from None
    catalog = load_catalog(settings.profile)
    wrong = unknown_actions(catalog)
    if wrong:
        raise ConfigError(
            f"profile {settings.profile}", "names no such action: " + "; ".join(wrong)
        )
    return Rules(
        catalog=catalog,
        calendar=WorkCalendar(timezone=settings.timezone, overrides=overrides),
        survey=load_survey_scale(),
    )
