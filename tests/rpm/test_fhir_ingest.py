"""Device data as devices send it: the FHIR specification's own Observation examples and the
HL7 Personal Health Device guide's (tests/fixtures/fhir, tests/fixtures/phd), as published
and in modified copies. Codes and units in every spelling devices use, measurement times in
FHIR's order, statuses, retraction, and FHIR answers checked by the R4B models."""

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from rpm import ingest, services, vitals
from rpm.models import Alert, Reading, WithdrawnReading
from telehealth.audit.models import AuditEvent


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FHIR_JSON = "application/fhir+json"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WINDOW = ingest.Window(now=NOW, earliest=datetime(2026, 1, 1, tzinfo=UTC))


def published(name: str) -> dict:
    folder = "phd" if (FIXTURES / "phd" / name).exists() else "fhir"
    return json.loads((FIXTURES / folder / name).read_text())


def at(resource: dict, moment: datetime) -> dict:
    """A copy of an Observation measured at `moment` (the examples are dated 1999-2025)."""
    changed = copy.deepcopy(resource)
    for element in ("effectiveDateTime", "effectivePeriod", "effectiveInstant"):
        changed.pop(element, None)
    changed["effectiveDateTime"] = moment.isoformat()
    return changed


def one(resource: dict, window: ingest.Window = WINDOW) -> ingest.Item:
    return ingest.parse(resource, window=window).items[0]


def refusal(resource: dict, window: ingest.Window = WINDOW) -> ingest.Rejected:
    item = one(resource, window)
    assert item.refused is not None, item
    return item.refused


# --- Codes, units, conversions (pure) ------------------------------------------------------


@pytest.mark.parametrize(
    ("system", "code", "vital"),
    [
        (vitals.LOINC, "2708-6", "spo2"),
        (vitals.LOINC, "59408-5", "spo2"),
        (vitals.MDC, "150456", "spo2"),
        (vitals.LOINC, "2339-0", "glucose"),
        (vitals.LOINC, "15074-8", "glucose"),
        (vitals.LOINC, "41653-7", "glucose"),
        (vitals.LOINC, "14743-9", "glucose"),
        (vitals.MDC, "160368", "glucose"),
        (vitals.LOINC, "8867-4", "heart_rate"),
        (vitals.MDC, "149530", "heart_rate"),
        (vitals.LOINC, "8480-6", "systolic"),
        (vitals.MDC, "150021", "systolic"),
        (vitals.LOINC, "8462-4", "diastolic"),
        (vitals.MDC, "150022", "diastolic"),
        (vitals.LOINC, "29463-7", "weight"),
        (vitals.LOINC, "3141-9", "weight"),
        (vitals.MDC, "188736", "weight"),
        (vitals.LOINC, "8310-5", "temperature"),
        (vitals.LOINC, "8331-1", "temperature"),
        (vitals.MDC, "150364", "temperature"),
    ],
)
def test_each_coding_names_its_vital(system, code, vital):
    assert vitals.vital_of(system, code) == vital
    assert vitals.vital_of("http://example.org/other-system", code) is None


@pytest.mark.parametrize(
    ("system", "code"),
    [(vitals.LOINC, "85354-9"), (vitals.LOINC, "55284-4"), (vitals.MDC, "150020")],
)
def test_blood_pressure_panels_by_any_code(system, code):
    panel = at(published("compound-numeric-blood-pressure.json"), NOW)
    panel["code"]["coding"] = [{"system": system, "code": code}]
    assert [(r.vital, r.value) for r in one(panel).readings] == [
        ("systolic", 116),
        ("diastolic", 71),
    ]


@pytest.mark.parametrize(
    ("vital", "written", "meant"),
    [
        ("glucose", "mg/dl", "mg/dL"),
        ("glucose", "MMOL/L", "mmol/L"),
        ("heart_rate", "{beat}/min", "/min"),
        ("heart_rate", "{beats}/min", "/min"),
        ("heart_rate", "1/min", "/min"),
        ("heart_rate", "/min", "/min"),
        ("systolic", "mm[Hg]", "mm[Hg]"),
        ("temperature", "[degF]", "[degF]"),
        ("glucose", "{beats}", None),
        ("glucose", "g/L", None),
    ],
)
def test_units_as_devices_write_them(vital, written, meant):
    assert vitals.unit_named(vital, written) == meant


@pytest.mark.parametrize(
    ("vital", "value", "unit", "canonical", "expected"),
    [
        ("glucose", 5.5, "mmol/L", "mg/dL", 99.1),
        ("weight", 185, "[lb_av]", "kg", 83.91),
        ("temperature", 98.6, "[degF]", "Cel", 37.0),
    ],
)
def test_conversions_go_both_ways(vital, value, unit, canonical, expected):
    there = vitals.convert(vital, value, unit=unit, to=canonical)
    assert round(there, 2) == expected
    assert vitals.convert(vital, there, unit=canonical, to=unit) == pytest.approx(value)
    assert vitals.convert(vital, 0.0 + expected, unit=canonical, to=canonical) == expected


