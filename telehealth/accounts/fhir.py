"""FHIR mappers of the people and practices this app owns: Patient, Practitioner (a provider)
and Organization (the practice). Registered with telehealth.fhir in AccountsConfig.ready; every
read goes through this app's selectors."""

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner

from telehealth.accounts import selectors
from telehealth.accounts.models import Patient, Practice, Provider
from telehealth.fhir import registry
from telehealth.fhir.registry import DATE, STRING, TOKEN, Mapper, SearchParam
from telehealth.fhir.search import any_of

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
PRACTICE_SYSTEM = "urn:telehealth:practice"
LANGUAGE_SYSTEM = "urn:ietf:bcp:47"
IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition"


def patient_system(practice: Practice) -> str:
    """The identifier system of a practice's medical record numbers (our patient ids)."""
    return f"{PRACTICE_SYSTEM}:{practice.slug}:patient"


def _pk(resource_id: str) -> int:
    if not resource_id.isdigit():
        raise Http404
    return int(resource_id)


def _human_name(text: str, use: str) -> dict:
    parts = text.split()
    name: dict = {"use": use, "text": text}
    if parts:
        name["family"] = parts[-1]
        if len(parts) > 1:
            name["given"] = parts[:-1]
    return name


def _name_matches(field: str, value: str) -> Q:
    # FHIR string search: case-insensitive, matching the start of the name or of any part.
    return Q(**{f"{field}__istartswith": value}) | Q(**{f"{field}__icontains": f" {value}"})


# Patient


def patient_lookup(user, resource_id: str) -> Patient:
    try:
        return selectors.access_patient(user=user, patient_id=_pk(resource_id))
    except selectors.BreakGlassRequired:
        raise PermissionDenied("This patient is outside your care team.") from None


def patient_to_fhir(patient: Patient) -> dict:
    practice = patient.practice
    names = [_human_name(patient.legal_name, "official")]
    if patient.preferred_name:
        names.append({"use": "usual", "text": patient.preferred_name})
    telecom = []
    if patient.phone:
        telecom.append({"system": "phone", "value": patient.phone, "use": "mobile"})
    if patient.email:
        telecom.append({"system": "email", "value": patient.email})
    resource: dict = {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "meta": {"lastUpdated": patient.updated_at.isoformat(), "profile": PATIENT_PROFILES},
        "identifier": [
            {
                "use": "usual",
                "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": "MR"}]},
                "system": patient_system(practice),
                "value": str(patient.pk),
            }
        ],
        "active": True,
        "name": names,
        "gender": patient.sex,
        "birthDate": patient.date_of_birth.isoformat(),
        "communication": [
            {
                "language": {
                    "coding": [{"system": LANGUAGE_SYSTEM, "code": patient.preferred_language}]
                },
                "preferred": True,
            }
        ],
        "managingOrganization": {"reference": f"Organization/{practice.pk}"},
    }
    if telecom:
        resource["telecom"] = telecom
    address = patient.address or {}
    lines = [str(address[k]) for k in ("line1", "line2") if address.get(k)]
    fields = {
        "city": address.get("city"),
        "state": address.get("state") or patient.state,
        "postalCode": address.get("postal_code"),
    }
    if lines or any(fields.values()):
        resource["address"] = [
            {"use": "home", **({"line": lines} if lines else {})}
            | {k: str(v) for k, v in fields.items() if v}
            | {"country": practice.country}
        ]
    return resource


def _identifier_q(systems_field: str, token, *, system_of) -> Q:
    """A token `system|value` on our record numbers: the value is the id, the system must be
    the row's practice's (no system given: any)."""
    if not token.code.isdigit():
        return Q(pk__in=[])
    q = Q(pk=int(token.code))
    if token.system is not None:
        slugs = system_of(token.system)
        q &= Q(**{f"{systems_field}__in": slugs})
    return q


def _patient_system_slugs(system: str) -> list[str]:
    prefix, suffix = f"{PRACTICE_SYSTEM}:", ":patient"
    if system.startswith(prefix) and system.endswith(suffix):
        return [system[len(prefix) : -len(suffix)]]
    return []


def patient_search(user, params: dict) -> QuerySet[Patient]:
    rows = selectors.patients_visible_to(user).select_related("practice")
    for values in params.get("identifier", []):
        rows = rows.filter(
            any_of(
                values,
                lambda t: _identifier_q("practice__slug", t, system_of=_patient_system_slugs),
            )
        )
    for values in params.get("name", []):
        rows = rows.filter(
            any_of(
                values,
                lambda v: _name_matches("legal_name", v) | _name_matches("preferred_name", v),
            )
        )
    for values in params.get("birthdate", []):
        rows = rows.filter(any_of(values, lambda v: v.q("date_of_birth", is_date=True)))
    return rows


