# The check comes in its own migration (its own transaction on PostgreSQL), after 0002 has
# named the recipient of every existing row.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0002_sms_channel'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='smsoutbox',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('participant__isnull', False), ('intake__isnull', True)), models.Q(('participant__isnull', True), ('intake__isnull', False)), _connector='OR'), name='outbox_has_one_recipient'),
        ),
    ]
