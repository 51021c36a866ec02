"""A booking's confirmation (email and text) and its calendar file are rendered when the
dispatcher sends them, not in the booking's transaction: the row holds the appointment, the
template and the channel. What goes out is the visit as it is when sent, in the patient's
language of that moment, with links signed then; a visit moved or cancelled before its
confirmation went gets no confirmation (the move's or the cancellation's own notice is the
patient's last word)."""

import re
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone
from icalendar import Calendar

from scheduling import services
from scheduling.links import JOIN, MANAGE
from scheduling.models import Appointment, BookedVia, Status
from telehealth import links
from telehealth.accounts.models import Patient, Practice
from telehealth.notify.dispatch import dispatch_due
from telehealth.notify.models import MessageTemplate, OutboundMessage
from tests.scheduling.conftest import NY, local, send_now
from tests.scheduling.itip_calendar import APPLIED, ItipCalendar


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db


@pytest.fixture
def texting(world):
    Patient.objects.filter(pk=world.patient.pk).update(
        sms_consent=True, sms_consent_at=timezone.now()
    )
    world.patient.refresh_from_db()
    return world.patient


def book(world, kind, start, reason=""):
    return services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=kind,
        start=start,
        by=None,
        via=BookedVia.ONLINE,
        reason=reason,
    )


def notice(appointment, channel, template="appointment.confirmation"):
    return OutboundMessage.objects.get(
        related_type="scheduling.Appointment",
        related_id=str(appointment.pk),
        template=template,
        channel=channel,
    )


def event_of(ics: str):
    calendar = Calendar.from_ical(ics)
    (event,) = calendar.walk("VEVENT")
    return calendar, event


def test_the_booking_queues_its_confirmations_unrendered(world, video_type, texting):
    appointment = book(world, video_type, local(3, 10))
    for channel in ("email", "sms"):
        row = notice(appointment, channel)
        assert row.render_at_send and row.status == "queued"
        assert (row.subject, row.body, row.html_body, row.ics_attachment) == ("", "", "", "")


def test_the_sent_email_says_who_when_and_how_and_carries_a_valid_calendar_file(world, video_type):
    appointment = book(world, video_type, local(3, 10))
    email = send_now(notice(appointment, "email"))
    assert email.status == "sent"
    assert email.subject == "Your visit with Alpha Health is booked"
    start_time = timezone.localtime(appointment.start, NY)
    assert "Dr Alpha" in email.body and start_time.tzname() in email.body
    assert "Video visit" in email.body and "How to join your video visit" in email.body
    (sent,) = [m for m in mail.outbox if m.subject == email.subject]
    assert sent.body == email.body and sent.to == ["pat@alpha.test"]
    (attachment,) = sent.attachments
    assert attachment.mimetype == "text/calendar; method=REQUEST"
    assert attachment.content == email.ics_attachment
    calendar, event = event_of(email.ics_attachment)
    assert (calendar["version"], calendar["method"]) == ("2.0", "REQUEST")
    assert str(event["uid"]) == appointment.calendar_uid and event["sequence"] == 0
    assert event.decoded("dtstart") == appointment.start
    assert event.decoded("dtend") == appointment.end
    assert ItipCalendar().receive(email.ics_attachment.encode()) == [APPLIED]


def test_the_links_signed_at_send_time_open_the_visit(world, video_type):
    appointment = book(world, video_type, local(3, 10))
    email = send_now(notice(appointment, "email"))
    site = re.escape(settings.SITE_URL)
    manage = re.findall(site + r"/appointments/([^/\s]+)/", email.body)
    joins = re.findall(site + r"/visit/([^/\s]+)/", email.body)
    assert manage and {links.read(MANAGE, token) for token in manage} == {appointment}
    assert joins and {links.read(JOIN, token) for token in joins} == {appointment}
    _calendar, event = event_of(email.ics_attachment)
    place = urlsplit(str(event["location"])).path.removeprefix("/visit/").strip("/")
    assert links.read(JOIN, place) == appointment


def test_the_text_says_when_without_the_visit_type_the_reason_or_the_invitation(
    world, video_type, texting, empty_sms_outbox
):
    appointment = book(world, video_type, local(3, 10), reason="Chest pain since Monday")
    text = send_now(notice(appointment, "sms"))
    assert text.status == "sent" and text.ics_attachment == "" and text.html_body == ""
    assert text.body.startswith("Alpha Health: you're booked with Dr Alpha on ")
    for private in ("Chest pain", "Video visit", "/accounts/invitation/"):
        assert private not in text.body
    assert [sms.body for sms in empty_sms_outbox] == [text.body]
    _token = re.search(r"/appointments/([^/\s]+)/", text.body)
    assert _token and links.read(MANAGE, _token.group(1)) == appointment


