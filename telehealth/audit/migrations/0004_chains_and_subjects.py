"""Chains per practice and events about several records.

Existing events keep their hash: they get `hash_version` 1 (the formula that ignores chain and
subjects) and `chain` 0, the system chain, which events without a practice continue. The column
defaults apply without UPDATE statements, so the append-only trigger is not in the way. The
trigger's function now names the table it guards and also guards `audit_auditsubject`.

Run this with the old application stopped: an old writer would link to the newest event of
any chain.

The index on (chain, id) that writers read each chain's tail with is built by 0005, without
locking the table (this migration created it itself before it was released; a database
migrated then keeps its index and 0005 leaves it be). The subjects' index is built here: the
table is new and empty."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


GUARD = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_subject_append_only
    BEFORE UPDATE OR DELETE ON audit_auditsubject
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
"""

UNGUARD = """
DROP TRIGGER IF EXISTS audit_subject_append_only ON audit_auditsubject;
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def guard_subjects(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD, params=None)


def unguard_subjects(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNGUARD, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('audit', '0003_actor_label_by_id'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditSubject',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('object_type', models.CharField(blank=True, max_length=100)),
                ('object_id', models.CharField(blank=True, max_length=64)),
            ],
            options={
                'ordering': ['id'],
            },
        ),
        migrations.AddField(
            model_name='auditevent',
            name='chain',
            field=models.PositiveBigIntegerField(default=0, help_text="The practice's id, or 0 for the system chain"),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='hash_version',
            field=models.PositiveSmallIntegerField(default=1, help_text='1: before chains and subjects (the hash covers neither); 2: covers both'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='auditsubject',
            name='event',
            field=models.ForeignKey(on_delete=django.db.models.deletion.DO_NOTHING, related_name='subjects', to='audit.auditevent'),
        ),
        migrations.AddField(
            model_name='auditsubject',
            name='patient',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='accounts.patient'),
        ),
        migrations.AddIndex(
            model_name='auditsubject',
            index=models.Index(fields=['patient', 'event'], name='audit_subject_patient'),
        ),
        migrations.RunPython(guard_subjects, unguard_subjects),
    ]
