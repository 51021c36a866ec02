"""Each appointment gets the UID and SEQUENCE of its calendar event.

Existing rows keep the UID their patients already hold: the calendar file sent so far named
the event `appointment-<pk>@<SITE_URL without scheme>` (port included), so the next update or
cancellation of a visit booked before this migration replaces that very event. New rows get
`appointment-<uuid>@<host>` (scheduling.models.new_calendar_uid). The earlier rows of a chain
already rescheduled had UIDs of their own, sent before; nothing can reach those events now.
Reversible: the reverse drops the columns."""

from django.conf import settings
from django.db import migrations, models
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat

import scheduling.models


def uids_already_sent(apps, schema_editor) -> None:
    Appointment = apps.get_model("scheduling", "Appointment")
    site = settings.SITE_URL.split("//")[-1]  # as scheduling.calendar wrote it until now
    Appointment.objects.update(
        calendar_uid=Concat(
            Value("appointment-"),
            Cast("pk", CharField()),
            Value(f"@{site}"),
            output_field=CharField(),
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0007_appointmenttype_name_es"),
    ]

    operations = [
        migrations.AddField(
            model_name="appointment",
            name="calendar_sequence",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="appointment",
            name="calendar_uid",
            field=models.CharField(
                default=scheduling.models.new_calendar_uid, editable=False, max_length=255
            ),
        ),
        migrations.RunPython(uids_already_sent, migrations.RunPython.noop),
    ]
