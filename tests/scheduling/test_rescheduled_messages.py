"""A visit moved by the patient's link is announced as moved, with the old and the new time in
the practice's zone, by email and by text; a new booking is still announced as booked."""

from datetime import datetime

from django.urls import reverse
from django.utils import formats, timezone

from scheduling import services
from scheduling.links import MANAGE
from scheduling.models import Appointment, BookedVia
from telehealth import links
from telehealth.notify.models import OutboundMessage
from tests.scheduling.conftest import NY, local, send_now


def _when(moment: datetime) -> str:
    """The clock time as messages print it in New York, e.g. "10 a.m."."""
    return formats.time_format(timezone.localtime(moment, NY), "TIME_FORMAT")


def test_a_rescheduled_visit_is_announced_as_moved_with_both_times(client, world, video_type):
    world.patient.sms_consent = True
    world.patient.sms_consent_at = timezone.now()
    world.patient.save(update_fields=["sms_consent", "sms_consent_at"])
    old_start, new_start = local(3, 10), local(4, 15, 30)
    appointment = services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=old_start,
        by=None,
        via=BookedVia.ONLINE,
    )
    token = links.token_for(MANAGE, appointment)
    moved = client.post(
        reverse("scheduling:manage-reschedule", args=[token]), {"start": new_start.isoformat()}
    )
    assert moved.status_code == 302
    new = Appointment.objects.get(replaces=appointment)
    sent = OutboundMessage.objects.filter(related_id=str(new.pk))
    by_channel = {m.channel: send_now(m) for m in sent.filter(template="appointment.moved")}
    assert set(by_channel) == {"email", "sms"}
    assert not sent.filter(template="appointment.confirmation").exists()
    email, text = by_channel["email"], by_channel["sms"]
    assert "moved" in email.subject and "booked" not in email.subject
    for message in (email, text):
        assert "moved" in message.body
        old_at, new_at = message.body.index(_when(old_start)), message.body.index(_when(new_start))
        assert old_at < new_at  # from the old time to the new one
        assert timezone.localtime(new_start, NY).tzname() in message.body


def test_a_new_booking_is_still_announced_as_booked(world, video_type):
    appointment = services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    sent = OutboundMessage.objects.filter(related_id=str(appointment.pk), channel="email")
    assert not sent.filter(template="appointment.moved").exists()
    assert "booked" in send_now(sent.get(template="appointment.confirmation")).subject
