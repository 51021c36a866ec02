"""What one booking costs the database, pinned: a new query in the booking path must be
chosen, not slipped in. Every message of a booking (the confirmation and its calendar file, the
reminders of the plan) is rendered when sent, so a booking reads nothing for them but the plan
itself, and nothing for the account invitation the confirmation email may offer."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from scheduling import services
from scheduling.models import BookedVia
from telehealth.accounts.models import Patient
from telehealth.audit import services as audit
from telehealth.audit.models import AuditEvent
from telehealth.notify.models import OutboundMessage
from tests.conftest import make_patient
from tests.scheduling.conftest import local


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

# savepoint; provider lock; slot rules and exceptions in one UNION (and on SQLite busy times:
# on PostgreSQL the exclusion constraint judges overlaps in the insert); insert; care team
# (one INSERT .. ON CONFLICT DO NOTHING); audit (on PostgreSQL one call of `audit_append`,
# which locks the chain, reads its head and inserts; elsewhere the head and the insert); FHIR
# subscriptions; SMS opt-out (the patient consents to texts); reminder plan; outbox insert
# (one for seven messages); release.
# It was 21 on PostgreSQL before the plan was rendered at send time, 18 before the opt-out,
# wording and link versions were read once, 15 before the confirmation was rendered at send
# time too (no practice wording; for a patient without an account, no invitation's email
# check and link version either), 14 before the rules and exceptions were read together, 13
# before the audit event was appended in one statement.
EXPECTED = {"postgresql": 11, "sqlite": 13}


def book(world, video_type, start, patient=None):
    return services.appointment_book(
        provider=world.clinician.provider,
        patient=patient or world.patient,
        appointment_type=video_type,
        start=start,
        by=None,
        via=BookedVia.ONLINE,
    )


def test_a_booking_runs_a_pinned_number_of_queries_none_twice(world, video_type):
    Patient.objects.filter(pk=world.patient.pk).update(
        sms_consent=True, sms_consent_at=timezone.now()
    )
    world.patient.refresh_from_db()
    book(world, video_type, local(4, 14))  # the patient joins the care team once
    with CaptureQueriesContext(connection) as captured:
        appointment = book(world, video_type, local(5, 14))
    statements = [query["sql"] for query in captured.captured_queries]
    assert len(statements) == EXPECTED[connection.vendor], "\n".join(statements)
    selects = [sql for sql in statements if sql.startswith("SELECT")]
    assert len(selects) == len(set(selects)), "\n".join(selects)
    # Seven messages (two confirmations, five steps of the plan) in that one INSERT.
    assert OutboundMessage.objects.filter(related_id=str(appointment.pk)).count() == 7


def test_a_patient_without_an_account_costs_no_more(world, video_type):
    """The confirmation email offers such a patient an account: signed, and checked against
    the emails other accounts sign in with, when it is sent, not in the booking. Without
    texting consent the opt-out list is not read either."""
    patient = make_patient(world.practice, "Nina Newcomer", "nina@example.com", login=False)
    book(world, video_type, local(4, 14), patient=patient)
    with CaptureQueriesContext(connection) as captured:
        appointment = book(world, video_type, local(5, 14), patient=patient)
    statements = [query["sql"] for query in captured.captured_queries]
    assert len(statements) == EXPECTED[connection.vendor] - 1, "\n".join(statements)
    assert not [sql for sql in statements if "accounts_user" in sql or "linkversion" in sql]
    assert OutboundMessage.objects.filter(related_id=str(appointment.pk)).count() == 4


def test_joining_the_care_team_costs_one_statement_and_shares_the_chain_lock(world, video_type):
    """A patient's first booking with a clinician adds them to the care team: one INSERT that
    comes back with the row, and a second audit event that links to the booking's own in the
    same transaction, so the chain's lock and tail are taken once; the chain still verifies."""
    patient = make_patient(world.practice, "Fay First", "fay@example.com", login=False)
    last_event = AuditEvent.objects.order_by("id").last()
    with CaptureQueriesContext(connection) as captured:
        appointment = book(world, video_type, local(5, 14), patient=patient)
    statements = [query["sql"] for query in captured.captured_queries]
    # No opt-out read (no texting consent), one audit INSERT more (the care team).
    assert len(statements) == EXPECTED[connection.vendor], "\n".join(statements)
    assert len([sql for sql in statements if "accounts_careteammember" in sql]) == 1
    if connection.vendor == "postgresql":
        # One call each; the second takes the lock this transaction holds, without waiting.
        assert len([sql for sql in statements if "audit_append(" in sql]) == 2
    else:
        assert len([sql for sql in statements if sql.startswith('INSERT INTO "audit_')]) == 2
        assert len([sql for sql in statements if "FROM audit_auditevent" in sql]) == 1
    assert patient.care_team.filter(clinician=world.clinician).count() == 1
    events = AuditEvent.objects.filter(pk__gt=last_event.pk if last_event else 0).order_by("id")
    added, booked = events
    assert added.chain == booked.chain and booked.previous_hash == added.hash
    assert booked.object_id == str(appointment.pk)
    assert audit.verify_chain(booked.chain) is None
