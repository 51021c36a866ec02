"""rpm's readings in the FHIR API: the Observation mapper that telehealth.fhir serves,
registered in RpmConfig.ready. rpm.fhir builds each resource; rpm.selectors scopes the rows."""

from django.db.models import Q, QuerySet
from django.http import Http404
from fhir.resources.R4B.observation import Observation

from rpm import selectors
from rpm.fhir import observation_from_reading
from rpm.models import Reading
from telehealth.accounts.models import User
from telehealth.fhir import registry
from telehealth.fhir.registry import DATE, REFERENCE, TOKEN, Mapper, SearchParam
from telehealth.fhir.search import Token, any_of

US_CORE_VITAL_SIGNS = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-vital-signs"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"


def observation_lookup(user: User, resource_id: str) -> Reading:
    if not resource_id.isascii() or not resource_id.isdigit():
        raise Http404
    return selectors.observation_read(user=user, reading_id=int(resource_id))


def observation_to_fhir(reading: Reading) -> dict:
    return observation_from_reading(reading, patient_reference=f"Patient/{reading.patient_id}")


def _token_text(token: Token) -> str:
    return token.code if token.system is None else f"{token.system}|{token.code}"


def _patient_q(patient_id: str) -> Q:
    if not patient_id.isascii() or not patient_id.isdigit():
        return Q(pk__in=[])
    return Q(patient_id=int(patient_id))


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
    patient_path="patient",
)


def register() -> None:
    registry.register(observation_mapper)
