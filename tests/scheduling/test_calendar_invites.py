"""The calendar files a patient receives keep one event in their calendar through its life: a
REQUEST when booked, a REQUEST with the same UID and a higher SEQUENCE for each move, a CANCEL
when cancelled (RFC 5546 iTIP over email, RFC 6047). Judged by a small receiving calendar that
is itself first checked against the RFC's published examples (tests/fixtures/itip/)."""

import re
from email.utils import parseaddr
from itertools import permutations
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from icalendar import Calendar, Component

from scheduling import services
from scheduling.calendar import provider_feed_ics
from scheduling.links import JOIN
from scheduling.models import Appointment, BookedVia, CalendarFeed, Modality, Status
from telehealth import links
from telehealth.notify.dispatch import dispatch_due
from tests.scheduling.conftest import local
from tests.scheduling.itip_calendar import APPLIED, IGNORED, ItipCalendar


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


ITIP = Path(__file__).resolve().parent.parent / "fixtures" / "itip"


def rfc_example(name: str) -> bytes:
    return (ITIP / f"rfc5546-{name}.ics").read_bytes()


# --- The receiving calendar, against the RFC's own examples --------------------------------


def test_the_model_files_the_rfc_publish_change_and_cancel_in_order():
    calendar = ItipCalendar()
    calendar.receive(rfc_example("4.1.1-publish"))
    assert calendar.events["0981234-1234234-23@example.com"].decoded("dtstart").hour == 20
    assert calendar.receive(rfc_example("4.1.2-publish-changed")) == [APPLIED]
    assert len(calendar.events) == 1
    assert calendar.events["0981234-1234234-23@example.com"].decoded("dtstart").hour == 21
    assert calendar.receive(rfc_example("4.1.3-cancel-published")) == [APPLIED]
    assert calendar.events == {}


def test_the_model_ignores_the_rfc_original_arriving_after_its_change():
    calendar = ItipCalendar()
    calendar.receive(rfc_example("4.1.2-publish-changed"))
    assert calendar.receive(rfc_example("4.1.1-publish")) == [IGNORED]  # SEQUENCE 0 < 1
    assert calendar.events["0981234-1234234-23@example.com"].decoded("dtstart").hour == 21


def test_the_model_does_not_bring_back_an_rfc_event_cancelled_before_its_change_arrived():
    calendar = ItipCalendar()
    calendar.receive(rfc_example("4.1.1-publish"))
    calendar.receive(rfc_example("4.1.3-cancel-published"))
    assert calendar.receive(rfc_example("4.1.2-publish-changed")) == [IGNORED]
    assert calendar.events == {}


def test_the_model_applies_the_rfc_group_cancel_at_the_same_sequence_as_the_request():
    # 4.2.9: messages about a cancelled event with a lower SEQUENCE than the CANCEL are
    # ignored; the CANCEL itself carries the request's SEQUENCE (1) and applies.
    calendar = ItipCalendar()
    calendar.receive(rfc_example("4.2.3-request-update"))
    assert len(calendar.events) == 1
    assert calendar.receive(rfc_example("4.2.9-cancel-group-event")) == [APPLIED]
    assert calendar.events == {}


def test_the_model_lets_the_higher_rfc_sequence_win_whatever_its_dtstamp():
    # 4.2.10's REQUEST (SEQUENCE 2) has an earlier DTSTAMP than 4.2.3's (SEQUENCE 1): the
    # SEQUENCE decides, and the older CANCEL of 4.2.9 arriving last is ignored.
    calendar = ItipCalendar()
    calendar.receive(rfc_example("4.2.3-request-update"))
    assert calendar.receive(rfc_example("4.2.10-request-without-removed-attendee")) == [APPLIED]
    assert calendar.receive(rfc_example("4.2.3-request-update")) == [IGNORED]
    assert calendar.receive(rfc_example("4.2.9-cancel-group-event")) == [IGNORED]
    (event,) = calendar.events.values()
    attendees = [str(address) for address in event.get("attendee", [])]
    assert "mailto:c@example.com" in attendees and "mailto:b@example.com" not in attendees


# --- What the patient receives -------------------------------------------------------------


def book(world, kind, start):
    appointment = services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=kind,
        start=start,
        by=None,
        via=BookedVia.ONLINE,
    )
    dispatch_due()
    return appointment


def move(appointment, start):
    moved = services.appointment_reschedule(appointment=appointment, start=start, by=None)
    dispatch_due()
    return moved


def cancel(appointment):
    cancelled = services.appointment_cancel(appointment=appointment, by=None, reason="")
    dispatch_due()
    return cancelled


def calendar_files(patient) -> list[bytes]:
    """The calendar files emailed to the patient, in the order sent."""
    return [
        attachment.content.encode()
        for email in mail.outbox
        if email.to == [patient.email]
        for attachment in email.attachments
        if attachment.mimetype.startswith("text/calendar")
    ]


