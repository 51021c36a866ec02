"""FHIR mappers of the people and practices this app owns: Patient, Practitioner (a provider)
and Organization (the practice). Registered with telehealth.fhir in AccountsConfig.ready; every
read goes through this app's selectors."""

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner

from telehealth.accounts import selectors, services
from telehealth.accounts.models import Patient, Practice, Provider, Role, Sex, User
from telehealth.accounts.validation import US_STATES
from telehealth.fhir import registry
from telehealth.fhir.registry import DATE, STRING, TOKEN, Mapper, SearchParam, row_id
from telehealth.fhir.responses import FhirError
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
    pk = row_id(resource_id)
    if pk is None:
        raise Http404
    return pk


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
        "meta": {"lastUpdated": registry.instant(patient.updated_at), "profile": PATIENT_PROFILES},
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
    pk = row_id(token.code)
    if pk is None:
        return Q(pk__in=[])
    q = Q(pk=pk)
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


# Writes. The front desk and practice admins register patients and keep their demographics,
# as on every other path into the practice's records; clinicians and patients only read here.
PATIENT_WRITERS = (Role.FRONT_DESK, Role.PRACTICE_ADMIN)
LANGUAGES = dict(Patient._meta.get_field("preferred_language").choices or [])
# Where each field of ours is in a Patient, to name it when our validation refuses a value.
PATIENT_PATHS = {
    "legal_name": "Patient.name",
    "preferred_name": "Patient.name",
    "date_of_birth": "Patient.birthDate",
    "sex": "Patient.gender",
    "address": "Patient.address",
    "state": "Patient.address.state",
    "preferred_language": "Patient.communication",
}


def _may_write_patients(user: User) -> None:
    if user.role not in PATIENT_WRITERS:
        raise PermissionDenied("Only the front desk and practice admins write patient records.")


def _name_text(name: dict) -> str:
    if name.get("text"):
        return " ".join(name["text"].split())
    return " ".join([*name.get("given", []), *([name["family"]] if name.get("family") else [])])


def _names(resource: dict) -> tuple[str, str]:
    """(legal name, preferred name): the official name (else the first that is not a
    nickname, an old or a maiden name), and the usual one."""
    names = [n for n in resource.get("name", []) if _name_text(n)]
    legal = next((n for n in names if n.get("use") == "official"), None) or next(
        (n for n in names if n.get("use") not in ("usual", "nickname", "old", "maiden")), None
    )
    if legal is None:
        raise FhirError(422, "Patient.name: a patient needs their legal (official) name.")
    usual = next((n for n in names if n.get("use") == "usual" and n is not legal), None)
    return _name_text(legal), _name_text(usual) if usual else ""


def _contact(resource: dict) -> tuple[str, str]:
    """(phone, email): the mobile (we text it; else a phone sent without a use), the first
    email; numbers marked old, work or temporary are not the patient's to text."""
    telecom = [t for t in resource.get("telecom", []) if t.get("value") and t.get("use") != "old"]
    phones = [t for t in telecom if t.get("system") == "phone"]
    phone = next((t for t in phones if t.get("use") == "mobile"), None) or next(
        (t for t in phones if t.get("use") is None), None
    )
    email = next((t for t in telecom if t.get("system") == "email"), None)
    return (phone["value"] if phone else ""), (email["value"] if email else "")


def _birth_date(resource: dict) -> date:
    raw = resource.get("birthDate", "")
    if len(raw) != 10:
        raise FhirError(
            422, "Patient.birthDate: the full date of birth (year, month and day) is required."
        )
    try:
        born = date.fromisoformat(raw)
    except ValueError:
        raise FhirError(422, "Patient.birthDate: not a date of the calendar.") from None
    if born > timezone.localdate():
        raise FhirError(422, "Patient.birthDate: a date of birth cannot be in the future.")
    return born


def _address(resource: dict, practice: Practice) -> tuple[dict, str]:
    """(our address, US state of residence): the home address (else the first current one);
    its state is the patient's state of residence when it is a US state's code, else part of
    the address."""
    addresses = [a for a in resource.get("address", []) if a.get("use") not in ("old", "billing")]
    home = next((a for a in addresses if a.get("use") == "home"), None) or next(
        iter(addresses), None
    )
    if home is None:
        return {}, ""
    lines = home.get("line", [])
    address = {
        "line1": lines[0] if lines else "",
        "line2": ", ".join(lines[1:]),
        "city": home.get("city", ""),
        "state": home.get("state", ""),
        "postal_code": home.get("postalCode", ""),
    }
    state = address["state"].upper()
    if practice.country == "US" and state in US_STATES:
        # The state of residence has its own field (licensure reads it); the address served
        # shows it from there.
        address["state"] = ""
    else:
        state = ""
    return {key: value for key, value in address.items() if value}, state


