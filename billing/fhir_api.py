"""billing in the FHIR API: each signed encounter as a professional Claim, served by
telehealth.fhir through the mapper registered in BillingConfig.ready. Rows come through
billing.selectors (superbills_for, access_superbill): only signed encounters (signed, exported,
paid or denied) are claims, drafts and encounters under review are never served; the front
desk and admins see their practice's, a clinician those they rendered, a patient their own,
exactly as superbills are shared.

The claim says what the superbill and the 837P say: the rendering clinician, the ICD-10-CM
diagnoses by position, each line's CPT or HCPCS code with its modifiers, place of service,
units, charge and diagnosis pointers, and the insurance card the patient had on the date of
service (intake's card, served as Coverage). A claim stays `active` whatever the payer
answered: a denial or a payment is the payer's ClaimResponse, not a change of the claim."""

from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects
from django.http import Http404
from fhir.resources.R4B.claim import Claim

from billing import selectors
from billing.claims import end_of_day
from billing.models import Encounter
from billing.superbill import PLACES_OF_SERVICE
from intake.models import InsuranceCard
from intake.selectors import card_on, insurance_card_on
from telehealth.accounts.fhir import PRACTICE_SYSTEM
from telehealth.accounts.models import User
from telehealth.fhir import registry
from telehealth.fhir.registry import DATE, REFERENCE, TOKEN, Mapper, SearchParam, row_id
from telehealth.fhir.search import Token, any_of

CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
CLAIM_USE = "http://hl7.org/fhir/claim-use"
FM_STATUS = "http://hl7.org/fhir/fm-status"
PROCESS_PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
CARE_TEAM_ROLE = "http://terminology.hl7.org/CodeSystem/claimcareteamrole"
ICD_10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
PLACE_OF_SERVICE = (
    "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
)
CURRENCY = "USD"
PROFESSIONAL = {"system": CLAIM_TYPE, "code": "professional", "display": "Professional"}
NORMAL = {"system": PROCESS_PRIORITY, "code": "normal", "display": "Normal"}
PRIMARY = {"system": CARE_TEAM_ROLE, "code": "primary", "display": "Primary provider"}


def claim_system(practice) -> str:
    """The identifier system of a practice's claims (the patient control number, 837P CLM01)."""
    return f"{PRACTICE_SYSTEM}:{practice.slug}:claim"


def procedure_system(code: str) -> str:
    """CPT for the AMA's codes and modifiers (digits, or four digits and a category letter),
    HCPCS Level II for CMS's (a letter and four digits; two-letter modifiers)."""
    return CPT if code[:1].isdigit() else HCPCS


def _money(value: Decimal) -> dict:
    return {"value": float(value), "currency": CURRENCY}  # a JSON number, as FHIR writes it


def _billable_period(encounter: Encounter) -> dict:
    if encounter.period_start and encounter.period_end:
        return {
            "start": encounter.period_start.isoformat(),
            "end": encounter.period_end.isoformat(),
        }
    day = encounter.date_of_service.isoformat()
    return {"start": day, "end": day}


# Each patient's insurance cards, newest first, read once for a page: _insurance picks the
# one of the date of service among them as intake.selectors.insurance_card_on would.
CARDS = Prefetch(
    "patient__insurance_cards",
    queryset=InsuranceCard.objects.order_by("-created_at", "-pk"),
    to_attr="cards_newest_first",
)


def _insurance(encounter: Encounter) -> dict:
    """The card the patient had given by the end of the date of service, as the superbill and
    the 837P choose it; a claim with none is self-pay, said in words (Claim.insurance is
    required, and there is no Coverage to point at)."""
    before = end_of_day(encounter.date_of_service, encounter.practice.zone)
    cards = getattr(encounter.patient, "cards_newest_first", None)
    if cards is None:  # a row not read through claim_search or claim_lookup
        card = insurance_card_on(encounter.patient, before=before)
    else:
        card = card_on(cards, before=before)
    if card is None:
        return {"sequence": 1, "focal": True, "coverage": {"display": "No insurance card on file"}}
    return {
        "sequence": 1,
        "focal": True,
        "coverage": {"reference": f"Coverage/{card.pk}", "display": card.payer},
    }


def _item(encounter: Encounter, line) -> dict:
    item: dict = {"sequence": line.position}
    if encounter.rendering_provider_id is not None:
        item["careTeamSequence"] = [1]
    if line.diagnosis_pointers:
        item["diagnosisSequence"] = list(line.diagnosis_pointers)
    item["productOrService"] = {
        "coding": [{"system": procedure_system(line.code), "code": line.code}]
    }
    if line.modifiers:
        item["modifier"] = [
            {"coding": [{"system": procedure_system(modifier), "code": modifier}]}
            for modifier in line.modifiers
        ]
    if encounter.period_start and encounter.period_end:
        item["servicedPeriod"] = _billable_period(encounter)
    else:
        item["servicedDate"] = encounter.date_of_service.isoformat()
    place = {"system": PLACE_OF_SERVICE, "code": line.place_of_service}
    if line.place_of_service in PLACES_OF_SERVICE:
        place["display"] = PLACES_OF_SERVICE[line.place_of_service]
    item |= {
        "locationCodeableConcept": {"coding": [place]},
        "quantity": {"value": line.units},
        "unitPrice": _money((line.charge / line.units).quantize(Decimal("0.01"))),
        "net": _money(line.charge),
    }
    return item


