"""rpm's readings in the FHIR API: the Observation mapper that telehealth.fhir serves,
registered in RpmConfig.ready. rpm.fhir builds each resource; rpm.selectors scopes the rows."""

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from fhir.resources.R4B.observation import Observation

from rpm import ingest, selectors, uploads
from rpm.fhir import observation_from_reading
from rpm.models import Device, Reading
from telehealth.accounts.models import Patient, Role, User
from telehealth.fhir import registry
from telehealth.fhir.registry import DATE, REFERENCE, TOKEN, Mapper, SearchParam, row_id
from telehealth.fhir.responses import FhirError
from telehealth.fhir.search import Token, any_of

US_CORE_VITAL_SIGNS = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-vital-signs"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"


def observation_lookup(user: User, resource_id: str) -> Reading:
    reading_id = row_id(resource_id)
    if reading_id is None:
        raise Http404
    return selectors.observation_read(user=user, reading_id=reading_id)


def observation_to_fhir(reading: Reading) -> dict:
    return observation_from_reading(reading, patient_reference=f"Patient/{reading.patient_id}")


def _token_text(token: Token) -> str:
    return token.code if token.system is None else f"{token.system}|{token.code}"


def _patient_q(patient_id: str) -> Q:
    pk = row_id(patient_id)
    return Q(pk__in=[]) if pk is None else Q(patient_id=pk)


def _category_q(token: Token) -> Q:
    # Every Observation served is a vital sign.
    if token.code == "vital-signs" and token.system in (None, CATEGORY_SYSTEM):
        return Q(pk__isnull=False)  # all of them (an empty Q would vanish in any_of's OR)
    return Q(pk__in=[])


def observation_search(user: User, params: dict) -> QuerySet[Reading]:
    rows = selectors.observations(user)
    for name in ("patient", "subject"):
        for values in params.get(name, []):
            rows = rows.filter(any_of(values, _patient_q))
    for values in params.get("code", []):
        rows = rows.filter(
            any_of(values, lambda token: selectors.observation_code_q(_token_text(token)))
        )
    for values in params.get("category", []):
        rows = rows.filter(any_of(values, _category_q))
    for values in params.get("date", []):
        rows = rows.filter(any_of(values, lambda value: value.q("measured_at")))
    return rows


# Writes: a clinician (or practice admin) records a vital sign of a patient whose vitals they
# may see. Readings belong to a monitoring device, so the Observation names the patient's
# device (Device/<id>) unless the patient has exactly one; it is then stored through rpm's
# ingestion as that device's upload, so the same checks, thresholds and alerts apply.
OBSERVATION_WRITERS = (Role.CLINICIAN, Role.PRACTICE_ADMIN)


def _local_id(reference, type_name: str) -> int | None:
    text = reference.get("reference", "") if isinstance(reference, dict) else ""
    prefix = f"{type_name}/"
    number = text[len(prefix) :] if text.startswith(prefix) else ""
    return int(number) if number.isascii() and number.isdigit() else None


def _subject(user: User, resource: dict) -> Patient:
    patient_id = _local_id(resource.get("subject"), "Patient")
    if patient_id is None:
        raise FhirError(422, "Observation.subject: name the patient measured (Patient/<id>).")
    try:
        return selectors.access_patient(user=user, patient_id=patient_id)
    except Http404:
        raise FhirError(
            422, "Observation.subject: no patient with this id whose vitals you may record."
        ) from None


def _device(patient: Patient, resource: dict) -> Device:
    devices = Device.objects.filter(patient=patient, revoked_at__isnull=True).order_by("pk")
    if "device" in resource:
        device_id = _local_id(resource["device"], "Device")
        device = devices.filter(pk=device_id).first() if device_id is not None else None
        if device is None:
            raise FhirError(
                422, "Observation.device: not an active monitoring device of this patient."
            )
        return device
    candidates = list(devices[:2])
    if len(candidates) != 1:
        raise FhirError(
            422,
            "Observation.device: name the patient's monitoring device that took the reading "
            "(Device/<id>)"
            + ("; the patient has none." if not candidates else "; the patient has several."),
        )
    return candidates[0]


def observation_create(user: User, resource: dict) -> Reading:
    if user.role not in OBSERVATION_WRITERS:
        raise PermissionDenied("Only clinicians and practice admins record vital signs.")
    patient = _subject(user, resource)
    device = _device(patient, resource)
    try:
        readings = uploads.observation_record(device=device, resource=resource, by=user)
    except ingest.Rejected as refused:
        raise FhirError(422, str(refused)) from refused
    return selectors.observation_read(user=user, reading_id=readings[0].pk)


observation_mapper = Mapper(
    resource_type="Observation",
    model=Observation,
    lookup=observation_lookup,
    to_fhir=observation_to_fhir,
    search=observation_search,
    params={
        "patient": SearchParam(REFERENCE, "The patient measured (Patient/id)"),
        "subject": SearchParam(REFERENCE, "The patient measured (Patient/id)"),
        "code": SearchParam(TOKEN, "LOINC code of the vital sign (http://loinc.org|code)"),
        "category": SearchParam(TOKEN, "Always vital-signs"),
        "date": SearchParam(DATE, "When it was measured"),
    },
    profiles=(US_CORE_VITAL_SIGNS,),
    last_updated="received_at",
    phi_patient=lambda reading: reading.patient,
    create=observation_create,
    patient_path="patient",
)


def register() -> None:
    registry.register(observation_mapper)
