"""Stored intake files move from their upload's name to a random one (the original name of an
answer's file stays in ResponseFile.name, encrypted)."""

from django.db import migrations

from telehealth.crypto.migration import randomise_file_names


class Migration(migrations.Migration):
    dependencies = [("intake", "0003_one_open_response")]

    operations = [
        randomise_file_names("intake.InsuranceCard", "front", "back"),
        randomise_file_names("intake.Signature", "image", "pdf"),
        randomise_file_names("intake.ResponseFile", "file"),
    ]
