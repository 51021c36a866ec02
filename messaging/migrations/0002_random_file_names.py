"""Stored attachments move from their upload's name to a random one (the original name stays
in Attachment.name, encrypted)."""

from django.db import migrations

from telehealth.crypto.migration import randomise_file_names


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]

    operations = [randomise_file_names("messaging.Attachment", "file")]
