from tortoise import migrations
from tortoise.migrations import operations as ops
from cases.store.models import SurveyStatus
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('cases', '0006_staff_sessions')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Survey',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('case', fields.ForeignKeyField('cases.Case', source_field='case_id', db_constraint=True, to_field='id', related_name='surveys', on_delete=OnDelete.RESTRICT)),
                ('closure', fields.IntField()),
                ('status', fields.CharEnumField(default=SurveyStatus.SCHEDULED, description='SCHEDULED: scheduled\nANSWERED: answered\nUNANSWERED: unanswered\nCANCELLED: cancelled', enum_type=SurveyStatus, max_length=16)),
                ('invite_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('closes_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('answered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('needs_review', fields.BooleanField(default=False, db_index=True)),
                ('reviewed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'survey', 'app': 'cases', 'unique_together': (('case', 'closure'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