def test_quantity_system_decides_how_its_code_is_read():
    spo2 = at(published("numeric-spo2-alarm.json"), NOW)
    spo2["valueQuantity"] = {"value": 96, "system": vitals.MDC, "code": "262688"}
    assert one(spo2).readings[0].value == 96
    pulse = at(published("numeric-spotnumeric.json"), NOW)
    pulse["valueQuantity"] = {"value": 61, "system": vitals.MDC, "code": "264864"}
    assert one(pulse).readings[0].value == 61
    glucose = at(published("glucose-observation.json"), NOW)
    glucose["valueQuantity"] = {
        "value": 6,
        "unit": "mmol/l",
        "system": vitals.UCUM,
        "code": "mmol/l",
    }
    assert one(glucose).readings[0].value == 108.11
    glucose["valueQuantity"] = {"value": 6, "system": "https://rtmms.nist.gov", "code": "262688"}
    assert str(refusal(glucose)).startswith("Observation.valueQuantity.system: units from")
    spo2["valueQuantity"] = {"value": 96, "system": vitals.MDC, "code": "266016"}
    assert "the 11073 unit 266016 is not one accepted for spo2" in str(refusal(spo2))


# --- Time (pure) -----------------------------------------------------------------------------


def test_effective_time_in_fhirs_order_and_issued_never():
    glucose = published("observation-example-f001-glucose.json")  # effectivePeriod and issued
    window = ingest.Window(now=NOW, earliest=datetime(2010, 1, 1, tzinfo=UTC))
    assert one(glucose, window).readings[0].measured_at == datetime(
        2013, 4, 2, 8, 30, 10, tzinfo=UTC
    )
    both = {**glucose, "effectiveDateTime": "2013-04-01T07:00:00Z"}
    both.pop("effectivePeriod")
    assert one(both, window).readings[0].measured_at == datetime(2013, 4, 1, 7, tzinfo=UTC)
    instant = {**both, "effectiveInstant": "2013-04-01T06:00:00Z"}
    instant.pop("effectiveDateTime")
    assert one(instant, window).readings[0].measured_at == datetime(2013, 4, 1, 6, tzinfo=UTC)
    only_issued = {k: v for k, v in glucose.items() if k != "effectivePeriod"}
    reason = refusal(only_issued, window)
    assert str(reason).startswith("Observation.effective[x]: the time of measurement is missing")
    no_start = {**glucose, "effectivePeriod": {"end": "2013-04-05T09:30:10+01:00"}}
    assert refusal(no_start, window).expression == "Observation.effectivePeriod.start"


@pytest.mark.parametrize("date", ["1999-07-02", "2026-11", "2026"])
def test_a_date_without_a_time_is_refused_in_fhirs_words(date):
    heart_rate = {**published("observation-example-heart-rate.json"), "effectiveDateTime": date}
    reason = refusal(heart_rate)
    assert str(reason).startswith(
        f"Observation.effectiveDateTime: a date without a time ({date}) cannot place a reading"
    )
    assert reason.expression == "Observation.effectiveDateTime"
    assert "measured_at" not in str(reason)


def test_a_time_without_an_offset_is_refused_in_fhirs_words():
    heart_rate = {**published("observation-example-heart-rate.json")}
    heart_rate["effectiveDateTime"] = "2026-11-23T08:15:00"
    assert str(refusal(heart_rate)).startswith(
        "Observation.effectiveDateTime: a time needs its UTC offset"
    )


