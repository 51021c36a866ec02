"""The schedule as FHIR: PractitionerRole (a provider's role in the practice, with the weekly
hours), Schedule (one per provider and appointment type), Slot (free times, computed) and
Appointment. Builders, the ids of computed resources, scoped lookups and searches; the mappers
are assembled and registered in scheduling.fhir_api.

PractitionerRole lives here, not beside Practitioner in telehealth.accounts: what it adds to
the provider (the types offered, the hours) is this app's data, and the core cannot import it.

A Schedule is a provider offering one appointment type, not a provider: a slot's length,
buffers, notice, horizon and modality all come from the type, so a free slot only exists for
a pair, and its id (schedule + start) then names one bookable thing."""

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone, translation

from scheduling import selectors
from scheduling.models import Appointment, AppointmentType, AvailabilityRule, Modality, Status
from telehealth.accounts.fhir import PRACTICE_SYSTEM
from telehealth.accounts.models import Practice, Provider, User
from telehealth.accounts.selectors import providers_visible_to
from telehealth.fhir.registry import Computed, instant, row_id
from telehealth.fhir.search import DateRange, SearchError, Token, any_of

MODALITY_SYSTEM = "urn:telehealth:modality"
SLOT_STATUS_SYSTEM = "http://hl7.org/fhir/slotstatus"
APPOINTMENT_STATUS_SYSTEM = "http://hl7.org/fhir/appointmentstatus"
MAX_SLOT_RANGE = timedelta(days=31)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Our statuses as FHIR's (https://hl7.org/fhir/R4/valueset-appointmentstatus.html). FHIR has no
# "confirmed": a booked appointment is confirmed. A rescheduled row was replaced by a new one,
# so for FHIR it was cancelled.
APPOINTMENT_STATUS = {
    Status.BOOKED: "booked",
    Status.CONFIRMED: "booked",
    Status.CHECKED_IN: "checked-in",
    Status.IN_PROGRESS: "arrived",
    Status.COMPLETED: "fulfilled",
    Status.CANCELLED: "cancelled",
    Status.NO_SHOW: "noshow",
    Status.RESCHEDULED: "cancelled",
}


def _pk(resource_id: str) -> int:
    pk = row_id(resource_id)
    if pk is None:
        raise Http404
    return pk


def _ids(values: list[str]) -> list[int]:
    return [pk for pk in map(row_id, values) if pk is not None]


def appointment_system(practice: Practice) -> str:
    """The identifier system of a practice's appointment numbers (our appointment ids)."""
    return f"{PRACTICE_SYSTEM}:{practice.slug}:appointment"


def appointment_type_system(practice: Practice) -> str:
    return f"{PRACTICE_SYSTEM}:{practice.slug}:appointment-type"


def appointment_type_concept(kind: AppointmentType, practice: Practice) -> dict:
    """The type as a concept; `practice` is the type's, passed in so a page of rows that
    already hold it needs no query per row."""
    return {
        "coding": [
            {
                "system": appointment_type_system(practice),
                "code": kind.slug,
                "display": kind.name,
            }
        ],
        "text": kind.name,
    }


def modality_concept(modality: str) -> dict:
    with translation.override("en"):  # FHIR displays are the code system's, not the reader's
        display = str(Modality(modality).label)
    return {"coding": [{"system": MODALITY_SYSTEM, "code": modality, "display": display}]}


def _bounds(value: DateRange) -> tuple[datetime | None, datetime | None]:
    """A date parameter as the interval [low, high) of instants it asks for (None: open)."""
    return {
        "eq": (value.start, value.end),
        "ge": (value.start, None),
        "gt": (value.end, None),
        "le": (None, value.end),
        "lt": (None, value.start),
    }[value.prefix]


# PractitionerRole: one per provider, with the provider's id.


def _time(at) -> str:
    return at.strftime("%H:%M:%S")


def available_times(provider: Provider, today: date) -> list[dict]:
    """The weekly hours in force today, one entry per set of days sharing the same hours. The
    times are wall-clock in the provider's zone (FHIR `time` carries none)."""
    by_hours: dict[tuple, list[int]] = {}
    rules: list[AvailabilityRule] = list(provider.rules.all())
    for rule in rules:
        if rule.valid_from and rule.valid_from > today:
            continue
        if rule.valid_until and rule.valid_until < today:
            continue
        days = by_hours.setdefault((rule.start_time, rule.end_time), [])
        if rule.weekday not in days:
            days.append(rule.weekday)
    times = []
    for (start, end), days in sorted(by_hours.items(), key=lambda item: (min(item[1]), item[0])):
        entry: dict[str, Any] = {"daysOfWeek": [WEEKDAYS[d] for d in sorted(days)]}
        if start.hour == start.minute == end.hour == end.minute == 0:
            entry["allDay"] = True
        else:
            entry["availableStartTime"] = _time(start)
            # An end of 00:00 is midnight at the end of the day; FHIR times stop at 23:59:59.
            entry["availableEndTime"] = "23:59:59" if end.hour == end.minute == 0 else _time(end)
        times.append(entry)
    return times


