from datetime import timedelta

import pytest
from django.core import mail, signing
from django.db import connection
from icalendar import Calendar

from scheduling import selectors, services
from scheduling.links import MANAGE
from scheduling.models import Appointment, BookedVia, Status, WaitlistEntry, WaitlistOffer
from telehealth import links
from telehealth.accounts.models import CareTeamMember, Patient
from telehealth.audit.models import AuditEvent
from telehealth.notify.channels import LocmemSmsBackend
from telehealth.notify.models import OutboundMessage
from tests.scheduling.conftest import local


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


def book(world, video_type, start, patient=None):
    return services.appointment_book(
        provider=world.clinician.provider,
        patient=patient or world.patient,
        appointment_type=video_type,
        start=start,
        by=None,
        via=BookedVia.ONLINE,
    )


def test_booking_creates_the_appointment_audits_it_and_joins_the_care_team(world, video_type):
    patient = world.outside_patient
    patient.practice = world.practice  # a new patient of practice A, not yet on a care team
    patient.save(update_fields=["practice"])
    appointment = book(world, video_type, local(3, 10), patient=patient)
    assert appointment.end - appointment.start == timedelta(minutes=20)
    assert appointment.blocked_end - appointment.end == timedelta(minutes=10)
    assert CareTeamMember.objects.filter(
        patient=patient, clinician=world.clinician, reason="appointment"
    ).exists()
    assert AuditEvent.objects.filter(
        object_type="scheduling.Appointment", object_id=str(appointment.pk), action="create"
    ).exists()


def test_the_booked_time_and_its_buffer_leave_the_open_slots(world, video_type):
    book(world, video_type, local(3, 10))
    found = selectors.open_slots(
        provider=world.clinician.provider,
        appointment_type=video_type,
        start=local(3, 9),
        end=local(3, 12),
    )
    times = {s for s in found.starts}
    assert local(3, 10) not in times
    assert local(3, 10, 15) not in times  # inside 10:00-10:30 (visit + 10 min buffer)
    assert local(3, 10, 30) in times
    assert local(3, 9, 30) in times  # ends 09:50, its buffer ends 10:00


def test_a_taken_time_answers_slot_taken(world, video_type):
    book(world, video_type, local(3, 10))
    with pytest.raises(services.SlotTaken):
        book(world, video_type, local(3, 10), patient=world.other_patient)
    assert Appointment.objects.count() == 1


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (lambda: local(-1, 10), "already passed"),
        (lambda: local(3, 20), "not open"),  # outside 08:00-18:00
        (lambda: local(3, 10, 5), "not open"),  # off the 15-minute grid
        (lambda: local(200, 10), "not open"),  # beyond the booking horizon
    ],
)
def test_times_outside_availability_are_refused_with_a_reason(world, video_type, start, message):
    with pytest.raises(services.BookingError, match=message):
        book(world, video_type, start())
    assert Appointment.objects.count() == 0


def test_video_visit_needs_a_provider_licensed_in_the_patients_state(world, video_type):
    world.patient.state = "TX"
    world.patient.save(update_fields=["state"])
    with pytest.raises(services.BookingError, match="not licensed in Texas"):
        book(world, video_type, local(3, 10))
    assert Appointment.objects.count() == 0


def test_confirmation_email_has_a_parseable_ics_and_sms_goes_to_the_outbox(
    world, video_type, django_capture_on_commit_callbacks
):
    Patient.objects.filter(pk=world.patient.pk).update(sms_consent=True, sms_consent_at=local(0, 0))
    world.patient.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        appointment = book(world, video_type, local(3, 10))
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["pat@alpha.test"]
    name, content, mimetype = email.attachments[0]
    assert mimetype == "text/calendar; method=REQUEST"
    event = next(c for c in Calendar.from_ical(content).walk("VEVENT"))
    assert event.decoded("dtstart") == appointment.start
    assert "/appointments/" in email.body
    sms = OutboundMessage.objects.get(template="appointment.confirmation", channel="sms")
    assert sms.patient == world.patient and sms.status == "sent"
    assert "Reply C to confirm" in sms.body
    assert LocmemSmsBackend.outbox[-1].to == "+16175550123"


