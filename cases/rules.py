"""The rules a running case store works by: the catalogue, the calendar, the time zone and the
satisfaction survey's scale. Everything an organisation configures reaches the code through it."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cases.workflow.deadlines import WorkCalendar, load_year_tables
from config.catalog import Catalog, load_catalog
from config.settings import ConfigError, Settings
from config.survey import SurveyScale, load_survey_scale


@dataclass(frozen=True)
class Rules:
    catalog: Catalog
    calendar: WorkCalendar
    survey: SurveyScale

    @property
    def timezone(self) -> ZoneInfo:
        return self.calendar.timezone


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
    return Rules(
        catalog=load_catalog(settings.profile),
        calendar=WorkCalendar(timezone=settings.timezone, overrides=overrides),
        survey=load_survey_scale(),
    )
