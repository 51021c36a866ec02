"""Chains per practice, events about several records, and the events written before both."""

import hashlib
import json
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from telehealth.audit import services as audit
from telehealth.audit.models import SYSTEM_CHAIN, Action, AuditEvent, AuditSubject
from telehealth.audit.services import GENESIS_HASH, verify_chain, verify_chains
from tests.conftest import sign_in
from tests.migrating import migrate
from tests.scheduling.conftest import local, video_visit_at


@pytest.fixture(autouse=True)
def one_chain_per_practice(settings):
    """These tests are about each practice's chain as a whole: pinned to one chain per practice
    (the design before shards, and the setting at 1). test_audit_shards.py covers several."""
    settings.AUDIT_CHAINS_PER_PRACTICE = 1


def open_tampering() -> None:
    """On PostgreSQL the triggers refuse edits; the table owner can switch them off."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Pending foreign-key checks of the subjects just written would block the ALTER.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
            cursor.execute(
                "ALTER TABLE audit_auditsubject DISABLE TRIGGER audit_subject_append_only"
            )


def test_each_practice_has_its_own_chain_and_events_without_one_go_on_the_system_chain(world):
    a1 = audit.record(action=Action.VIEW, actor=world.front_desk, obj=world.patient)
    b1 = audit.record(action=Action.VIEW, actor=world.outside_clinician)
    a2 = audit.record(action=Action.VIEW, obj=world.other_patient)  # no actor: the patient's
    system = audit.record(action=Action.LOGIN_FAILED, actor_label="unknown email")
    assert (a1.chain, a2.chain) == (world.practice.pk, world.practice.pk)
    assert b1.chain == world.outside_practice.pk
    assert system.chain == SYSTEM_CHAIN
    assert a2.previous_hash == a1.hash
    assert b1.previous_hash != GENESIS_HASH  # the world's setup already wrote to B's chain
    assert system.previous_hash == GENESIS_HASH
    assert verify_chains() == {
        SYSTEM_CHAIN: None,
        world.practice.pk: None,
        world.outside_practice.pk: None,
    }


def test_the_hash_covers_the_chain(world):
    event = audit.record(action=Action.VIEW, actor=world.front_desk, obj=world.patient)
    open_tampering()
    AuditEvent.objects.filter(pk=event.pk).update(chain=world.outside_practice.pk)
    assert verify_chain(world.outside_practice.pk) == event


def test_a_page_of_records_is_one_event_listing_each_record_once(world):
    before = AuditEvent.objects.count()
    event = audit.record_many(
        action=Action.VIEW,
        actor=world.front_desk,
        objects=[(world.patient, None), (world.other_patient, None), (world.patient, None)],
        detail="/patients/",
    )
    assert AuditEvent.objects.count() == before + 1
    assert (event.object_type, event.object_id, event.patient) == ("", "", None)
    assert [(s.object_id, s.patient_id) for s in event.subjects.all()] == [
        (str(world.patient.pk), world.patient.pk),
        (str(world.other_patient.pk), world.other_patient.pk),
    ]
    assert verify_chain(world.practice.pk) is None


def test_awkward_text_hashes_the_same_where_it_is_written_and_where_it_is_verified(world):
    """On PostgreSQL `audit_append` hashes the canonical JSON around the tail it reads: text
    that looks like the previous hash, quotes, backslashes, non-ASCII and an IPv6 address
    must give the hash Python's `event_hash` gives when verifying."""
    request = RequestFactory().get(
        "/", REMOTE_ADDR="2001:DB8::0:1", HTTP_USER_AGENT='Navegador "ñ" \\ 🙂'
    )
    tricky = f'"previous_hash":"{"x" * 64}" \\u0000 « réservé » 患者'
    first = audit.record(
        action=Action.VIEW, actor=world.front_desk, obj=world.patient, detail=tricky
    )
    second = audit.record_many(
        action=Action.VIEW,
        actor=world.front_desk,
        objects=[(world.patient, None), (world.other_patient, None)],
        request=request,
        detail=tricky,
    )
    stored = AuditEvent.objects.get(pk=second.pk)
    assert (stored.detail, stored.ip, stored.previous_hash) == (tricky, "2001:db8::1", first.hash)
    assert (
        stored.hash
        == second.hash
        == audit.event_hash(
            stored, [(s.object_type, s.object_id, s.patient_id) for s in stored.subjects.all()]
        )
    )
    # IPv4-compatible IPv6 addresses, which PostgreSQL prints with their last 32 bits dotted
    # (Django, on SQLite, in hexadecimal).
    dotted = connection.vendor == "postgresql"
    for address, written in (
        ("::1.2.3.4", "::1.2.3.4" if dotted else "::102:304"),
        ("::1:0", "::0.1.0.0" if dotted else "::1:0"),
        ("::1", "::1"),
    ):
        event = audit.record(
            action=Action.VIEW,
            actor=world.front_desk,
            obj=world.patient,
            request=RequestFactory().get("/", REMOTE_ADDR=address),
        )
        assert AuditEvent.objects.get(pk=event.pk).ip == event.ip == written
    assert verify_chain(world.practice.pk) is None


