"""Give existing practice admins the permissions new ones get for EHR registrations. Django
creates a new app's permissions only after all migrations have run, so this creates them
first (as billing's 0003 does)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# Copied, not imported: a migration must not change when the service's list does.
GRANTED = ["view_ehrserver", "add_ehrserver", "change_ehrserver", "delete_ehrserver"]


def grant(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    db = schema_editor.connection.alias
    User = apps.get_model("accounts", "User")
    admins = list(User.objects.using(db).filter(role="practice_admin"))
    if not admins:
        return  # a new database: new admins get them when they are created
    ehr = apps.get_app_config("ehr")
    ehr.models_module = True  # create_permissions skips an app without models
    create_permissions(ehr, verbosity=0, apps=apps, using=db)
    ehr.models_module = None
    Permission = apps.get_model("auth", "Permission")
    permissions = list(
        Permission.objects.using(db).filter(content_type__app_label="ehr", codename__in=GRANTED)
    )
    for user in admins:
        user.user_permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("ehr", "0001_ehr_servers"),
        ("accounts", "0009_practice_phones_normalised"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        # The way back keeps the permissions: an admin may have granted some by hand.
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
