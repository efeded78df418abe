from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("cases", "0008_restore_sqlite_indexes")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Reminder",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "case",
                    fields.ForeignKeyField(
                        "cases.Case",
                        source_field="case_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="reminders",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "clock",
                    fields.ForeignKeyField(
                        "cases.CaseClock",
                        source_field="clock_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="reminders",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("point", fields.CharField(max_length=32)),
                (
                    "department",
                    fields.ForeignKeyField(
                        "cases.Department",
                        source_field="department_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="reminders",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("read_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("read_by", fields.CharField(default="", max_length=64)),
            ],
            options={
                "table": "reminder",
                "app": "cases",
                "unique_together": (("clock", "point"),),
                "indexes": [Index(fields=["department_id", "read_at"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Case",
            name="finding",
            field=fields.CharField(default="", max_length=32),
        ),
        ops.AddField(
            model_name="Case",
            name="named_staff",
            field=fields.CharField(default="", max_length=50),
        ),
    ]
