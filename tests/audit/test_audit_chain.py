import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, close_old_connections, connection, transaction

from telehealth.audit import services as audit
from telehealth.audit.models import Action, AuditEvent
from telehealth.audit.services import GENESIS_HASH, verify_chain
from tests.conftest import sign_in


def tamper(event_id: int, **values) -> None:
    """Edit a row behind the application's back (on SQLite there is no trigger to stop it)."""
    assignments = ", ".join(f"{k} = %s" for k in values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE audit_auditevent SET {assignments} WHERE id = %s", [*values.values(), event_id]
        )


def test_events_form_a_chain_from_genesis(db):
    first = audit.record(action=Action.LOGIN, actor_label="a@x.test")
    second = audit.record(action=Action.VIEW, detail="/patients/1/")
    assert first.previous_hash == GENESIS_HASH
    assert second.previous_hash == first.hash
    assert verify_chain() is None
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "2 events verified" in out.getvalue()


def test_verify_audit_names_the_first_tampered_event(db):
    events = [audit.record(action=Action.VIEW, detail=f"/p/{i}/") for i in range(5)]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
    tamper(events[2].pk, detail="/nothing-to-see/")
    assert verify_chain() == events[2]
    with pytest.raises(CommandError, match=f"broken at event {events[2].pk}"):
        call_command("verify_audit")


def test_a_deleted_event_breaks_the_link_of_the_next(db):
    events = [audit.record(action=Action.VIEW, detail=f"/p/{i}/") for i in range(4)]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    assert verify_chain() == events[2]


def test_postgres_trigger_refuses_update_and_delete(require_postgres):
    event = audit.record(action=Action.LOGIN, actor_label="a@x.test")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(detail="changed")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).detail == ""


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_unbroken_chain(require_postgres):
    errors = []

    def write(n):
        try:
            for i in range(15):
                audit.record(action=Action.VIEW, detail=f"/w{n}/{i}")
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert AuditEvent.objects.count() == 90
    assert verify_chain() is None


def test_reading_a_chart_is_audited_with_the_patient(client, world):
    sign_in(client, world.front_desk)
    client.get(
        f"/patients/{world.patient.pk}/", REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="TestBrowser/1.0"
    )
    event = AuditEvent.objects.filter(action=Action.VIEW).last()
    assert event is not None
    assert event.actor == world.front_desk
    assert event.role == "front_desk"
    assert event.patient_id == world.patient.pk
    assert event.object_type == "accounts.Patient"
    assert event.ip == "10.1.2.3"
    assert event.user_agent == "TestBrowser/1.0"


def test_a_refused_read_is_not_recorded_as_a_view(client, world):
    sign_in(client, world.front_desk)
    client.get(f"/patients/{world.outside_patient.pk}/")
    assert not AuditEvent.objects.filter(action=Action.VIEW, patient=world.outside_patient).exists()


def test_admin_sees_the_accounting_of_disclosures_for_one_patient(client, world):
    sign_in(client, world.front_desk)
    client.get(f"/patients/{world.patient.pk}/")
    client.get(f"/patients/{world.other_patient.pk}/")
    sign_in(client, world.admin)
    page = client.get(f"/patients/{world.patient.pk}/audit/")
    assert page.status_code == 200
    events = list(page.context["events"])
    assert all(e.patient_id == world.patient.pk for e in events)
    assert any(e.actor == world.front_desk for e in events)
