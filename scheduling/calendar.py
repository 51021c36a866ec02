"""Calendar output: ICS for one appointment (email attachment) and a provider's feed."""

from datetime import datetime
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import formats, timezone, translation
from icalendar import Calendar, Event, vCalAddress

from scheduling import links as scheduling_links
from scheduling.models import Appointment, CalendarFeed, Modality
from telehealth import links
from telehealth.accounts.display import format_phone

PRODID = "-//Telehealth//Scheduling//EN"


def patient_zone(patient) -> ZoneInfo:
    return ZoneInfo(patient.practice.time_zone)


def local_text(moment: datetime, patient) -> str:
    zone = patient_zone(patient)
    with translation.override(patient.preferred_language):
        local = timezone.localtime(moment, zone)
        return (
            f"{formats.date_format(local, 'DATE_FORMAT')} "
            f"{formats.time_format(local, 'TIME_FORMAT')} {local.tzname()}"
        )


def local_start_text(appointment: Appointment) -> str:
    return local_text(appointment.start, appointment.patient)


def _calendar() -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    return cal


# iTIP methods (RFC 5546 1.4) of the files we email.
REQUEST = "REQUEST"
CANCEL = "CANCEL"


def organizer(appointment: Appointment) -> vCalAddress:
    """The practice, at the address our emails come from: RFC 6047 2.3 asks that an emailed
    REQUEST come from its ORGANIZER, and the practice has no address of its own."""
    _name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    practice = vCalAddress(f"mailto:{address}")
    practice.params["cn"] = appointment.practice.name
    return practice


def attendee(appointment: Appointment) -> vCalAddress:
    """The patient. PARTSTAT=ACCEPTED and RSVP=FALSE: the patient booked, or agreed to, this time
    with us, and nobody reads calendar replies (RFC 5546 3.2.3 REPLY) sent to a no-reply
    address; NEEDS-ACTION would show the visit as unanswered and invite a "decline" from the
    calendar app that cancels nothing. Changes go through the manage link in the email."""
    patient = appointment.patient
    person = vCalAddress(f"mailto:{patient.email}")
    person.params["cn"] = patient.legal_name
    person.params["cutype"] = "INDIVIDUAL"
    person.params["role"] = "REQ-PARTICIPANT"
    person.params["partstat"] = "ACCEPTED"
    person.params["rsvp"] = "FALSE"
    return person


def appointment_ics(
    appointment: Appointment, *, method: str = REQUEST, join_link: str | None = None
) -> bytes:
    """The patient's copy, in their language, as an iTIP message (RFC 5546) for email: a REQUEST
    adds the visit or, with the same UID and a higher SEQUENCE, moves it; a CANCEL removes it.
    `join_link`: a video visit's join link if the caller signed one already."""
    language = appointment.patient.preferred_language
    cal = _calendar()
    cal.add("method", method)
    event = Event()
    event.add("uid", appointment.calendar_uid)
    event.add("sequence", appointment.calendar_sequence)
    event.add("dtstamp", timezone.now())
    event.add("dtstart", appointment.start)
    event.add("dtend", appointment.end)
    visit_type = appointment.appointment_type.name_in(language)
    event.add("summary", f"{visit_type} · {appointment.practice.name}")
    event.add("organizer", organizer(appointment))
    event.add("attendee", attendee(appointment))
    if method == CANCEL:
        event.add("status", "CANCELLED")
    else:
        with translation.override(language):
            modality = str(appointment.get_modality_display())
        phone = format_phone(appointment.practice.phone, region=appointment.practice.country)
        event.add("description", f"{appointment.provider.display_name}\n{modality}\n{phone}")
        event.add("status", "CONFIRMED")
        if appointment.modality == Modality.VIDEO and join_link:
            place = join_link
        else:
            place = visit_place(appointment)
        if place:
            event.add("location", place)
        if appointment.modality == Modality.VIDEO:
            event.add("url", place)
    cal.add_component(event)
    return cal.to_ical()


def visit_place(appointment: Appointment) -> str:
    """Where the patient goes: the join page of a video visit (the link the messages carry as
    {join_link}), the practice's address for an in-person one, nowhere for a phone call."""
    if appointment.modality == Modality.VIDEO:
        return links.url_for(scheduling_links.JOIN, appointment)
    if appointment.modality == Modality.IN_PERSON:
        return " ".join(appointment.practice.address.split())
    return ""


def initials(name: str) -> str:
    return "".join(part[0].upper() + "." for part in name.split() if part)[:6]


def feed_uid(feed: CalendarFeed, appointment: Appointment) -> str:
    """The UID of a visit in one feed: the visit's calendar UID, which moves keep, made the
    feed's own. The patient's invite and each subscription may sit in one calendar account,
    where a shared UID would make them one event (or hide one of them)."""
    local, _at, host = appointment.calendar_uid.rpartition("@")
    return f"{local}-feed{feed.pk}@{host}" if local else f"{host}-feed{feed.pk}"


def provider_feed_ics(feed: CalendarFeed, appointments) -> bytes:
    """Subscribed by the provider's calendar app: no PHI beyond what the feed's detail allows.
    Takes the active appointments only: a subscription is a snapshot that calendar apps replace
    whole on each refresh, so a cancelled or moved-away visit simply leaves it (apps differ on
    an event kept with STATUS:CANCELLED; some go on showing it as an ordinary busy event).
    SEQUENCE is the visit's, so an app that keeps events by UID takes a move as an update."""
    cal = _calendar()
    cal.add("x-wr-calname", f"{feed.provider.display_name} · Telehealth")
    for appointment in appointments:
        event = Event()
        event.add("uid", feed_uid(feed, appointment))
        event.add("sequence", appointment.calendar_sequence)
        event.add("dtstamp", appointment.updated_at)
        event.add("dtstart", appointment.start)
        event.add("dtend", appointment.end)
        if feed.detail == CalendarFeed.Detail.BUSY:
            summary = "Busy"
        elif feed.detail == CalendarFeed.Detail.TYPE_ONLY:
            summary = appointment.get_modality_display()
        else:
            summary = (
                f"{appointment.get_modality_display()} · {initials(appointment.patient.legal_name)}"
            )
        event.add("summary", summary)
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    return cal.to_ical()
