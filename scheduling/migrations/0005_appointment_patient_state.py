from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_from_patient_records(apps, schema_editor):
    """Existing appointments were checked against the patient's record, so that is the state
    they were booked for."""
    Appointment = apps.get_model("scheduling", "Appointment")
    Patient = apps.get_model("accounts", "Patient")
    record_state = Patient.objects.filter(pk=OuterRef("patient_id")).values("state")[:1]
    Appointment.objects.update(patient_state=Subquery(record_state))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("scheduling", "0004_encrypt_appointment_reasons"),
    ]

    operations = [
        migrations.AddField(
            model_name="appointment",
            name="patient_state",
            field=models.CharField(blank=True, max_length=2),
        ),
        # Reversing drops the column, so there is nothing to undo.
        migrations.RunPython(fill_from_patient_records, migrations.RunPython.noop),
    ]
