"""The rules a running case store works by: the catalogue, the calendar, the time zone and the
satisfaction survey's scale. Everything an organisation configures reaches the code through it;
cases/workflow/loading.py builds it once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cases.workflow.deadlines import WorkCalendar
from config.catalog import Catalog
from config.survey import SurveyScale


@dataclass(frozen=True)
class Rules:
    catalog: Catalog
    calendar: WorkCalendar
    survey: SurveyScale

    @property
    def timezone(self) -> ZoneInfo:
        return self.calendar.timezone
