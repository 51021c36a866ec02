"""The pictures listed with a text received (their media URLs) encrypted; existing rows in
place. The JSON column becomes text holding the encrypted JSON."""

from django.db import migrations

import telehealth.crypto.fields
from telehealth.crypto.migration import encrypt_columns


class Migration(migrations.Migration):
    dependencies = [("notify", "0002_inbound_message_media")]

    operations = [
        migrations.AlterField(
            model_name="inboundmessage",
            name="media",
            field=telehealth.crypto.fields.EncryptedJSONField(blank=True, default=list),
        ),
        encrypt_columns("notify.InboundMessage", "media"),
    ]
