"""The unit each clock run was started for (`case_clock.department_id`), so the response rate
credits the unit that had to answer an assignment, not the one holding the case today.

Existing return windows get the unit of the assignment that started them (the `assign` event
written in the same transaction, hence at the same time); a window still running without one
gets the case's current unit. The column is added, not altered: SQLite keeps the table.
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

_ASSIGNED_UNIT = (
    "UPDATE case_clock SET department_id = ("
    " SELECT d.id FROM case_event e JOIN department d ON d.code = {code}"
    " WHERE e.case_id = case_clock.case_id AND e.action = 'assign'"
    " AND e.at = case_clock.started_at ORDER BY e.id DESC LIMIT 1)"
    " WHERE name = 'return_window' AND department_id IS NULL"
)
_CURRENT_UNIT = (
    'UPDATE case_clock SET department_id = (SELECT c.department_id FROM "case" c'
    " WHERE c.id = case_clock.case_id)"
    " WHERE name = 'return_window' AND department_id IS NULL AND stopped_at IS NULL"
)


async def _fill_units(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    code = "e.data->>'department'" if postgres else "json_extract(e.data, '$.department')"
    await client.execute_script(_ASSIGNED_UNIT.format(code=code))
    await client.execute_script(_CURRENT_UNIT)


class Migration(migrations.Migration):
    dependencies = [("cases", "0010_stats_indexes")]

    initial = False

    operations = [
        ops.AddField(
            model_name="CaseClock",
            name="department_id",
            field=fields.IntField(null=True),
        ),
        ops.RunPython(_fill_units, ops.RunPython.noop),
    ]
