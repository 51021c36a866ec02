"""The join link where patients and staff look for it: "Join" on My appointments and the
patient home; "Copy join link" and "Send join link" for staff on today's visits and the
schedule. Sending is one audited service, refused with a message for a visit without a
working link or a patient no channel reaches."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from scheduling import services
from scheduling.models import Appointment, BookedVia, Modality, ReminderRule
from telehealth.accounts.models import Patient
from telehealth.audit.models import AuditEvent
from telehealth.notify.models import OutboundMessage
from tests.conftest import sign_in
from tests.scheduling.conftest import local


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


def soon(world, kind, minutes=10, patient=None) -> Appointment:
    """A visit today, written directly (the booking rules' notice is not the point here)."""
    now = timezone.now()
    start = now + timedelta(minutes=minutes)
    zone = world.practice.zone
    if (
        minutes > 0
        and timezone.localtime(start, zone).date() != timezone.localtime(now, zone).date()
    ):
        start = now - timedelta(minutes=minutes)  # just before the practice's midnight
    return Appointment.objects.create(
        practice=world.practice,
        provider=world.clinician.provider,
        patient=patient or world.patient,
        appointment_type=kind,
        start=start,
        end=start + timedelta(minutes=20),
        blocked_start=start,
        blocked_end=start + timedelta(minutes=20),
        modality=kind.modality,
        booked_via="staff",
    )


def send_url(appointment) -> str:
    return reverse("scheduling:send-join-link", args=[appointment.pk])


def sent(appointment):
    return OutboundMessage.objects.filter(
        related_id=str(appointment.pk), template=ReminderRule.Kind.JOIN_LINK
    )


# --- The patient's portal --------------------------------------------------------------------


def test_my_appointments_offers_join_for_upcoming_video_visits_only(client, world, video_type):
    book(world, video_type, local(3, 10))
    in_person_type = type(video_type).objects.create(
        practice=world.practice, name="Clinic visit", slug="clinic", modality=Modality.IN_PERSON
    )
    in_person_type.providers.add(world.clinician.provider)
    book(world, in_person_type, local(4, 10))
    sign_in(client, world.patient.user)
    page = client.get(reverse("scheduling:mine")).content.decode()
    assert page.count(">Join<") == 1
    join_href = page.split('button--primary" href="', 1)[1].split('"', 1)[0]
    assert join_href.startswith("/visit/")
    assert client.get(join_href).status_code == 200  # the countdown: days ahead


def test_the_patient_home_shows_the_next_visit_with_its_join_action(client, world, video_type):
    later = book(world, video_type, local(5, 10))
    sign_in(client, world.patient.user)
    page = client.get(reverse("home")).content.decode()
    assert "Your next visit" in page
    assert "Join video visit" in page
    assert "/visit/" in page
    Appointment.objects.filter(pk=later.pk).update(status="cancelled")
    page = client.get(reverse("home")).content.decode()
    assert "Your next visit" not in page


def test_the_home_of_a_patient_with_only_an_in_person_visit_has_no_join(client, world, video_type):
    video_type.modality = Modality.IN_PERSON
    video_type.save(update_fields=["modality"])
    book(world, video_type, local(5, 10))
    sign_in(client, world.patient.user)
    page = client.get(reverse("home")).content.decode()
    assert "Your next visit" in page
    assert "Join video visit" not in page


# --- Staff: copy and send ----------------------------------------------------------------------


def test_todays_visits_show_the_absolute_join_link_with_a_named_copy_button(
    client, world, video_type
):
    appointment = soon(world, video_type)
    sign_in(client, world.front_desk)
    page = client.get(reverse("visits:today")).content.decode()
    assert 'value="http' in page and "/visit/" in page
    assert 'Copy join link<span class="visually-hidden"> for Pat Alpha</span>' in page
    assert f'action="{send_url(appointment)}"' in page
    assert 'src="/static/js/copy-link.js"' in page


def test_the_schedule_offers_the_join_tools_for_video_visits(client, world, video_type):
    appointment = book(world, video_type, local(1, 10))
    sign_in(client, world.clinician)
    day = timezone.localtime(appointment.start, world.practice.zone).date().isoformat()
    page = client.get(reverse("scheduling:schedule") + f"?day={day}").content.decode()
    assert "Copy join link" in page
    assert f'action="{send_url(appointment)}"' in page


def test_staff_send_the_join_link_by_the_patients_channel_and_it_is_audited(
    client, world, video_type
):
    appointment = soon(world, video_type)
    sign_in(client, world.front_desk)
    answer = client.post(send_url(appointment), {"next": "/visits/"})
    assert answer.status_code == 302 and answer["Location"] == "/visits/"
    message = sent(appointment).get()
    assert message.channel == "email"  # no text consent
    assert "/visit/" in message.body
    assert AuditEvent.objects.filter(
        actor=world.front_desk, detail="join link sent by email", patient=world.patient
    ).exists()
    # Pressed again (the patient lost it): sent again.
    client.post(send_url(appointment), {"next": "/visits/"})
    assert sent(appointment).count() == 2


def test_a_patient_who_prefers_texts_is_sent_a_text(client, world, video_type):
    Patient.objects.filter(pk=world.patient.pk).update(
        sms_consent=True, sms_consent_at=timezone.now(), preferred_channel="sms"
    )
    appointment = soon(world, video_type)
    sign_in(client, world.clinician)
    client.post(send_url(appointment))
    assert list(sent(appointment).values_list("channel", flat=True)) == ["sms"]


@pytest.mark.parametrize(
    "outside",
    ["https://evil.example/", "//evil.example/", "/\\evil.example/", "///evil.example/", "99999"],
)
def test_an_outside_next_address_is_not_followed(client, world, video_type, outside):
    appointment = soon(world, video_type)
    sign_in(client, world.front_desk)
    answer = client.post(send_url(appointment), {"next": outside})
    assert answer["Location"] == reverse("scheduling:schedule")


def refused(client, world, appointment, text):
    sign_in(client, world.front_desk)
    answer = client.post(send_url(appointment))
    assert answer.status_code == 409
    assert text in answer.content.decode()
    assert not sent(appointment).exists()


def test_an_in_person_visit_is_refused(client, world, video_type):
    video_type.modality = Modality.IN_PERSON
    video_type.save(update_fields=["modality"])
    refused(client, world, soon(world, video_type), "Only video visits have a join link.")


def test_a_cancelled_visit_is_refused(client, world, video_type):
    appointment = soon(world, video_type)
    Appointment.objects.filter(pk=appointment.pk).update(status="cancelled")
    refused(client, world, appointment, "This visit was cancelled or moved.")


def test_an_ended_visit_is_refused(client, world, video_type):
    appointment = soon(world, video_type)
    Appointment.objects.filter(pk=appointment.pk).update(status="completed")
    refused(client, world, appointment, "This visit was cancelled or moved.")
    long_ago = soon(world, video_type, minutes=-60 * 4)
    refused(client, world, long_ago, "This visit has ended.")


def test_a_patient_no_channel_reaches_is_refused_with_a_reason(client, world, video_type):
    Patient.objects.filter(pk=world.patient.pk).update(email="", email_index="")
    refused(client, world, soon(world, video_type), "no email address and no consent to texts")


def test_anonymous_visitors_are_sent_to_sign_in(client, world, video_type):
    appointment = soon(world, video_type)
    answer = client.post(send_url(appointment))
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]
    assert not sent(appointment).exists()


def test_patients_cannot_send(client, world, video_type):
    appointment = soon(world, video_type)
    sign_in(client, world.patient.user)
    assert client.post(send_url(appointment)).status_code in (403, 404)
    assert not sent(appointment).exists()


def test_staff_of_another_practice_get_404(client, world, video_type):
    appointment = soon(world, video_type)
    sign_in(client, world.outside_clinician)
    assert client.post(send_url(appointment)).status_code == 404
    assert not sent(appointment).exists()


def test_get_is_not_allowed(client, world, video_type):
    sign_in(client, world.front_desk)
    assert client.get(send_url(soon(world, video_type))).status_code == 405
