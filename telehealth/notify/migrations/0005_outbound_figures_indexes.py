"""Indexes for the practice figures, built without blocking writes (outbound messages are a
large, busy table): messages due in a period (`send_at`), and when a template was first
queued (`template, created_at`). CONCURRENTLY on PostgreSQL, hence `atomic = False`."""

from django.db import migrations, models

from telehealth.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("notify", "0004_outboundmessage_render_at_send")]

    operations = [
        AddIndexWithoutLocking(
            model_name="outboundmessage",
            index=models.Index(fields=["send_at"], name="notify_outbound_send_at"),
        ),
        AddIndexWithoutLocking(
            model_name="outboundmessage",
            index=models.Index(
                fields=["template", "created_at"], name="notify_outbound_template_made"
            ),
        ),
    ]