@pytest.mark.parametrize("moment", ["1970-01-01T00:00:00Z", "2019-06-01T08:00:00Z"])
def test_readings_from_before_the_monitoring_window_are_refused_per_item(moment):
    stale = {
        **at(published("observation-example-heart-rate.json"), NOW),
        "effectiveDateTime": moment,
    }
    fresh = at(published("observation-example-heart-rate.json"), NOW)
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": stale, "request": {"method": "POST", "url": "Observation"}},
            {"resource": fresh, "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    upload = ingest.parse(bundle, window=WINDOW)
    assert upload.items[0].refused is not None
    assert "is before this patient's monitoring window (from 2026-01-01)" in str(
        upload.items[0].refused
    )
    assert upload.items[0].refused.expression == "Bundle.entry[0].resource.effectiveDateTime"
    assert [r.value for r in upload.items[1].readings] == [44]


# --- Status, absent data, panels (pure) ----------------------------------------------------


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_final_amended_and_corrected_are_stored(status):
    assert one({**at(published("numeric-spo2-alarm.json"), NOW), "status": status}).readings


def test_preliminary_only_when_the_setting_accepts_it():
    preliminary = {**at(published("numeric-spo2-alarm.json"), NOW), "status": "preliminary"}
    assert "preliminary results are not stored" in str(refusal(preliminary))
    accepting = ingest.Window(now=NOW, earliest=WINDOW.earliest, accept_preliminary=True)
    assert one(preliminary, accepting).readings


def test_cancelled_and_absent_values_are_refused_with_the_reason():
    cancelled = at(published("observation-example-bloodpressure-cancel.json"), NOW)
    assert str(refusal(cancelled)) == "Observation.status: cancelled; the measurement was not made"
    absent = at(published("observation-example-bloodpressure-dar.json"), NOW)
    reason = refusal(absent)
    assert reason.expression == "Observation.component[1].dataAbsentReason"
    assert "the device reports no diastolic (not-performed)" in str(reason)
    whole = at(published("numeric-spo2-alarm.json"), NOW)
    whole.pop("valueQuantity")
    whole["dataAbsentReason"] = {"coding": [{"code": "error"}]}
    assert (
        str(refusal(whole)) == "Observation.dataAbsentReason: the device reports no value (error)"
    )


@pytest.mark.parametrize(("systolic", "diastolic"), [(70, 90), (80, 80)])
def test_a_panel_with_systolic_not_above_diastolic_is_refused(systolic, diastolic):
    panel = at(published("compound-numeric-blood-pressure.json"), NOW)
    panel["component"][0]["valueQuantity"]["value"] = systolic
    panel["component"][1]["valueQuantity"]["value"] = diastolic
    assert str(refusal(panel)) == "Observation.component: systolic must be higher than diastolic"


def test_a_schema_error_speaks_fhir_not_the_library():
    broken = at(published("numeric-spo2-alarm.json"), NOW)
    broken["valueQuantity"]["value"] = "ninety"
    reason = refusal(broken)
    assert str(reason) == (
        "Observation.valueQuantity.value: does not hold a valid value for its FHIR type"
    )
    assert "regex" not in str(reason) and "pydantic" not in str(reason)


# --- Through the endpoint ------------------------------------------------------------------


@pytest.fixture
def device(world):
    services.enroll(
        patient=world.patient, program="copd", clinicians=[world.clinician], by=world.clinician
    )
    device, token = services.device_create(
        patient=world.patient, kind="pulse_oximeter", by=world.clinician
    )
    device.token = token
    return device


@pytest.fixture
def since_2010(device):
    """Enrolled long ago, so the published examples' own dates are inside the window."""
    device.patient.rpm_enrollments.update(start_date="2010-01-01")
    return device


def post(client, device, body, content_type=FHIR_JSON):
    return client.post(
        "/api/v1/rpm/readings",
        data=json.dumps(body),
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {device.token}",
    )


def fhir(response) -> dict:
    """The answer, checked by FHIR's own models."""
    assert response["Content-Type"] == FHIR_JSON
    body = response.json()
    if body["resourceType"] == "Bundle":
        Bundle.model_validate(body)
        for entry in body.get("entry", []):
            if "outcome" in entry["response"]:
                OperationOutcome.model_validate(entry["response"]["outcome"])
    else:
        OperationOutcome.model_validate(body)
    text = json.dumps(body)
    assert "pydantic" not in text and "fhir.resources" not in text and "ModelClass" not in text
    return body


def statuses(body: dict) -> list[str]:
    return [entry["response"]["status"] for entry in body["entry"]]


def stored() -> list[tuple[str, float]]:
    return list(Reading.objects.order_by("measured_at", "vital").values_list("vital", "value"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "status", "readings", "says"),
    [
        ("observation-example.json", 422, [], "a date without a time (2016-03-28)"),
        ("observation-example-heart-rate.json", 422, [], "a date without a time (1999-07-02)"),
        ("observation-example-body-temperature.json", 422, [], "a date without a time"),
        ("observation-example-respiratory-rate.json", 200, [], "not a vital this service"),
        ("observation-example-bmi.json", 200, [], "not a vital this service monitors"),
        ("observation-example-satO2.json", 201, [("spo2", 95)], "Stored."),
        ("observation-example-f001-glucose.json", 201, [("glucose", 113.51)], "Stored."),
        ("observation-example-bloodpressure.json", 422, [], "a date without a time (2012-09-17)"),
        ("observation-example-bloodpressure-dar.json", 422, [], "a date without a time"),
        ("observation-example-bloodpressure-cancel.json", 422, [], "Observation.status: cancelled"),
        ("numeric-spo2-alarm.json", 201, [("spo2", 79)], "Stored."),
        ("numeric-spotnumeric.json", 201, [("heart_rate", 48)], "Stored."),
        (
            "compound-numeric-blood-pressure.json",
            201,
            [("diastolic", 71), ("systolic", 116)],
            "Stored.",
        ),
        ("glucose-observation.json", 201, [("glucose", 99)], "Stored."),
        ("temperature-observation.json", 201, [("temperature", 36.5)], "Stored."),
        ("numeric-observation-not-a-number.json", 200, [], "not a vital this service monitors"),
    ],
)
def test_published_observations_as_sent(client, since_2010, name, status, readings, says):
    response = post(client, since_2010, published(name))
    assert response.status_code == status
    assert says in fhir(response)["issue"][0]["diagnostics"]
    assert stored() == readings


@pytest.mark.django_db
def test_a_period_is_stored_at_its_start_not_at_upload_or_issue(client, since_2010):
    assert (
        post(client, since_2010, published("observation-example-f001-glucose.json")).status_code
        == 201
    )
    reading = Reading.objects.get()
    assert reading.measured_at == datetime(2013, 4, 2, 8, 30, 10, tzinfo=UTC)
    assert reading.identifier == "http://www.bmc.nl/zorgportal/identifiers/observations|6323"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "readings"),
    [
        ("observation-example.json", [("weight", 83.91)]),
        ("observation-example-heart-rate.json", [("heart_rate", 44)]),
        ("observation-example-body-temperature.json", [("temperature", 36.5)]),
        ("observation-example-bloodpressure.json", [("diastolic", 60), ("systolic", 107)]),
    ],
)
def test_published_observations_with_a_time_of_day_are_stored(client, device, name, readings):
    recent = at(published(name), timezone.now() - timedelta(hours=1))
    response = post(client, device, recent)
    assert response.status_code == 201 and fhir(response)["issue"][0]["diagnostics"] == "Stored."
    assert stored() == readings


