"""The FHIR R4 API's first slice: Patient, Practitioner and Organization over the session."""

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner

from telehealth.accounts import services
from telehealth.accounts.fhir import NPI_SYSTEM, patient_system
from telehealth.accounts.models import Patient
from telehealth.audit.models import Action, AuditEvent
from telehealth.fhir import registry
from telehealth.fhir.search import CORE_PARAMS
from tests.conftest import make_patient


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"


def add_patient(practice, name: str, born: date, **fields) -> Patient:
    return services.patient_create(
        practice=practice, legal_name=name, date_of_birth=born, state="MA", **fields
    )


def ids(bundle: dict) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def parsed(model, body: dict) -> Any:
    """The resource built by fhir.resources (which raises on anything invalid)."""
    return model.model_validate(body)


def assert_outcome(answer: tuple[int, dict], expected_status: int, code: str, *words: str):
    status, body = answer
    assert status == expected_status, body
    outcome = parsed(OperationOutcome, body)
    assert outcome.issue[0].code == code
    for word in words:
        assert word in outcome.issue[0].diagnostics


# Round trips: model → FHIR JSON validated by fhir.resources → parsed back equal.


def test_patient_round_trip(fhir, world):
    patient = world.patient
    patient.preferred_name = "Patty"
    patient.preferred_language = "es"
    patient.address = {
        "line1": "1 Main St",
        "line2": "Apt 2",
        "city": "Boston",
        "state": "MA",
        "postal_code": "02110",
    }
    patient.sex = "female"
    patient.save()
    status, body = fhir.as_user(world.front_desk).get(f"Patient/{patient.pk}")
    assert status == 200
    resource = parsed(FhirPatient, body)
    assert resource.id == str(patient.pk)
    assert resource.identifier[0].system == patient_system(world.practice)
    assert resource.identifier[0].value == str(patient.pk)
    official = next(n for n in resource.name if n.use == "official")
    assert (official.text, official.family, official.given) == ("Pat Alpha", "Alpha", ["Pat"])
    assert next(n for n in resource.name if n.use == "usual").text == "Patty"
    assert resource.birthDate == patient.date_of_birth
    assert resource.gender == "female"
    telecom = {(t.system, t.value) for t in resource.telecom}
    assert telecom == {("phone", patient.phone), ("email", patient.email)}
    address = resource.address[0]
    assert address.line == ["1 Main St", "Apt 2"]
    assert (address.city, address.state, address.postalCode) == ("Boston", "MA", "02110")
    assert resource.communication[0].language.coding[0].code == "es"
    assert resource.managingOrganization.reference == f"Organization/{world.practice.pk}"
    assert resource.meta.lastUpdated == patient.updated_at


def test_practitioner_and_organization_round_trip(fhir, world):
    provider = world.clinician.provider
    status, body = fhir.as_user(world.patient.user).get(f"Practitioner/{provider.pk}")
    assert status == 200
    resource = parsed(Practitioner, body)
    assert resource.identifier[0].system == NPI_SYSTEM
    assert resource.identifier[0].value == provider.npi
    assert {n.text for n in resource.name} == {world.clinician.full_name, provider.display_name}
    status, body = fhir.get(f"Organization/{world.practice.pk}")
    assert status == 200
    org = parsed(Organization, body)
    assert org.name == world.practice.name
    assert org.identifier[0].value == world.practice.slug
    assert org.telecom[0].value == world.practice.phone


# Search parameters.


def test_patient_search_by_id_identifier_and_name(fhir, world):
    fhir.as_user(world.front_desk)
    pk = str(world.patient.pk)
    assert ids(fhir.get("Patient", _id=pk)[1]) == [pk]
    both = fhir.get("Patient", _id=f"{pk},{world.other_patient.pk}")[1]
    assert sorted(ids(both)) == sorted([pk, str(world.other_patient.pk)])
    system = patient_system(world.practice)
    assert ids(fhir.get("Patient", identifier=f"{system}|{pk}")[1]) == [pk]
    assert ids(fhir.get("Patient", identifier=pk)[1]) == [pk]
    other_system = patient_system(world.outside_practice)
    assert fhir.get("Patient", identifier=f"{other_system}|{pk}")[1]["total"] == 0
    assert ids(fhir.get("Patient", name="alp")[1]) == sorted(ids(fhir.get("Patient")[1]))
    assert ids(fhir.get("Patient", name="PAT")[1]) == [pk]  # start of a part, any case
    assert fhir.get("Patient", name="lpha")[1]["total"] == 0  # not the middle of a word
    # Repeated parameters are ANDed.
    status, body = fhir.get("Patient?name=pat&name=other&_count=5")
    assert (status, body["total"]) == (200, 0)


