"""Appointment and cancellation reasons encrypted; existing rows encrypted in place."""

from django.db import migrations

import telehealth.crypto.fields
from telehealth.crypto.migration import encrypt_columns


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0003_reminderrule")]

    operations = [
        migrations.AlterField(
            model_name="appointment",
            name="reason",
            field=telehealth.crypto.fields.EncryptedTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="appointment",
            name="cancel_reason",
            field=telehealth.crypto.fields.EncryptedTextField(blank=True),
        ),
        encrypt_columns("scheduling.Appointment", "reason", "cancel_reason"),
    ]