PATIENT_PROFILES = [f"{US_CORE}/us-core-patient"]

patient_mapper = Mapper(
    resource_type="Patient",
    model=FhirPatient,
    lookup=patient_lookup,
    to_fhir=patient_to_fhir,
    search=patient_search,
    params={
        "identifier": SearchParam(TOKEN, "The practice's record number (system|value)"),
        "name": SearchParam(STRING, "Start of the legal or preferred name, or of a part of it"),
        "birthdate": SearchParam(DATE, "Date of birth"),
    },
    profiles=tuple(PATIENT_PROFILES),
    last_updated="updated_at",
    phi_patient=lambda patient: patient,
    patient_path="pk",
)


# Practitioner


def practitioner_lookup(user, resource_id: str) -> Provider:
    return _get(selectors.providers_visible_to(user), resource_id)


def practitioner_to_fhir(provider: Provider) -> dict:
    return {
        "resourceType": "Practitioner",
        "id": str(provider.pk),
        "identifier": [{"system": NPI_SYSTEM, "value": provider.npi}],
        "active": provider.is_active,
        "name": [_human_name(provider.user.full_name or provider.display_name, "official")]
        + [{"use": "usual", "text": provider.display_name}],
    }


def practitioner_search(user, params: dict) -> QuerySet[Provider]:
    rows = selectors.providers_visible_to(user)
    for values in params.get("identifier", []):
        rows = rows.filter(
            any_of(
                values,
                lambda t: Q(npi=t.code) if t.system in (None, NPI_SYSTEM) else Q(pk__in=[]),
            )
        )
    for values in params.get("name", []):
        rows = rows.filter(
            any_of(
                values,
                lambda v: _name_matches("display_name", v) | _name_matches("user__full_name", v),
            )
        )
    return rows


practitioner_mapper = Mapper(
    resource_type="Practitioner",
    model=Practitioner,
    lookup=practitioner_lookup,
    to_fhir=practitioner_to_fhir,
    search=practitioner_search,
    params={
        "identifier": SearchParam(TOKEN, f"NPI ({NPI_SYSTEM}|number)"),
        "name": SearchParam(STRING, "Start of the name or of a part of it"),
    },
    profiles=(f"{US_CORE}/us-core-practitioner",),
)


# Organization


def organization_lookup(user, resource_id: str) -> Practice:
    return _get(selectors.practices_visible_to(user), resource_id)


def organization_to_fhir(practice: Practice) -> dict:
    resource: dict = {
        "resourceType": "Organization",
        "id": str(practice.pk),
        "identifier": [{"system": PRACTICE_SYSTEM, "value": practice.slug}],
        "active": True,
        "name": practice.name,
    }
    if practice.phone:
        resource["telecom"] = [{"system": "phone", "value": practice.phone, "use": "work"}]
    if practice.address.strip():
        resource["address"] = [{"text": practice.address.strip(), "country": practice.country}]
    return resource


def organization_search(user, params: dict) -> QuerySet[Practice]:
    rows = selectors.practices_visible_to(user)
    for values in params.get("identifier", []):
        rows = rows.filter(
            any_of(
                values,
                lambda t: Q(slug=t.code) if t.system in (None, PRACTICE_SYSTEM) else Q(pk__in=[]),
            )
        )
    for values in params.get("name", []):
        rows = rows.filter(any_of(values, lambda v: _name_matches("name", v)))
    return rows


organization_mapper = Mapper(
    resource_type="Organization",
    model=Organization,
    lookup=organization_lookup,
    to_fhir=organization_to_fhir,
    search=organization_search,
    params={
        "identifier": SearchParam(TOKEN, f"The practice's slug ({PRACTICE_SYSTEM}|slug)"),
        "name": SearchParam(STRING, "Start of the name or of a word of it"),
    },
    profiles=(f"{US_CORE}/us-core-organization",),
)


def _get(rows: QuerySet, resource_id: str):
    row = rows.filter(pk=_pk(resource_id)).first()
    if row is None:
        raise Http404
    return row


def register() -> None:
    for mapper in (patient_mapper, practitioner_mapper, organization_mapper):
        registry.register(mapper)
