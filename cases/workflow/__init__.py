"""The case lifecycle: each action declared once (`actions`, its checks and effects in
`effects`), the one way to take any of them (`engine.perform`), the states (`states`), who acts
and the timeline (`timeline`) and what it says so far (`history`), the clocks and the
working-day calendar (`clocks`, `deadlines`), reminders, sweeps, surveys, ratings, the citizen's
notices (`outbox`) and building the rules at start-up (`loading`). Imports `store`, `auth` and
the shared leaves."""