def _language(resource: dict) -> str:
    communication = resource.get("communication", [])
    chosen = next((c for c in communication if c.get("preferred")), None) or next(
        iter(communication), None
    )
    if chosen is None:
        return "en"
    codes = [
        c.get("code", "")
        for c in chosen["language"].get("coding", [])
        if c.get("system") in (None, LANGUAGE_SYSTEM)
    ]
    for code in codes:
        primary = code.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    raise FhirError(
        422,
        f"Patient.communication.language: we offer {', '.join(sorted(LANGUAGES))} "
        f"({LANGUAGE_SYSTEM} codes).",
    )


def _own_identifiers(resource: dict, practice: Practice) -> list[str]:
    own = patient_system(practice)
    return [
        i.get("value", "")
        for i in resource.get("identifier", [])
        if i.get("system", "").startswith(PRACTICE_SYSTEM) or i.get("system") == own
    ]


def _organization(resource: dict, user: User) -> None:
    managing = resource.get("managingOrganization")
    if managing is not None and managing.get("reference") != f"Organization/{user.practice_id}":
        raise FhirError(
            422,
            "Patient.managingOrganization: a patient you register belongs to your practice "
            f"(Organization/{user.practice_id}); leave it out or name that.",
        )


def _patient_fields(resource: dict, practice: Practice) -> dict:
    """The Patient's demographics as patient_create and patient_update take them. Elements
    we do not keep (other identifiers, contacts, deceased, narrative, extensions) are
    ignored, as FHIR lets a server do."""
    legal_name, preferred_name = _names(resource)
    phone, email = _contact(resource)
    address, state = _address(resource, practice)
    return {
        "legal_name": legal_name,
        "preferred_name": preferred_name,
        "date_of_birth": _birth_date(resource),
        "sex": resource.get("gender") or Sex.UNKNOWN,
        "phone": phone,
        "email": email,
        "address": address,
        "state": state,
        "preferred_language": _language(resource),
    }


def _refused(error: ValidationError) -> FhirError:
    """Our validation's refusal as a 422 naming the elements. Phone and email messages can
    repeat the value sent, so theirs are said in general terms."""
    if not hasattr(error, "error_dict"):  # set_contact: the phone or the email
        codes = {e.code for e in error.error_list}
        if codes & {"invalid_phone", "phone_extension"}:
            return FhirError(
                422,
                "Patient.telecom: the mobile number is not one we can text (write it with its "
                "country code, without an extension).",
            )
        return FhirError(422, "Patient.telecom: the email address is not valid.")
    faults = [
        f"{PATIENT_PATHS.get(field, 'Patient')}: {' '.join(messages)}"
        for field, messages in error.message_dict.items()
    ]
    return FhirError(422, "; ".join(faults))


def patient_create_from_fhir(user: User, resource: dict) -> Patient:
    _may_write_patients(user)
    practice = user.practice
    assert practice is not None  # the FHIR views refuse staff without a practice
    if _own_identifiers(resource, practice):
        raise FhirError(
            422,
            "Patient.identifier: our record number is assigned when the patient is created; "
            "leave it out.",
        )
    _organization(resource, user)
    try:
        return services.patient_create(
            practice=practice, by=user, **_patient_fields(resource, practice)
        )
    except ValidationError as error:
        raise _refused(error) from error


def patient_update_from_fhir(user: User, patient: Patient, resource: dict) -> Patient:
    """Replace the patient's demographics (FHIR update replaces the whole resource: what is
    left out is cleared). The caller holds the row's lock."""
    _may_write_patients(user)
    if any(value != str(patient.pk) for value in _own_identifiers(resource, patient.practice)):
        raise FhirError(422, "Patient.identifier: our record number cannot be changed.")
    _organization(resource, user)
    try:
        return services.patient_update(
            patient=patient, by=user, **_patient_fields(resource, patient.practice)
        )
    except ValidationError as error:
        raise _refused(error) from error


def patient_version(patient: Patient) -> str:
    """Every save moves updated_at, so its microseconds name the version."""
    return str(int(patient.updated_at.timestamp() * 1_000_000))


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
    create=patient_create_from_fhir,
    update=patient_update_from_fhir,
    version=patient_version,
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