@pytest.mark.django_db
def test_the_phd_guides_pulse_oximeter_transaction_is_stored(client, since_2010):
    bundle = published("bundle-example-1.json")
    response = post(client, since_2010, bundle)
    assert response.status_code == 200
    body = fhir(response)
    assert body["type"] == "transaction-response"
    # Patient, gateway Device, oximeter Device, coincident time stamp, SpO2, pulse rate
    assert statuses(body) == ["200 OK"] * 4 + ["201 Created"] * 2
    assert "Patient: not stored" in json.dumps(body["entry"][0])
    assert sorted(stored()) == [("heart_rate", 47), ("spo2", 98)]
    again = fhir(post(client, since_2010, bundle))
    assert statuses(again) == ["200 OK"] * 6
    assert again["entry"][4]["response"]["outcome"]["issue"][0]["code"] == "duplicate"
    assert Reading.objects.count() == 2


@pytest.mark.django_db
def test_a_continuous_oximeter_stream_keeps_every_spo2_and_pulse(client, since_2010):
    response = post(client, since_2010, published("bundle-continuousnonin.json"))
    body = fhir(response)
    assert response.status_code == 200 and "422 Unprocessable Entity" not in statuses(body)
    counts = {v: Reading.objects.filter(vital=v).count() for v in ("spo2", "heart_rate")}
    assert counts == {"spo2": 12, "heart_rate": 12}


def shifted(bundle: dict, moment: datetime) -> dict:
    changed = copy.deepcopy(bundle)
    for entry in changed["entry"]:
        if entry["resource"]["resourceType"] == "Observation":
            entry["resource"]["effectiveDateTime"] = moment.isoformat()
    return changed


@pytest.mark.django_db
def test_a_transaction_with_one_bad_entry_stores_nothing(client, device):
    bundle = shifted(published("bundle-example-1.json"), timezone.now() - timedelta(minutes=5))
    bundle["entry"][5]["resource"]["effectiveDateTime"] = "1970-01-01T00:00:00Z"
    response = post(client, device, bundle)
    assert response.status_code == 400
    body = fhir(response)
    assert [i["expression"] for i in body["issue"]] == [
        ["Bundle.entry[5].resource.effectiveDateTime"]
    ]
    assert (
        "1970-01-01T00:00:00+00:00 is before this patient's monitoring window"
        in (body["issue"][0]["diagnostics"])
    )
    assert not Reading.objects.exists()
    bundle["type"] = "batch"
    batch = fhir(post(client, device, bundle))
    assert batch["type"] == "batch-response"
    assert statuses(batch) == ["200 OK"] * 4 + ["201 Created", "422 Unprocessable Entity"]
    assert stored() == [("spo2", 98)]


@pytest.mark.django_db
def test_other_resources_in_a_bundle_are_refused_by_name(client, device):
    bundle = shifted(published("bundle-example-1.json"), timezone.now() - timedelta(minutes=5))
    bundle["type"] = "batch"
    bundle["entry"][0]["resource"] = {"resourceType": "MedicationRequest"}
    body = fhir(post(client, device, bundle))
    outcome = body["entry"][0]["response"]["outcome"]["issue"][0]
    assert body["entry"][0]["response"]["status"] == "422 Unprocessable Entity"
    assert outcome["diagnostics"] == "MedicationRequest: only Observations are accepted here"
    assert outcome["expression"] == ["Bundle.entry[0].resource"]


@pytest.mark.django_db
def test_entered_in_error_withdraws_the_reading_and_the_alert_it_alone_raised(
    client, world, device
):
    fever = at(published("temperature-observation.json"), timezone.now() - timedelta(hours=2))
    fever["identifier"] = [{"system": "urn:device:thermo", "value": "t-1"}]
    fever["valueQuantity"] = {"value": 39.4, "system": vitals.UCUM, "code": "Cel"}
    never_stored = post(client, device, {**fever, "status": "entered-in-error"})
    assert never_stored.status_code == 404
    assert not Reading.objects.exists() and not Alert.objects.exists()
    assert post(client, device, fever).status_code == 201
    alert = Alert.objects.get(vital="temperature")
    assert alert.status == Alert.Status.OPEN
    withdrawn = {**fever, "status": "entered-in-error"}
    response = post(client, device, withdrawn)
    assert response.status_code == 200
    assert "withdrawn" in fhir(response)["issue"][0]["diagnostics"]
    assert not Reading.objects.exists()
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED and alert.resolved_at is not None
    details = set(AuditEvent.objects.values_list("detail", flat=True))
    assert "closed: its readings were entered in error" in details
    assert any(d.startswith("entered in error: temperature 39.4 at ") for d in details)
    again = post(client, device, withdrawn)
    assert again.status_code == 404
    assert fhir(again)["issue"][0]["expression"] == ["Observation.identifier"]