def claim_to_fhir(encounter: Encounter) -> dict:
    assert encounter.signed_at is not None  # superbills_for serves signed encounters only
    practice = encounter.practice
    provider = encounter.rendering_provider
    lines = list(encounter.lines.all())
    resource: dict = {
        "resourceType": "Claim",
        "id": str(encounter.pk),
        "meta": {"lastUpdated": registry.instant(encounter.updated_at)},
        "identifier": [{"system": claim_system(practice), "value": encounter.claim_number}],
        "status": "active",
        "type": {"coding": [PROFESSIONAL]},
        "use": "claim",
        "patient": {"reference": f"Patient/{encounter.patient_id}"},
        "billablePeriod": _billable_period(encounter),
        "created": registry.instant(encounter.signed_at),
    }
    if encounter.payer is not None:
        resource["insurer"] = {"display": encounter.payer.name}
    if provider is not None:
        resource["provider"] = {
            "reference": f"Practitioner/{provider.pk}",
            "display": provider.display_name,
        }
    else:
        resource["provider"] = {
            "reference": f"Organization/{practice.pk}",
            "display": practice.name,
        }
    resource["priority"] = {"coding": [NORMAL]}
    if provider is not None:
        resource["careTeam"] = [
            {
                "sequence": 1,
                "provider": {"reference": f"Practitioner/{provider.pk}"},
                "role": {"coding": [PRIMARY]},
            }
        ]
    diagnoses = [
        {
            "sequence": diagnosis.position,
            "diagnosisCodeableConcept": {
                "coding": [
                    {"system": ICD_10_CM, "code": diagnosis.code, "display": diagnosis.description}
                ]
            },
        }
        for diagnosis in encounter.diagnoses.all()
    ]
    if diagnoses:
        resource["diagnosis"] = diagnoses
    resource["insurance"] = [_insurance(encounter)]
    if lines:
        resource["item"] = [_item(encounter, line) for line in lines]
    resource["total"] = _money(sum((line.charge for line in lines), Decimal("0.00")))
    return resource


def claim_lookup(user: User, resource_id: str) -> Encounter:
    encounter_id = row_id(resource_id)
    if encounter_id is None:
        raise Http404
    encounter = selectors.access_superbill(user=user, encounter_id=encounter_id)
    prefetch_related_objects([encounter], CARDS)
    return encounter


def _id_q(field: str, raw: str) -> Q:
    pk = row_id(raw)
    return Q(pk__in=[]) if pk is None else Q(**{field: pk})


def _every_claim_if(wanted: bool) -> Q:
    # Q() would vanish inside any_of's OR: "all rows" is said explicitly.
    return Q(pk__isnull=False) if wanted else Q(pk__in=[])


def claim_search(user: User, params: dict) -> QuerySet[Encounter]:
    rows = selectors.superbills_for(user=user).prefetch_related("diagnoses", "lines", CARDS)
    for values in params.get("patient", []):
        rows = rows.filter(any_of(values, lambda v: _id_q("patient_id", v)))
    for values in params.get("provider", []):
        rows = rows.filter(any_of(values, lambda v: _id_q("rendering_provider_id", v)))
    for values in params.get("created", []):
        rows = rows.filter(any_of(values, lambda value: value.q("signed_at")))
    # Every claim served is an active claim for payment.
    for values in params.get("status", []):
        rows = rows.filter(any_of(values, lambda t: _every_claim_if(_is(t, FM_STATUS, "active"))))
    for values in params.get("use", []):
        rows = rows.filter(any_of(values, lambda t: _every_claim_if(_is(t, CLAIM_USE, "claim"))))
    return rows


def _is(token: Token, system: str | None, code: str) -> bool:
    return token.code == code and token.system in (None, system)


claim_mapper = Mapper(
    resource_type="Claim",
    model=Claim,
    lookup=claim_lookup,
    to_fhir=claim_to_fhir,
    search=claim_search,
    params={
        "patient": SearchParam(REFERENCE, "The patient billed for (Patient/id)"),
        "created": SearchParam(DATE, "When the encounter was signed"),
        "status": SearchParam(TOKEN, "Always active"),
        "provider": SearchParam(REFERENCE, "The rendering clinician (Practitioner/id)"),
        "use": SearchParam(TOKEN, "Always claim"),
    },
    last_updated="updated_at",
    phi_patient=lambda encounter: encounter.patient,
    patient_path="patient_id",
)


def register() -> None:
    registry.register(claim_mapper)
