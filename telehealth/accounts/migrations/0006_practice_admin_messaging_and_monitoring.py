"""Give existing practice admins the permissions new ones get for the settings that Settings
now links to: saved replies, teams, message rules, messaging settings and alert thresholds.
The permission rows exist once those apps have been migrated; where they do not yet (a new
database), there are no practice admins to give them to either."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.db.models import Q

# Copied, not imported: a migration must not change when the service's list does.
GRANTED = [
    ("messaging", "savedreply", ["view", "add", "change", "delete"]),
    ("messaging", "team", ["view", "add", "change", "delete"]),
    ("messaging", "rule", ["view", "add", "change", "delete"]),
    ("messaging", "messagingsettings", ["view", "add", "change"]),
    ("rpm", "threshold", ["view", "add", "change", "delete"]),
]


def grant(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    db = schema_editor.connection.alias
    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model("accounts", "User")
    wanted = Q(pk__in=[])
    for app_label, model, actions in GRANTED:
        wanted |= Q(
            content_type__app_label=app_label,
            codename__in=[f"{action}_{model}" for action in actions],
        )
    permissions = list(Permission.objects.using(db).filter(wanted))
    if not permissions:
        return
    for user in User.objects.using(db).filter(role="practice_admin"):
        user.user_permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_purge_plaintext_emails"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        # The way back keeps the permissions: an admin may have granted some of them by hand,
        # and nothing records which.
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