@pytest.mark.django_db
def test_an_alert_another_reading_supports_stays_open(client, device):
    base = published("temperature-observation.json")
    readings = []
    for n, ident in enumerate(("t-1", "t-2")):
        reading = at(base, timezone.now() - timedelta(hours=3 - n))
        reading["identifier"] = [{"system": "urn:device:thermo", "value": ident}]
        reading["valueQuantity"] = {"value": 39.0 + n / 10, "system": vitals.UCUM, "code": "Cel"}
        readings.append(reading)
        assert post(client, device, reading).status_code == 201
    alert = Alert.objects.get(vital="temperature")
    assert alert.readings.count() == 2
    assert post(client, device, {**readings[0], "status": "entered-in-error"}).status_code == 200
    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN and alert.readings.count() == 1


@pytest.mark.django_db
def test_a_transaction_withdrawing_an_unknown_reading_keeps_nothing(client, device):
    bundle = shifted(published("bundle-example-1.json"), timezone.now() - timedelta(minutes=5))
    withdrawal = copy.deepcopy(bundle["entry"][4]["resource"])
    withdrawal["status"] = "entered-in-error"
    withdrawal["identifier"] = [{"value": "never-sent"}]
    bundle["entry"].append(
        {"resource": withdrawal, "request": {"method": "POST", "url": "Observation"}}
    )
    response = post(client, device, bundle)
    assert response.status_code == 400
    assert fhir(response)["issue"][0]["expression"] == ["Bundle.entry[6].resource.identifier"]
    assert not Reading.objects.exists()


@pytest.mark.django_db
def test_simple_callers_keep_the_simple_answer(client, device):
    observation = at(published("numeric-spo2-alarm.json"), timezone.now() - timedelta(minutes=1))
    answer = post(client, device, observation, content_type="application/json")
    assert answer["Content-Type"].startswith("application/json")
    assert answer.json() == {
        "accepted": 1,
        "duplicates": 0,
        "amended": 0,
        "retracted": 0,
        "rejected": [],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("not json", ""),
        ("[1, 2]", "Send a FHIR Observation or a Bundle of them."),
        ('{"resourceType": "Bundle", "type": "batch", "entry": 3}', "Bundle.entry must be a list"),
    ],
)
def test_fhir_callers_get_an_operation_outcome_for_unusable_uploads(client, device, body, says):
    response = client.post(
        "/api/v1/rpm/readings",
        data=body,
        content_type=FHIR_JSON,
        HTTP_AUTHORIZATION=f"Bearer {device.token}",
    )
    assert response.status_code == 400
    assert says in fhir(response)["issue"][0]["diagnostics"]


@pytest.mark.django_db
def test_no_token_a_wrong_token_or_a_signed_in_clinician_gets_401(client, world, device):
    from tests.conftest import sign_in

    bundle = published("bundle-example-1.json")
    anonymous = client.post("/api/v1/rpm/readings", data=json.dumps(bundle), content_type=FHIR_JSON)
    assert anonymous.status_code == 401
    device.token = "rpm_not-a-token"
    assert post(client, device, bundle).status_code == 401
    sign_in(client, world.clinician)
    staff = client.post("/api/v1/rpm/readings", data=json.dumps(bundle), content_type=FHIR_JSON)
    assert staff.status_code == 401
    assert not Reading.objects.exists()


@pytest.mark.django_db
def test_other_bundles_are_answered_entry_by_entry(client, device):
    recent = at(published("numeric-spo2-alarm.json"), timezone.now() - timedelta(minutes=1))
    for bundle_type in ("collection", None):
        bundle = {"resourceType": "Bundle", "type": bundle_type, "entry": [{"resource": recent}]}
        body = fhir(post(client, device, {k: v for k, v in bundle.items() if v}))
        assert body["type"] == "batch-response"
    assert Reading.objects.count() == 1
    empty = post(client, device, {"resourceType": "Bundle", "type": "transaction", "entry": []})
    assert empty.status_code == 200 and fhir(empty) == {
        "resourceType": "Bundle",
        "type": "transaction-response",
    }


def observations_published() -> list[dict]:
    found = []
    for path in sorted((FIXTURES / "fhir").glob("*.json")) + sorted(
        (FIXTURES / "phd").glob("*.json")
    ):
        body = json.loads(path.read_text())
        entries = [e["resource"] for e in body.get("entry", [])] if "entry" in body else [body]
        found += [r for r in entries if r["resourceType"] == "Observation"][:3]
    return found


@pytest.mark.parametrize("odd", [None, 1, "x", [], {}, [None], {"coding": "x"}])
def test_any_element_of_a_published_observation_broken_is_one_refused_item(odd):
    for resource in observations_published():
        for element in resource:
            if element == "resourceType":
                continue
            broken = {**at(resource, NOW), element: odd}
            upload = ingest.parse(
                {
                    "resourceType": "Bundle",
                    "type": "batch",
                    "entry": [{"resource": broken, "request": POST_OBSERVATION}],
                },
                window=WINDOW,
            )
            item = upload.items[0]
            assert item.refused is not None or item.readings or item.ignored or item.retract
            if item.refused is not None:
                assert item.refused.expression.startswith("Bundle.entry[0]"), item.refused


# --- Corrections, withdrawals and identifiers ----------------------------------------------

POST_OBSERVATION = {"method": "POST", "url": "Observation"}


