from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('cases', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PushReceipt',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=128)),
                ('reply', fields.TextField(default='', unique=False)),
                ('done', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'push_receipt', 'app': 'cases', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
