"""Indexes on the audit tables, built without blocking writes.

Every read of PHI inserts into these tables, and a plain CREATE INDEX blocks inserts until it
has read the whole table: minutes on an installation with millions of events. On PostgreSQL
each index is built CONCURRENTLY (which cannot run in a transaction, hence `atomic = False`);
on SQLite it is a plain index. Running this again after it stopped half-way is safe: see
AddIndexWithoutLocking.

- audit_event_chain_tail: each chain's newest event, read by every writer under its chain's
  lock. Databases migrated with the unreleased first form of 0004 already have it.
- audit_event_record, audit_subject_record: a record's accounting of disclosures
  (`AuditEvent.objects.about_record`), which otherwise scans both tables."""

from django.db import migrations, models

from telehealth.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0004_chains_and_subjects")]

    operations = [
        AddIndexWithoutLocking(
            model_name="auditevent",
            index=models.Index(fields=["chain", "-id"], name="audit_event_chain_tail"),
        ),
        AddIndexWithoutLocking(
            model_name="auditevent",
            index=models.Index(fields=["object_type", "object_id"], name="audit_event_record"),
        ),
        AddIndexWithoutLocking(
            model_name="auditsubject",
            index=models.Index(fields=["object_type", "object_id"], name="audit_subject_record"),
        ),
    ]