def temperature(moment: datetime, celsius: float, ident: str | None = "t-1", **changes) -> dict:
    """The PHD guide's temperature Observation, measured at `moment` with this value."""
    reading = at(published("temperature-observation.json"), moment)
    reading["valueQuantity"] = {"value": celsius, "system": vitals.UCUM, "code": "Cel"}
    reading.pop("identifier", None)
    if ident is not None:
        reading["identifier"] = [{"system": "urn:device:thermo", "value": ident}]
    return {**reading, **changes}


def bundle_of(kind: str, *resources: dict) -> dict:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [{"resource": r, "request": POST_OBSERVATION} for r in resources],
    }


def audit_of(reading_id: int) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_type="rpm.Reading", object_id=str(reading_id)).order_by(
            "pk"
        )
    )


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["corrected", "amended"])
@pytest.mark.parametrize("ident", ["t-1", None], ids=["by-identifier", "by-time"])
def test_a_corrected_fever_replaces_the_value_and_closes_its_alert(client, device, status, ident):
    moment = timezone.now() - timedelta(hours=1)
    assert post(client, device, temperature(moment, 39.5, ident)).status_code == 201
    reading = Reading.objects.get()
    alert = Alert.objects.get(vital="temperature")
    assert alert.status == Alert.Status.OPEN
    opened = AuditEvent.objects.get(object_type="rpm.Alert", action="create")
    assert opened.actor_label == f"device {device.pk}"
    response = post(client, device, temperature(moment, 36.6, ident, status=status))
    assert response.status_code == 200
    assert fhir(response)["issue"][0]["diagnostics"] == "Amended."
    assert list(Reading.objects.values_list("pk", "value")) == [(reading.pk, 36.6)]
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED and alert.resolved_at is not None
    assert alert.resolution_note == "Closed: the reading that raised it was corrected."
    amended = audit_of(reading.pk)[-1]
    assert amended.action == "update" and amended.actor_label == f"device {device.pk}"
    assert amended.detail.startswith("amended: temperature 39.5 -> 36.6 at ")
    assert (
        AuditEvent.objects.filter(
            object_type="rpm.Alert", object_id=str(alert.pk), detail__startswith="closed:"
        )
        .get()
        .actor_label
        == f"device {device.pk}"
    )


@pytest.mark.django_db
def test_a_correction_that_still_breaks_the_limit_keeps_the_alert_open(client, device):
    moment = timezone.now() - timedelta(hours=1)
    assert post(client, device, temperature(moment, 39.5)).status_code == 201
    alert = Alert.objects.get(vital="temperature")
    corrected = post(client, device, temperature(moment, 39.8, status="corrected"))
    assert corrected.status_code == 200
    assert Reading.objects.get().value == 39.8
    assert list(Alert.objects.values_list("pk", "status")) == [(alert.pk, Alert.Status.OPEN)]
    assert "39.8" in Alert.objects.get().summary
    assert list(Alert.objects.get().readings.values_list("value", flat=True)) == [39.8]


@pytest.mark.django_db
def test_a_correction_of_a_normal_reading_raises_the_alert_the_new_value_deserves(client, device):
    moment = timezone.now() - timedelta(hours=1)
    assert post(client, device, temperature(moment, 36.6)).status_code == 201
    assert not Alert.objects.exists()
    assert post(client, device, temperature(moment, 39.5, status="amended")).status_code == 200
    assert Alert.objects.get(vital="temperature").status == Alert.Status.OPEN


@pytest.mark.django_db
def test_a_corrected_blood_pressure_panel_replaces_both_values_and_closes_its_alert(client, device):
    panel = at(published("compound-numeric-blood-pressure.json"), timezone.now() - timedelta(1))
    panel["identifier"] = [{"system": "urn:device:cuff", "value": "bp-7"}]
    panel["component"][0]["valueQuantity"]["value"] = 190
    panel["component"][1]["valueQuantity"]["value"] = 125
    assert post(client, device, panel).status_code == 201
    alert = Alert.objects.get()
    assert alert.readings.count() == 2
    panel["status"] = "corrected"
    panel["component"][0]["valueQuantity"]["value"] = 121
    panel["component"][1]["valueQuantity"]["value"] = 79
    assert post(client, device, panel).status_code == 200
    assert stored() == [("diastolic", 79), ("systolic", 121)]
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED


@pytest.mark.django_db
def test_a_correction_with_nothing_to_correct_is_stored_as_new(client, device):
    response = post(
        client, device, temperature(timezone.now() - timedelta(hours=1), 37.1, status="amended")
    )
    assert response.status_code == 201 and fhir(response)["issue"][0]["diagnostics"] == "Stored."
    assert stored() == [("temperature", 37.1)]


@pytest.mark.django_db
def test_a_resend_of_the_same_correction_changes_nothing(client, device):
    moment = timezone.now() - timedelta(hours=1)
    post(client, device, temperature(moment, 39.5))
    post(client, device, temperature(moment, 36.6, status="corrected"))
    again = post(client, device, temperature(moment, 36.6, status="corrected"))
    assert again.status_code == 200
    assert fhir(again)["issue"][0]["diagnostics"] == "Already stored; nothing changed."
    assert stored() == [("temperature", 36.6)]


