"""Audit events name their actor as "user #<id> (<role>)" from now on, never by email.

Events already written keep their label. Each label is inside its event's hash, and each hash
inside the next event: relabelling history means switching off the append-only trigger and
re-hashing the chain from that point, which is exactly the rewrite the trail exists to expose
(and the application's database role should not be able to do it; see docs/security.md).
So this migration changes only the field's description."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="actor_label",
            field=models.CharField(
                blank=True,
                help_text="User id and role at the time, never the email",
                max_length=254,
            ),
        ),
    ]
