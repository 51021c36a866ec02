"""Appointment writes over FHIR: create books through scheduling.services.appointment_book
(licensure, double-booking, the patient's practice, reminders and the care team all hold), and
update cancels through appointment_cancel. The core has validated the resource against the
FHIR model; this module judges what it asks for and answers FhirError for what it cannot do:
400 a malformed reference or time, 403 a role that does not book, 409 a taken slot, 422 a
request the schedule refuses."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from scheduling import selectors, services
from scheduling.fhir import appointment_type_system, parse_slot_id
from scheduling.models import ACTIVE_STATUSES, Appointment, AppointmentType, BookedVia
from telehealth.accounts import selectors as account_selectors
from telehealth.accounts.models import Patient, Provider, Role, User
from telehealth.fhir.registry import row_id
from telehealth.fhir.responses import FhirError


def _refuse_clinicians(user: User) -> None:
    # As in the JSON API: clinicians' schedules are run by the front desk.
    if user.role == Role.CLINICIAN:
        raise FhirError(403, "Clinicians' schedules are booked and changed by the front desk.")


def _reference_id(reference: object, resource_types: tuple[str, ...]) -> tuple[str, str]:
    """(type, id) of a relative reference "Type/id" to one of `resource_types`."""
    text = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str) or text.count("/") != 1:
        raise FhirError(400, f"Give references as Type/id ({' or '.join(resource_types)}).")
    resource_type, resource_id = text.split("/")
    if resource_type not in resource_types or not resource_id:
        raise FhirError(400, f"{text} is not a reference to a {' or '.join(resource_types)}.")
    return resource_type, resource_id


def _participants(resource: dict, resource_types: tuple[str, ...]) -> list[str]:
    """The ids of the participants whose actor is one of `resource_types`."""
    ids = []
    for participant in resource.get("participant") or []:
        actor = participant.get("actor")
        reference = actor.get("reference", "") if isinstance(actor, dict) else ""
        if reference.split("/", 1)[0] in resource_types:
            ids.append(_reference_id(actor, resource_types)[1])
    return ids


def _instant(resource: dict, name: str) -> datetime | None:
    raw = resource.get(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        raise FhirError(400, f"{name} is not a FHIR instant.") from None
    if moment.tzinfo is None:
        raise FhirError(400, f"{name} needs a zone (Z or ±hh:mm).")
    return moment


def _patient(user: User, resource: dict) -> Patient:
    ids = _participants(resource, ("Patient",))
    if len(ids) != 1:
        raise FhirError(422, "Name exactly one patient participant (actor Patient/id).")
    refused = FhirError(422, f"Patient/{ids[0]} is not a patient you may book for.")
    patient_id = row_id(ids[0])
    if patient_id is None:
        raise refused
    try:
        return account_selectors.access_patient(user=user, patient_id=patient_id)
    except (Http404, account_selectors.BreakGlassRequired):
        raise refused from None


def _provider(user: User, patient: Patient, resource: dict) -> Provider | None:
    ids = _participants(resource, ("Practitioner", "PractitionerRole"))
    if not ids:
        return None
    if len(set(ids)) != 1:
        raise FhirError(422, "Name one practitioner participant.")
    provider = (
        account_selectors.providers_visible_to(user)
        .filter(practice_id=patient.practice_id, pk__in=[row_id(i) for i in ids])
        .first()
    )
    if provider is None:
        raise FhirError(422, f"Practitioner/{ids[0]} is not a provider of this practice.")
    return provider


def _appointment_type(patient: Patient, resource: dict) -> AppointmentType | None:
    concept = resource.get("appointmentType")
    if concept is None:
        return None
    system = appointment_type_system(patient.practice)
    codes = [
        coding.get("code")
        for coding in concept.get("coding") or []
        if coding.get("system") in (None, system)
    ]
    kind = AppointmentType.objects.filter(
        practice_id=patient.practice_id, slug__in=[c for c in codes if c], is_active=True
    ).first()
    if kind is None:
        raise FhirError(422, f"appointmentType names no visit type of this practice ({system}).")
    return kind


def _from_slot(user: User, patient: Patient, resource: dict):
    """The provider, type and start a `slot` reference names (None: no slot given)."""
    slots = resource.get("slot") or []
    if not slots:
        return None
    if len(slots) != 1:
        raise FhirError(422, "Book one slot per appointment.")
    _type, slot_id = _reference_id(slots[0], ("Slot",))
    parsed = parse_slot_id(slot_id)
    if parsed is None:
        raise FhirError(400, f"Slot/{slot_id} is not a Slot id of this server.")
    offering = (
        selectors.offerings_visible_to(user)
        .filter(pk=parsed[0], provider__practice_id=patient.practice_id)
        .first()
    )
    if offering is None or not offering.appointmenttype.is_active:
        raise FhirError(422, f"Slot/{slot_id} is not a slot of this practice.")
    return offering.provider, offering.appointmenttype, parsed[1]


def _what_to_book(user: User, patient: Patient, resource: dict):
    """Provider, type and start: from the slot, or from start + practitioner + type. Whatever
    else the resource says must agree with them."""
    named_provider = _provider(user, patient, resource)
    named_type = _appointment_type(patient, resource)
    start = _instant(resource, "start")
    from_slot = _from_slot(user, patient, resource)
    if from_slot is not None:
        provider, kind, slot_start = from_slot
        if named_provider not in (None, provider):
            raise FhirError(422, "The practitioner is not the slot's.")
        if named_type not in (None, kind):
            raise FhirError(422, "The appointmentType is not the slot's.")
        if start not in (None, slot_start):
            raise FhirError(422, "start is not the slot's start.")
        start = slot_start
    else:
        if start is None or named_provider is None or named_type is None:
            raise FhirError(
                422,
                "Name a Slot, or give start, a practitioner participant and an appointmentType.",
            )
        provider, kind = named_provider, named_type
    end = _instant(resource, "end")
    if end is not None and end != start + kind.duration:
        raise FhirError(
            422, f"end must be start + {kind.duration_minutes} minutes for {kind.name}."
        )
    return provider, kind, start


def _reason(resource: dict) -> str:
    return " ".join(
        concept["text"] for concept in resource.get("reasonCode") or [] if concept.get("text")
    )


def appointment_create(user: User, resource: dict) -> Appointment:
    """Book the appointment the resource describes, as `user` (staff for a patient of their
    practice, a patient for themselves)."""
    _refuse_clinicians(user)
    if resource.get("status") != "booked":
        raise FhirError(422, "An appointment is created booked (status booked).")
    patient = _patient(user, resource)
    provider, kind, start = _what_to_book(user, patient, resource)
    if user.role == Role.PATIENT and not kind.bookable_online:
        raise FhirError(422, "This visit type is booked by the practice.")
    try:
        return services.appointment_book(
            provider=provider,
            patient=patient,
            appointment_type=kind,
            start=start,
            by=user,
            via=BookedVia.ONLINE if user.role == Role.PATIENT else BookedVia.STAFF,
            reason=_reason(resource),
        )
    except services.SlotTaken as error:
        raise FhirError(409, error.message) from None
    except services.BookingError as error:
        raise FhirError(422, error.message) from None
    except ValidationError as error:
        raise FhirError(422, "; ".join(error.messages)) from None


def _changes_more_than_status(appointment: Appointment, resource: dict) -> bool:
    """Whether the resource moves the appointment or changes who takes part (a cancellation
    sends the appointment as read, with status and cancelationReason changed)."""
    start, end = _instant(resource, "start"), _instant(resource, "end")
    if start not in (None, appointment.start) or end not in (None, appointment.end):
        return True
    if "participant" in resource:
        actors = set()
        for participant in resource["participant"]:
            actor = participant.get("actor") or {}
            actors.add(actor.get("reference"))
        expected = {f"Patient/{appointment.patient_id}", f"Practitioner/{appointment.provider_id}"}
        if actors != expected:
            return True
    return False


def appointment_update(user: User, appointment: Appointment, resource: dict) -> Appointment:
    """Cancel: the only change the API makes to an appointment."""
    _refuse_clinicians(user)
    if resource.get("status") != "cancelled" or _changes_more_than_status(appointment, resource):
        raise FhirError(
            422,
            "Only cancellation is supported: send the appointment with status cancelled "
            "(and a cancelationReason text).",
        )
    if appointment.status not in ACTIVE_STATUSES:
        raise FhirError(422, "This appointment is no longer active.")
    if appointment.end < timezone.now():
        raise FhirError(422, "This appointment is in the past.")
    reason = (resource.get("cancelationReason") or {}).get("text") or ""
    try:
        return services.appointment_cancel(appointment=appointment, by=user, reason=reason)
    except services.BookingError as error:
        raise FhirError(422, error.message) from None