def practitioner_role_rows(user: User) -> QuerySet[Provider]:
    return providers_visible_to(user).select_related("practice").prefetch_related("rules")


def practitioner_role_lookup(user: User, resource_id: str) -> Provider:
    provider = practitioner_role_rows(user).filter(pk=_pk(resource_id)).first()
    if provider is None:
        raise Http404
    return provider


def practitioner_role_to_fhir(provider: Provider) -> dict:
    practice = provider.practice
    today = timezone.now().astimezone(ZoneInfo(provider.time_zone)).date()
    resource: dict = {
        "resourceType": "PractitionerRole",
        "id": str(provider.pk),
        "active": provider.is_active,
        "practitioner": {
            "reference": f"Practitioner/{provider.pk}",
            "display": provider.display_name,
        },
        "organization": {"reference": f"Organization/{practice.pk}", "display": practice.name},
    }
    if provider.specialty:
        resource["specialty"] = [{"text": provider.specialty}]
    if practice.phone:
        resource["telecom"] = [{"system": "phone", "value": practice.phone, "use": "work"}]
    times = available_times(provider, today)
    if times:
        resource["availableTime"] = times
    resource["availabilityExceptions"] = (
        f"Hours are local time in {provider.time_zone}. Days off and extra hours vary by date: "
        "the free Slots of this practitioner's Schedules show the bookable times."
    )
    return resource


def _boolean_q(field: str):
    def build(token: Token) -> Q:
        if token.code not in ("true", "false"):
            raise SearchError(f"active must be true or false, not {token.code!r}")
        return Q(**{field: token.code == "true"})

    return build


def practitioner_role_search(user: User, params: dict) -> QuerySet[Provider]:
    rows = practitioner_role_rows(user)
    for values in params.get("practitioner", []):
        rows = rows.filter(pk__in=_ids(values))
    for values in params.get("organization", []):
        rows = rows.filter(practice_id__in=_ids(values))
    for values in params.get("active", []):
        rows = rows.filter(any_of(values, _boolean_q("is_active")))
    return rows


# Schedule: a provider offering a type (the many-to-many link row, whose id it takes).


def schedule_lookup(user: User, resource_id: str):
    return selectors.access_offering(user=user, offering_id=_pk(resource_id))


def planning_horizon(kind: AppointmentType, now: datetime) -> tuple[datetime, datetime]:
    return selectors.booking_bounds(kind, now)


def schedule_to_fhir(offering) -> dict:
    provider, kind = offering.provider, offering.appointmenttype
    start, end = planning_horizon(kind, timezone.now())
    resource: dict = {
        "resourceType": "Schedule",
        "id": str(offering.pk),
        "active": provider.is_active and kind.is_active,
        "serviceType": [
            appointment_type_concept(kind, provider.practice),
            modality_concept(kind.modality),
        ],
        "actor": [
            {"reference": f"Practitioner/{provider.pk}", "display": provider.display_name},
            {"reference": f"PractitionerRole/{provider.pk}"},
        ],
        "planningHorizon": {"start": instant(start), "end": instant(end)},
        "comment": f"{kind.name} ({kind.duration_minutes} min) with {provider.display_name}",
    }
    if provider.specialty:
        resource["specialty"] = [{"text": provider.specialty}]
    return resource


def _horizon_q(value: DateRange, now: datetime) -> Q:
    """Schedules whose planning horizon (now + notice … now + horizon days, both whole numbers
    in the type) overlaps the interval asked for."""
    low, high = _bounds(value)
    q = Q()
    if high is not None:  # now + notice < high
        minutes = math.ceil((high - now).total_seconds() / 60)
        q &= Q(appointmenttype__minimum_notice_minutes__lt=minutes)
    if low is not None:  # now + horizon days > low
        days = math.floor((low - now).total_seconds() / 86400)
        q &= Q(appointmenttype__booking_horizon_days__gt=days)
    return q


def _schedule_active_q(token: Token) -> Q:
    active = Q(appointmenttype__is_active=True, provider__is_active=True)
    if token.code not in ("true", "false"):
        raise SearchError(f"active must be true or false, not {token.code!r}")
    return active if token.code == "true" else ~active