def test_a_transaction_that_keeps_its_snapshot_cannot_write_an_event(require_postgres, world):
    """A REPEATABLE READ (or SERIALIZABLE) transaction would read a stale tail after the lock
    and fork the chain: `audit_append` refuses it, and the chain stays whole."""
    errors: list[BaseException] = []

    def write_in_repeatable_read() -> None:
        # A connection of its own: the test's transaction has run queries already.
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                audit.record(action=Action.LOGIN_FAILED, detail="isolation test")
        except DatabaseError as error:
            errors.append(error)
        finally:
            close_old_connections()
            connection.close()

    before = AuditEvent.objects.count()
    worker = threading.Thread(target=write_in_repeatable_read)
    worker.start()
    worker.join()
    assert len(errors) == 1 and "READ COMMITTED" in str(errors[0])
    assert AuditEvent.objects.count() == before
    audit.record(action=Action.VIEW, actor=world.front_desk, obj=world.patient)
    assert verify_chain() is None


@pytest.mark.parametrize("change", ["edit", "remove", "add"])
def test_the_hash_covers_the_subjects(world, change):
    event = audit.record_many(
        action=Action.VIEW,
        actor=world.front_desk,
        objects=[(world.patient, None), (world.other_patient, None)],
    )
    later = audit.record(action=Action.VIEW, actor=world.front_desk, obj=world.patient)
    open_tampering()
    subject = event.subjects.get(object_id=world.patient.pk)
    if change == "edit":
        AuditSubject.objects.filter(pk=subject.pk).update(object_id="999")
    elif change == "remove":
        AuditSubject.objects.filter(pk=subject.pk).delete()
    else:  # a record slipped into a one-record event, or into a page's list
        AuditSubject.objects.create(event=later, object_type="accounts.Patient", object_id="1")
    broken = verify_chain(world.practice.pk)
    assert broken == (later if change == "add" else event)


def legacy_hash(row: dict) -> str:
    """The formula events were hashed with before chains (version 1), written out again here
    so that a change to it fails this test."""
    keys = [
        "occurred_at", "actor", "actor_label", "role", "action", "object_type", "object_id",
        "patient", "detail", "ip", "user_agent", "previous_hash",
    ]  # fmt: skip
    payload = {k: row[k] for k in keys}
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def legacy_event(row: dict, *, chain: int) -> AuditEvent:
    """An event written in the old (version 1) form from its hashed payload."""
    return AuditEvent.objects.create(
        chain=chain,
        hash_version=1,
        occurred_at=row["occurred_at"],
        actor_id=row["actor"],
        actor_label=row["actor_label"],
        role=row["role"],
        action=row["action"],
        object_type=row["object_type"],
        object_id=row["object_id"],
        patient_id=row["patient"],
        detail=row["detail"],
        ip=row["ip"],
        user_agent=row["user_agent"],
        previous_hash=row["previous_hash"],
        hash=legacy_hash(row),
    )


