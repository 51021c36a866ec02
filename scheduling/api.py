"""Scheduling JSON API: slot search, book, reschedule, cancel, list. Thin over services."""

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from ninja.responses import NinjaJSONEncoder
from pydantic import BaseModel

from scheduling import selectors, services, slot_cache
from scheduling.forms import PREFERENCE_CHOICES
from scheduling.models import AppointmentType, BookedVia
from telehealth.accounts import selectors as account_selectors
from telehealth.accounts.models import Provider, Role
from telehealth.accounts.validation import US_STATES
from telehealth.audit.phi import note_phi_access

router = Router(tags=["scheduling"])
MAX_DAYS = 31
PREFERENCES = {value for value, _ in PREFERENCE_CHOICES}


class SlotOut(BaseModel):
    # A plain pydantic model: a week of slots is hundreds of rows, and ninja's Schema runs a
    # Python wrapper per row that a dict does not need.
    start: datetime
    provider_id: int
    provider: str


class SlotsOut(Schema):
    time_zone: str
    suggested: list[SlotOut]
    slots: list[SlotOut]


class BookIn(Schema):
    patient_id: int
    provider_id: int
    appointment_type_id: int
    start: datetime
    reason: str = ""
    patient_state: str = Field(
        "", description="Where the patient will be during the visit; default their record's."
    )


class RescheduleIn(Schema):
    start: datetime


class CancelIn(Schema):
    reason: str = ""


class AppointmentOut(Schema):
    id: int
    patient_id: int
    provider_id: int
    appointment_type_id: int
    start: datetime
    end: datetime
    modality: str
    status: str
    patient_state: str
    replaces_id: int | None


def _out(appointment) -> dict:
    return {
        "id": appointment.pk,
        "patient_id": appointment.patient_id,
        "provider_id": appointment.provider_id,
        "appointment_type_id": appointment.appointment_type_id,
        "start": appointment.start,
        "end": appointment.end,
        "modality": appointment.modality,
        "status": appointment.status,
        "patient_state": appointment.patient_state,
        "replaces_id": appointment.replaces_id,
    }


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise HttpError(400, "Give times with a UTC offset, e.g. 2026-12-01T15:00:00Z.")
    return moment


def _book_error(error: services.BookingError):
    raise HttpError(error.status_code, error.message)


@router.get("/slots", response=SlotsOut, auth=None)
def slots(
    request,
    practice: str,
    appointment_type: str,
    start: date,
    days: int = 7,
    provider: str = "",
    time_zone: str = "",
    prefer: str = "",
):
    """Open times for a practice's visit type (public: what the booking page shows)."""
    if not 1 <= days <= MAX_DAYS:
        raise HttpError(400, f"days must be between 1 and {MAX_DAYS}.")
    catalog = selectors.booking_catalog(practice_slug=practice)
    kind = next((t for t in catalog.types if t.slug == appointment_type), None)
    if kind is None:
        raise Http404("No such visit type.")
    zone_name = time_zone or catalog.practice.time_zone
    if zone_name not in selectors.known_time_zones():
        raise HttpError(400, f"Unknown time zone: {zone_name}")
    providers = catalog.providers[kind.pk]
    if provider:
        providers = [p for p in providers if p.slug == provider]
        if not providers:
            raise HttpError(404, "No such provider offers this visit type.")
    minute = timezone.now().replace(second=0, microsecond=0)
    bounds = selectors.minute_bounds(kind, minute)
    if prefer not in PREFERENCES:
        prefer = ""  # what suggestions make of it: no preference

    def body() -> bytes:
        offer = selectors.slot_offer(
            appointment_type=kind,
            providers=providers,
            first_day=start,
            days=days,
            zone=ZoneInfo(zone_name),
            preference=prefer,
            bounds=bounds,
        )

        def rows(items):
            return [
                {
                    "start": o.start,
                    "provider_id": o.provider.pk,
                    "provider": o.provider.display_name,
                }
                for o in items
            ]

        out = SlotsOut.model_validate(
            {
                "time_zone": zone_name,
                "suggested": rows(offer.suggested),
                "slots": rows([s for _, day in offer.by_day for s in day]),
            }
        )
        return json.dumps(out.model_dump(), cls=NinjaJSONEncoder).encode()

    # The body as ninja would render it, cached for the minute under the providers' slot
    # tokens: under load most calls repeat one within the minute.
    parts = ("api", minute.timestamp(), selectors.slot_shape(kind), start, days, zone_name, prefer)
    content = slot_cache.remember(provider_ids=[p.pk for p in providers], parts=parts, compute=body)
    return HttpResponse(content, content_type="application/json; charset=utf-8")