@pytest.mark.django_db
def test_a_batch_that_sends_and_then_withdraws_a_reading_stores_nothing(client, device):
    moment = timezone.now() - timedelta(hours=1)
    sent = temperature(moment, 37.0, "z")
    withdrawn = {**sent, "status": "entered-in-error"}
    body = fhir(post(client, device, bundle_of("batch", sent, withdrawn)))
    assert statuses(body) == ["200 OK", "200 OK"]
    first, second = (e["response"]["outcome"]["issue"][0] for e in body["entry"])
    assert first["diagnostics"] == "Not stored: a later entry of this upload withdraws it."
    assert second["diagnostics"] == (
        "Withdrawn: the reading with this identifier sent earlier in this upload was not stored."
    )
    assert Reading.objects.count() == 0
    simple = post(client, device, [sent, withdrawn], content_type="application/json").json()
    assert simple["accepted"] == 0 and simple["retracted"] == 1
    assert Reading.objects.count() == 0


@pytest.mark.django_db
def test_a_batch_that_withdraws_and_then_sends_a_reading_keeps_the_one_sent(client, device):
    moment = timezone.now() - timedelta(hours=1)
    sent = temperature(moment, 37.0, "z")
    withdrawn = {**sent, "status": "entered-in-error"}
    body = fhir(post(client, device, bundle_of("batch", withdrawn, sent)))
    assert statuses(body) == ["404 Not Found", "201 Created"]
    assert Reading.objects.count() == 1


@pytest.mark.django_db
def test_a_transaction_that_sends_and_withdraws_one_identifier_is_refused(client, device):
    moment = timezone.now() - timedelta(hours=1)
    sent = temperature(moment, 37.0, "z")
    withdrawn = {**sent, "status": "entered-in-error"}
    for order in ((sent, withdrawn), (withdrawn, sent)):
        response = post(client, device, bundle_of("transaction", *order))
        assert response.status_code == 400
        issue = fhir(response)["issue"][0]
        assert issue["expression"] == ["Bundle.entry[1].resource.identifier"]
        assert issue["diagnostics"] == (
            "Observation.identifier: entry 0 of this transaction names the same reading; a "
            "transaction may not write one reading twice (send a batch, or separate uploads)"
        )
        assert Reading.objects.count() == 0
    assert post(client, device, sent).status_code == 201
    corrected = {**sent, "status": "corrected"}
    twice = post(client, device, bundle_of("transaction", corrected, withdrawn))
    assert twice.status_code == 400
    assert stored() == [("temperature", 37.0)]


@pytest.mark.django_db
def test_another_device_of_the_patient_cannot_withdraw_or_correct_a_reading(client, world, device):
    other, token = services.device_create(
        patient=world.patient, kind="thermometer", by=world.clinician
    )
    other.token = token
    moment = timezone.now() - timedelta(hours=1)
    assert post(client, device, temperature(moment, 37.0)).status_code == 201
    withdrawn = post(client, other, temperature(moment, 37.0, status="entered-in-error"))
    assert withdrawn.status_code == 404
    corrected = post(client, other, temperature(moment, 39.0, status="corrected"))
    assert corrected.status_code == 201  # a reading of its own, the other device's untouched
    assert sorted(Reading.objects.values_list("device_id", "value")) == sorted(
        [(device.pk, 37.0), (other.pk, 39.0)]
    )


@pytest.mark.django_db
def test_withdrawal_keeps_the_reading_for_the_record_out_of_live_queries(client, device):
    moment = timezone.now() - timedelta(hours=1)
    assert post(client, device, temperature(moment, 39.4)).status_code == 201
    reading = Reading.objects.get()
    assert post(client, device, temperature(moment, 39.4, status="entered-in-error")).status_code
    assert not Reading.objects.exists()
    kept = WithdrawnReading.objects.get()
    assert (
        kept.former_reading_id,
        kept.patient_id,
        kept.device_id,
        kept.vital,
        kept.value,
        kept.measured_at,
        kept.received_at,
        kept.identifier,
    ) == (
        reading.pk,
        reading.patient_id,
        device.pk,
        "temperature",
        39.4,
        moment,
        reading.received_at,
        "urn:device:thermo|t-1",
    )
    assert kept.withdrawn_at is not None
    deleted = audit_of(reading.pk)[-1]
    assert deleted.action == "delete" and deleted.actor_label == f"device {device.pk}"


@pytest.mark.django_db
def test_a_failed_transaction_keeps_no_withdrawn_record(client, device):
    moment = timezone.now() - timedelta(hours=1)
    assert post(client, device, temperature(moment, 37.0, "a")).status_code == 201
    response = post(
        client,
        device,
        bundle_of(
            "transaction",
            temperature(moment, 37.0, "a", status="entered-in-error"),
            temperature(moment, 37.0, "never-sent", status="entered-in-error"),
        ),
    )
    assert response.status_code == 400
    assert Reading.objects.count() == 1 and not WithdrawnReading.objects.exists()


@pytest.mark.django_db
def test_an_identifier_over_255_characters_is_refused_not_cut(client, device):
    moment = timezone.now() - timedelta(hours=1)
    long = temperature(moment, 37.0, "v" * 256)
    response = post(client, device, long)
    assert response.status_code == 422
    issue = fhir(response)["issue"][0]
    assert issue["diagnostics"] == "Observation.identifier[0].value: longer than 255 characters"
    assert issue["expression"] == ["Observation.identifier[0].value"]
    long_system = temperature(moment, 37.0)
    long_system["identifier"][0]["system"] = "urn:x:" + "s" * 250
    assert fhir(post(client, device, long_system))["issue"][0]["diagnostics"] == (
        "Observation.identifier[0].system: longer than 255 characters"
    )
    assert not Reading.objects.exists()
    longest = temperature(moment, 37.0, "v" * 255)
    longest["identifier"][0]["system"] = "urn:x:" + "s" * 249
    assert post(client, device, longest).status_code == 201
    assert len(Reading.objects.get().identifier) == 511