def test_outsiders_do_not_match_any_search(fhir, world):
    fhir.as_user(world.front_desk)
    outsider = str(world.outside_patient.pk)
    assert fhir.get("Patient", _id=outsider)[1]["total"] == 0
    assert fhir.get("Patient", name="beta")[1]["total"] == 0


def test_birthdate_prefixes_at_day_month_and_year_edges(fhir, world):
    jan = add_patient(world.practice, "Jan Edge", date(1970, 1, 31))
    feb = add_patient(world.practice, "Feb Edge", date(1970, 2, 1))
    fhir.as_user(world.admin)

    def found(value):
        status, body = fhir.get("Patient", name="edge", birthdate=value)
        assert status == 200, body
        return set(ids(body))

    j, f = str(jan.pk), str(feb.pk)
    assert found("1970") == {j, f}
    assert found("1970-01") == {j}
    assert found("eq1970-02") == {f}
    assert found("1970-01-31") == {j}
    assert found("ge1970-02") == {f}
    assert found("gt1970-01") == {f}
    assert found("le1970-01") == {j}
    assert found("lt1970-02-01") == {j}
    assert found("gt1970-01-31") == {f}
    assert found("le1970-01-31") == {j}
    assert found("ge1970-01-31") == {j, f}
    assert found("lt1970-01-31") == set()
    assert found("1970-01,1970-02") == {j, f}  # OR
    assert found("1970-02-01T09:30:00Z") == {f}  # an instant falls on its day


def test_last_updated_at_instant_month_and_day_edges(fhir, world):
    late = add_patient(world.practice, "Late Change", date(1990, 5, 5))
    early = add_patient(world.practice, "Early Change", date(1990, 5, 5))
    Patient.objects.filter(pk=late.pk).update(
        updated_at=datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)
    )
    Patient.objects.filter(pk=early.pk).update(updated_at=datetime(2026, 4, 1, 0, 0, 0, tzinfo=UTC))
    fhir.as_user(world.admin)

    def found(value):
        status, body = fhir.get("Patient", name="change", _lastUpdated=value)
        assert status == 200, body
        return set(ids(body))

    a, b = str(late.pk), str(early.pk)
    assert found("2026-03") == {a}
    assert found("2026-04-01") == {b}
    assert found("2026") == {a, b}
    assert found("2026-03-31T23:59:59Z") == {a}
    assert found("ge2026-03-31T23:59:59Z") == {a, b}
    assert found("gt2026-03-31T23:59:59Z") == {b}
    assert found("lt2026-04-01T00:00:00Z") == {a}
    assert found("le2026-03-31") == {a}
    assert found("lt2026-03-31") == set()
    # The same instant written in another zone.
    assert found("2026-03-31T19:59:59-04:00") == {a}


def test_practitioner_search_by_identifier_and_name(fhir, world):
    fhir.as_user(world.front_desk)
    pk = str(world.clinician.provider.pk)
    assert ids(fhir.get("Practitioner", identifier=f"{NPI_SYSTEM}|1234567893")[1]) == [pk]
    assert ids(fhir.get("Practitioner", identifier="1234567893")[1]) == [pk]
    assert fhir.get("Practitioner", identifier="urn:other|1234567893")[1]["total"] == 0
    assert ids(fhir.get("Practitioner", name="alpha")[1]) == [pk]
    assert fhir.get("Practitioner", name="zed")[1]["total"] == 0


def test_organization_is_only_ones_own_practice(fhir, world):
    fhir.as_user(world.clinician)
    assert ids(fhir.get("Organization")[1]) == [str(world.practice.pk)]
    status, body = fhir.get(f"Organization/{world.outside_practice.pk}")
    assert_outcome((status, body), 404, "not-found")
    assert fhir.get("Organization", name="beta")[1]["total"] == 0


# Paging, _count and _summary.


def test_next_links_page_by_keyset_while_rows_are_inserted(fhir, world):
    for n in range(5):
        add_patient(world.practice, f"Page Person{n}", date(2000, 1, 1))
    fhir.as_user(world.admin)
    status, body = fhir.get("Patient", name="page", _count="2")
    assert (status, body["total"]) == (200, 5)
    seen = ids(body)
    inserted = []
    pages = 1
    while next_link := next(
        (link["url"] for link in body["link"] if link["relation"] == "next"), None
    ):
        # Someone adds a patient between every two pages.
        inserted.append(str(add_patient(world.practice, f"Page Late{pages}", date(2000, 1, 1)).pk))
        status, body = fhir.url(next_link)
        assert status == 200, body
        Bundle.model_validate(body)
        assert len(body.get("entry", [])) <= 2
        seen += ids(body)
        pages += 1
        assert pages < 20
    assert len(seen) == len(set(seen)), "a row was repeated"
    everyone = {str(p.pk) for p in Patient.objects.filter(legal_name__startswith="Page")}
    assert set(seen) == everyone, "a row was skipped"
    assert set(inserted) <= set(seen)
    assert seen == sorted(seen, key=int)


