from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from scheduling import services
from scheduling.models import BookedVia, ReminderRule, Status
from scheduling.reminders import outside_quiet_hours
from telehealth.accounts.models import Patient
from telehealth.notify.models import OutboundMessage
from tests.scheduling.conftest import local, send_now


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


NY = ZoneInfo("America/New_York")


@pytest.fixture
def consenting(world):
    Patient.objects.filter(pk=world.patient.pk).update(
        sms_consent=True, sms_consent_at=timezone.now()
    )
    world.patient.refresh_from_db()
    return world.patient


def book(world, video_type, start, patient=None):
    return services.appointment_book(
        provider=world.clinician.provider,
        patient=patient or world.patient,
        appointment_type=video_type,
        start=start,
        by=None,
        via=BookedVia.ONLINE,
    )


def queued(appointment):
    return OutboundMessage.objects.filter(
        related_id=str(appointment.pk), related_type="scheduling.Appointment"
    )


def test_booking_queues_the_default_plan(world, video_type, consenting):
    appointment = book(world, video_type, local(5, 14))
    plan = sorted(
        (m.template, m.channel, round((appointment.start - m.send_at).total_seconds() / 60))
        for m in queued(appointment).exclude(template="appointment.confirmation")
    )
    assert plan == [
        ("appointment.join_link", "sms", 15),
        ("appointment.reminder", "email", 24 * 60),
        ("appointment.reminder", "email", 72 * 60),
        ("appointment.reminder", "sms", 2 * 60),
        ("appointment.reminder", "sms", 24 * 60),
    ]
    assert all(
        m.status == "queued"
        for m in queued(appointment).exclude(template="appointment.confirmation")
    )


def test_a_practice_plan_replaces_the_default(world, video_type, consenting):
    ReminderRule.objects.create(practice=world.practice, minutes_before=48 * 60, channel="sms")
    appointment = book(world, video_type, local(5, 14))
    reminders = queued(appointment).exclude(template="appointment.confirmation")
    assert [(m.channel, m.template) for m in reminders] == [("sms", "appointment.reminder")]


def test_no_texts_without_consent(world, video_type):
    appointment = book(world, video_type, local(5, 14))
    assert not queued(appointment).filter(channel="sms").exists()
    assert queued(appointment).filter(channel="email").exists()


def test_reminders_move_with_a_reschedule_and_stop_with_a_cancel(world, video_type, consenting):
    first = book(world, video_type, local(5, 14))
    moved = services.appointment_reschedule(appointment=first, start=local(6, 10), by=None)
    assert not queued(first).filter(status="queued").exists()
    # The two confirmations (still queued here) and the five reminders of the old time.
    assert queued(first).filter(status="cancelled").count() == 7
    reminder = queued(moved).get(
        template="appointment.reminder", channel="sms", dedupe_key__endswith=f":{24 * 60}:sms"
    )
    assert reminder.send_at == moved.start - timedelta(hours=24)
    services.appointment_cancel(appointment=moved, by=None, reason="")
    assert (
        not queued(moved).filter(status="queued").exclude(template="appointment.cancelled").exists()
    )
    assert queued(moved).filter(template="appointment.cancelled").exists()


def test_join_link_only_for_video_visits(world, video_type, consenting):
    video_type.modality = "phone"
    video_type.save(update_fields=["modality"])
    appointment = book(world, video_type, local(5, 14))
    assert not queued(appointment).filter(template="appointment.join_link").exists()


def test_no_show_sends_a_follow_up_with_a_rebook_link(world, video_type, consenting):
    appointment = book(world, video_type, local(1, 14))
    services.appointment_set_status(
        appointment=appointment, status=Status.NO_SHOW, by=world.front_desk
    )
    follow_up = queued(appointment).get(template="appointment.no_show", channel="sms")
    assert "/book/alpha/" in follow_up.body
    assert not queued(appointment).filter(template="appointment.reminder", status="queued").exists()


def test_spanish_patient_gets_spanish_texts(world, video_type, consenting):
    Patient.objects.filter(pk=world.patient.pk).update(preferred_language="es")
    world.patient.refresh_from_db()
    appointment = book(world, video_type, local(5, 14))
    reminder = queued(appointment).filter(template="appointment.reminder", channel="sms").first()
    assert send_now(reminder).body.startswith("Recordatorio de Alpha Health")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=NY).astimezone(UTC)


@pytest.mark.parametrize(
    ("send", "visit", "expected"),
    [
        (at(1, 14), at(2, 14), at(1, 14)),  # afternoon: unchanged
        (at(1, 22), at(3, 10), at(2, 8)),  # late evening: next morning
        (at(2, 6), at(3, 10), at(2, 8)),  # early morning: that morning
        (at(2, 6), at(2, 7, 30), at(2, 6)),  # the visit comes before 08:00: send anyway
        (at(1, 21), at(2, 9), at(2, 8)),  # 21:00 is already quiet
        (at(1, 20, 59), at(2, 9), at(1, 20, 59)),
    ],
)
def test_quiet_hours_in_the_patients_zone(send, visit, expected):
    assert outside_quiet_hours(send, visit_start=visit, zone=NY) == expected
