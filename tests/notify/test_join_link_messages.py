"""The join link reaches every video patient: in the confirmation, moved and reminder emails,
and as the join-link message by the patient's own channel, at once for a late booking."""

from datetime import timedelta

import pytest
from django.utils import timezone

from scheduling import reminders, services
from scheduling.models import BookedVia, Modality, ReminderRule
from telehealth.accounts.models import Patient
from telehealth.notify import wording
from telehealth.notify.models import MessageTemplate, OutboundMessage
from tests.scheduling.conftest import local, send_now, video_visit_at


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db


def book(world, kind, start, patient=None):
    return services.appointment_book(
        provider=world.clinician.provider,
        patient=patient or world.patient,
        appointment_type=kind,
        start=start,
        by=None,
        via=BookedVia.STAFF,
    )


def queued(appointment, **filters):
    return OutboundMessage.objects.filter(
        related_id=str(appointment.pk), related_type="scheduling.Appointment", **filters
    )


def set_patient(patient, **fields):
    Patient.objects.filter(pk=patient.pk).update(**fields)
    patient.refresh_from_db()


def consent(patient, channel="sms"):
    set_patient(patient, sms_consent=True, sms_consent_at=timezone.now(), preferred_channel=channel)


@pytest.fixture
def in_person_type(video_type):
    video_type.modality = Modality.IN_PERSON
    video_type.save(update_fields=["modality"])
    return video_type


def test_the_confirmation_email_of_a_video_visit_says_how_to_join(world, video_type):
    appointment = book(world, video_type, local(3, 10))
    email = send_now(
        queued(appointment, template="appointment.confirmation", channel="email").get()
    )
    context = reminders.context_for(appointment)
    assert "How to join your video visit: open " + context["join_link"] in email.body
    assert "/visit/" in context["join_link"]
    assert "15 minutes before the start" in email.body
    assert f'<a href="{context["join_link"]}">' in email.html_body


def test_a_spanish_patient_reads_how_to_join_in_spanish(world, video_type):
    set_patient(world.patient, preferred_language="es")
    appointment = book(world, video_type, local(3, 10))
    email = send_now(
        queued(appointment, template="appointment.confirmation", channel="email").get()
    )
    assert "Cómo entrar a su videoconsulta: abra http" in email.body
    assert "How to join" not in email.body


def test_an_in_person_confirmation_has_no_join_paragraph_and_no_gap(world, in_person_type):
    appointment = book(world, in_person_type, local(3, 10))
    email = send_now(
        queued(appointment, template="appointment.confirmation", channel="email").get()
    )
    assert "join" not in email.body.lower()
    assert "/visit/" not in email.body
    assert "\n\n\n" not in email.body
    assert "booked for" in email.body and "To confirm, reschedule or cancel" in email.body


def test_the_moved_and_reminder_emails_carry_the_join_link(world, video_type):
    first = book(world, video_type, local(5, 10))
    moved = services.appointment_reschedule(appointment=first, start=local(6, 10), by=None)
    # The link is signed with a timestamp: the same visit's link made a second later differs
    # after the payload, so compare up to the signature.
    join_link = reminders.context_for(moved)["join_link"].rsplit(":", 2)[0]
    notice = send_now(queued(moved, template="appointment.moved", channel="email").get())
    assert join_link in notice.body
    reminder = queued(moved, template="appointment.reminder", channel="email").first()
    assert reminder is not None and join_link in send_now(reminder).body


def test_a_practice_wording_may_use_the_join_paragraph_and_the_sample_shows_it():
    body = "Hello {patient_first_name}.\n\n{join_instructions}\n\n{practice_name}"
    wording.validate_template(channel="email", subject="", body=body)
    assert "How to join" in wording.render(body, wording.SAMPLE_CONTEXT)
    assert wording.render(body, {"patient_first_name": "Ana", "practice_name": "P"}) == (
        "Hello Ana.\n\nP"
    )


def test_a_practice_override_without_the_paragraph_still_renders(world, video_type):
    MessageTemplate.objects.create(
        practice=world.practice,
        key="appointment.confirmation",
        channel="email",
        language="en",
        subject="Booked",
        body="Booked for {start_local}. {confirm_link}",
    )
    appointment = book(world, video_type, local(3, 10))
    email = send_now(
        queued(appointment, template="appointment.confirmation", channel="email").get()
    )
    assert email.body.startswith("Booked for ")


def join_messages(appointment):
    return queued(appointment, template=ReminderRule.Kind.JOIN_LINK)


def test_without_text_consent_the_join_link_goes_by_email(world, video_type):
    appointment = book(world, video_type, local(3, 10))
    message = join_messages(appointment).get()
    assert message.channel == "email"
    assert message.send_at == appointment.start - timedelta(minutes=15)
    message = send_now(message)  # rendered now: compare the link up to its signature's time
    assert reminders.context_for(appointment)["join_link"].rsplit(":", 2)[0] in message.body
    assert message.subject == "Your video visit with Alpha Health: how to join"


def test_a_patient_who_prefers_email_gets_it_by_email_even_with_text_consent(world, video_type):
    consent(world.patient, channel="email")
    appointment = book(world, video_type, local(3, 10))
    assert list(join_messages(appointment).values_list("channel", flat=True)) == ["email"]


def test_a_patient_who_prefers_texts_gets_it_by_text(world, video_type):
    consent(world.patient, channel="sms")
    appointment = book(world, video_type, local(3, 10))
    assert list(join_messages(appointment).values_list("channel", flat=True)) == ["sms"]


def test_a_patient_who_prefers_the_portal_gets_it_by_email(world, video_type):
    consent(world.patient, channel="portal")
    appointment = book(world, video_type, local(3, 10))
    assert list(join_messages(appointment).values_list("channel", flat=True)) == ["email"]


def test_a_patient_no_channel_reaches_is_sent_nothing(world, video_type):
    set_patient(world.patient, email="", email_index="")
    appointment = book(world, video_type, local(3, 10))
    assert not join_messages(appointment).exists()


def test_a_plan_with_join_steps_on_two_channels_sends_one_link(world, video_type):
    for channel in ("sms", "email"):
        ReminderRule.objects.create(
            practice=world.practice,
            minutes_before=15,
            channel=channel,
            kind=ReminderRule.Kind.JOIN_LINK,
        )
    appointment = book(world, video_type, local(3, 10))
    assert join_messages(appointment).count() == 1


def test_a_late_booking_gets_the_join_link_at_once(world, video_type):
    video_type.minimum_notice_minutes = 0
    video_type.save(update_fields=["minimum_notice_minutes"])
    start = timezone.now() + timedelta(minutes=8)
    appointment = video_visit_at(world, video_type, start)
    before = timezone.now()
    reminders.queue_booking_messages(appointment)
    message = join_messages(appointment).get()
    assert message.channel == "email"
    assert before <= message.send_at <= timezone.now()


def test_no_join_link_for_a_visit_already_over(world, video_type):
    start = timezone.now() - timedelta(minutes=40)
    appointment = video_visit_at(world, video_type, start)
    reminders.queue_booking_messages(appointment)
    assert not join_messages(appointment).exists()


def test_an_in_person_visit_gets_no_join_link_message(world, in_person_type):
    appointment = book(world, in_person_type, local(3, 10))
    assert not join_messages(appointment).exists()