def test_count_defaults_caps_and_summary_count(fhir, world):
    fhir.as_user(world.admin)
    status, body = fhir.get("Patient")
    assert "_count=50" in body["link"][0]["url"]
    status, body = fhir.get("Patient", _count="500")
    assert status == 200 and "_count=200" in body["link"][0]["url"]
    status, body = fhir.get("Patient", _summary="count")
    assert (status, body["total"], "entry" in body) == (200, 2, False)
    Bundle.model_validate(body)
    status, body = fhir.get("Patient", _count="0")
    assert (body["total"], "entry" in body) == (2, False)
    assert_outcome(fhir.get("Patient", _count="ten"), 400, "invalid", "_count")
    assert_outcome(fhir.get("Patient", _summary="true"), 400, "invalid", "_summary")


# Errors.


def test_unknown_parameter_is_refused_by_name(fhir, world):
    fhir.as_user(world.admin)
    assert_outcome(fhir.get("Patient", colour="blue"), 400, "invalid", "colour")
    # A modifier the server does not know is an unknown parameter too, not a looser search.
    assert_outcome(fhir.get("Patient", **{"name:exact": "Pat"}), 400, "invalid", "name:exact")
    # Practitioner has no birthdate.
    assert_outcome(fhir.get("Practitioner", birthdate="1980"), 400, "invalid", "birthdate")
    assert_outcome(fhir.get(f"Patient/{world.patient.pk}", _elements="name"), 400, "invalid")


def test_malformed_values_are_refused(fhir, world):
    fhir.as_user(world.admin)
    assert_outcome(fhir.get("Patient", birthdate="yesterday"), 400, "invalid", "birthdate")
    assert_outcome(fhir.get("Patient", birthdate="1980-02-30"), 400, "invalid", "birthdate")
    assert_outcome(fhir.get("Patient", birthdate="ne1980"), 400, "invalid", "ne")
    assert_outcome(fhir.get("Patient", _lastUpdated="2026-01-01T10:00"), 400, "invalid", "zone")


def test_unknown_type_and_missing_resource_are_404(fhir, world):
    fhir.as_user(world.admin)
    assert_outcome(fhir.get("Spaceship"), 404, "not-found", "Spaceship")
    assert_outcome(fhir.get("Spaceship/1"), 404, "not-found")
    assert_outcome(fhir.get("Patient/999999"), 404, "not-found")
    assert_outcome(fhir.get("Patient/abc"), 404, "not-found")


def test_anonymous_gets_401_but_may_read_metadata(fhir, world):
    assert_outcome(fhir.get("Patient"), 401, "login")
    assert_outcome(fhir.get(f"Patient/{world.patient.pk}"), 401, "login")
    status, _ = fhir.get("metadata")
    assert status == 200


# Scoping and audit.


def test_patient_sees_only_themselves(fhir, world):
    fhir.as_user(world.patient.user)
    assert ids(fhir.get("Patient")[1]) == [str(world.patient.pk)]
    assert_outcome(fhir.get(f"Patient/{world.other_patient.pk}"), 404, "not-found")
    assert fhir.get("Patient", _id=str(world.other_patient.pk))[1]["total"] == 0


def test_other_practices_patient_is_404_and_off_team_clinician_403(fhir, world):
    fhir.as_user(world.clinician)
    assert_outcome(fhir.get(f"Patient/{world.outside_patient.pk}"), 404, "not-found")
    stranger = make_patient(world.practice, "Not Mine", "notmine@alpha.test", login=False)
    assert_outcome(fhir.get(f"Patient/{stranger.pk}"), 403, "forbidden", "care team")
    assert str(stranger.pk) not in ids(fhir.get("Patient")[1])


def test_reads_and_searches_of_patients_are_audited(fhir, world):
    fhir.as_user(world.front_desk)
    before = AuditEvent.objects.count()
    status, _ = fhir.get(f"Patient/{world.patient.pk}")
    assert status == 200
    event = AuditEvent.objects.latest("pk")
    assert AuditEvent.objects.count() == before + 1
    assert (event.action, event.actor, event.patient_id) == (
        Action.VIEW,
        world.front_desk,
        world.patient.pk,
    )
    status, body = fhir.get("Patient")
    # One event lists every patient the search returned.
    search = AuditEvent.objects.get(pk__gt=event.pk, action=Action.VIEW)
    assert {s.patient_id for s in search.subjects.all()} == {int(i) for i in ids(body)}
    # No PHI read, no audit row: a refused search and the practice.
    count = AuditEvent.objects.count()
    fhir.get("Patient", colour="blue")
    fhir.get(f"Organization/{world.practice.pk}")
    assert AuditEvent.objects.count() == count