@pytest.mark.django_db
def test_only_identifier_system_and_value_name_a_reading(client, device):
    moment = timezone.now() - timedelta(hours=1)
    sent = temperature(moment, 37.0)
    sent["identifier"] = [
        {"use": "usual"},
        {"use": "official", "system": "urn:device:thermo", "value": "t-1"},
    ]
    assert post(client, device, sent).status_code == 201
    assert Reading.objects.get().identifier == "urn:device:thermo|t-1"
    withdrawal = temperature(moment, 37.0, status="entered-in-error")
    withdrawal["identifier"][0]["period"] = {"start": "2026-01-01"}
    withdrawal["identifier"][0]["use"] = "secondary"
    assert post(client, device, withdrawal).status_code == 200
    assert not Reading.objects.exists()


def test_a_batch_or_transaction_entry_without_its_request_is_refused():
    for kind in ("batch", "transaction"):
        bundle = bundle_of(kind, at(published("numeric-spo2-alarm.json"), NOW))
        bundle["entry"].append({"resource": at(published("numeric-spotnumeric.json"), NOW)})
        upload = ingest.parse(bundle, window=WINDOW)
        assert upload.items[0].readings
        reason = upload.items[1].refused
        assert reason is not None and reason.in_entry
        assert reason.expression == "Bundle.entry[1].request"
    collection = bundle_of("collection", at(published("numeric-spo2-alarm.json"), NOW))
    del collection["entry"][0]["request"]
    assert ingest.parse(collection, window=WINDOW).items[0].readings


@pytest.mark.django_db
def test_an_entry_without_its_request_gets_400(client, device):
    bundle = shifted(published("bundle-example-1.json"), timezone.now() - timedelta(minutes=5))
    del bundle["entry"][4]["request"]
    response = post(client, device, bundle)
    assert response.status_code == 400
    issue = fhir(response)["issue"][0]
    assert issue["expression"] == ["Bundle.entry[4].request"]
    assert issue["diagnostics"] == (
        "Bundle.entry[4].request: an entry of a batch or transaction must say its request "
        "(FHIR rule bdl-3)"
    )
    assert not Reading.objects.exists()
    bundle["type"] = "batch"
    batch = fhir(post(client, device, bundle))
    assert statuses(batch) == ["200 OK"] * 4 + ["400 Bad Request", "201 Created"]
    assert stored() == [("heart_rate", 47)]


def odd_uploads() -> list[tuple[str, object, int, str]]:
    moment = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    leap_second = temperature(moment, 37.0, effectiveDateTime="2026-11-23T10:00:60Z")
    only_end = temperature(moment, 37.0)
    del only_end["effectiveDateTime"]
    only_end["effectivePeriod"] = {"end": moment.isoformat()}
    huge = temperature(moment, 37.0)
    huge["valueQuantity"] = {"value": 1e308, "unit": "[degF]"}
    two_codes = temperature(moment, 37.0)
    two_codes["code"] = {
        "coding": [
            {"system": vitals.LOINC, "code": "8310-5"},
            {"system": vitals.LOINC, "code": "85354-9"},
        ]
    }
    return [
        ("a leap second", leap_second, 422, "is not a FHIR dateTime"),
        ("a period with only its end", only_end, 422, "the period has no start"),
        ("1e308 degrees", huge, 422, "is not a possible reading"),
        ("a temperature coded as a panel", two_codes, 422, "a blood pressure panel needs"),
        (
            "a transaction entry with neither request nor code",
            {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {}}]},
            400,
            "Bundle.entry[0].request: an entry of a batch or transaction must say its request",
        ),
        (
            "entries that are not objects",
            {"resourceType": "Bundle", "type": "batch", "entry": [None, 1, "x"]},
            200,
            "resource: each entry holds a FHIR resource",
        ),
        (
            "entries that are not a list",
            {"resourceType": "Bundle", "type": "batch", "entry": {}},
            400,
            "Bundle.entry must be a list of entries.",
        ),
        (
            "withdrawing what was never sent",
            {
                "resourceType": "Observation",
                "status": "entered-in-error",
                "identifier": [{"value": "nope"}],
                "code": {"text": "x"},
            },
            404,
            "this device has no stored reading with this identifier",
        ),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "says"),
    [case[1:] for case in odd_uploads()],
    ids=[case[0] for case in odd_uploads()],
)
def test_odd_uploads_get_a_fhir_answer_with_the_reason(client, since_2010, body, status, says):
    response = post(client, since_2010, body)
    assert response.status_code == status
    answer = fhir(response)
    if answer["resourceType"] == "Bundle":
        outcomes = [e["response"]["outcome"] for e in answer["entry"]]
        assert statuses(answer) == ["422 Unprocessable Entity"] * len(outcomes)
        answer = outcomes[0]
    assert says in answer["issue"][0]["diagnostics"]
    assert not Reading.objects.exists()