def parsed(ics: bytes):
    calendar = Calendar.from_ical(ics)
    (event,) = calendar.walk("VEVENT")
    return calendar, event


@pytest.fixture
def life(world, video_type):
    """Book, move, move again, cancel: the appointments and the four files the patient got."""
    first = book(world, video_type, local(3, 10))
    second = move(first, local(4, 11))
    third = move(second, local(5, 12))
    cancel(third)
    return [first, second, third], calendar_files(world.patient)


def test_book_move_move_cancel_leaves_no_event_in_the_patients_calendar(world, life):
    (first, second, third), files = life
    assert len(files) == 4
    calendar = ItipCalendar()
    for ics, appointment in zip(files[:3], (first, second, third), strict=True):
        assert calendar.receive(ics) == [APPLIED]
        (event,) = calendar.events.values()  # one event, moved, never a second one
        assert event.decoded("dtstart") == appointment.start
    assert calendar.receive(files[3]) == [APPLIED]
    assert calendar.events == {}


def test_the_files_share_one_uid_and_raise_the_sequence_each_time(life):
    (first, second, third), files = life
    headers = [
        (cal["method"], str(event["uid"]), event["sequence"]) for cal, event in map(parsed, files)
    ]
    uid = first.calendar_uid
    assert headers == [
        ("REQUEST", uid, 0),
        ("REQUEST", uid, 1),
        ("REQUEST", uid, 2),
        ("CANCEL", uid, 3),
    ]
    third.refresh_from_db()
    assert {first.calendar_uid, second.calendar_uid, third.calendar_uid} == {uid}
    assert (third.status, third.calendar_sequence) == (Status.CANCELLED, 3)


@pytest.mark.parametrize("order", list(permutations(range(4))))
def test_in_any_order_of_arrival_the_cancelled_visit_leaves_no_event(life, order):
    _appointments, files = life
    calendar = ItipCalendar()
    calendar.receive_all(files[i] for i in order)
    assert calendar.events == {}


def test_a_move_arriving_after_a_later_one_is_ignored(life):
    (_first, _second, third), files = life
    calendar = ItipCalendar()
    calendar.receive(files[0])
    calendar.receive(files[2])
    assert calendar.receive(files[1]) == [IGNORED]
    (event,) = calendar.events.values()
    assert event.decoded("dtstart") == third.start


def test_each_request_has_what_rfc_5546_requires(world, life):
    (first, _second, _third), files = life
    for ics in files[:3]:
        calendar, event = parsed(ics)
        assert (calendar["version"], calendar["method"]) == ("2.0", "REQUEST")
        assert calendar["prodid"]
        for required in ("uid", "dtstamp", "dtstart", "summary", "organizer", "attendee"):
            assert required in event, required
        assert event["status"] == "CONFIRMED"
        assert event.decoded("dtend") - event.decoded("dtstart") == first.end - first.start
        assert_organizer_and_attendee(world, event)


def test_the_cancel_has_what_rfc_5546_requires(world, life):
    (_first, _second, third), files = life
    calendar, event = parsed(files[3])
    assert (calendar["version"], calendar["method"]) == ("2.0", "CANCEL")
    for required in ("uid", "dtstamp", "sequence", "organizer", "attendee"):
        assert required in event, required
    assert event["status"] == "CANCELLED"
    assert event.decoded("dtstart") == third.start  # so the app can say which visit
    assert_organizer_and_attendee(world, event)


def assert_organizer_and_attendee(world, event) -> None:
    organizer = event["organizer"]
    assert str(organizer) == f"mailto:{parseaddr(settings.DEFAULT_FROM_EMAIL)[1]}"
    assert organizer.params["CN"] == world.practice.name
    attendee = event["attendee"]
    assert str(attendee) == f"mailto:{world.patient.email}"
    assert attendee.params["CN"] == world.patient.legal_name
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert attendee.params["PARTSTAT"] == "ACCEPTED"
    assert attendee.params["RSVP"] == "FALSE"


def test_the_mime_part_names_the_method_of_its_file(world, life):
    sent = [email for email in mail.outbox if email.to == [world.patient.email]]
    methods = []
    for email in sent:
        for part in email.message().walk():
            if part.get_content_type() == "text/calendar":
                assert part.get_content_charset() == "utf-8"
                assert part.get_filename() == "appointment.ics"
                methods.append(part.get_param("method"))
    assert methods == ["REQUEST", "REQUEST", "REQUEST", "CANCEL"]
    assert "cancelled" in sent[-1].subject
    assert "takes the visit out of your calendar" in sent[-1].body


