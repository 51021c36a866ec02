"""Claims over the FHIR API: signed billing encounters served by telehealth.fhir through
billing's registered mapper — the round trip, codes and charges, the coverage reference, each
search parameter, and scoping through billing's selectors (drafts are never claims; patients
see their own signed ones, as superbills)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from fhir.resources.R4B.claim import Claim

from billing.fhir_api import CPT, HCPCS, ICD_10_CM, PLACE_OF_SERVICE
from billing.models import ClaimLine, Encounter, EncounterDiagnosis, Payer
from intake.models import InsuranceCard
from telehealth.accounts.models import Provider
from telehealth.audit.models import AuditEvent
from tests.fhir.care import ODD_IDS, example, ids, queries_for_a_page, round_trip
from visits.models import Visit


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 2)
SIGNED = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def second_doctor(world):
    return Provider.objects.create(
        user=world.other_clinician,
        practice=world.practice,
        slug="second",
        display_name="Dr Second",
        npi="1245319599",
        licensed_states=["MA"],
    )


def card_of(patient, *, payer: str = "Acme Health", given: datetime | None = None):
    return InsuranceCard.objects.create(
        patient=patient,
        payer=payer,
        member_id="M123456",
        subscriber_name=patient.legal_name,
        front=ContentFile(PNG, name="front.png"),
        front_type="image/png",
        created_at=given or datetime(2026, 1, 5, tzinfo=UTC),
    )


def encounter_of(
    world,
    *,
    patient=None,
    provider=None,
    status=Encounter.Status.SIGNED,
    signed_at=SIGNED,
    monitoring: bool = False,
    lines=(("99213", ["95"], "10", "150.00", 1, [1, 2]),),
    diagnoses=(
        ("L30.9", "Dermatitis, unspecified"),
        ("R21", "Rash and other nonspecific skin eruption"),
    ),
) -> Encounter:
    patient = patient or world.patient
    provider = provider or world.clinician.provider
    fields: dict = {}
    if monitoring:
        fields = {
            "kind": Encounter.Kind.MONITORING,
            "source": f"rpm:{patient.pk}:{DAY}",
            "period_start": DAY,
            "period_end": DAY + timedelta(days=29),
        }
    else:
        visit = Visit.objects.create(practice=patient.practice, patient=patient, provider=provider)
        fields = {"kind": Encounter.Kind.VISIT, "source": f"visit:{visit.pk}", "visit": visit}
    signed = status in ("signed", "exported", "paid", "denied")
    encounter = Encounter.objects.create(
        practice=patient.practice,
        patient=patient,
        rendering_provider=provider,
        date_of_service=DAY,
        minutes=25,
        modality=Encounter.Modality.VIDEO,
        patient_state="MA",
        patient_at_home=True,
        status=status,
        signed_by=provider.user if signed else None,
        signed_at=signed_at if signed else None,
        **fields,
    )
    for position, (code, words) in enumerate(diagnoses, start=1):
        EncounterDiagnosis.objects.create(
            encounter=encounter, position=position, code=code, description=words
        )
    for position, (code, modifiers, place, charge, units, pointers) in enumerate(lines, start=1):
        ClaimLine.objects.create(
            encounter=encounter,
            position=position,
            code=code,
            modifiers=modifiers,
            place_of_service=place,
            units=units,
            charge=Decimal(charge),
            diagnosis_pointers=pointers,
        )
    return encounter


def test_a_signed_encounter_round_trips_as_a_professional_claim(fhir, world):
    card = card_of(world.patient)
    payer = Payer.objects.create(
        practice=world.practice, name="Acme Health", payer_id="ACME1", profile_kind="commercial"
    )
    encounter = encounter_of(
        world,
        lines=(
            ("99213", ["95"], "10", "150.00", 1, [1, 2]),
            ("G2012", ["GT"], "02", "40.00", 2, [2]),
        ),
    )
    Encounter.objects.filter(pk=encounter.pk).update(payer=payer)
    encounter.refresh_from_db()
    status, body = fhir.as_user(world.front_desk).get(f"Claim/{encounter.pk}")
    assert status == 200, body
    assert body == round_trip("Claim", encounter)
    provider = world.clinician.provider

    assert body["status"] == "active" and body["use"] == "claim"
    assert body["type"]["coding"][0]["code"] == "professional"
    assert body["identifier"][0]["value"] == f"E{encounter.pk}"
    assert body["patient"] == {"reference": f"Patient/{world.patient.pk}"}
    assert body["billablePeriod"] == {"start": "2026-03-02", "end": "2026-03-02"}
    assert body["created"] == "2026-03-03T15:00:00Z"
    assert body["provider"]["reference"] == f"Practitioner/{provider.pk}"
    assert body["priority"]["coding"][0]["code"] == "normal"
    assert body["insurer"] == {"display": "Acme Health"}
    assert body["insurance"] == [
        {
            "sequence": 1,
            "focal": True,
            "coverage": {"reference": f"Coverage/{card.pk}", "display": "Acme Health"},
        }
    ]
    assert [
        (d["sequence"], d["diagnosisCodeableConcept"]["coding"][0]) for d in body["diagnosis"]
    ] == [
        (1, {"system": ICD_10_CM, "code": "L30.9", "display": "Dermatitis, unspecified"}),
        (
            2,
            {
                "system": ICD_10_CM,
                "code": "R21",
                "display": "Rash and other nonspecific skin eruption",
            },
        ),
    ]
    visit_line, check_in = body["item"]
    assert visit_line["productOrService"]["coding"] == [{"system": CPT, "code": "99213"}]
    assert visit_line["modifier"] == [{"coding": [{"system": CPT, "code": "95"}]}]
    assert visit_line["locationCodeableConcept"]["coding"][0] == {
        "system": PLACE_OF_SERVICE,
        "code": "10",
        "display": "Telehealth provided in patient's home",
    }
    assert visit_line["diagnosisSequence"] == [1, 2]
    assert visit_line["servicedDate"] == "2026-03-02"
    assert check_in["productOrService"]["coding"] == [{"system": HCPCS, "code": "G2012"}]
    assert check_in["modifier"] == [{"coding": [{"system": HCPCS, "code": "GT"}]}]
    assert check_in["quantity"] == {"value": 2}
    assert Decimal(str(check_in["unitPrice"]["value"])) == Decimal("20.00")
    assert Decimal(str(check_in["net"]["value"])) == Decimal("40.00")
    assert check_in["net"]["currency"] == "USD"
    assert Decimal(str(body["total"]["value"])) == Decimal("190.00")
    assert AuditEvent.objects.filter(
        object_type="billing.Encounter", object_id=str(encounter.pk), patient=world.patient
    ).exists()


def test_coverage_is_the_card_the_patient_had_on_the_date_of_service(world):
    then = card_of(world.patient, payer="Old Insurer", given=datetime(2026, 1, 5, tzinfo=UTC))
    card_of(world.patient, payer="New Insurer", given=datetime(2026, 4, 1, tzinfo=UTC))
    served = round_trip("Claim", encounter_of(world))
    assert served["insurance"][0]["coverage"] == {
        "reference": f"Coverage/{then.pk}",
        "display": "Old Insurer",
    }


def test_without_an_insurance_card_the_claim_says_so(world):
    served = round_trip("Claim", encounter_of(world))
    assert served["insurance"] == [
        {"sequence": 1, "focal": True, "coverage": {"display": "No insurance card on file"}}
    ]


def test_a_monitoring_period_is_the_billable_period(world):
    served = round_trip(
        "Claim",
        encounter_of(world, monitoring=True, lines=(("99454", [], "10", "50.00", 1, [1]),)),
    )
    assert served["billablePeriod"] == {"start": "2026-03-02", "end": "2026-03-31"}
    assert served["item"][0]["servicedPeriod"] == served["billablePeriod"]


def test_drafts_and_encounters_in_review_are_not_claims(fhir, world):
    draft = encounter_of(world, status=Encounter.Status.DRAFT)
    ready = encounter_of(world, status=Encounter.Status.READY)
    paid = encounter_of(world, status=Encounter.Status.PAID)
    denied = encounter_of(world, status=Encounter.Status.DENIED)
    client = fhir.as_user(world.admin)
    for unsigned in (draft, ready):
        status, body = client.get(f"Claim/{unsigned.pk}")
        assert status == 404 and body["resourceType"] == "OperationOutcome"
    _status, bundle = client.get("Claim")
    assert ids(bundle) == sorted([str(paid.pk), str(denied.pk)])
    assert {entry["resource"]["status"] for entry in bundle["entry"]} == {"active"}


def test_search_by_patient_provider_and_created(fhir, world, second_doctor):
    mine = encounter_of(world)
    theirs = encounter_of(
        world,
        patient=world.other_patient,
        provider=second_doctor,
        signed_at=SIGNED + timedelta(days=2),
    )
    client = fhir.as_user(world.admin)
    _status, bundle = client.get("Claim", patient=f"Patient/{world.patient.pk}")
    assert ids(bundle) == [str(mine.pk)]
    _status, bundle = client.get("Claim", provider=f"Practitioner/{second_doctor.pk}")
    assert ids(bundle) == [str(theirs.pk)]
    _status, bundle = client.get("Claim", created="2026-03-03")
    assert ids(bundle) == [str(mine.pk)]
    _status, bundle = client.get("Claim", created="ge2026-03-04")
    assert ids(bundle) == [str(theirs.pk)]
    _status, bundle = client.get("Claim", created="lt2026-03-05T15:00:00Z")
    assert ids(bundle) == [str(mine.pk)]
    status, body = client.get("Claim", created="2026-13-01")
    assert status == 400 and body["resourceType"] == "OperationOutcome"


def test_search_by_status_and_use(fhir, world):
    claim = encounter_of(world)
    client = fhir.as_user(world.admin)
    _status, bundle = client.get("Claim", status="active")
    assert ids(bundle) == [str(claim.pk)]
    _status, bundle = client.get("Claim", status="http://hl7.org/fhir/fm-status|active")
    assert ids(bundle) == [str(claim.pk)]
    _status, bundle = client.get("Claim", status="cancelled")
    assert bundle["total"] == 0
    _status, bundle = client.get("Claim", use="claim")
    assert ids(bundle) == [str(claim.pk)]
    _status, bundle = client.get("Claim", use="preauthorization,predetermination")
    assert bundle["total"] == 0


def test_anonymous_gets_401(fhir, world):
    claim = encounter_of(world)
    status, body = fhir.get(f"Claim/{claim.pk}")
    assert status == 401 and body["resourceType"] == "OperationOutcome"


def test_another_practice_gets_404_and_an_empty_search(fhir, world):
    claim = encounter_of(world)
    client = fhir.as_user(world.outside_clinician)
    status, _body = client.get(f"Claim/{claim.pk}")
    assert status == 404
    _status, bundle = client.get("Claim")
    assert bundle["total"] == 0


def test_a_patient_sees_only_their_own_signed_claims(fhir, world):
    mine = encounter_of(world)
    encounter_of(world, status=Encounter.Status.NEEDS_REVIEW)
    theirs = encounter_of(world, patient=world.other_patient)
    client = fhir.as_user(world.patient.user)
    status, body = client.get(f"Claim/{mine.pk}")
    assert status == 200, body
    status, _body = client.get(f"Claim/{theirs.pk}")
    assert status == 404
    _status, bundle = client.get("Claim")
    assert ids(bundle) == [str(mine.pk)]


def test_a_clinician_sees_only_the_claims_they_rendered(fhir, world, second_doctor):
    mine = encounter_of(world)
    status, _body = fhir.as_user(world.other_clinician).get(f"Claim/{mine.pk}")
    assert status == 404
    theirs = encounter_of(world, provider=second_doctor)
    _status, bundle = fhir.as_user(world.other_clinician).get("Claim")
    assert ids(bundle) == [str(theirs.pk)]


def test_our_coding_matches_the_published_professional_claim_example(world):
    """Claim-860150 is the specification's professional claim: the same type coding, a
    focal insurance pointing at a Coverage, a care team its items point into, and a normal
    priority (code only in the example; we name its system too)."""
    published = example("claim-example-professional.json")
    Claim.model_validate(published)
    card_of(world.patient)
    served = round_trip("Claim", encounter_of(world))
    assert served["type"] == published["type"] | {
        "coding": [published["type"]["coding"][0] | {"display": "Professional"}]
    }
    assert served["use"] == published["use"] and served["status"] == published["status"]
    ours, theirs = served["insurance"][0], published["insurance"][0]
    assert (ours["sequence"], ours["focal"]) == (theirs["sequence"], theirs["focal"])
    assert (
        ours["coverage"]["reference"].split("/")[0] == theirs["coverage"]["reference"].split("/")[0]
    )
    assert served["priority"]["coding"][0]["code"] == published["priority"]["coding"][0]["code"]
    assert served["item"][0]["careTeamSequence"] == published["item"][0]["careTeamSequence"]
    assert served["careTeam"][0]["sequence"] == published["careTeam"][0]["sequence"]
    assert served["careTeam"][0]["provider"]["reference"].startswith("Practitioner/")
    assert set(served["item"][0]["net"]) == set(published["item"][0]["net"])  # value, currency


def test_a_page_costs_the_same_queries_whatever_its_size(world, second_doctor):
    card_of(world.patient)
    encounter_of(world)
    few = queries_for_a_page("Claim", world.admin)
    card_of(world.other_patient, payer="Other Insurer")
    for _ in range(3):
        encounter_of(world, patient=world.other_patient, provider=second_doctor)
        encounter_of(world)
    many = queries_for_a_page("Claim", world.admin)
    assert (few[0], many[0]) == (1, 7)
    assert many[1] == few[1]


def test_a_page_chooses_each_claims_card_as_a_single_read_does(fhir, world):
    then = card_of(world.patient, payer="Old Insurer", given=datetime(2026, 1, 5, tzinfo=UTC))
    card_of(world.patient, payer="New Insurer", given=datetime(2026, 4, 1, tzinfo=UTC))
    claim = encounter_of(world)
    client = fhir.as_user(world.admin)
    _status, bundle = client.get("Claim")
    _status, single = client.get(f"Claim/{claim.pk}")
    assert bundle["entry"][0]["resource"] == single
    assert single["insurance"][0]["coverage"]["reference"] == f"Coverage/{then.pk}"


@pytest.mark.parametrize("odd", ODD_IDS)
def test_odd_ids_and_references_match_nothing(fhir, world, odd):
    client = fhir.as_user(world.admin)
    status, body = client.get(f"Claim/{odd}")
    assert status == 404 and body["resourceType"] == "OperationOutcome"
    for name in ["patient", "provider"]:
        status, bundle = client.get("Claim", **{name: f"Patient/{odd}"})
        assert status == 200 and bundle["total"] == 0, (name, bundle)
