"""What one booking costs the database, pinned: a new query in the booking path must be
chosen, not slipped in. The reminders of the plan are rendered when sent, so a booking reads
nothing for them but the plan itself."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from scheduling import services
from scheduling.models import BookedVia
from telehealth.accounts.models import Patient
from telehealth.notify.models import OutboundMessage
from tests.scheduling.conftest import local


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

# savepoint; provider lock; slot rules and exceptions (and on SQLite busy times: on PostgreSQL
# the exclusion constraint judges overlaps in the insert); insert; care team; audit (chain
# head, insert, and on PostgreSQL its lock); FHIR subscriptions; practice wording; SMS
# opt-out; reminder plan; outbox insert (one for seven messages); release. The new visit's
# manage and join links are its first, so their versions are not read. It was 21 on
# PostgreSQL before the plan was rendered at send time, 18 before those three went.
EXPECTED = {"postgresql": 15, "sqlite": 15}


def book(world, video_type, start):
    return services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
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
