"""User emails encrypted with a unique blind index; break-glass reason and review note
encrypted. Existing rows are encrypted and indexed in place.

Two users whose emails differ only in case would now share an index, and the unique step
fails: sign-up has lowercased emails since the start, so such rows mean a manual fix first."""

import django.core.validators
from django.db import migrations, models

import telehealth.crypto.fields
from telehealth.crypto.migration import encrypt_and_index_emails, encrypt_columns


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_index",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="user",
            name="email",
            field=telehealth.crypto.fields.EncryptedTextField(
                validators=[django.core.validators.validate_email]
            ),
        ),
        encrypt_and_index_emails("accounts.User", "email", "email_index"),
        migrations.AlterField(
            model_name="user",
            name="email_index",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
        migrations.AlterField(
            model_name="breakglassgrant",
            name="reason",
            field=telehealth.crypto.fields.EncryptedTextField(),
        ),
        migrations.AlterField(
            model_name="breakglassgrant",
            name="review_note",
            field=telehealth.crypto.fields.EncryptedTextField(blank=True),
        ),
        encrypt_columns("accounts.BreakGlassGrant", "reason", "review_note"),
    ]
