"""The media URL of each texted picture encrypted (it is signed and names one patient's
message); existing rows in place."""

from django.db import migrations

import telehealth.crypto.fields
from telehealth.crypto.migration import encrypt_columns


class Migration(migrations.Migration):
    dependencies = [("messaging", "0003_media_fetch")]

    operations = [
        migrations.AlterField(
            model_name="mediafetch",
            name="url",
            field=telehealth.crypto.fields.EncryptedTextField(),
        ),
        encrypt_columns("messaging.MediaFetch", "url"),
    ]