# The CapabilityStatement.


def test_capability_statement_lists_exactly_the_registered_types_and_parameters(fhir, world):
    status, body = fhir.get("metadata")
    assert status == 200
    statement = parsed(CapabilityStatement, body)
    resources = {r.type: r for r in statement.rest[0].resource}
    assert set(resources) == {m.resource_type for m in registry.registered()}
    assert {"Patient", "Practitioner", "Organization"} <= set(resources)
    for mapper in registry.registered():
        expected = {name: p.type for name, p in {**CORE_PARAMS, **mapper.params}.items()}
        if not mapper.last_updated:
            expected.pop("_lastUpdated")
        listed = {p.name: p.type for p in resources[mapper.resource_type].searchParam}
        assert listed == expected
        writes = [("create", mapper.create), ("update", mapper.update), ("vread", mapper.version)]
        assert [i.code for i in resources[mapper.resource_type].interaction] == [
            "read",
            "search-type",
            *(code for code, offered in writes if offered is not None),
        ]


def test_capability_statement_follows_the_registry(fhir, world):
    from fhir.resources.R4B.device import Device

    from telehealth.fhir.registry import TOKEN, Mapper, SearchParam

    mapper = Mapper(
        resource_type="Device",
        model=Device,
        lookup=lambda user, rid: None,
        to_fhir=lambda row: {},
        search=lambda user, params: Patient.objects.none(),
        params={"udi-di": SearchParam(TOKEN)},
    )
    registry.register(mapper)
    try:
        body = fhir.get("metadata")[1]
        device = next(r for r in body["rest"][0]["resource"] if r["type"] == "Device")
        assert [p["name"] for p in device["searchParam"]] == ["_id", "udi-di"]
        with pytest.raises(ValueError):
            registry.register(Mapper(**{**mapper.__dict__}))
    finally:
        registry.unregister("Device")
    body = fhir.get("metadata")[1]
    assert "Device" not in {r["type"] for r in body["rest"][0]["resource"]}


# Published examples (hl7.fhir.r4.examples 4.0.1, tests/fixtures/fhir/README.md).


def _shape(value):
    """The JSON shape of an element: keys of objects (first item of arrays), types of leaves."""
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return type(value).__name__


def _fits(ours, theirs, path="Patient"):
    """Every element we send is one the published example has, with the same kind of value."""
    if isinstance(ours, dict):
        assert isinstance(theirs, dict), path
        for key, item in ours.items():
            if key in theirs:
                _fits(item, theirs[key], f"{path}.{key}")
    elif isinstance(ours, list):
        assert isinstance(theirs, list), path
        if ours and theirs:
            _fits(ours[0], theirs[0], f"{path}[0]")
    else:
        assert type(ours) is type(theirs), path


def test_our_patient_has_the_shape_of_the_published_example(fhir, world):
    example = json.loads((FIXTURES / "patient-example.json").read_text())
    FhirPatient.model_validate(example)
    world.patient.address = {"line1": "534 Erewhon St", "city": "PleasantVille"}
    world.patient.save()
    ours = fhir.as_user(world.admin).get(f"Patient/{world.patient.pk}")[1]
    _fits(_shape(ours), _shape(example))
    shared = {"identifier", "name", "telecom", "gender", "birthDate", "address"}
    assert shared <= ours.keys() & example.keys()
    for element in ("identifier", "name", "telecom", "address"):
        ours_keys = set().union(*(item.keys() for item in ours[element]))
        theirs_keys = set().union(*(item.keys() for item in example[element]))
        # Beyond the example: a name's text as written, and the address's country.
        assert ours_keys - theirs_keys <= {"text", "country"}, element


def test_our_searchset_has_the_shape_of_the_published_one(fhir, world):
    example = json.loads((FIXTURES / "bundle-example.json").read_text())
    Bundle.model_validate(example)
    add_patient(world.practice, "Shape One", date(1999, 9, 9))
    add_patient(world.practice, "Shape Two", date(1999, 9, 9))
    ours = fhir.as_user(world.admin).get("Patient", name="shape", _count="1")[1]
    for bundle in (example, ours):
        # What a client of ours reads: type, total, the self and next links, each match.
        assert bundle["type"] == "searchset"
        assert isinstance(bundle["total"], int)
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert {"self", "next"} <= links.keys()
        matches = [e for e in bundle["entry"] if e["search"]["mode"] == "match"]
        assert matches
        for entry in matches:
            assert entry["fullUrl"].endswith(
                f"/{entry['resource']['resourceType']}/{entry['resource']['id']}"
            )
