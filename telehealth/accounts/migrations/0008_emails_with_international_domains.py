"""Emails stored with a Unicode domain (ana@bücher.example) are rewritten in the domain's
ASCII form (ana@xn--bcher-kva.example), with the blind index over that form: sign-in,
matching and uniqueness now look addresses up that way. The reverse leaves them: both
spellings name the same mailbox.

A user whose address, respelled, another account already signs in with is left as stored
(two accounts cannot share one index; an admin merges them by hand)."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from telehealth.crypto.keys import blind_index


def _respelled(email: str) -> str:
    """The form telehealth.accounts.validation.canonical_email gives, as of this migration."""
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or domain.isascii():
        return email
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return email


def respell(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    db = schema_editor.connection.alias
    for name in ("User", "Patient"):
        model = apps.get_model("accounts", name)
        rows = model.objects.using(db).only("pk", "email", "email_index")
        for row in rows.iterator():
            email = _respelled(row.email or "")
            if email == (row.email or "").strip().lower():
                continue
            index = blind_index(email)
            taken = model.objects.using(db).filter(email_index=index).exclude(pk=row.pk)
            if name == "User" and taken.exists():
                continue
            model.objects.using(db).filter(pk=row.pk).update(email=email, email_index=index)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_practice_country_and_phone_extension")]

    operations = [migrations.RunPython(respell, migrations.RunPython.noop, elidable=False)]