def test_a_video_visit_locates_the_event_at_the_patients_join_page(world, video_type):
    appointment = book(world, video_type, local(3, 10))
    (ics,) = calendar_files(world.patient)
    _calendar, event = parsed(ics)
    url = str(event["url"])
    assert str(event["location"]) == url
    assert url.startswith(settings.SITE_URL + "/visit/")
    token = urlsplit(url).path.removeprefix("/visit/").strip("/")
    assert links.read(JOIN, token) == appointment
    # The page the email's {join_link} opens (tokens differ by their signing second).
    in_body = re.findall(
        re.escape(settings.SITE_URL) + r"/visit/([^/\s]+)/", str(mail.outbox[0].body)
    )
    assert in_body and {links.read(JOIN, found) for found in in_body} == {appointment}


def test_an_in_person_visit_is_located_at_the_practice(world, video_type):
    video_type.modality = Modality.IN_PERSON
    video_type.save(update_fields=["modality"])
    world.practice.address = "12 Main Street\nSpringfield, MA 01101"
    world.practice.save(update_fields=["address"])
    book(world, video_type, local(3, 10))
    _calendar, event = parsed(calendar_files(world.patient)[0])
    assert str(event["location"]) == "12 Main Street Springfield, MA 01101"
    assert "url" not in event


def test_a_phone_visit_has_no_place_and_no_link(world, video_type):
    video_type.modality = Modality.PHONE
    video_type.save(update_fields=["modality"])
    book(world, video_type, local(3, 10))
    _calendar, event = parsed(calendar_files(world.patient)[0])
    assert "location" not in event and "url" not in event


def test_the_uid_names_the_site_without_its_port(world, video_type, settings):
    settings.SITE_URL = "https://clinic.example.org:8443"
    appointment = book(world, video_type, local(3, 10))
    uid = str(parsed(calendar_files(world.patient)[0])[1]["uid"])
    assert uid == appointment.calendar_uid
    assert uid.startswith("appointment-") and uid.endswith("@clinic.example.org")


def test_a_cancelled_visit_cannot_then_be_moved(world, video_type):
    appointment = book(world, video_type, local(3, 10))
    stale = Appointment.objects.get(pk=appointment.pk)
    cancel(appointment)
    with pytest.raises(services.BookingError, match="no longer active"):
        # Read before the cancellation, as a move racing it would: the lock reads it again.
        services.appointment_reschedule(appointment=stale, start=local(4, 10), by=None)
    appointment.refresh_from_db()
    assert appointment.status == Status.CANCELLED
    assert not Appointment.objects.filter(replaces=appointment).exists()


# --- The provider's feed -------------------------------------------------------------------


def feed_events(client, world) -> dict[str, Component]:
    feed, _created = CalendarFeed.objects.get_or_create(provider=world.clinician.provider)
    ics = client.get(reverse("scheduling:feed", args=[feed.token])).content
    return {str(event["uid"]): event for event in Calendar.from_ical(ics).walk("VEVENT")}


def feed_uids(feed: CalendarFeed, appointments) -> set[str]:
    events = Calendar.from_ical(provider_feed_ics(feed, appointments)).walk("VEVENT")
    return {str(event["uid"]) for event in events}


def test_the_feed_keeps_its_uid_through_a_move_and_drops_a_cancelled_visit(
    client, world, video_type
):
    kept = book(world, video_type, local(3, 10))
    dropped = book(world, video_type, local(3, 14))
    before = feed_events(client, world)
    assert len(before) == 2
    (kept_uid,) = [uid for uid, e in before.items() if e.decoded("dtstart") == kept.start]
    moved = move(kept, local(4, 11))
    cancel(dropped)
    events = feed_events(client, world)
    assert list(events) == [kept_uid]
    event = events[kept_uid]
    assert event.decoded("dtstart") == moved.start
    assert event["sequence"] == 1


def test_feed_events_are_named_apart_from_the_patients_invites_and_from_other_feeds(
    world, video_type
):
    """A provider may hold the emailed invite and a subscription in one calendar account, or
    two subscriptions (busy only, and with details): each must be its own event there."""
    appointments = [book(world, video_type, local(3, hour)) for hour in (10, 14)]
    full, _created = CalendarFeed.objects.get_or_create(provider=world.clinician.provider)
    # A provider has one feed today (one-to-one); a second one is given its own id as the
    # database would give it.
    busy = CalendarFeed(pk=full.pk + 1, provider=full.provider, detail=CalendarFeed.Detail.BUSY)
    full_uids, busy_uids = feed_uids(full, appointments), feed_uids(busy, appointments)
    assert len(full_uids) == len(busy_uids) == 2
    assert full_uids.isdisjoint(busy_uids)
    assert (full_uids | busy_uids).isdisjoint(a.calendar_uid for a in appointments)
    host = urlsplit(settings.SITE_URL).hostname
    assert all(uid.endswith(f"-feed{full.pk}@{host}") for uid in full_uids)
