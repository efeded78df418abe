"""The case lifecycle: the action table and `perform` (`engine`), who acts and the timeline
(`timeline`), the clocks and the working-day calendar (`deadlines`), reminders, sweeps,
surveys, ratings and the citizen's notices (`outbox`). Imports `store`, `auth` and the shared
leaves."""
