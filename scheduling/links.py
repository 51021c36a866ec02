"""Scheduling's no-login links, registered with telehealth.links in `ready()`: the manage
link in every appointment message, the waitlist offer, and the visit's join link (it opens
the visits app's waiting room after a date-of-birth check)."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from scheduling.models import ACTIVE_STATUSES, Appointment, Modality, WaitlistOffer
from telehealth import links
from telehealth.accounts.models import Patient

MANAGE = "appointment-manage"
OFFER = "waitlist-offer"
JOIN = "visit-join"


def _appointments() -> QuerySet[Appointment]:
    return Appointment.objects.select_related(
        "patient__practice", "provider", "practice", "appointment_type"
    )


def _offers() -> QuerySet[WaitlistOffer]:
    return WaitlistOffer.objects.select_related(
        "entry__patient", "entry__appointment_type", "provider"
    )


def _manage_check(appointment: Appointment) -> str | None:
    if appointment.end < timezone.now():
        return _("This appointment is in the past.")
    return None


JOIN_GRACE = timedelta(hours=2)
# The join page shows a countdown until this long before the start, then the date-of-birth
# check and the waiting room: nobody is marked as waiting days ahead.
WAITING_ROOM_OPENS = timedelta(minutes=15)


def waiting_room_opens_at(appointment: Appointment) -> datetime:
    return appointment.start - WAITING_ROOM_OPENS


def join_link_problem(appointment: Appointment) -> str | None:
    """Why a join link to this appointment would open nothing (not a video visit, cancelled,
    ended), or None: what the link checks, plus that in-person visits have no link."""
    if appointment.modality != Modality.VIDEO:
        return _("Only video visits have a join link.")
    return _join_check(appointment)


def _join_check(appointment: Appointment) -> str | None:
    """A join link works from the booking until two hours after the visit's end."""
    if appointment.status not in ACTIVE_STATUSES:
        return _("This visit was cancelled or moved. Use the newest link.")
    if appointment.end + JOIN_GRACE < timezone.now():
        return _("This visit has ended.")
    return None


def _patient_of_appointment(appointment: Appointment) -> Patient:
    return appointment.patient


def register() -> None:
    links.register(
        links.LinkKind(
            name=MANAGE,
            salt="scheduling.manage-link",
            max_age=None,  # ends with the appointment (_manage_check)
            url_name="scheduling:manage",
            queryset=_appointments,
            id_key="a",
            version_key="v",
            check=_manage_check,
        )
    )
    links.register(
        links.LinkKind(
            name=OFFER,
            salt="scheduling.waitlist-offer",
            max_age=timedelta(days=14),
            url_name="scheduling:offer",
            queryset=_offers,
            id_key="o",
        )
    )
    links.register(
        links.LinkKind(
            name=JOIN,
            salt="scheduling.visit-join",
            max_age=None,  # ends JOIN_GRACE after the visit (_join_check)
            url_name="visits:join",
            queryset=_appointments,
            id_key="a",
            patient_of=_patient_of_appointment,
            check=_join_check,
        )
    )


def join_urls(appointments: Iterable[Appointment]) -> dict[int, str]:
    """`join_url` of each appointment that has a working join link, keyed by pk, in one query
    (the staff lists show one per row)."""
    openable = [a for a in appointments if not join_link_problem(a)]
    url_name = links.get(JOIN).url_name
    return {
        pk: settings.SITE_URL + reverse(url_name, args=[token])
        for pk, token in links.tokens_for(JOIN, openable).items()
    }


def booking_url(*, practice_slug: str, provider_slug: str = "") -> str:
    """The public booking page of a practice, or of one of its providers: what a patient is
    sent when someone asks them to book (an e-visit that needs a live visit)."""
    if provider_slug:
        path = reverse("scheduling:book-provider", args=[practice_slug, provider_slug])
    else:
        path = reverse("scheduling:book", args=[practice_slug])
    return settings.SITE_URL + path
