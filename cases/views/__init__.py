"""What people read: access to a case, the citizen's tracking view, the staff case view and
its actions, worklists, dashboard, supervision, statistics and the monthly report. Imports
every other room; no room imports it."""
