"""Indexes for what every filing asks about its citizen: their cases of the last 24 hours (the
daily quota), their open cases against the same respondent (the duplicate check), their case
list (the mini-program), and their photos not yet on a case (the chat's filing and the
upload's attach). Without them each of these read every case filed that day, every open case
of a status, or every photo ever kept, once per filing. Only indexes are added: on SQLite an
altered field would rebuild the table.
"""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("cases", "0012_receipt_done")]

    initial = False

    operations = [
        ops.AddIndex(model_name="Case", index=Index(fields=["citizen_id", "created_at"])),
        ops.AddIndex(
            model_name="EvidenceFile", index=Index(fields=["citizen_id", "case_id", "created_at"])
        ),
    ]
