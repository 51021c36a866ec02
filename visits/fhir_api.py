"""visits in the FHIR API: each visit as an Encounter, served by telehealth.fhir through the
mapper registered in VisitsConfig.ready. Rows come through visits.selectors (visits_visible_to,
access_visit), so a patient sees their own visits, a clinician those of their care team and
the practice's staff their practice's.

The encounter is virtual (v3 ActCode VR) for video and phone visits and walk-ins, ambulatory
(AMB) for an in-person appointment. Its period is the visit's actual start (admission) and
end; each clinician's participation period is their recorded presence in the room. Where the
patient said they were (or what they said when booking, until they answer) is a contained
Location of kind, the way the specification's home-visit example (Encounter-home) does it:
we know a state and whether it is their home, not a place with an address of its own."""

from django.db.models import Exists, OuterRef, Q, QuerySet, prefetch_related_objects
from django.http import Http404
from fhir.resources.R4B.encounter import Encounter

from scheduling.models import REMOTE_MODALITIES, Modality
from scheduling.models import Status as AppointmentStatus
from telehealth.accounts.fhir import PRACTICE_SYSTEM
from telehealth.accounts.models import User
from telehealth.fhir import registry
from telehealth.fhir.registry import DATE, REFERENCE, TOKEN, Mapper, SearchParam, row_id
from telehealth.fhir.search import DateRange, Token, any_of
from visits import selectors
from visits.models import Participant, Visit

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
VIRTUAL = {"system": ACT_CODE, "code": "VR", "display": "virtual"}
AMBULATORY = {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"}
PRIMARY_PERFORMER = {"system": PARTICIPATION_TYPE, "code": "PPRF", "display": "primary performer"}
SECONDARY_PERFORMER = {
    "system": PARTICIPATION_TYPE,
    "code": "SPRF",
    "display": "secondary performer",
}
PATIENT_RESIDENCE = {"system": ROLE_CODE, "code": "PTRES", "display": "Patient's Residence"}
PATIENT_LOCATION_ID = "patient-location"

# A planned visit whose appointment was called off is a cancelled encounter.
CALLED_OFF = (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW, AppointmentStatus.RESCHEDULED)
NOT_CALLED_OFF = tuple(s for s in AppointmentStatus if s not in CALLED_OFF)


def appointment_type_system(practice) -> str:
    """The code system of a practice's appointment types (their slugs)."""
    return f"{PRACTICE_SYSTEM}:{practice.slug}:appointment-type"


def encounter_status(visit: Visit) -> str:
    if visit.state == Visit.State.ENDED:
        # Ended without being started: a no-show or a refused admission.
        return "finished" if visit.started_at is not None else "cancelled"
    if visit.state == Visit.State.WAITING:
        return "arrived"
    if visit.state == Visit.State.IN_PROGRESS:
        return "in-progress"
    if visit.appointment is not None and visit.appointment.status in CALLED_OFF:
        return "cancelled"
    return "planned"


STATUS_Q = {
    "planned": Q(state=Visit.State.SCHEDULED)
    & (Q(appointment__isnull=True) | Q(appointment__status__in=NOT_CALLED_OFF)),
    "arrived": Q(state=Visit.State.WAITING),
    "in-progress": Q(state=Visit.State.IN_PROGRESS),
    "finished": Q(state=Visit.State.ENDED, started_at__isnull=False),
    "cancelled": Q(state=Visit.State.ENDED, started_at__isnull=True)
    | Q(state=Visit.State.SCHEDULED, appointment__status__in=CALLED_OFF),
}
REMOTE_Q = Q(appointment__isnull=True) | Q(appointment__modality__in=REMOTE_MODALITIES)


def _is_remote(visit: Visit) -> bool:
    return visit.appointment is None or visit.appointment.modality != Modality.IN_PERSON


def _period(start, end) -> dict:
    period = {"start": registry.instant(start)}
    if end is not None:
        period["end"] = registry.instant(end)
    return period


def _clinicians(visit: Visit) -> list[Participant]:
    """The visit's clinicians who are providers (a Practitioner to point at), in the order
    they entered; uses the prefetched participants."""
    return [
        participant
        for participant in visit.participants.all()
        if participant.role == Participant.Role.CLINICIAN
        and participant.user is not None
        and hasattr(participant.user, "provider")
    ]


def _participants(visit: Visit) -> list[dict]:
    rendering_user_id = visit.admitted_by_id or (visit.provider.user_id if visit.provider else None)
    found: list[dict] = []
    seen: set[int] = set()
    for participant in _clinicians(visit):
        assert participant.user is not None
        provider = participant.user.provider
        entry: dict = {
            "type": [
                {
                    "coding": [
                        PRIMARY_PERFORMER
                        if participant.user_id == rendering_user_id
                        else SECONDARY_PERFORMER
                    ]
                }
            ],
            "individual": {
                "reference": f"Practitioner/{provider.pk}",
                "display": provider.display_name,
            },
        }
        presences = list(participant.presences.all())
        if presences:
            lefts = [presence.left_at for presence in presences]
            end = None if None in lefts else max(left for left in lefts if left is not None)
            entry["period"] = _period(min(p.joined_at for p in presences), end)
        found.append(entry)
        seen.add(provider.pk)
    # The booked clinician of a visit nobody has entered yet.
    if visit.provider is not None and visit.provider.pk not in seen:
        found.insert(
            0,
            {
                "type": [{"coding": [PRIMARY_PERFORMER]}],
                "individual": {
                    "reference": f"Practitioner/{visit.provider.pk}",
                    "display": visit.provider.display_name,
                },
            },
        )
    return found


def _patient_location(visit: Visit) -> tuple[dict, dict] | None:
    """The contained Location and the Encounter.location entry of where the patient is."""
    where = selectors.location_of(visit)
    if not where.state:
        return None
    location: dict = {
        "resourceType": "Location",
        "id": PATIENT_LOCATION_ID,
        "mode": "kind",
        "address": {"state": where.state, "country": "US"},
    }
    if where.at_home:
        location["description"] = "Patient's home"
        location["type"] = [{"coding": [PATIENT_RESIDENCE]}]
    elif where.at_home is False:
        location["description"] = "Patient's location, not their home"
    else:
        location["description"] = "Patient's state, given when booking"
    if not where.answered:
        status = "planned"
    elif visit.state == Visit.State.ENDED:
        status = "completed"
    else:
        status = "active"
    entry = {
        "location": {"reference": f"#{PATIENT_LOCATION_ID}", "display": location["description"]},
        "status": status,
    }
    return location, entry


def encounter_to_fhir(visit: Visit) -> dict:
    resource: dict = {"resourceType": "Encounter", "id": str(visit.pk)}
    located = _patient_location(visit)
    if located is not None:
        resource["contained"] = [located[0]]
    resource |= {
        "status": encounter_status(visit),
        "class": VIRTUAL if _is_remote(visit) else AMBULATORY,
    }
    appointment = visit.appointment
    if appointment is not None:
        kind = appointment.appointment_type
        resource["type"] = [
            {
                "coding": [
                    {
                        "system": appointment_type_system(visit.practice),
                        "code": kind.slug,
                        "display": kind.name,
                    }
                ],
                "text": kind.name,
            }
        ]
    resource["subject"] = {"reference": f"Patient/{visit.patient_id}"}
    participants = _participants(visit)
    if participants:
        resource["participant"] = participants
    if appointment is not None:
        resource["appointment"] = [{"reference": f"Appointment/{appointment.pk}"}]
    if visit.started_at is not None:
        resource["period"] = _period(visit.started_at, visit.ended_at)
    if located is not None:
        resource["location"] = [located[1]]
    resource["serviceProvider"] = {
        "reference": f"Organization/{visit.practice_id}",
        "display": visit.practice.name,
    }
    return resource


PREFETCH = ("participants__user__provider", "participants__presences")


def _rows(rows: QuerySet[Visit]) -> QuerySet[Visit]:
    return rows.select_related("appointment__appointment_type").prefetch_related(*PREFETCH)


def encounter_lookup(user: User, resource_id: str) -> Visit:
    visit_id = row_id(resource_id)
    if visit_id is None:
        raise Http404
    visit = selectors.access_visit(user=user, visit_id=visit_id)
    prefetch_related_objects([visit], "appointment__appointment_type", *PREFETCH)
    return visit


def _id_q(field: str, raw: str) -> Q:
    pk = row_id(raw)
    return Q(pk__in=[]) if pk is None else Q(**{field: pk})


def _practitioner_q(raw: str) -> Q:
    provider_id = row_id(raw)
    if provider_id is None:
        return Q(pk__in=[])
    took_part = Participant.objects.filter(
        visit=OuterRef("pk"), role=Participant.Role.CLINICIAN, user__provider__id=provider_id
    )
    return Q(provider_id=provider_id) | Q(Exists(took_part))


def _status_q(token: Token) -> Q:
    return STATUS_Q.get(token.code, Q(pk__in=[]))


def _class_q(token: Token) -> Q:
    if token.system not in (None, ACT_CODE):
        return Q(pk__in=[])
    if token.code == "VR":
        return REMOTE_Q
    if token.code == "AMB":
        return ~REMOTE_Q
    return Q(pk__in=[])


def period_q(value: DateRange) -> Q:
    """`date` against the period [started_at, ended_at), open-ended while the visit runs: the
    prefixes compare ranges as https://hl7.org/fhir/R4/search.html#prefix says. A visit that
    never started has no period and matches no date."""
    started = Q(started_at__isnull=False)
    running = Q(ended_at__isnull=True)
    by_prefix = {
        "eq": Q(started_at__lt=value.end) & (running | Q(ended_at__gte=value.start)),
        "ge": running | Q(ended_at__gte=value.start),
        "gt": running | Q(ended_at__gte=value.end),
        "le": Q(started_at__lt=value.end),
        "lt": Q(started_at__lt=value.start),
    }
    return started & by_prefix[value.prefix]


def encounter_search(user: User, params: dict) -> QuerySet[Visit]:
    rows = _rows(selectors.visits_visible_to(user))
    for name in ("patient", "subject"):
        for values in params.get(name, []):
            rows = rows.filter(any_of(values, lambda v: _id_q("patient_id", v)))
    for name in ("practitioner", "participant"):
        for values in params.get(name, []):
            rows = rows.filter(any_of(values, _practitioner_q))
    for values in params.get("appointment", []):
        rows = rows.filter(any_of(values, lambda v: _id_q("appointment_id", v)))
    for values in params.get("status", []):
        rows = rows.filter(any_of(values, _status_q))
    for values in params.get("class", []):
        rows = rows.filter(any_of(values, _class_q))
    for values in params.get("date", []):
        rows = rows.filter(any_of(values, period_q))
    return rows


encounter_mapper = Mapper(
    resource_type="Encounter",
    model=Encounter,
    lookup=encounter_lookup,
    to_fhir=encounter_to_fhir,
    search=encounter_search,
    params={
        "patient": SearchParam(REFERENCE, "The patient seen (Patient/id)"),
        "subject": SearchParam(REFERENCE, "The patient seen (Patient/id)"),
        "date": SearchParam(DATE, "A time within the visit's actual period"),
        "status": SearchParam(TOKEN, "planned, arrived, in-progress, finished or cancelled"),
        "practitioner": SearchParam(REFERENCE, "A clinician of the visit (Practitioner/id)"),
        "participant": SearchParam(REFERENCE, "A clinician of the visit (Practitioner/id)"),
        "appointment": SearchParam(REFERENCE, "The appointment booked (Appointment/id)"),
        "class": SearchParam(TOKEN, f"VR (video or phone) or AMB (in person), {ACT_CODE}"),
    },
    phi_patient=lambda visit: visit.patient,
    patient_path="patient_id",
)


def register() -> None:
    registry.register(encounter_mapper)
