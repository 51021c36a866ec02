"""The clinician's status for the waiting patient encrypted; existing rows in place."""

from django.db import migrations

import telehealth.crypto.fields
from telehealth.crypto.migration import encrypt_columns


class Migration(migrations.Migration):
    dependencies = [("visits", "0002_media_and_summary")]

    operations = [
        migrations.AlterField(
            model_name="visit",
            name="provider_status",
            field=telehealth.crypto.fields.EncryptedTextField(
                blank=True,
                help_text='Shown to the waiting patient, e.g. "Running 5 minutes late".',
            ),
        ),
        encrypt_columns("visits.Visit", "provider_status"),
    ]
