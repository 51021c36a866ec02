"""Give existing practice admins the permissions new ones get for registering SMART backend
clients. Django creates a new app's permissions only after all migrations have run, so this
creates smart's first."""

from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# Copied, not imported: a migration must not change when the service's list does.
GRANTED = ["view_smartclient", "add_smartclient", "change_smartclient"]


def grant(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    db = schema_editor.connection.alias
    User = apps.get_model("accounts", "User")
    # Service users of clients are practice admins too, but never configure anything.
    admins = list(
        User.objects.using(db).filter(role="practice_admin", smart_client__isnull=True)
    )
    if not admins:
        return  # a new database: new admins get them when they are created
    smart = apps.get_app_config("smart")
    smart.models_module = True  # create_permissions skips an app without models
    create_permissions(smart, verbosity=0, apps=apps, using=db)
    smart.models_module = None
    Permission = apps.get_model("auth", "Permission")
    permissions = list(
        Permission.objects.using(db).filter(
            content_type__app_label="smart", codename__in=GRANTED
        )
    )
    for user in admins:
        user.user_permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("smart", "0001_smart_clients"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        # The way back keeps the permissions: an admin may have granted some by hand.
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
