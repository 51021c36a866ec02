"""Remove the plaintext emails that databases from before the email was encrypted still hold
outside the users table: django-axes' rows (keyed by the email tried) and the admin's change
log (whose text for a user used to include the email)."""

from typing import Any

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def purge_plaintext_emails(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    db = schema_editor.connection.alias
    # Axes keeps only short-lived lockout state (now under the email's blind index, and its
    # access log is off), so the old rows are deleted rather than rewritten: at worst a lock
    # in force during the upgrade is lifted early. The audit trail keeps every sign-in and
    # failed attempt. Attempt expirations go with their attempts.
    for name in ("AccessLog", "AccessAttempt", "AccessFailureLog"):
        apps.get_model("axes", name).objects.using(db).all().delete()

    ContentType = apps.get_model("contenttypes", "ContentType")
    LogEntry = apps.get_model("admin", "LogEntry")
    User = apps.get_model("accounts", "User")
    user_type = ContentType.objects.using(db).filter(app_label="accounts", model="user").first()
    if user_type is None:
        return
    # Historical models have none of User's methods, so the label of User.__str__ is rebuilt
    # here from the stored name and role; a user since deleted gets "user #<id>".
    roles = dict(User._meta.get_field("role").flatchoices)
    labels = {
        str(pk): f"{full_name} (#{pk}, {roles.get(role, role)})"
        for pk, full_name, role in User.objects.using(db).values_list("pk", "full_name", "role")
    }
    entries = LogEntry.objects.using(db).filter(content_type=user_type)
    changed: list[Any] = []
    for entry in entries.only("pk", "object_id", "object_repr").iterator():
        label = labels.get(entry.object_id, f"user #{entry.object_id}")[:200]
        if entry.object_repr != label:
            entry.object_repr = label
            changed.append(entry)
    LogEntry.objects.using(db).bulk_update(changed, ["object_repr"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_link_version"),
        ("axes", "0010_accessattemptexpiration"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        # The way back leaves things as they are: the emails are not kept anywhere to restore,
        # and the previous release reads these rows as they now stand.
        migrations.RunPython(purge_plaintext_emails, migrations.RunPython.noop),
    ]
