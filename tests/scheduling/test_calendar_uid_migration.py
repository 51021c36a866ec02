"""Appointments booked before the calendar UID column keep the UID their patients' calendars
already hold, so the first update or cancellation sent after the upgrade replaces that event."""

import pytest
from django.conf import settings

from scheduling.models import Appointment
from tests.migrating import migrate
from tests.scheduling.conftest import local, video_visit_at

BEFORE = [("scheduling", "0007_appointmenttype_name_es")]


@pytest.mark.django_db(transaction=True)
def test_existing_appointments_keep_the_uid_sent_before(world, video_type):
    booked = [video_visit_at(world, video_type, local(3, hour)) for hour in (10, 11)]
    migrate(BEFORE)
    migrate()
    site = settings.SITE_URL.split("//")[-1]  # what scheduling.calendar wrote, port and all
    for appointment in booked:
        appointment.refresh_from_db()
        assert appointment.calendar_uid == f"appointment-{appointment.pk}@{site}"
        assert appointment.calendar_sequence == 0
    fresh = video_visit_at(world, video_type, local(3, 12))
    assert fresh.calendar_uid not in {a.calendar_uid for a in booked}
    assert Appointment.objects.values("calendar_uid").distinct().count() == 3
