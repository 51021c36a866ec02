"""The audit tables' indexes: built without blocking writes, and used by the accountings."""

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from scheduling.models import Appointment
from telehealth.audit.models import AuditCheckpoint, AuditEvent
from tests import migrating

BEFORE = [("audit", "0004_chains_and_subjects")]
BUILT = {"audit_event_chain_tail", "audit_event_record", "audit_subject_record"}


def migrate(targets) -> list[str]:
    """Run the audit app's migrations to `targets` (None: the latest); the SQL they ran."""
    with CaptureQueriesContext(connection) as queries:
        migrating.migrate(targets or migrating.latest("audit"))
    return [q["sql"] for q in queries.captured_queries]


def audit_indexes() -> set[str]:
    with connection.cursor() as cursor:
        return {
            name
            for table in ("audit_auditevent", "audit_auditsubject")
            for name, c in connection.introspection.get_constraints(cursor, table).items()
            if c["index"]
        }


@pytest.fixture
def at_old_0004(transactional_db):
    """The database as it was before 0005, and back at the latest migration afterwards."""
    migrate(BEFORE)
    assert not BUILT & audit_indexes()
    yield
    migrate(None)


@pytest.mark.django_db(transaction=True)
def test_indexes_on_the_audit_tables_do_not_block_writes(at_old_0004):
    ran = migrate(None)
    tables = ('ON "audit_auditevent"', 'ON "audit_auditsubject"')  # not the new, empty table
    created = [
        sql for sql in ran if sql.startswith("CREATE INDEX") and any(t in sql for t in tables)
    ]
    assert {name for name in BUILT if any(f'"{name}"' in sql for sql in created)} == BUILT
    if connection.vendor == "postgresql":
        assert all(sql.startswith("CREATE INDEX CONCURRENTLY") for sql in created), created
    assert audit_indexes() >= BUILT


@pytest.mark.django_db(transaction=True)
def test_a_database_migrated_by_the_first_0004_keeps_its_chain_index(at_old_0004):
    """The first form of 0004 built the chain's index itself, in the same transaction."""
    with connection.schema_editor() as editor:
        editor.execute(
            'CREATE INDEX "audit_event_chain_tail" ON "audit_auditevent" ("chain", "id" DESC)'
        )
    ran = migrate(None)
    changed = [sql for sql in ran if sql.startswith(("CREATE", "DROP")) and "chain_tail" in sql]
    assert not changed
    assert audit_indexes() >= BUILT


@pytest.mark.django_db(transaction=True)
def test_an_index_left_invalid_by_a_failed_build_is_built_again(require_postgres, at_old_0004):
    """CREATE INDEX CONCURRENTLY that fails leaves an invalid index behind under its name."""
    AuditEvent.objects.create(hash_version=2, occurred_at="2026-01-01T00:00Z", hash="a")
    AuditEvent.objects.create(hash_version=2, occurred_at="2026-01-01T00:00Z", hash="b")
    failed = pytest.raises(IntegrityError, match="could not create unique index")
    with failed, connection.cursor() as cursor:
        cursor.execute(  # fails on the two events' equal (blank) object ids
            'CREATE UNIQUE INDEX CONCURRENTLY "audit_event_record" '
            'ON "audit_auditevent" ("object_id")'
        )
    migrate(None)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indisvalid, indisunique, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indexrelid = 'audit_event_record'::regclass"
        )
        valid, unique, definition = cursor.fetchone()
    assert (valid, unique) == (True, False)
    assert "(object_type, object_id)" in definition


def plan(queryset) -> str:
    with connection.cursor() as cursor:
        # On a test's few rows a scan is cheapest; forbid it to see which indexes could serve.
        cursor.execute("SET LOCAL enable_seqscan = off")
        return queryset.explain()


def test_a_records_accounting_is_served_by_indexes(require_postgres):
    found = plan(AuditEvent.objects.about_record(Appointment(pk=42)))
    assert "Seq Scan" not in found, found
    assert "audit_event_record" in found and "audit_subject_record" in found


def test_a_patients_accounting_is_served_by_indexes(require_postgres):
    found = plan(AuditEvent.objects.about_patient(42).order_by("-occurred_at", "-id")[:500])
    assert "Seq Scan" not in found, found


DROPPED = {
    "audit_auditevent_hash_d0c402da_like",
    "audit_auditevent_patient_id_82c45eaf",
    "audit_auditsubject_patient_id_2c33bed6",
}


@pytest.mark.django_db(transaction=True)
def test_redundant_indexes_are_dropped_without_blocking_writes_and_come_back_reversed():
    migrate([("audit", "0006_checkpoints")])
    try:
        present = (
            DROPPED
            if connection.vendor == "postgresql"
            else DROPPED
            - {
                "audit_auditevent_hash_d0c402da_like"  # the `_like` twin exists on PostgreSQL only
            }
        )
        assert audit_indexes() >= present
        ran = migrate(None)
        dropped = [sql for sql in ran if sql.startswith("DROP INDEX")]
        assert len(dropped) == len(present)
        if connection.vendor == "postgresql":
            assert all(sql.startswith("DROP INDEX CONCURRENTLY IF EXISTS") for sql in dropped)
        assert not DROPPED & audit_indexes()
        assert audit_indexes() >= BUILT | {"audit_subject_patient"}
        migrate(None)  # again, as after a run that stopped half-way: nothing to do
    finally:
        migrate([("audit", "0006_checkpoints")])
        assert audit_indexes() >= present
        migrate(None)


def test_verifying_a_chain_and_reading_its_tail_are_served_by_the_chain_index(require_postgres):
    walk = plan(AuditEvent.objects.filter(chain=7).order_by("id"))
    tail = plan(AuditEvent.objects.filter(chain=7).order_by("-id")[:1])
    for found in (walk, tail):
        assert "Seq Scan" not in found and "audit_event_chain_tail" in found, found


def test_listing_chains_is_a_skip_scan_of_the_chain_indexes(require_postgres):
    from telehealth.audit.services import distinct_chains

    for model, index in (
        (AuditEvent, "audit_event_chain_tail"),
        (AuditCheckpoint, "audit_checkpoint_chain_head"),
    ):
        with CaptureQueriesContext(connection) as queries:
            distinct_chains(model)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + queries.captured_queries[-1]["sql"])
            found = "\n".join(row[0] for row in cursor.fetchall())
        assert "Seq Scan" not in found and index in found, found
