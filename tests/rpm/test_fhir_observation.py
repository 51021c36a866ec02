"""Readings served as FHIR Observations (rpm.fhir, rpm.selectors.observations_for and
observation_read): the US Core vital-signs shape checked by the R4B models, a round trip
through rpm's own ingestion for every vital, the same codes, systems, units and component
structure as the FHIR specification's published examples, scoping for every role, code and
date filters, keyset paging in one query, and withdrawn readings never served."""

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B.observation import Observation

from rpm import fhir, ingest, services, uploads, vitals
from rpm.models import Reading, WithdrawnReading


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"
KINDS = {
    "systolic": "bp_cuff",
    "diastolic": "bp_cuff",
    "heart_rate": "bp_cuff",
    "weight": "scale",
    "glucose": "glucometer",
    "spo2": "pulse_oximeter",
    "temperature": "thermometer",
}
VALUES = {
    "heart_rate": 72.0,
    "weight": 83.91,
    "glucose": 113.5,
    "spo2": 96.0,
    "temperature": 37.25,
}


def published(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def observe(reading: Reading, **kwargs) -> dict:
    return fhir.observation_from_reading(
        reading, patient_reference=f"Patient/{reading.patient_id}", **kwargs
    )


def parsed_back(resource: dict) -> list[tuple[str, float, datetime]]:
    item = ingest.parse(resource, window=ingest.Window(now=timezone.now())).items[0]
    assert item.refused is None, item.refused
    assert not item.ignored, item.ignored
    return sorted((r.vital, r.value, r.measured_at) for r in item.readings)


def loinc(concept: dict) -> set[str]:
    return {c["code"] for c in concept["coding"] if c["system"] == vitals.LOINC}


class Readings:
    """A monitored patient with a device of each kind, and helpers to store readings."""

    def __init__(self, world):
        self.world = world
        services.enroll(
            patient=world.patient,
            program="hypertension",
            clinicians=[world.clinician],
            by=world.clinician,
        )
        self.devices = {}
        self.moment = timezone.now().replace(microsecond=123000) - timedelta(days=2)

    def device(self, vital: str, patient=None):
        patient = patient or self.world.patient
        kind = KINDS[vital]
        key = (patient.pk, kind)
        if key not in self.devices:
            self.devices[key], _token = services.device_create(
                patient=patient, kind=kind, by=self.world.clinician, serial=f"SN-{kind}"
            )
        return self.devices[key]

    def add(self, vital: str, value: float, *, minutes: int = 0, patient=None, **fields):
        self.moment += timedelta(minutes=1)
        patient = patient or self.world.patient
        return Reading.objects.create(
            patient=patient,
            device=self.device(vital, patient),
            vital=vital,
            value=value,
            measured_at=fields.pop("measured_at", self.moment),
            **fields,
        )

    def pressure(self, systolic: float, diastolic: float, *, patient=None):
        high = self.add("systolic", systolic, patient=patient)
        low = self.add("diastolic", diastolic, patient=patient, measured_at=high.measured_at)
        return high, low


@pytest.fixture
def store(world):
    return Readings(world)


# --- The codes served are rpm's own -----------------------------------------------------------


def test_every_served_code_names_its_vital_in_rpms_tables():
    assert set(fhir.CODED) == set(vitals.UNITS) == set(vitals.CANONICAL)
    for vital, coded in fhir.CODED.items():
        for code, _display in coded.codings:
            assert vitals.vital_of(vitals.LOINC, code) == vital
        unit = fhir.ucum_code(vital)
        assert vitals.convert(vital, 10.0, unit=unit) == 10.0  # the canonical unit itself
    assert vitals.is_panel(vitals.LOINC, fhir.BLOOD_PRESSURE.code)


# --- Shape ----------------------------------------------------------------------------------


def test_an_observation_has_the_us_core_vital_signs_shape(store):
    reading = store.add("heart_rate", 72.0, identifier="urn:ietf:rfc:3986|urn:uuid:1234")
    resource = observe(reading)
    Observation.model_validate(resource)
    assert resource["resourceType"] == "Observation"
    assert resource["id"] == str(reading.pk)
    assert resource["status"] == "final"
    assert resource["category"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "vital-signs",
        "display": "Vital Signs",
    }
    assert resource["code"]["coding"][0]["system"] == "http://loinc.org"
    assert resource["code"]["coding"][0]["code"] == "8867-4"
    assert resource["code"]["text"] == "Heart rate"
    assert resource["subject"] == {"reference": f"Patient/{store.world.patient.pk}"}
    effective = datetime.fromisoformat(resource["effectiveDateTime"])
    assert effective.utcoffset() is not None
    assert effective == reading.measured_at
    assert resource["valueQuantity"] == {
        "value": 72.0,
        "unit": "/min",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    assert resource["device"] == {"display": "Blood pressure cuff SN-bp_cuff"}
    assert datetime.fromisoformat(resource["meta"]["lastUpdated"]) == reading.received_at
    assert resource["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:1234"}]
    json.dumps(resource)  # JSON-ready as it is


def test_a_blood_pressure_is_one_panel_with_two_components(store):
    high, low = store.pressure(142, 91)
    (served,) = list(fhir_page(store.world.clinician))
    assert served.pk == high.pk
    resource = observe(served)
    assert resource["id"] == str(high.pk)
    assert loinc(resource["code"]) == {"85354-9"}
    assert "valueQuantity" not in resource
    components = {next(iter(loinc(c["code"]))): c["valueQuantity"] for c in resource["component"]}
    assert components == {
        "8480-6": fhir.quantity("systolic", 142.0),
        "8462-4": fhir.quantity("diastolic", 91.0),
    }
    assert components["8480-6"]["code"] == "mm[Hg]"
    assert components["8480-6"]["unit"] == "mmHg"


def test_a_withdrawn_reading_is_never_mapped(store):
    reading = store.add("weight", 80.0)
    withdrawn = WithdrawnReading(
        former_reading_id=reading.pk,
        patient=reading.patient,
        device=reading.device,
        vital=reading.vital,
        value=reading.value,
        measured_at=reading.measured_at,
        received_at=reading.received_at,
    )
    with pytest.raises(TypeError):
        fhir.observation_from_reading(withdrawn, patient_reference="Patient/1")  # type: ignore[arg-type]


def test_a_reading_its_device_withdraws_leaves_the_observations(store):
    device = store.device("spo2")
    at = timezone.now() - timedelta(hours=1)
    sent = {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:example:ox", "value": "r-1"}],
        "status": "final",
        "code": {"coding": [{"system": vitals.LOINC, "code": "59408-5"}]},
        "effectiveDateTime": at.isoformat(),
        "valueQuantity": {"value": 95, "unit": "%", "system": vitals.UCUM, "code": "%"},
    }
    uploads.upload_store(device=device, payload=sent)
    reading = Reading.objects.get(device=device)
    clinician = store.world.clinician
    assert [r.pk for r in fhir_page(clinician)] == [reading.pk]
    assert observe(selectors().observation_read(user=clinician, reading_id=reading.pk))[
        "identifier"
    ] == [{"system": "urn:example:ox", "value": "r-1"}]
    withdraw = copy.deepcopy(sent) | {"status": "entered-in-error"}
    uploads.upload_store(device=device, payload=withdraw)
    assert WithdrawnReading.objects.filter(former_reading_id=reading.pk).exists()
    assert list(fhir_page(clinician)) == []
    with pytest.raises(Http404):
        selectors().observation_read(user=clinician, reading_id=reading.pk)


# --- Round trip through rpm's own ingestion ---------------------------------------------------


@pytest.mark.parametrize("vital", sorted(VALUES))
def test_each_vital_round_trips_through_ingestion(store, vital):
    reading = store.add(vital, VALUES[vital])
    assert parsed_back(observe(reading)) == [(vital, VALUES[vital], reading.measured_at)]


def test_a_blood_pressure_panel_round_trips_through_ingestion(store):
    high, low = store.pressure(131.5, 84)
    (served,) = list(fhir_page(store.world.clinician))
    assert parsed_back(observe(served)) == [
        ("diastolic", 84.0, high.measured_at),
        ("systolic", 131.5, high.measured_at),
    ]


@pytest.mark.parametrize(("vital", "value"), [("systolic", 150.0), ("diastolic", 95.0)])
def test_a_lone_pressure_round_trips_under_its_own_code(store, vital, value):
    reading = store.add(vital, value)
    (served,) = list(fhir_page(store.world.clinician))
    resource = observe(served)
    assert loinc(resource["code"]) == {fhir.CODED[vital].code}
    assert "component" not in resource
    assert parsed_back(resource) == [(vital, value, reading.measured_at)]


def test_an_ingested_fhir_upload_is_served_as_it_was_sent(store):
    """The published blood pressure example, stored by rpm and served back."""
    device = store.device("systolic")
    at = (timezone.now() - timedelta(hours=3)).replace(microsecond=0)
    sent = published("observation-example-bloodpressure.json") | {
        "effectiveDateTime": at.isoformat()
    }
    stored = uploads.upload_store(device=device, payload=sent)
    assert stored.written
    (served,) = list(fhir_page(store.world.clinician))
    resource = observe(served)
    assert resource["identifier"] == sent["identifier"]
    assert parsed_back(resource) == parsed_back(sent)


# --- The published examples --------------------------------------------------------------------


def paths(resource: dict) -> dict:
    """What must agree with a published example: category, LOINC codes, the quantity's
    system, code and unit display aside, and each component's code and quantity."""

    def quantity(q):
        return (q["system"], q["code"])

    out = {
        "category": {
            (c["system"], c["code"]) for cat in resource["category"] for c in cat["coding"]
        },
        "code": loinc(resource["code"]),
    }
    if "valueQuantity" in resource:
        out["quantity"] = quantity(resource["valueQuantity"])
    if "component" in resource:
        out["component"] = [
            (loinc(c["code"]), quantity(c["valueQuantity"])) for c in resource["component"]
        ]
    return out


@pytest.mark.parametrize(
    ("example", "vital", "value"),
    [
        ("observation-example-heart-rate.json", "heart_rate", 44.0),
        ("observation-example-body-temperature.json", "temperature", 36.5),
        ("observation-example-satO2.json", "spo2", 95.0),
    ],
)
def test_the_same_paths_as_the_published_example(store, example, vital, value):
    theirs = published(example)
    ours = observe(store.add(vital, value))
    assert paths(ours) == paths(theirs)
    assert ours["valueQuantity"]["value"] == theirs["valueQuantity"]["value"]


def test_the_blood_pressure_panel_matches_the_published_example(store):
    theirs = published("observation-example-bloodpressure.json")
    store.pressure(107, 60)
    ours = observe(next(iter(fhir_page(store.world.clinician))))
    assert paths(ours) == paths(theirs)
    assert [c["valueQuantity"] for c in ours["component"]] == [
        c["valueQuantity"] for c in theirs["component"]
    ]
    assert ours["code"]["coding"][0] == theirs["code"]["coding"][0]


def test_the_body_weight_matches_the_published_example_in_our_unit(store):
    """The example is 185 [lb_av]; rpm stores kg, so the value is the same weight in kg."""
    theirs = published("observation-example.json")
    ((vital, stored_kg, _at),) = parsed_back(at_now(theirs))  # as rpm stores the example
    assert vital == "weight"
    ours = observe(store.add("weight", stored_kg))
    assert paths(ours)["category"] == paths(theirs)["category"]
    assert paths(ours)["code"] <= paths(theirs)["code"]
    assert ours["valueQuantity"]["system"] == theirs["valueQuantity"]["system"]
    assert ours["valueQuantity"]["code"] == "kg"
    assert vitals.convert("weight", ours["valueQuantity"]["value"], unit="kg", to="[lb_av]") == (
        pytest.approx(185, abs=0.02)  # kg kept to 0.01
    )


def test_glucose_is_served_as_mass_per_volume_of_the_published_moles(store):
    theirs = at_now(published("observation-example-f001-glucose.json"))
    ((vital, value, _at),) = parsed_back(theirs)
    ours = observe(store.add(vital, value))
    assert ours["valueQuantity"]["system"] == theirs["valueQuantity"]["system"]
    assert vitals.vital_of(vitals.LOINC, next(iter(loinc(ours["code"])))) == "glucose"
    assert ours["valueQuantity"]["code"] == "mg/dL"
    assert vitals.convert("glucose", ours["valueQuantity"]["value"], unit="mg/dL", to="mmol/L") == (
        pytest.approx(6.3, abs=0.001)
    )


def at_now(resource: dict) -> dict:
    changed = copy.deepcopy(resource)
    changed.pop("effectivePeriod", None)
    changed["effectiveDateTime"] = (timezone.now() - timedelta(hours=1)).isoformat()
    changed["status"] = "final"
    return changed


# --- Selectors: scope, filters, paging --------------------------------------------------------


def selectors():
    from rpm import selectors as module

    return module


def fhir_page(user, **kwargs):
    return selectors().observations_for(user=user, **kwargs)


def test_who_sees_which_observations(world, store):
    mine = store.add("heart_rate", 70.0)
    other = store.add("heart_rate", 71.0, patient=world.other_patient)
    outside = store.add("heart_rate", 72.0, patient=world.outside_patient)
    ids = {reading.pk for reading in (mine, other, outside)}
    seen = {
        "patient": {r.pk for r in fhir_page(world.patient.user)},
        "clinician": {r.pk for r in fhir_page(world.clinician)},
        "admin": {r.pk for r in fhir_page(world.admin)},
        "front_desk": {r.pk for r in fhir_page(world.front_desk)},
        "outside": {r.pk for r in fhir_page(world.outside_clinician)},
        "other_clinician": {r.pk for r in fhir_page(world.other_clinician)},
    }
    assert seen == {
        "patient": {mine.pk},
        "clinician": {mine.pk, other.pk},
        "admin": {mine.pk, other.pk},
        "front_desk": set(),
        "outside": {outside.pk},
        "other_clinician": set(),
    }
    assert ids
    read = selectors().observation_read
    assert read(user=world.patient.user, reading_id=mine.pk) == mine
    assert read(user=world.clinician, reading_id=other.pk) == other
    for user, reading in (
        (world.patient.user, other),
        (world.front_desk, mine),
        (world.outside_clinician, mine),
        (world.clinician, outside),
        (world.other_clinician, mine),
    ):
        with pytest.raises(Http404):
            read(user=user, reading_id=reading.pk)
    with pytest.raises(Http404):
        read(user=world.clinician, reading_id=outside.pk + 1000)


def test_a_deactivated_clinician_sees_no_observations(world, store):
    mine = store.add("heart_rate", 70.0)
    assert [r.pk for r in fhir_page(world.clinician)] == [mine.pk]
    world.clinician.is_active = False
    world.clinician.save(update_fields=["is_active"])
    assert list(fhir_page(world.clinician)) == []
    with pytest.raises(Http404):
        selectors().observation_read(user=world.clinician, reading_id=mine.pk)


def test_the_diastolic_of_a_panel_is_not_an_observation_of_its_own(world, store):
    high, low = store.pressure(120, 80)
    assert selectors().observation_read(user=world.clinician, reading_id=high.pk) == high
    with pytest.raises(Http404):
        selectors().observation_read(user=world.clinician, reading_id=low.pk)


def test_search_by_patient_code_and_date(world, store):
    high, _low = store.pressure(130, 85)
    lone = store.add("systolic", 150.0)
    pulse = store.add("heart_rate", 66.0)
    oxygen = store.add("spo2", 97.0)
    other = store.add("heart_rate", 80.0, patient=world.other_patient)
    clinician = world.clinician

    def found(**kwargs):
        return [reading.pk for reading in fhir_page(clinician, **kwargs)]

    assert found(patient_id=world.patient.pk) == [high.pk, lone.pk, pulse.pk, oxygen.pk]
    assert found(patient_id=world.other_patient.pk) == [other.pk]
    assert found(patient_id=world.outside_patient.pk) == []
    assert found(code="85354-9") == [high.pk]
    assert found(code="http://loinc.org|85354-9") == [high.pk]
    assert found(code="8480-6") == [lone.pk]
    assert found(code="8867-4") == [pulse.pk, other.pk]
    assert found(code="2708-6") == found(code="59408-5") == [oxygen.pk]
    assert found(code="8867-4,2708-6", patient_id=world.patient.pk) == [pulse.pk, oxygen.pk]
    assert found(code="http://snomed.info/sct|8867-4") == []
    assert found(code="|8867-4") == []
    assert found(code="8889-8") == []  # rpm reads it, never serves it
    assert found(date_from=pulse.measured_at) == [pulse.pk, oxygen.pk, other.pk]
    assert found(date_to=pulse.measured_at) == [high.pk, lone.pk]
    assert found(date_from=pulse.measured_at, date_to=oxygen.measured_at) == [pulse.pk]


def test_keyset_paging_visits_every_observation_once(store):
    readings = [store.add("heart_rate", 60.0 + n) for n in range(7)]
    pages, after = [], None
    while True:
        page = list(fhir_page(store.world.clinician, after_id=after, limit=3))
        if not page:
            break
        pages.append([r.pk for r in page])
        after = page[-1].pk
    assert pages == [
        [r.pk for r in readings[0:3]],
        [r.pk for r in readings[3:6]],
        [readings[6].pk],
    ]


def test_a_page_costs_one_query_whatever_its_size(world, store):
    for n in range(12):
        store.add("systolic", 120.0 + n)
        store.add("diastolic", 80.0, measured_at=store.moment)
        store.add("heart_rate", 60.0 + n, measured_at=store.moment)
        store.add("weight", 80.0 + n)
    counts = {}
    for size in (2, 30):
        with CaptureQueriesContext(connection) as queries:
            resources = [observe(r) for r in fhir_page(world.clinician, limit=size)]
        assert len(resources) == size
        counts[size] = len(queries)
    assert counts == {2: 1, 30: 1}
    panels = [r for r in resources if "component" in r]
    assert len(panels) == 10 and all(len(r["component"]) == 2 for r in panels)
