"""Observations over the FHIR API: rpm's readings served by telehealth.fhir through rpm's
registered mapper — read, search by patient, code, category and date, paging, scoping, audit
and the CapabilityStatement."""

from datetime import timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from telehealth.audit.models import AuditEvent
from tests.rpm.test_fhir_observation import Readings


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db


@pytest.fixture
def store(world):
    return Readings(world)


def ids(bundle: dict) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def test_a_reading_is_read_as_a_valid_observation(fhir, world, store):
    reading = store.add("heart_rate", 72)
    status, body = fhir.as_user(world.clinician).get(f"Observation/{reading.pk}")
    assert status == 200, body
    Observation.model_validate(body)  # raises on anything invalid
    assert body["subject"]["reference"] == f"Patient/{world.patient.pk}"
    assert body["code"]["coding"][0]["code"] == "8867-4"
    assert body["valueQuantity"]["value"] == 72
    assert AuditEvent.objects.filter(
        object_type="rpm.Reading", object_id=str(reading.pk), patient=world.patient
    ).exists()


def test_a_blood_pressure_is_one_observation_and_its_diastolic_id_is_not_found(fhir, world, store):
    high, low = store.pressure(128, 82)
    client = fhir.as_user(world.clinician)
    status, bundle = client.get("Observation", patient=f"Patient/{world.patient.pk}")
    assert status == 200, bundle
    Bundle.model_validate(bundle)
    assert ids(bundle) == [str(high.pk)] and bundle["total"] == 1
    assert [
        c["code"]["coding"][0]["code"] for c in bundle["entry"][0]["resource"]["component"]
    ] == [
        "8480-6",
        "8462-4",
    ]
    status, _body = client.get(f"Observation/{low.pk}")
    assert status == 404


def test_search_by_code_category_and_date(fhir, world, store):
    pulse = store.add("heart_rate", 70)
    weight = store.add("weight", 80.5)
    old = store.add("heart_rate", 66, measured_at=pulse.measured_at - timedelta(days=40))
    client = fhir.as_user(world.clinician)

    _status, bundle = client.get("Observation", code="http://loinc.org|8867-4")
    assert sorted(ids(bundle)) == sorted([str(pulse.pk), str(old.pk)])
    _status, bundle = client.get("Observation", code="29463-7")
    assert ids(bundle) == [str(weight.pk)]
    _status, bundle = client.get("Observation", code="http://snomed.info/sct|8867-4")
    assert ids(bundle) == []
    _status, bundle = client.get("Observation", category="vital-signs")
    assert len(ids(bundle)) == 3
    _status, bundle = client.get("Observation", category="laboratory")
    assert ids(bundle) == []
    since = (pulse.measured_at - timedelta(days=7)).date().isoformat()
    _status, bundle = client.get("Observation", date=f"ge{since}")
    assert str(old.pk) not in ids(bundle) and str(pulse.pk) in ids(bundle)
    _status, bundle = client.get("Observation", date=f"lt{since}")
    assert ids(bundle) == [str(old.pk)]


def test_observations_page_by_next_links(fhir, world, store):
    readings = [store.add("heart_rate", 60 + n) for n in range(5)]
    client = fhir.as_user(world.clinician)
    status, bundle = client.get("Observation", _count=2)
    assert status == 200 and bundle["total"] == 5
    seen = ids(bundle)
    while next_link := next((link for link in bundle["link"] if link["relation"] == "next"), None):
        _status, bundle = client.url(next_link["url"])
        seen += ids(bundle)
    assert seen == [str(r.pk) for r in readings]


def test_scoping_patient_own_front_desk_none_other_practice_not_found(fhir, world, store):
    mine = store.add("heart_rate", 71)
    theirs = store.add("heart_rate", 90, patient=world.other_patient)
    status, bundle = fhir.as_user(world.patient.user).get("Observation")
    assert status == 200 and ids(bundle) == [str(mine.pk)]
    assert fhir.as_user(world.patient.user).get(f"Observation/{theirs.pk}")[0] == 404
    _status, bundle = fhir.as_user(world.front_desk).get("Observation")
    assert ids(bundle) == []
    assert fhir.as_user(world.outside_clinician).get(f"Observation/{mine.pk}")[0] == 404
    assert fhir.as_user(world.clinician).get("Observation/not-a-number")[0] == 404


def test_an_unknown_observation_parameter_is_refused(fhir, world, store):
    status, body = fhir.as_user(world.clinician).get("Observation", value_quantity="gt100")
    assert status == 400
    assert "value_quantity" in body["issue"][0]["diagnostics"]


def test_the_capability_statement_offers_observation(fhir):
    status, body = fhir.get("metadata")
    assert status == 200
    resources = {r["type"]: r for r in body["rest"][0]["resource"]}
    observation = resources["Observation"]
    assert {p["name"] for p in observation["searchParam"]} >= {
        "patient",
        "subject",
        "code",
        "category",
        "date",
        "_id",
        "_lastUpdated",
    }


def test_a_patient_parameter_naming_another_type_matches_nothing(fhir, world):
    from tests.rpm.test_fhir_observation import Readings

    Readings(world).add("heart_rate", 71)
    client = fhir.as_user(world.admin)
    pk = world.patient.pk
    for value, total in ((f"Patient/{pk}", 1), (str(pk), 1), (f"Practitioner/{pk}", 0)):
        status, bundle = client.get("Observation", patient=value)
        assert status == 200 and bundle["total"] == total, (value, bundle)
        status, bundle = client.get("Observation", subject=value)
        assert status == 200 and bundle["total"] == total, (value, bundle)
