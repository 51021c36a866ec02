"""An index for the practice figures (visits that ended in a period), built without blocking
writes: CONCURRENTLY on PostgreSQL, hence `atomic = False`."""

from django.db import migrations, models

from telehealth.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("visits", "0009_group_sessions")]

    operations = [
        AddIndexWithoutLocking(
            model_name="visit",
            index=models.Index(fields=["practice", "ended_at"], name="visit_practice_ended_at"),
        ),
    ]
