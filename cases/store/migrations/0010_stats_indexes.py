"""Indexes for the statistics and the monthly report (cases/views/stats.py): cases filed in a
period by kind, category, channel and unit; the rates' cohorts by acceptance and by closure
time; one clock's runs stopped in a period; the ratings of a period; and a narrow (id, unit,
accepted, closed) copy of the case that clock runs and ratings are joined to; and a case's own clocks by name. Each holds the
columns its counts read, so a month over a million cases is counted without visiting the wide
case rows. Only indexes are added: on SQLite an altered field would rebuild the table.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("cases", "0009_findings_reminders")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Case",
            index=Index(
                fields=["created_at", "status", "kind", "category", "channel", "department_id"]
            ),
        ),
        ops.AddIndex(
            model_name="Case",
            index=Index(
                fields=["accepted_at", "status", "kind", "finding", "closed_at", "department_id"]
            ),
        ),
        ops.AddIndex(
            model_name="Case",
            index=Index(fields=["closed_at", "kind", "finding", "department_id"]),
        ),
        ops.AddIndex(
            model_name="Case",
            index=Index(fields=["id", "department_id", "accepted_at", "closed_at"]),
        ),
        ops.AddIndex(
            model_name="CaseClock",
            index=Index(fields=["name", "stopped_at", "due_at", "case_id"]),
        ),
        ops.AddIndex(
            model_name="CaseClock",
            index=Index(fields=["case_id", "name"]),
        ),
        ops.AddIndex(
            model_name="Rating",
            index=Index(fields=["created_at", "overall", "case_id"]),
        ),
    ]
