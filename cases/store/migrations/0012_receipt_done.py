"""Drop `push_receipt.done`: every receipt is written complete in its push's transaction, so
nothing ever waited for a receipt to become done (the webhook's polling for it is gone).

SQLite drops the column by rebuilding the table, which keeps no secondary index: the sweep's
index on created_at is made again (IF NOT EXISTS: a no-op on PostgreSQL, as in 0008)."""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("cases", "0011_clock_unit")]

    initial = False

    operations = [
        ops.RemoveField(model_name="PushReceipt", name="done"),
        ops.RunSQL(
            [
                'CREATE INDEX IF NOT EXISTS "idx_push_receip_created_7a2e25"'
                ' ON "push_receipt" ("created_at")'
            ],
            reverse_sql=[],
        ),
    ]
