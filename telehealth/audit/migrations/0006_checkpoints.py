"""Checkpoints of each chain's head, append-only on PostgreSQL like the events (the trigger
function of 0004 names the table it refuses)."""

from django.db import migrations, models

GUARD = """
CREATE TRIGGER audit_checkpoint_append_only
    BEFORE UPDATE OR DELETE ON audit_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
"""


def guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD, params=None)


def unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON audit_auditcheckpoint",
            params=None,
        )


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0005_indexes_without_locking'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditCheckpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('chain', models.PositiveBigIntegerField()),
                ('last_event_id', models.PositiveBigIntegerField()),
                ('head_hash', models.CharField(max_length=64)),
                ('event_count', models.PositiveBigIntegerField()),
                ('taken_at', models.DateTimeField()),
                ('taken_by', models.CharField(help_text='The task or command that took it', max_length=40)),
                ('signature', models.CharField(max_length=100)),
            ],
            options={
                'ordering': ['id'],
                'indexes': [models.Index(fields=['chain', '-last_event_id'], name='audit_checkpoint_chain_head')],
            },
        ),
        migrations.RunPython(guard, unguard),
    ]