def test_the_language_of_the_day_it_is_sent_is_honoured_in_text_and_calendar(
    world, video_type, texting
):
    video_type.name_es = "Videoconsulta"
    video_type.save(update_fields=["name_es"])
    appointment = book(world, video_type, local(3, 10))
    Patient.objects.filter(pk=world.patient.pk).update(preferred_language="es")
    email = send_now(notice(appointment, "email"))
    text = send_now(notice(appointment, "sms"))
    assert email.subject == "Su cita con Alpha Health está programada"
    assert "Cómo entrar a su videoconsulta" in email.body
    assert text.body.startswith("Alpha Health: su cita con Dr Alpha es el ")
    _calendar, event = event_of(email.ics_attachment)
    assert str(event["summary"]).startswith("Videoconsulta · ")


def test_the_visit_is_described_as_it_is_when_the_confirmation_goes(world, video_type):
    appointment = book(world, video_type, local(3, 10))
    Practice.objects.filter(pk=world.practice.pk).update(name="Alpha Family Health")
    email = send_now(notice(appointment, "email"))
    assert email.subject == "Your visit with Alpha Family Health is booked"
    _calendar, event = event_of(email.ics_attachment)
    assert event["organizer"].params["CN"] == "Alpha Family Health"


def test_a_visit_cancelled_before_its_confirmation_went_gets_only_the_cancellation(
    world, video_type
):
    appointment = book(world, video_type, local(3, 10))
    services.appointment_cancel(appointment=appointment, by=None, reason="")
    dispatch_due()
    confirmation = notice(appointment, "email")
    assert (confirmation.status, confirmation.body, confirmation.sent_at) == ("cancelled", "", None)
    (sent,) = [m for m in mail.outbox if m.to == ["pat@alpha.test"]]
    assert "cancelled" in sent.subject
    calendar, event = event_of(sent.attachments[0].content)
    assert calendar["method"] == "CANCEL" and str(event["uid"]) == appointment.calendar_uid


def test_a_confirmation_claimed_when_its_visit_is_cancelled_is_not_sent(world, video_type):
    """A worker claimed the confirmation (so the cancellation could not withdraw it) and
    died; when the row is claimed again it is rendered from the cancelled visit: not sent."""
    appointment = book(world, video_type, local(3, 10))
    confirmation = notice(appointment, "email")
    OutboundMessage.objects.filter(pk=confirmation.pk).update(
        status="sending", lease_expires_at=timezone.now()
    )
    services.appointment_cancel(appointment=appointment, by=None, reason="")
    dispatch_due()
    confirmation.refresh_from_db()
    assert confirmation.status == "cancelled"
    assert confirmation.last_error == "The appointment is cancelled"
    assert [m.subject for m in mail.outbox if "booked" in m.subject] == []


def test_a_visit_moved_before_its_confirmation_went_is_announced_once_at_the_new_time(
    world, video_type
):
    first = book(world, video_type, local(3, 10))
    moved = services.appointment_reschedule(appointment=first, start=local(4, 11), by=None)
    dispatch_due()
    assert notice(first, "email").status == "cancelled"
    (sent,) = [m for m in mail.outbox if m.to == ["pat@alpha.test"]]
    assert "moved" in sent.subject
    (attachment,) = sent.attachments
    _calendar, event = event_of(attachment.content)
    assert str(event["uid"]) == first.calendar_uid and event["sequence"] == 1
    calendar = ItipCalendar()
    assert calendar.receive(attachment.content.encode()) == [APPLIED]
    (only,) = calendar.events.values()
    assert only.decoded("dtstart") == moved.start


def test_a_confirmation_that_cannot_be_rendered_is_retried_then_failed(world, video_type, settings):
    """A practice's wording saved around the checks (a stray brace) fails at send time: the
    row is retried with the outbox's backoff, then failed with the reason, never stuck."""
    settings.OUTBOX_MAX_ATTEMPTS = 2
    MessageTemplate.objects.create(
        practice=world.practice,
        key="appointment.confirmation",
        channel="email",
        language="en",
        subject="Booked",
        body="Booked for {start_local",
    )
    confirmation = notice(book(world, video_type, local(3, 10)), "email")
    statuses = []
    for _ in range(2):
        OutboundMessage.objects.filter(pk=confirmation.pk).update(
            send_at=timezone.now(), lease_expires_at=None
        )
        dispatch_due()
        confirmation.refresh_from_db()
        statuses.append((confirmation.status, confirmation.attempts))
    assert statuses == [("queued", 1), ("failed", 2)]
    assert "Could not be rendered" in confirmation.last_error
    assert not [m for m in mail.outbox if m.subject == "Booked"]


def test_a_completed_visit_gets_no_late_confirmation(world, video_type):
    appointment = book(world, video_type, local(3, 10))
    Appointment.objects.filter(pk=appointment.pk).update(status=Status.COMPLETED)
    confirmation = send_now(notice(appointment, "email"))
    assert confirmation.status == "cancelled"
    assert confirmation.last_error == "The appointment is completed"