def test_manage_link_is_tamper_proof_and_dies_with_a_change(world, video_type):
    appointment = book(world, video_type, local(3, 10))
    token = links.token_for(MANAGE, appointment)
    assert links.read(MANAGE, token) == appointment
    with pytest.raises(links.LinkInvalid, match="not valid"):
        links.read(MANAGE, token[:-2] + "xx")
    forged = signing.dumps({"a": appointment.pk, "v": 1}, salt="another-salt")
    with pytest.raises(links.LinkInvalid):
        links.read(MANAGE, forged)
    services.appointment_cancel(appointment=appointment, by=None, reason="")
    with pytest.raises(links.LinkRevoked, match="out of date"):
        links.read(MANAGE, token)


def test_reschedule_keeps_the_history_link_and_frees_the_old_time(world, video_type):
    old = book(world, video_type, local(3, 10))
    new = services.appointment_reschedule(appointment=old, start=local(4, 11), by=None)
    old.refresh_from_db()
    assert old.status == Status.RESCHEDULED
    assert new.replaces == old
    found = selectors.open_slots(
        provider=world.clinician.provider,
        appointment_type=video_type,
        start=local(3, 9),
        end=local(3, 12),
    )
    assert local(3, 10) in found.starts


def test_reschedule_to_an_overlapping_time_of_its_own_is_allowed(world, video_type):
    old = book(world, video_type, local(3, 10))
    new = services.appointment_reschedule(appointment=old, start=local(3, 10, 15), by=None)
    assert new.start == local(3, 10, 15)


def test_cancel_frees_the_slot_and_offers_it_to_the_waitlist_first_accept_wins(world, video_type):
    taken = book(world, video_type, local(2, 10))
    later_a = book(world, video_type, local(9, 10), patient=world.other_patient)
    entry_a = services.waitlist_join(
        patient=world.other_patient,
        appointment_type=video_type,
        provider=None,
        latest=local(9, 0),
        current_appointment=later_a,
    )
    services.appointment_cancel(appointment=taken, by=None, reason="Feeling better")
    offer = WaitlistOffer.objects.get(entry=entry_a)
    assert offer.start == local(2, 10)
    # Email only: this patient never agreed to texts.
    assert list(
        OutboundMessage.objects.filter(template="waitlist.offer").values_list("channel", flat=True)
    ) == ["email"]
    moved = services.waitlist_accept(offer=offer)
    assert moved.start == local(2, 10) and moved.replaces == later_a
    entry_a.refresh_from_db()
    assert entry_a.state == WaitlistEntry.State.BOOKED
    with pytest.raises(services.SlotTaken):
        services.waitlist_accept(offer=offer)


def test_staff_status_changes_follow_the_allowed_transitions(world, video_type):
    appointment = book(world, video_type, local(3, 10))
    services.appointment_set_status(
        appointment=appointment, status=Status.CHECKED_IN, by=world.front_desk
    )
    with pytest.raises(services.BookingError, match="cannot become"):
        services.appointment_set_status(
            appointment=appointment, status=Status.CONFIRMED, by=world.front_desk
        )


def test_exclusion_constraint_refuses_overlaps_the_service_did_not_see(
    require_postgres, world, video_type
):
    from django.db import IntegrityError, transaction

    first = book(world, video_type, local(3, 10))
    assert connection.vendor == "postgresql"
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.create(
            practice=world.practice,
            provider=first.provider,
            patient=world.other_patient,
            appointment_type=video_type,
            start=first.start + timedelta(minutes=5),
            end=first.end + timedelta(minutes=5),
            blocked_start=first.start,
            blocked_end=first.blocked_end + timedelta(minutes=5),
            modality="video",
            booked_via="staff",
        )
