"""Give existing practice admins the permissions new ones get for billing's settings: the
practice's billing profile, its payers and its fee schedule. Django creates a new app's
permissions only after all migrations have run, so this creates billing's first."""

from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.db.models import Q

# Copied, not imported: a migration must not change when the service's list does.
GRANTED = [
    ("billing", "billingprofile", ["view", "add", "change"]),
    ("billing", "payer", ["view", "add", "change", "delete"]),
    ("billing", "feescheduleentry", ["view", "add", "change", "delete"]),
]


def grant(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    db = schema_editor.connection.alias
    User = apps.get_model("accounts", "User")
    admins = list(User.objects.using(db).filter(role="practice_admin"))
    if not admins:
        return  # a new database: new admins get them when they are created
    billing = apps.get_app_config("billing")
    billing.models_module = True  # create_permissions skips an app without models
    create_permissions(billing, verbosity=0, apps=apps, using=db)
    billing.models_module = None
    Permission = apps.get_model("auth", "Permission")
    wanted = Q(pk__in=[])
    for app_label, model, actions in GRANTED:
        wanted |= Q(
            content_type__app_label=app_label,
            codename__in=[f"{action}_{model}" for action in actions],
        )
    permissions = list(Permission.objects.using(db).filter(wanted))
    for user in admins:
        user.user_permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_encounter_monitoring_period"),
        ("accounts", "0009_practice_phones_normalised"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        # The way back keeps the permissions: an admin may have granted some by hand.
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