def schedule_search(user: User, params: dict) -> QuerySet:
    rows = selectors.offerings_visible_to(user)
    for values in params.get("actor", []):
        # Practitioner and PractitionerRole share the provider's id.
        for value in values:
            if value.resource_type not in (None, "Practitioner", "PractitionerRole"):
                raise SearchError("actor of a Schedule is a Practitioner or PractitionerRole")
        rows = rows.filter(provider_id__in=_ids(values))
    for values in params.get("active", []):
        rows = rows.filter(any_of(values, _schedule_active_q))
    now = timezone.now()
    for values in params.get("date", []):
        rows = rows.filter(any_of(values, lambda value: _horizon_q(value, now)))
    return rows


# Slot: a free time of a schedule, computed from availability; never stored.

_SLOT_ID = re.compile(r"^(?P<schedule>\d{1,18})-(?P<start>\d{12})$")


@dataclass(frozen=True)
class FreeSlot:
    offering: Any  # the schedule's row (selectors.ProviderOffering)
    start: datetime

    @property
    def id(self) -> str:
        return f"{self.offering.pk}-{self.start.astimezone(UTC):%Y%m%d%H%M}"

    @property
    def sort_key(self) -> str:
        # By time first, so pages run in time order across schedules.
        return f"{self.start.astimezone(UTC):%Y%m%d%H%M}.{self.offering.pk:018d}"

    @property
    def end(self) -> datetime:
        return self.start + self.offering.appointmenttype.duration


