"""The product's rules and its store; the faces (bot/, miniprogram_api/, staff/) call into it.

Rooms, each importing only the rooms above it in this list (and the shared leaves `errors`,
`rules`, `text`, `privacy` beside them); nothing here imports a face:

- `store`: the tables, connecting and migrating them, the SQLite engine, evidence files,
  backups, numbering.
- `auth`: staff accounts, sign-in, password hashing, sessions and tokens.
- `workflow`: the case lifecycle: actions (`engine`), who acts and the timeline (`timeline`),
  clocks and the working-day calendar, reminders, sweeps, surveys and the citizen's notices.
- `intake`: filing from every channel: validation, evidence, duplicates, quotas, drafts,
  consents and the citizen's supplements.
- `views`: what people read: access checks, the citizen's tracking view, the staff console's
  case view, worklists, dashboard, supervision, statistics and the monthly report.
"""