@router.get("/appointments", response=list[AppointmentOut])
def appointment_list(request, start: datetime | None = None, end: datetime | None = None):
    appointments = selectors.appointments_visible_to(request.user)
    if start:
        appointments = appointments.filter(end__gt=_aware(start))
    if end:
        appointments = appointments.filter(start__lt=_aware(end))
    rows = list(appointments.order_by("start")[:500])
    for appointment in rows:
        note_phi_access(request, appointment)
    return [_out(a) for a in rows]


@router.post("/appointments", response={201: AppointmentOut})
def appointment_book(request, payload: BookIn):
    """Staff book for a patient of their practice; a patient books for themselves."""
    user = request.user
    if user.role == Role.CLINICIAN:
        raise PermissionDenied  # clinicians' schedules are run by the front desk
    patient = account_selectors.access_patient(user=user, patient_id=payload.patient_id)
    kind = get_object_or_404(
        AppointmentType,
        pk=payload.appointment_type_id,
        practice_id=patient.practice_id,
        is_active=True,
    )
    provider = get_object_or_404(Provider, pk=payload.provider_id, practice_id=patient.practice_id)
    if user.is_patient and not kind.bookable_online:
        raise HttpError(400, "This visit type is booked by the practice. Please call.")
    if payload.patient_state and payload.patient_state not in US_STATES:
        raise HttpError(400, "patient_state must be a two-letter US state code, e.g. TX.")
    try:
        appointment = services.appointment_book(
            provider=provider,
            patient=patient,
            appointment_type=kind,
            start=_aware(payload.start),
            by=user,
            via=BookedVia.ONLINE if user.is_patient else BookedVia.STAFF,
            reason=payload.reason,
            patient_state=payload.patient_state,
            request=request,
        )
    except services.BookingError as error:
        _book_error(error)
    except ValidationError as error:
        raise HttpError(400, "; ".join(error.messages)) from error
    return Status(201, _out(appointment))


def _own_changeable(request, appointment_id: int):
    if request.user.role == Role.CLINICIAN:
        raise PermissionDenied
    appointment = selectors.access_appointment(user=request.user, appointment_id=appointment_id)
    if appointment.end < timezone.now():
        raise HttpError(400, "This appointment is in the past.")
    return appointment


@router.post("/appointments/{appointment_id}/reschedule", response=AppointmentOut)
def appointment_reschedule(request, appointment_id: int, payload: RescheduleIn):
    appointment = _own_changeable(request, appointment_id)
    try:
        new = services.appointment_reschedule(
            appointment=appointment, start=_aware(payload.start), by=request.user, request=request
        )
    except services.BookingError as error:
        _book_error(error)
    return _out(new)


@router.post("/appointments/{appointment_id}/cancel", response=AppointmentOut)
def appointment_cancel(request, appointment_id: int, payload: CancelIn):
    appointment = _own_changeable(request, appointment_id)
    try:
        cancelled = services.appointment_cancel(
            appointment=appointment, by=request.user, reason=payload.reason, request=request
        )
    except services.BookingError as error:
        _book_error(error)
    return _out(cancelled)
