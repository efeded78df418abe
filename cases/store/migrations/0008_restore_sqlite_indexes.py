"""Recreate indexes that SQLite lost when earlier migrations altered a column.

SQLite cannot alter a column in place: tortoise rebuilds the table (0003 on notice, 0006 on
case) and the rebuilt table kept none of its secondary indexes. PostgreSQL still has them,
under these same names, so IF NOT EXISTS makes this a no-op there.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

INDEXES = (
    ("idx_case_contact_31e0db", "case", "contact_phone"),
    ("idx_case_created_81b22d", "case", "created_at, category"),
    ("idx_case_departm_3a2fa6", "case", "department_id, status, next_due_at"),
    ("idx_case_respond_1cc854", "case", "respondent_key"),
    ("idx_case_status_3c4829", "case", "status, next_due_at"),
    ("idx_notice_status_89b439", "notice", "status, next_attempt_at"),
)


class Migration(migrations.Migration):
    dependencies = [("cases", "0007_surveys")]

    initial = False

    operations = [
        ops.RunSQL(
            [f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ({cols})' for name, table, cols in INDEXES],
            reverse_sql=[],
        ),
    ]
