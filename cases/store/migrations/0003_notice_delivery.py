from tortoise import migrations
from tortoise.migrations import operations as ops
from cases.store.models import NoticeStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('cases', '0002_push_receipt')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WeChatToken',
            fields=[
                ('appid', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('token', fields.CharField(max_length=512)),
                ('expires_at', fields.FloatField()),
            ],
            options={'table': 'wechat_token', 'app': 'cases', 'pk_attr': 'appid'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Notice',
            name='status',
            field=fields.CharEnumField(default=NoticeStatus.PENDING, description='PENDING: pending\nSENDING: sending\nSENT: sent\nFAILED: failed', enum_type=NoticeStatus, max_length=16),
        ),
        ops.AddField(
            model_name='Notice',
            name='delivery_id',
            field=fields.CharField(default='', db_index=True, max_length=64),
        ),
        ops.AddField(
            model_name='Notice',
            name='delivery_status',
            field=fields.CharField(default='', max_length=64),
        ),
        ops.AddField(
            model_name='Notice',
            name='locked_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