def write_legacy_events(world, count: int) -> list[AuditEvent]:
    """Events as an installation had them before chains: one global chain, version 1."""
    previous, events = GENESIS_HASH, []
    for i in range(count):
        row = {
            "occurred_at": (timezone.now() - timedelta(days=30 - i)).isoformat(),
            "actor": world.front_desk.pk,
            "actor_label": "desk@alpha.test",
            "role": "front_desk",
            "action": "view",
            "object_type": "accounts.Patient",
            "object_id": str(world.patient.pk),
            "patient": world.patient.pk,
            "detail": f"/patients/{world.patient.pk}/",
            "ip": "10.0.0.1",
            "user_agent": "Old/1.0",
            "previous_hash": previous,
        }
        previous = legacy_hash(row)
        events.append(legacy_event(row, chain=SYSTEM_CHAIN))
    return events


def test_events_from_before_chains_still_verify_and_the_system_chain_continues_them(world):
    legacy = write_legacy_events(world, 3)
    assert verify_chain(SYSTEM_CHAIN) is None
    system = audit.record(action=Action.LOGIN_FAILED, actor_label="unknown email")
    practice = audit.record(action=Action.VIEW, actor=world.front_desk, obj=world.patient)
    assert system.previous_hash == legacy[-1].hash
    assert practice.previous_hash != legacy[-1].hash
    assert verify_chain() is None
    # Old events stay in their patient's accounting of disclosures.
    views = AuditEvent.objects.about_patient(world.patient).filter(action=Action.VIEW)
    assert list(views.values_list("pk", flat=True)) == [e.pk for e in [*legacy, practice]]
    open_tampering()
    AuditEvent.objects.filter(pk=legacy[1].pk).update(detail="/elsewhere/")
    assert verify_chain(SYSTEM_CHAIN) == legacy[1]


def test_an_event_in_the_old_form_is_refused_outside_the_start_of_the_system_chain(world):
    """Version 1 covers neither chain nor subjects: one written after chains began (in a
    practice's chain, or after the system chain's first new event) is named as broken."""
    practice = audit.record(action=Action.VIEW, actor=world.front_desk, obj=world.patient)
    system = audit.record(action=Action.LOGIN_FAILED, actor_label="unknown email")
    forged = []
    for tail in (practice, system):
        row = {
            "occurred_at": timezone.now().isoformat(),
            "actor": world.front_desk.pk,
            "actor_label": "desk@alpha.test",
            "role": "front_desk",
            "action": "view",
            "object_type": "accounts.Patient",
            "object_id": str(world.patient.pk),
            "patient": world.patient.pk,
            "detail": "/forged/",
            "ip": None,
            "user_agent": "",
            "previous_hash": tail.hash,
        }
        forged.append(legacy_event(row, chain=tail.chain))
    assert verify_chain(practice.chain) == forged[0]
    assert verify_chain(SYSTEM_CHAIN) == forged[1]


def test_verify_audit_names_the_broken_link_of_each_chain_and_the_intact_ones(world):
    total = AuditEvent.objects.count() + 5
    in_b = AuditEvent.objects.filter(chain=world.outside_practice.pk).count() + 2
    a = [audit.record(action=Action.VIEW, actor=world.front_desk, obj=world.patient) for _ in "123"]
    for _ in "12":
        audit.record(action=Action.VIEW, actor=world.outside_clinician, obj=world.outside_patient)
    out = StringIO()
    call_command("verify_audit", stdout=out)
    b_intact = f"chain of practice {world.outside_practice.pk}: intact, {in_b} events"
    assert b_intact in out.getvalue()
    assert f"Audit chain intact: {total} events verified." in out.getvalue()
    open_tampering()
    AuditEvent.objects.filter(pk=a[1].pk).update(detail="/nothing-to-see/")
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit", stdout=out)
    assert f"chain of practice {world.practice.pk}: broken at event {a[1].pk}" in str(failure.value)
    assert f"practice {world.outside_practice.pk}" not in str(failure.value)
    assert b_intact in out.getvalue()


