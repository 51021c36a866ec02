"""Practice phones typed before they were normalised ("(617) 555-0100 x12") are rewritten in
E.164, their extension kept as ";ext=12", read in the practice's country (US for every
practice so far). A value that is no valid number there is left for an admin to correct: the
admin form now refuses it. The reverse leaves them: both forms are the same number."""

import phonenumbers
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def _normalised(raw: str, region: str) -> str:
    """The form telehealth.accounts.validation.normalise_phone(extension=True) gives, as of
    this migration; the raw value when it is not a valid number."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return raw
    if not phonenumbers.is_valid_number(number):
        return raw
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164


def normalise(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Practice = apps.get_model("accounts", "Practice")
    db = schema_editor.connection.alias
    for pk, phone, country in Practice.objects.using(db).values_list("pk", "phone", "country"):
        normalised = _normalised(phone, country)
        if normalised != phone:
            Practice.objects.using(db).filter(pk=pk).update(phone=normalised)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_emails_with_international_domains")]

    operations = [migrations.RunPython(normalise, migrations.RunPython.noop, elidable=False)]