def parse_slot_id(resource_id: str) -> tuple[int, datetime] | None:
    """The schedule's id and the start a Slot id names (None: not a Slot id)."""
    match = _SLOT_ID.match(resource_id)
    if match is None:
        return None
    try:
        start = datetime.strptime(match["start"], "%Y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(match["schedule"]), start


def free_slot(offering, start: datetime) -> FreeSlot | None:
    found = selectors.open_slots(
        provider=offering.provider,
        appointment_type=offering.appointmenttype,
        start=start,
        end=start + timedelta(seconds=1),
    )
    return FreeSlot(offering, start) if start in found.starts else None


def slot_lookup(user: User, resource_id: str) -> FreeSlot:
    """A Slot is served while it is free; once booked (or past) its id is not found."""
    parsed = parse_slot_id(resource_id)
    if parsed is None:
        raise Http404
    offering = selectors.access_offering(user=user, offering_id=parsed[0])
    if not (offering.provider.is_active and offering.appointmenttype.is_active):
        raise Http404
    slot = free_slot(offering, parsed[1])
    if slot is None:
        raise Http404
    return slot


def slot_to_fhir(slot: FreeSlot) -> dict:
    kind = slot.offering.appointmenttype
    return {
        "resourceType": "Slot",
        "id": slot.id,
        "schedule": {"reference": f"Schedule/{slot.offering.pk}"},
        "status": "free",
        "start": instant(slot.start.astimezone(UTC)),
        "end": instant(slot.end.astimezone(UTC)),
        "serviceType": [modality_concept(kind.modality)],
        "appointmentType": appointment_type_concept(kind, slot.offering.provider.practice),
    }


def _slot_range(params: dict) -> tuple[datetime, datetime]:
    """The bounded interval of starts a Slot search asks for: slots are computed, so a search
    names both ends, at most MAX_SLOT_RANGE apart."""
    low: datetime | None = None
    high: datetime | None = None
    for values in params.get("start", []):
        if len(values) != 1:
            raise SearchError("start takes one value each time (repeat it for a range)")
        value_low, value_high = _bounds(values[0])
        if value_low is not None:
            low = value_low if low is None else max(low, value_low)
        if value_high is not None:
            high = value_high if high is None else min(high, value_high)
    if low is None or high is None:
        raise SearchError(
            "A Slot search needs a bounded start, e.g. start=ge2026-12-01&start=lt2026-12-08 "
            "or start=2026-12-01"
        )
    if high - low > MAX_SLOT_RANGE:
        raise SearchError(f"A Slot search covers at most {MAX_SLOT_RANGE.days} days of starts")
    return low, high


def _asks_for_free(values: list[Token]) -> bool:
    return any(t.code == "free" and t.system in (None, SLOT_STATUS_SYSTEM) for t in values)


def slot_search(user: User, params: dict) -> Computed:
    low, high = _slot_range(params)
    # Only free slots exist here: asking for busy or blocked ones finds none.
    if not all(_asks_for_free(values) for values in params.get("status", [])):
        return Computed([])
    offerings = selectors.offerings_visible_to(user).filter(
        provider__is_active=True, appointmenttype__is_active=True
    )
    for values in params.get("schedule", []):
        offerings = offerings.filter(pk__in=_ids(values))
    wanted_ids = [{token.code for token in values} for values in params.get("_id", [])]
    for ids in wanted_ids:  # a Slot id starts with its schedule's: compute only those
        offerings = offerings.filter(pk__in=_ids([i.split("-", 1)[0] for i in ids]))
    rows = []
    for offering in offerings.order_by("pk"):
        found = selectors.open_slots(
            provider=offering.provider,
            appointment_type=offering.appointmenttype,
            start=low,
            end=high,
        )
        for start in found.starts:
            slot = FreeSlot(offering, start)
            if low <= start < high and all(slot.id in ids for ids in wanted_ids):
                rows.append((slot.sort_key, slot))
    return Computed(sorted(rows, key=lambda row: row[0]))


# Appointment


def appointment_lookup(user: User, resource_id: str) -> Appointment:
    return selectors.access_appointment(user=user, appointment_id=_pk(resource_id))


def version(appointment: Appointment) -> str:
    """Changes with every write: every service saves updated_at (auto_now) with its change."""
    return str(
        (appointment.updated_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    )


def appointment_to_fhir(appointment: Appointment) -> dict:
    provider, kind = appointment.provider, appointment.appointment_type
    resource: dict = {
        "resourceType": "Appointment",
        "id": str(appointment.pk),
        "meta": {
            "versionId": version(appointment),
            "lastUpdated": instant(appointment.updated_at),
        },
        "identifier": [
            {"system": appointment_system(appointment.practice), "value": str(appointment.pk)}
        ],
        "status": APPOINTMENT_STATUS[Status(appointment.status)],
        "serviceType": [modality_concept(appointment.modality)],
        "appointmentType": appointment_type_concept(kind, appointment.practice),
        "start": instant(appointment.start.astimezone(UTC)),
        "end": instant(appointment.end.astimezone(UTC)),
        "minutesDuration": int((appointment.end - appointment.start).total_seconds() // 60),
        "created": instant(appointment.created_at.astimezone(UTC)),
        "participant": [
            {
                "actor": {"reference": f"Patient/{appointment.patient_id}"},
                "required": "required",
                "status": "accepted",
            },
            {
                "actor": {
                    "reference": f"Practitioner/{provider.pk}",
                    "display": provider.display_name,
                },
                "required": "required",
                "status": "accepted",
            },
        ],
    }
    if appointment.reason:
        resource["reasonCode"] = [{"text": appointment.reason}]
    if appointment.status in (Status.CANCELLED, Status.RESCHEDULED):
        text = appointment.cancel_reason or (
            "Rescheduled" if appointment.status == Status.RESCHEDULED else ""
        )
        if text:
            resource["cancelationReason"] = {"text": text}
    return resource


def _appointment_identifier_q(token: Token) -> Q:
    pk = row_id(token.code)
    if pk is None:
        return Q(pk__in=[])
    q = Q(pk=pk)
    if token.system is not None:
        prefix, suffix = f"{PRACTICE_SYSTEM}:", ":appointment"
        if not (token.system.startswith(prefix) and token.system.endswith(suffix)):
            return Q(pk__in=[])
        q &= Q(practice__slug=token.system[len(prefix) : -len(suffix)])
    return q


def _actor_q(value) -> Q:
    ids = _ids([value])
    if not ids:
        return Q(pk__in=[])
    if value.resource_type == "Patient":
        return Q(patient_id=ids[0])
    if value.resource_type in ("Practitioner", "PractitionerRole"):
        return Q(provider_id=ids[0])
    if value.resource_type is None:
        raise SearchError("actor needs the type, e.g. actor=Patient/12 or actor=Practitioner/3")
    return Q(pk__in=[])


def _status_q(token: Token) -> Q:
    if token.system not in (None, APPOINTMENT_STATUS_SYSTEM):
        return Q(pk__in=[])
    ours = [status for status, fhir in APPOINTMENT_STATUS.items() if fhir == token.code]
    return Q(status__in=ours)


def appointment_search(user: User, params: dict) -> QuerySet[Appointment]:
    rows = selectors.appointments_visible_to(user)
    for values in params.get("identifier", []):
        rows = rows.filter(any_of(values, _appointment_identifier_q))
    for values in params.get("patient", []):
        rows = rows.filter(patient_id__in=_ids(values))
    for values in params.get("practitioner", []):
        rows = rows.filter(provider_id__in=_ids(values))
    for values in params.get("actor", []):
        rows = rows.filter(any_of(values, _actor_q))
    for values in params.get("date", []):
        rows = rows.filter(any_of(values, lambda value: value.q("start")))
    for values in params.get("status", []):
        rows = rows.filter(any_of(values, _status_q))
    return rows


def include_patients(rows: list[Appointment]) -> list[tuple[str, Any]]:
    return [("Patient", appointment.patient) for appointment in rows]


def include_practitioners(rows: list[Appointment]) -> list[tuple[str, Any]]:
    return [("Practitioner", appointment.provider) for appointment in rows]