def test_postgres_trigger_refuses_update_and_delete_of_subjects(require_postgres, world):
    event = audit.record_many(
        action=Action.VIEW,
        actor=world.front_desk,
        objects=[(world.patient, None), (world.other_patient, None)],
    )
    subjects = AuditSubject.objects.filter(event=event)
    refused = pytest.raises(DatabaseError, match="audit_auditsubject is append-only")
    with refused, transaction.atomic():
        subjects.update(object_id="1")
    with refused, transaction.atomic():
        subjects.delete()
    assert subjects.count() == 2


def test_a_list_page_is_in_the_accounting_of_each_patient_it_showed_once(client, world, video_type):
    for hour, patient in ((10, world.patient), (11, world.other_patient)):
        video_visit_at(world, video_type, local(1, hour), patient=patient)
    sign_in(client, world.front_desk)
    day = local(1, 10).date().isoformat()
    assert client.get(reverse("scheduling:schedule"), {"day": day}).status_code == 200
    view = AuditEvent.objects.get(action=Action.VIEW, actor=world.front_desk)
    sign_in(client, world.admin)
    for patient in (world.patient, world.other_patient):
        page = client.get(reverse("accounts:patient-audit", args=[patient.pk]))
        listed = [e for e in page.context["events"] if e.actor == world.front_desk]
        assert listed == [view]
    page = client.get(reverse("accounts:patient-audit", args=[world.patient.pk]))
    assert page.content.count(b"<td>/scheduling/</td>") == 1


def test_the_staff_week_view_writes_one_event_in_one_statement(client, world, video_type):
    shown = [
        video_visit_at(world, video_type, local(day, hour), patient=patient)
        for day in range(1, 6)
        for hour, patient in ((9, world.patient), (14, world.other_patient))
    ]
    sign_in(client, world.front_desk)
    before = AuditEvent.objects.count()
    with CaptureQueriesContext(connection) as queries:
        page = client.get(
            reverse("scheduling:schedule"), {"day": local(1, 9).date().isoformat(), "view": "week"}
        )
    assert page.status_code == 200 and len(page.context["appointments"]) == len(shown)
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.latest("id")
    assert event.chain == world.practice.pk
    assert sorted(int(s.object_id) for s in event.subjects.all()) == sorted(a.pk for a in shown)
    # Not one round per appointment. PostgreSQL: one call of `audit_append` (lock, tail read,
    # the event, its subjects); SQLite: the tail read, the event, its subjects in one insert.
    statements = [q["sql"] for q in queries.captured_queries]
    if connection.vendor == "postgresql":
        assert len([sql for sql in statements if "audit_append(" in sql]) == 1
        assert [sql for sql in statements if "audit_audit" in sql] == []
    else:
        assert len([sql for sql in statements if "audit_audit" in sql]) == 3, statements
    assert verify_chain(event.chain) is None


def hold_chain(actor, held: threading.Event, release: threading.Event, errors: list) -> None:
    """Write an event of the actor's practice and keep its transaction (and lock) open."""
    try:
        with transaction.atomic():
            audit.record(action=Action.VIEW, actor=actor, detail="holder")
            held.set()
            release.wait(20)
    except Exception as exc:  # collected and asserted by the test
        errors.append(exc)
    finally:
        connection.close()


