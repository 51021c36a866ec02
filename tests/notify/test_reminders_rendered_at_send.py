"""An appointment's reminders and join links are queued unrendered and rendered by the
dispatcher when they go, from the appointment, patient and practice as they are then."""

import pytest
from django.db import connection
from django.utils import timezone

from scheduling import services
from scheduling.models import Appointment, Status
from telehealth.accounts.models import Patient, Practice
from telehealth.notify.dispatch import dispatch_due
from telehealth.notify.models import OutboundMessage
from tests.notify.test_reminders import book, consenting, queued  # noqa: F401  (fixture)
from tests.scheduling.conftest import local, send_now


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("consenting")]


def planned(appointment):
    return queued(appointment).filter(render_at_send=True)


def sms_reminder(appointment):
    return queued(appointment).get(
        template="appointment.reminder", channel="sms", dedupe_key__endswith=f":{24 * 60}:sms"
    )


def test_reminders_are_queued_without_text_like_the_confirmation(world, video_type):
    appointment = book(world, video_type, local(5, 14))
    assert planned(appointment).count() == 7  # two confirmations, five steps of the plan
    for message in planned(appointment):
        assert message.render_at_send
        assert (message.subject, message.body, message.html_body) == ("", "", "")


def test_a_reminder_is_rendered_when_sent_and_the_row_keeps_what_went_out(
    world, video_type, empty_sms_outbox
):
    appointment = book(world, video_type, local(5, 14))
    reminder = send_now(sms_reminder(appointment))
    assert reminder.status == OutboundMessage.Status.SENT
    assert reminder.body.startswith("Reminder from Alpha Health")
    assert [sms.body for sms in empty_sms_outbox if sms.dedupe_key == reminder.dedupe_key] == [
        reminder.body
    ]


def test_a_reminder_reads_the_patient_and_practice_of_the_day_it_is_sent(world, video_type):
    appointment = book(world, video_type, local(5, 14))
    Patient.objects.filter(pk=world.patient.pk).update(preferred_language="es")
    Practice.objects.filter(pk=world.practice.pk).update(name="Beta Clinic")
    reminder = send_now(sms_reminder(appointment))
    assert reminder.body.startswith("Recordatorio de Beta Clinic")


def test_a_rendered_reminder_is_encrypted_at_rest(world, video_type):
    appointment = book(world, video_type, local(5, 14))
    reminder = send_now(sms_reminder(appointment))
    assert "Alpha Health" in reminder.body
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT body FROM {OutboundMessage._meta.db_table} WHERE id = %s",  # noqa: S608
            [reminder.pk],
        )
        (stored,) = cursor.fetchone()
    assert stored and "Alpha Health" not in stored


def test_a_cancelled_appointments_reminders_are_not_sent(world, video_type, empty_sms_outbox):
    appointment = book(world, video_type, local(5, 14))
    services.appointment_cancel(appointment=appointment, by=None, reason="")
    OutboundMessage.objects.filter(pk__in=planned(appointment)).update(send_at=timezone.now())
    dispatch_due()
    assert set(planned(appointment).values_list("status", flat=True)) == {"cancelled"}
    sent = {sms.dedupe_key for sms in empty_sms_outbox}
    assert not sent & set(planned(appointment).values_list("dedupe_key", flat=True))


def test_a_reminder_of_a_visit_no_longer_active_when_due_is_not_sent(
    world, video_type, empty_sms_outbox
):
    appointment = book(world, video_type, local(5, 14))
    Appointment.objects.filter(pk=appointment.pk).update(status=Status.COMPLETED)
    reminder = send_now(sms_reminder(appointment))
    assert reminder.status == OutboundMessage.Status.CANCELLED
    assert reminder.last_error == "The appointment is completed"
    assert reminder.body == ""
    assert reminder.dedupe_key not in {sms.dedupe_key for sms in empty_sms_outbox}


def test_a_reminder_is_sent_once_however_often_the_dispatcher_runs(
    world, video_type, empty_sms_outbox
):
    appointment = book(world, video_type, local(5, 14))
    reminder = send_now(sms_reminder(appointment))
    dispatch_due()
    assert [sms.dedupe_key for sms in empty_sms_outbox].count(reminder.dedupe_key) == 1


def test_a_reminder_that_cannot_be_rendered_is_retried_then_failed(
    world, video_type, monkeypatch, settings
):
    """A wording that no longer renders (a stray brace) must not leave the row claimed and
    uncounted for ever: it is retried with the others' backoff, then failed, with the reason."""
    from telehealth.notify import services as notify

    settings.OUTBOX_MAX_ATTEMPTS = 2
    message = sms_reminder(book(world, video_type, local(5, 14)))

    def unrenderable(_message):
        raise KeyError("unknown token")

    monkeypatch.setitem(notify._send_time_sources, "scheduling.Appointment", unrenderable)
    statuses = []
    for _ in range(2):
        OutboundMessage.objects.filter(pk=message.pk).update(
            send_at=timezone.now(), lease_expires_at=None
        )
        dispatch_due()
        message.refresh_from_db()
        statuses.append((message.status, message.attempts))
    assert statuses == [("queued", 1), ("failed", 2)]
    assert "Could not be rendered" in message.last_error


def test_a_reminder_is_never_sent_about_a_visit_now_of_another_patient(world, video_type):
    message = sms_reminder(book(world, video_type, local(5, 14)))
    Appointment.objects.filter(pk=message.related_id).update(patient=world.other_patient)
    OutboundMessage.objects.filter(pk=message.pk).update(send_at=timezone.now())
    dispatch_due()
    message.refresh_from_db()
    assert message.status == "cancelled"
    assert message.body == ""
