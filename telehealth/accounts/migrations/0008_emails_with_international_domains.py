"""Emails stored with a Unicode domain (ana@bücher.example) are rewritten in the domain's
ASCII form (ana@xn--bcher-kva.example), with the blind index over that form: sign-in,
matching and uniqueness now look addresses up that way. The reverse leaves them: both
spellings name the same mailbox.

The domain is respelled by UTS #46 with IDNA 2008 (the `idna` package), not Python's IDNA
2003 codec, so straße.de and strasse.de stay two domains.

Left as stored, and printed (one line per row, "accounts.0008: skipped User 12: ...") for an
operator to act on:
- a user whose address, respelled, another account already signs in with: two accounts
  cannot share one index, so the user keeps the old index and signs in only by the old
  spelling until an admin merges the two accounts;
- a user or patient whose domain is not a valid international name: it cannot be
  respelled; an admin corrects the address."""

import idna
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
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        return email


def _skipped(name: str, pk: int, reason: str) -> None:
    print(f"accounts.0008: skipped {name} {pk}: {reason}")


def respell(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    db = schema_editor.connection.alias
    for name in ("User", "Patient"):
        model = apps.get_model("accounts", name)
        rows = model.objects.using(db).only("pk", "email", "email_index")
        for row in rows.iterator():
            email = _respelled(row.email or "")
            if email == (row.email or "").strip().lower():
                if not email.rpartition("@")[2].isascii():
                    _skipped(name, row.pk, "the domain is not a valid international name")
                continue
            index = blind_index(email)
            taken = model.objects.using(db).filter(email_index=index).exclude(pk=row.pk)
            if name == "User" and taken.exists():
                other = ", ".join(str(pk) for pk in taken.values_list("pk", flat=True))
                _skipped(name, row.pk, f"the new spelling is User {other}'s; merge them")
                continue
            model.objects.using(db).filter(pk=row.pk).update(email=email, email_index=index)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_practice_country_and_phone_extension")]

    operations = [migrations.RunPython(respell, migrations.RunPython.noop, elidable=False)]
