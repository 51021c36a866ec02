"""Indexes that cost every audit write and serve no query, dropped without blocking writes.

- The `_like` twin of the unique index on `hash` (varchar_pattern_ops, PostgreSQL only): for
  `LIKE 'abc%'` searches, which nothing makes; the unique index stays.
- The ForeignKey index on `patient` of events and of subjects: the composite indexes led by
  `patient` ((patient, occurred_at) on events, audit_subject_patient (patient, event) on
  subjects) serve every look-up by patient, the accounting of disclosures among them.

Each index goes by DROP INDEX CONCURRENTLY (hence `atomic = False`); running this again after
it stopped half-way is safe. The names are the ones Django gave these indexes when it built
them (they depend only on table and column)."""

from django.db import migrations, models
import django.db.models.deletion

from telehealth.migration_operations import DropIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0001_initial"),
        ("audit", "0006_checkpoints"),
    ]

    operations = [
        DropIndexWithoutLocking(
            table="audit_auditevent",
            name="audit_auditevent_hash_d0c402da_like",
            columns='"hash" varchar_pattern_ops',
            postgresql_only=True,
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="patient",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="accounts.patient",
                    ),
                ),
                migrations.AlterField(
                    model_name="auditsubject",
                    name="patient",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="accounts.patient",
                    ),
                ),
            ],
            database_operations=[
                DropIndexWithoutLocking(
                    table="audit_auditevent",
                    name="audit_auditevent_patient_id_82c45eaf",
                    columns='"patient_id"',
                ),
                DropIndexWithoutLocking(
                    table="audit_auditsubject",
                    name="audit_auditsubject_patient_id_2c33bed6",
                    columns='"patient_id"',
                ),
            ],
        ),
    ]