def write_one(actor, done: threading.Event, errors: list) -> None:
    try:
        audit.record(action=Action.VIEW, actor=actor, detail="writer")
        done.set()
    except Exception as exc:  # collected and asserted by the test
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_practices_do_not_wait_for_each_others_chain(require_postgres, world):
    held, release = threading.Event(), threading.Event()
    errors: list[Exception] = []
    in_b = AuditEvent.objects.filter(chain=world.outside_practice.pk).count()
    in_a = AuditEvent.objects.filter(chain=world.practice.pk).count()
    holder = threading.Thread(target=hold_chain, args=(world.front_desk, held, release, errors))
    holder.start()
    try:
        assert held.wait(10)
        other_done, same_done = threading.Event(), threading.Event()
        other = threading.Thread(
            target=write_one, args=(world.outside_clinician, other_done, errors)
        )
        same = threading.Thread(target=write_one, args=(world.clinician, same_done, errors))
        same.start()
        other.start()
        # Practice B's event commits while practice A's chain is locked...
        assert other_done.wait(10)
        assert AuditEvent.objects.filter(chain=world.outside_practice.pk).count() == in_b + 1
        # ...and a second writer of practice A waits for the holder.
        assert not same_done.wait(0.5)
    finally:
        release.set()
        holder.join(10)
    same.join(10)
    other.join(10)
    assert errors == []
    assert same_done.is_set()
    assert AuditEvent.objects.filter(chain=world.practice.pk).count() == in_a + 2
    assert verify_chain() is None


@pytest.mark.django_db(transaction=True)
def test_writers_of_one_chain_never_fork_it(require_postgres, world):
    errors: list[Exception] = []
    before = AuditEvent.objects.filter(chain=world.practice.pk).count()
    actors = [world.front_desk, world.clinician, world.admin, world.other_clinician]

    def write(actor):
        try:
            for i in range(10):
                audit.record_many(
                    action=Action.VIEW,
                    actor=actor,
                    objects=[(world.patient, None), (world.other_patient, None)][: 1 + i % 2],
                )
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=write, args=(actor,)) for actor in actors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    links = list(
        AuditEvent.objects.filter(chain=world.practice.pk).values_list("previous_hash", flat=True)
    )
    assert len(links) == before + 40 and len(set(links)) == before + 40
    assert verify_chain(world.practice.pk) is None


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_events_written_before_it_verifiable():
    migrate([("audit", "0003_actor_label_by_id")])
    try:
        previous = GENESIS_HASH
        with connection.cursor() as cursor:
            for i in range(3):
                row = {
                    "occurred_at": timezone.now().replace(microsecond=0).isoformat(),
                    "actor": None,
                    "actor_label": "",
                    "role": "",
                    "action": "login_failed",
                    "object_type": "",
                    "object_id": "",
                    "patient": None,
                    "detail": f"attempt {i}",
                    "ip": "10.0.0.1",
                    "user_agent": "Old/1.0",
                    "previous_hash": previous,
                }
                previous = legacy_hash(row)
                cursor.execute(
                    "INSERT INTO audit_auditevent (occurred_at, actor_label, role, action, "
                    "object_type, object_id, detail, ip, user_agent, previous_hash, hash) "
                    "VALUES (%s, '', '', 'login_failed', '', '', %s, '10.0.0.1', 'Old/1.0', "
                    "%s, %s)",
                    [row["occurred_at"], row["detail"], row["previous_hash"], previous],
                )
    finally:
        migrate()
    old = list(AuditEvent.objects.all())
    assert [(e.chain, e.hash_version) for e in old] == [(SYSTEM_CHAIN, 1)] * 3
    assert verify_chains() == {SYSTEM_CHAIN: None}
    new = audit.record(action=Action.LOGIN_FAILED, actor_label="unknown email")
    assert new.previous_hash == old[-1].hash
    assert verify_chains() == {SYSTEM_CHAIN: None}


def test_the_staff_patient_list_is_in_the_accounting_of_each_patient_it_showed(client, world):
    sign_in(client, world.front_desk)
    page = client.get(reverse("accounts:patient-list"))
    shown = list(page.context["patients"])
    assert world.patient in shown
    view = AuditEvent.objects.get(action=Action.VIEW, actor=world.front_desk)
    for patient in shown:
        assert AuditEvent.objects.about_patient(patient).filter(pk=view.pk).exists()
