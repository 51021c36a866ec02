"""Appointment.link_version moves to accounts.LinkVersion (kind "appointment-manage"), the
version counter of telehealth.links. Only appointments whose links were ever revoked need a
row (no row means version 1), so manage links already sent keep working. Reversible: the
reverse copies the rows back onto the restored column."""

from django.db import migrations

KIND = "appointment-manage"


def to_link_versions(apps, schema_editor) -> None:
    Appointment = apps.get_model("scheduling", "Appointment")
    LinkVersion = apps.get_model("accounts", "LinkVersion")
    revoked = Appointment.objects.exclude(link_version=1).values_list("pk", "link_version")
    LinkVersion.objects.bulk_create(
        [
            LinkVersion(kind=KIND, object_id=pk, version=version)
            for pk, version in revoked.iterator()
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )


def from_link_versions(apps, schema_editor) -> None:
    Appointment = apps.get_model("scheduling", "Appointment")
    LinkVersion = apps.get_model("accounts", "LinkVersion")
    for object_id, version in LinkVersion.objects.filter(kind=KIND).values_list(
        "object_id", "version"
    ):
        Appointment.objects.filter(pk=object_id).update(link_version=version)
    LinkVersion.objects.filter(kind=KIND).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_link_version"),
        ("scheduling", "0005_appointment_patient_state"),
    ]

    operations = [
        migrations.RunPython(to_link_versions, from_link_versions),
        migrations.RemoveField(model_name="appointment", name="link_version"),
    ]
