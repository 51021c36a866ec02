"""A reading's two foreign keys become one composite key on PostgreSQL, (device_id, patient_id)
-> rpm_device (id, patient_id): one check per inserted row instead of two, and a reading can
no longer name a patient other than its device's. The single-column indexes on device_id and
patient_id go: the unique (device, vital, measured_at) and the (patient, vital, measured_at)
indexes lead with those columns, so every lookup they served is still served.

The migration is not atomic, so each step commits on its own: the key is added NOT VALID (a
brief lock), then validated in a transaction of its own, which reads the table without
blocking inserts; the old keys and indexes are then dropped, each a brief lock. In one
transaction the validation's scan would have run under the first step's lock and held up every
upload. SQLite keeps no foreign key on these columns (it cannot add one to a table)."""

import django.db.models.deletion
from django.db import migrations, models

FOREIGN_KEY = "rpm_reading_device_patient_fk"


def add_composite_key(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER TABLE rpm_reading ADD CONSTRAINT {FOREIGN_KEY} "
        "FOREIGN KEY (device_id, patient_id) REFERENCES rpm_device (id, patient_id) "
        "DEFERRABLE INITIALLY DEFERRED NOT VALID"
    )


def validate_composite_key(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE rpm_reading VALIDATE CONSTRAINT {FOREIGN_KEY}")


def drop_composite_key(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE rpm_reading DROP CONSTRAINT IF EXISTS {FOREIGN_KEY}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0009_practice_phones_normalised"),
        ("rpm", "0004_trend_baseline_per_day"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="device",
            constraint=models.UniqueConstraint(
                fields=("id", "patient"), name="rpm_device_id_patient"
            ),
        ),
        # Reversing re-adds the single-column keys and indexes before the composite key goes.
        migrations.RunPython(add_composite_key, drop_composite_key),
        migrations.RunPython(validate_composite_key, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="reading",
            name="device",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="readings",
                to="rpm.device",
            ),
        ),
        migrations.AlterField(
            model_name="reading",
            name="patient",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="rpm_readings",
                to="accounts.patient",
            ),
        ),
    ]
