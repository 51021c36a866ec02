"""Calendar output: ICS for one appointment (email attachment) and a provider's feed."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import formats, timezone, translation
from icalendar import Calendar, Event

from scheduling.models import Appointment, CalendarFeed
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


def appointment_ics(appointment: Appointment) -> bytes:
    """The patient's copy, in their language: their visit with the practice's contact details."""
    language = appointment.patient.preferred_language
    cal = _calendar()
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"appointment-{appointment.pk}@{settings.SITE_URL.split('//')[-1]}")
    event.add("dtstamp", timezone.now())
    event.add("dtstart", appointment.start)
    event.add("dtend", appointment.end)
    visit_type = appointment.appointment_type.name_in(language)
    event.add("summary", f"{visit_type} · {appointment.practice.name}")
    with translation.override(language):
        modality = str(appointment.get_modality_display())
    phone = format_phone(appointment.practice.phone, region=appointment.practice.country)
    event.add("description", f"{appointment.provider.display_name}\n{modality}\n{phone}")
    event.add("status", "CONFIRMED")
    cal.add_component(event)
    return cal.to_ical()


def initials(name: str) -> str:
    return "".join(part[0].upper() + "." for part in name.split() if part)[:6]


def provider_feed_ics(feed: CalendarFeed, appointments) -> bytes:
    """Subscribed by the provider's calendar app: no PHI beyond what the feed's detail allows."""
    cal = _calendar()
    cal.add("x-wr-calname", f"{feed.provider.display_name} · Telehealth")
    for appointment in appointments:
        event = Event()
        event.add("uid", f"appointment-{appointment.pk}-{feed.pk}@telehealth")
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
