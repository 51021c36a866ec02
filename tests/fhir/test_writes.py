"""Writes through the FHIR API: Patient create and update, Observation create, conditional
create, If-Match versioning, transaction and batch Bundles, the refusals (bad JSON, unknown
elements, wrong resourceType, id mismatch, read-only types, CSRF) and who may write."""

import copy
import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django.utils.crypto import get_random_string
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient as FhirPatient

from rpm.models import Alert, Reading
from telehealth.accounts.fhir import patient_system
from telehealth.accounts.models import Patient
from telehealth.audit.models import Action, AuditEvent
from telehealth.fhir.writes import MAX_BUNDLE_ENTRIES
from tests.conftest import sign_in
from tests.rpm.test_fhir_observation import Readings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
FHIR_JSON = "application/fhir+json"


def published(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def patient_example() -> dict:
    """The published Patient, adapted where our rules require: its organisation is not our
    practice, and its mobile number is Australian, so it needs its country code here."""
    body = published("patient-example.json")
    del body["managingOrganization"]
    mobile = next(t for t in body["telecom"] if t.get("use") == "mobile")
    mobile["value"] = "+61 3 3410 5613"
    return body


def heart_rate_example(patient, *, minutes_ago: int = 30) -> dict:
    """The published heart-rate Observation, for our patient and measured recently (its own
    date, 1999-07-02, has no time and is decades before any monitoring window)."""
    body = published("observation-example-heart-rate.json")
    body["subject"] = {"reference": f"Patient/{patient.pk}"}
    moment = timezone.now() - timedelta(minutes=minutes_ago)
    body["effectiveDateTime"] = moment.replace(microsecond=0).isoformat()
    return body


class Api:
    """Sends FHIR JSON and answers (status, body, response)."""

    def __init__(self, client: Client):
        self.client = client

    def as_user(self, user):
        sign_in(self.client, user)
        return self

    def send(self, method: str, path: str, body, *, content_type=FHIR_JSON, **headers):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        response = self.client.generic(
            method, f"/fhir/R4/{path}", data, content_type=content_type, headers=headers
        )
        assert response["Content-Type"].startswith(FHIR_JSON), response.content
        return response.status_code, response.json(), response

    def post(self, path, body, **headers):
        return self.send("POST", path, body, **headers)

    def put(self, path, body, **headers):
        return self.send("PUT", path, body, **headers)

    def get(self, path):
        response = self.client.get(f"/fhir/R4/{path}")
        return response.status_code, response.json(), response


@pytest.fixture
def api(client):
    return Api(client)


@pytest.fixture
def store(world):
    """world.patient enrolled for monitoring, with a blood pressure cuff."""
    readings = Readings(world)
    readings.device("systolic")
    return readings


def diagnostics(body: dict) -> str:
    outcome = OperationOutcome.model_validate(body)
    return " ".join(issue.diagnostics or "" for issue in outcome.issue)


def version_of(response) -> str:
    etag = response["ETag"]
    assert etag.startswith('W/"') and etag.endswith('"'), etag
    return etag[3:-1]


def new_patient_id(location: str) -> int:
    return int(location.split("/Patient/")[1].split("/")[0])


# --- Patient create -------------------------------------------------------------------------


def test_the_published_patient_is_created_with_location_etag_and_audit(api, world):
    status, body, response = api.as_user(world.front_desk).post("Patient", patient_example())
    assert status == 201, body
    resource: Any = FhirPatient.model_validate(body)
    version = version_of(response)
    assert resource.meta.versionId == version
    assert response["Location"] == (
        f"http://testserver/fhir/R4/Patient/{resource.id}/_history/{version}"
    )
    patient = Patient.objects.get(pk=resource.id)
    assert patient.practice == world.practice
    assert (patient.legal_name, patient.preferred_name) == ("Peter James Chalmers", "Jim")
    assert str(patient.date_of_birth) == "1974-12-25"
    assert (patient.sex, patient.preferred_language) == ("male", "en")
    assert patient.phone == "+61334105613"
    assert patient.address == {
        "line1": "534 Erewhon St",
        "city": "PleasantVille",
        "state": "Vic",
        "postal_code": "3999",
    }
    assert patient.state == ""  # Victoria is not a US state of residence
    # Our identifier replaces theirs; theirs is not kept.
    assert [(i.system, i.value) for i in resource.identifier] == [
        (patient_system(world.practice), str(patient.pk))
    ]
    # Encrypted at rest as on every other path into the records.
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone, address FROM accounts_patient WHERE id = %s", [patient.pk])
        raw_phone, raw_address = cursor.fetchone()
    assert "3410" not in str(raw_phone) and "Erewhon" not in str(raw_address)
    event = AuditEvent.objects.get(
        action=Action.CREATE, object_type="accounts.Patient", object_id=str(patient.pk)
    )
    assert event.actor == world.front_desk
    # A read serves the same version.
    status, read, response = api.get(f"Patient/{patient.pk}")
    assert status == 200 and read["meta"]["versionId"] == version
    assert version_of(response) == version


def test_the_example_as_published_is_refused_for_its_number_without_echoing_it(api, world):
    body = published("patient-example.json")
    del body["managingOrganization"]
    status, outcome, _response = api.as_user(world.admin).post("Patient", body)
    assert status == 422
    assert "Patient.telecom" in diagnostics(outcome)
    assert "3410" not in json.dumps(outcome)
    assert not Patient.objects.filter(legal_name="Peter James Chalmers").exists()


def test_another_organization_or_our_own_identifier_is_refused_on_create(api, world):
    api.as_user(world.admin)
    body = published("patient-example.json")  # managingOrganization: Organization/1
    body["managingOrganization"] = {"reference": f"Organization/{world.outside_practice.pk}"}
    status, outcome, _response = api.post("Patient", body)
    assert status == 422 and "Patient.managingOrganization" in diagnostics(outcome)
    body = patient_example()
    body["identifier"] = [{"system": patient_system(world.practice), "value": "1"}]
    status, outcome, _response = api.post("Patient", body)
    assert status == 422 and "Patient.identifier" in diagnostics(outcome)
    assert not Patient.objects.filter(legal_name="Peter James Chalmers").exists()


def test_a_language_we_do_not_offer_and_a_partial_birth_date_are_422(api, world):
    api.as_user(world.front_desk)
    body = patient_example()
    french = {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr"}]}
    body["communication"] = [{"language": french}]
    status, outcome, _response = api.post("Patient", body)
    assert status == 422 and "Patient.communication" in diagnostics(outcome)
    body["communication"][0]["language"]["coding"][0]["code"] = "es-MX"
    body["birthDate"] = "1974"
    status, outcome, _response = api.post("Patient", body)
    assert status == 422 and "Patient.birthDate" in diagnostics(outcome)
    del body["birthDate"]
    body["birthDate"] = "1974-12-25"
    status, created, _response = api.post("Patient", body)
    assert status == 201
    assert Patient.objects.get(pk=created["id"]).preferred_language == "es"


# --- Refusals of the body -------------------------------------------------------------------


def test_bad_json_is_a_400_outcome(api, world):
    status, outcome, _response = api.as_user(world.front_desk).post("Patient", '{"resourceType":')
    assert status == 400
    assert OperationOutcome.model_validate(outcome).issue[0].code == "invalid"


def test_a_form_body_is_refused_as_unsupported(api, world):
    status, _outcome, _response = api.as_user(world.front_desk).post(
        "Patient", "name=x", content_type="text/plain"
    )
    assert status == 415


def test_an_unknown_element_is_a_400_naming_its_path_not_its_value(api, world):
    body = patient_example()
    body["favouriteColour"] = "secret-teal"
    body["name"][0]["given"] = ["Peter", 7]
    before = Patient.objects.count()
    status, outcome, _response = api.as_user(world.front_desk).post("Patient", body)
    assert status == 400
    said = diagnostics(outcome)
    assert "Patient.favouriteColour" in said and "Patient.name[0].given[1]" in said
    assert "secret-teal" not in json.dumps(outcome)
    assert Patient.objects.count() == before


def test_a_wrong_resource_type_is_a_400(api, world, store):
    api.as_user(world.admin)
    status, outcome, _response = api.post("Patient", heart_rate_example(world.patient))
    assert status == 400 and "resourceType" in diagnostics(outcome)
    body = patient_example() | {"id": str(world.patient.pk)}
    status, outcome, _response = api.put(f"Observation/{world.patient.pk}", body)
    assert status == 400


def test_a_read_only_type_answers_405(api, world):
    api.as_user(world.admin)
    practitioner = {"resourceType": "Practitioner", "name": [{"text": "Dr New"}]}
    status, outcome, _response = api.post("Practitioner", practitioner)
    assert status == 405
    assert OperationOutcome.model_validate(outcome).issue[0].code == "not-supported"
    pk = world.clinician.provider.pk
    status, _outcome, _response = api.put(f"Practitioner/{pk}", practitioner | {"id": str(pk)})
    assert status == 405


# --- Who may write --------------------------------------------------------------------------


def test_anonymous_writes_get_401(api, world):
    for method, path in (("POST", "Patient"), ("PUT", f"Patient/{world.patient.pk}"), ("POST", "")):
        status, outcome, response = api.send(method, path, patient_example())
        assert status == 401, (method, path)
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert OperationOutcome.model_validate(outcome).issue[0].code == "login"
    assert not Patient.objects.filter(legal_name="Peter James Chalmers").exists()


def test_a_patient_user_and_a_clinician_may_not_create_a_patient(api, world):
    for user in (world.patient.user, world.clinician):
        status, outcome, _response = api.as_user(user).post("Patient", patient_example())
        assert status == 403, outcome
    assert not Patient.objects.filter(legal_name="Peter James Chalmers").exists()


def test_a_patient_user_may_not_update_their_own_record(api, world):
    api.as_user(world.patient.user)
    _status, body, _response = api.get(f"Patient/{world.patient.pk}")
    body["name"][0]["text"] = "Someone Else"
    status, _outcome, _response = api.put(f"Patient/{world.patient.pk}", body)
    assert status == 403
    world.patient.refresh_from_db()
    assert world.patient.legal_name == "Pat Alpha"


def test_another_practices_patient_update_is_404(api, world):
    outsider = world.outside_patient
    body = patient_example() | {"id": str(outsider.pk)}
    status, _outcome, _response = api.as_user(world.front_desk).put(f"Patient/{outsider.pk}", body)
    assert status == 404
    outsider.refresh_from_db()
    assert outsider.legal_name == "Pat Beta"


def test_a_cookie_post_without_the_csrf_token_creates_nothing(world):
    browser = sign_in(Client(enforce_csrf_checks=True), world.front_desk)
    api = Api(browser)
    status, outcome, _response = api.post("Patient", patient_example())
    assert status == 403 and "CSRF" in diagnostics(outcome)
    assert not Patient.objects.filter(legal_name="Peter James Chalmers").exists()
    token = get_random_string(32)  # a CSRF secret: the cookie and the header carry the same
    browser.cookies["csrftoken"] = token
    status, _body, _response = api.post("Patient", patient_example(), X_CSRFToken=token)
    assert status == 201
    assert Patient.objects.filter(legal_name="Peter James Chalmers").count() == 1


# --- Update and If-Match --------------------------------------------------------------------


def test_update_with_if_match_changes_the_record_and_its_version(api, world):
    api.as_user(world.front_desk)
    path = f"Patient/{world.patient.pk}"
    _status, body, response = api.get(path)
    first = version_of(response)
    body["name"] = [{"use": "official", "text": "Patricia Alpha"}, {"use": "usual", "text": "Pat"}]
    body["gender"] = "female"
    status, updated, response = api.put(path, body, If_Match=f'W/"{first}"')
    assert status == 200, updated
    second = version_of(response)
    assert second != first and updated["meta"]["versionId"] == second
    world.patient.refresh_from_db()
    assert (world.patient.legal_name, world.patient.preferred_name) == ("Patricia Alpha", "Pat")
    assert world.patient.sex == "female"
    assert world.patient.phone == "+16175550123"  # sent back as read: unchanged
    event = AuditEvent.objects.filter(action=Action.UPDATE, object_id=str(world.patient.pk)).last()
    assert event is not None and event.actor == world.front_desk
    assert event.detail == "changed: legal_name, preferred_name, sex"
    # The old version no longer matches.
    body["gender"] = "male"
    status, outcome, _response = api.put(path, body, If_Match=f'W/"{first}"')
    assert status == 412, outcome
    world.patient.refresh_from_db()
    assert world.patient.sex == "female"


def test_update_without_if_match_is_accepted(api, world):
    api.as_user(world.admin)
    path = f"Patient/{world.patient.pk}"
    _status, body, _response = api.get(path)
    body["birthDate"] = "1981-02-03"
    status, _updated, _response = api.put(path, body)
    assert status == 200
    world.patient.refresh_from_db()
    assert str(world.patient.date_of_birth) == "1981-02-03"


def test_update_leaving_out_the_phone_clears_it(api, world):
    """An update replaces the resource: what is left out is no longer on the record."""
    api.as_user(world.admin)
    path = f"Patient/{world.patient.pk}"
    _status, body, _response = api.get(path)
    body["telecom"] = [t for t in body["telecom"] if t["system"] != "phone"]
    status, _updated, _response = api.put(path, body)
    assert status == 200
    world.patient.refresh_from_db()
    assert (world.patient.phone, world.patient.phone_index) == ("", "")
    assert world.patient.email == "pat@alpha.test"


def test_the_id_in_the_body_must_be_the_urls(api, world):
    api.as_user(world.front_desk)
    path = f"Patient/{world.patient.pk}"
    _status, body, _response = api.get(path)
    status, outcome, _response = api.put(path, body | {"id": str(world.other_patient.pk)})
    assert status == 400 and "Patient.id" in diagnostics(outcome)
    del body["id"]
    status, _outcome, _response = api.put(path, body)
    assert status == 400


@pytest.mark.django_db(transaction=True)
def test_of_racing_updates_with_one_if_match_exactly_one_wins(require_postgres, world):
    """Ten updates sent at once with the version all of them read: the row is locked before
    the version is compared, so one is applied and nine get 412."""
    racers = 10
    reader = Api(Client()).as_user(world.front_desk)
    _status, body, response = reader.get(f"Patient/{world.patient.pk}")
    version = version_of(response)
    # Each racer signs in first, one after another; only the updates run at once.
    clients = [Api(Client()).as_user(world.front_desk) for _n in range(racers)]
    barrier = threading.Barrier(racers, timeout=30)
    statuses: list[object] = []
    lock = threading.Lock()

    def race(n: int) -> None:
        status: object
        mine = copy.deepcopy(body)
        mine["name"][0] = {"use": "official", "text": f"Racer Number{n}"}
        try:
            barrier.wait()
            status, _body, _response = clients[n].put(
                f"Patient/{world.patient.pk}", mine, If_Match=f'W/"{version}"'
            )
        except Exception as exc:  # shown by the assertion below
            status = repr(exc)
        finally:
            connection.close()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses, key=str) == [200] + [412] * (racers - 1)
    world.patient.refresh_from_db()
    assert world.patient.legal_name.startswith("Racer Number")
    assert (
        AuditEvent.objects.filter(
            action=Action.UPDATE, object_id=str(world.patient.pk), actor=world.front_desk
        ).count()
        == 1
    )


# --- Conditional create ---------------------------------------------------------------------


def test_conditional_create_with_no_one_or_several_matches(api, world):
    api.as_user(world.front_desk)
    query = "name=chalmers&birthdate=1974-12-25"
    status, created, response = api.post("Patient", patient_example(), If_None_Exist=query)
    assert status == 201
    assert Patient.objects.filter(legal_name="Peter James Chalmers").count() == 1
    status, matched, response = api.post("Patient", patient_example(), If_None_Exist=query)
    assert status == 200 and matched["id"] == created["id"]
    assert version_of(response) == created["meta"]["versionId"]
    assert "Location" not in response
    assert Patient.objects.filter(legal_name="Peter James Chalmers").count() == 1
    status, _body, _response = api.post("Patient", patient_example())  # unconditional
    assert status == 201
    status, outcome, _response = api.post("Patient", patient_example(), If_None_Exist=query)
    assert status == 412, outcome
    assert Patient.objects.filter(legal_name="Peter James Chalmers").count() == 2


def test_conditional_create_with_an_unknown_parameter_is_400(api, world):
    status, outcome, _response = api.as_user(world.front_desk).post(
        "Patient", patient_example(), If_None_Exist="shoe_size=9"
    )
    assert status == 400 and "shoe_size" in diagnostics(outcome)


# --- Observation create ---------------------------------------------------------------------


def test_the_published_heart_rate_is_stored_through_ingestion(api, world, store):
    status, body, response = api.as_user(world.clinician).post(
        "Observation", heart_rate_example(world.patient)
    )
    assert status == 201, body
    observation: Any = Observation.model_validate(body)
    reading = Reading.objects.get(pk=observation.id)
    assert (reading.patient, reading.vital, reading.value) == (world.patient, "heart_rate", 44)
    assert reading.device == store.device("systolic")
    assert response["Location"] == f"http://testserver/fhir/R4/Observation/{reading.pk}"
    assert observation.subject.reference == f"Patient/{world.patient.pk}"
    event = AuditEvent.objects.get(
        action=Action.CREATE, object_type="rpm.Reading", object_id=str(reading.pk)
    )
    assert (event.actor, event.patient) == (world.clinician, world.patient)
    assert not Alert.objects.filter(patient=world.patient).exists()  # 44/min is within limits


def test_a_reading_past_a_threshold_opens_an_alert(api, world, store):
    body = heart_rate_example(world.patient)
    body["valueQuantity"]["value"] = 150
    status, created, _response = api.as_user(world.clinician).post("Observation", body)
    assert status == 201, created
    alert = Alert.objects.get(patient=world.patient, vital="heart_rate")
    assert list(alert.readings.values_list("pk", flat=True)) == [int(created["id"])]


def test_the_published_blood_pressure_is_one_panel(api, world, store):
    body = published("observation-example-bloodpressure.json")
    body["subject"] = {"reference": f"Patient/{world.patient.pk}"}
    body["effectiveDateTime"] = (timezone.now() - timedelta(hours=1)).isoformat()
    del body["performer"]  # a Practitioner/example of the examples' world
    status, created, _response = api.as_user(world.admin).post("Observation", body)
    assert status == 201, created
    assert [c["valueQuantity"]["value"] for c in created["component"]] == [107, 60]
    assert Reading.objects.filter(patient=world.patient).count() == 2


def test_what_ingestion_refuses_is_422_with_its_reason(api, world, store):
    api.as_user(world.clinician)
    as_published = published("observation-example-heart-rate.json")
    as_published["subject"] = {"reference": f"Patient/{world.patient.pk}"}
    status, outcome, _response = api.post("Observation", as_published)
    assert status == 422
    assert "Observation.effectiveDateTime: a date without a time" in diagnostics(outcome)
    again = heart_rate_example(world.patient)
    assert api.post("Observation", again)[0] == 201
    status, outcome, _response = api.post("Observation", again)
    assert status == 422 and "already stored" in diagnostics(outcome)
    assert Reading.objects.filter(patient=world.patient).count() == 1


def test_an_observation_of_a_patient_the_user_may_not_see_is_refused(api, world, store):
    body = heart_rate_example(world.outside_patient)
    status, outcome, _response = api.as_user(world.clinician).post("Observation", body)
    assert status == 422 and "Observation.subject" in diagnostics(outcome)
    status, _outcome, _response = api.as_user(world.front_desk).post(
        "Observation", heart_rate_example(world.patient)
    )
    assert status == 403
    assert not Reading.objects.exists()


# --- Transaction and batch Bundles ----------------------------------------------------------


def transaction(*entries: dict, kind: str = "transaction") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post_entry(resource: dict, full_url: str = "", **request) -> dict:
    entry = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    return entry | ({"fullUrl": full_url} if full_url else {})


def counts() -> tuple[int, int, int]:
    return Patient.objects.count(), Reading.objects.count(), AuditEvent.objects.count()


def test_a_transaction_writes_every_entry(api, world):
    other = patient_example()
    other["name"] = [{"use": "official", "text": "Second Person"}]
    status, bundle, _response = api.as_user(world.front_desk).post(
        "", transaction(post_entry(patient_example()), post_entry(other))
    )
    assert status == 200, bundle
    parsed: Any = Bundle.model_validate(bundle)
    assert parsed.type == "transaction-response"
    assert [e.response.status for e in parsed.entry] == ["201 Created", "201 Created"]
    names = [Patient.objects.get(pk=e.resource.id).legal_name for e in parsed.entry]
    assert names == ["Peter James Chalmers", "Second Person"]
    for entry in parsed.entry:
        assert entry.response.etag == f'W/"{entry.resource.meta.versionId}"'
        assert entry.response.location.endswith(
            f"/Patient/{entry.resource.id}/_history/{entry.resource.meta.versionId}"
        )


def test_a_failing_entry_rolls_back_the_whole_transaction(api, world):
    api.as_user(world.front_desk)
    before = counts()
    bad = patient_example()
    bad["birthDate"] = "1974"  # valid FHIR, but we need the full date: 422 after entry 0 wrote
    status, outcome, _response = api.post(
        "", transaction(post_entry(patient_example()), post_entry(bad))
    )
    assert status == 422
    assert diagnostics(outcome).startswith("Bundle.entry[1]: Patient.birthDate")
    assert counts() == before
    invalid = patient_example() | {"favouriteColour": "teal"}
    status, outcome, _response = api.post(
        "", transaction(post_entry(patient_example()), post_entry(invalid))
    )
    assert status == 400 and "Bundle.entry[1].resource.favouriteColour" in diagnostics(outcome)
    assert counts() == before


def test_a_later_entry_refers_to_a_patient_of_the_same_bundle(api, world, store):
    """The Observation names the Patient entry by its urn:uuid; the Patient entry is a
    conditional create that finds world.patient, so the Observation is theirs."""
    urn = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"
    reading = heart_rate_example(world.patient)
    reading["subject"] = {"reference": urn}
    patient = {
        "resourceType": "Patient",
        "name": [{"use": "official", "text": "Pat Alpha"}],
        "birthDate": "1980-01-02",
    }
    query = f"identifier={patient_system(world.practice)}|{world.patient.pk}"
    status, bundle, _response = api.as_user(world.admin).post(
        "", transaction(post_entry(reading), post_entry(patient, urn, ifNoneExist=query))
    )
    assert status == 200, bundle
    observation, found = (e["resource"] for e in bundle["entry"])  # in the order sent
    assert found["id"] == str(world.patient.pk)
    assert [e["response"]["status"] for e in bundle["entry"]] == ["201 Created", "200 OK"]
    assert observation["subject"]["reference"] == f"Patient/{world.patient.pk}"
    assert Reading.objects.get(pk=observation["id"]).patient == world.patient


def test_a_new_patients_reference_reaches_the_later_entry_and_its_failure_undoes_both(api, world):
    """A Patient created in the Bundle and an Observation of theirs: the reference resolves
    to the new patient (who has no monitoring device yet), so the Observation is refused for
    that reason, and the new patient is rolled back with it."""
    urn = "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"
    reading = heart_rate_example(world.patient)
    reading["subject"] = {"reference": urn}
    api.as_user(world.admin)
    before = counts()
    status, outcome, _response = api.post(
        "", transaction(post_entry(patient_example(), urn), post_entry(reading))
    )
    assert status == 422
    assert diagnostics(outcome) == (
        "Bundle.entry[1]: Observation.device: name the patient's monitoring device that took "
        "the reading (Device/<id>); the patient has none."
    )
    assert counts() == before


def test_a_batch_answers_each_entry_and_keeps_what_succeeded(api, world):
    bad = patient_example() | {"birthDate": "1974"}
    status, bundle, _response = api.as_user(world.front_desk).post(
        "", transaction(post_entry(patient_example()), post_entry(bad), kind="batch")
    )
    assert status == 200, bundle
    parsed: Any = Bundle.model_validate(bundle)
    assert parsed.type == "batch-response"
    assert [e.response.status for e in parsed.entry] == ["201 Created", "422 Unprocessable Entity"]
    assert "Patient.birthDate" in parsed.entry[1].response.outcome.issue[0].diagnostics
    assert Patient.objects.filter(legal_name="Peter James Chalmers").count() == 1


def test_only_transaction_and_batch_bundles_are_accepted_at_the_base(api, world):
    api.as_user(world.front_desk)
    status, _outcome, _response = api.post("", transaction(kind="collection"))
    assert status == 400
    status, _outcome, _response = api.post("", patient_example())
    assert status == 400
    entry = post_entry(patient_example())
    entry["request"]["method"] = "DELETE"
    status, outcome, _response = api.post("", transaction(entry))
    assert status == 400 and "Bundle.entry[0].request.method" in diagnostics(outcome)


def test_the_capability_statement_says_which_writes_each_type_takes(api):
    status, statement, _response = api.get("metadata")
    assert status == 200
    rest = statement["rest"][0]
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}
    by_type = {r["type"]: r for r in rest["resource"]}
    codes = {t: {i["code"] for i in r["interaction"]} for t, r in by_type.items()}
    assert codes["Patient"] >= {"create", "update"}
    assert "create" in codes["Observation"] and "update" not in codes["Observation"]
    assert not codes["Practitioner"] & {"create", "update"}
    assert by_type["Patient"]["versioning"] == "versioned-update"
    assert by_type["Patient"]["conditionalCreate"] is True


# --- Bundle limits and fullUrls ---------------------------------------------------------------


def _chained_patients(count: int) -> dict:
    """A transaction of `count` new patients, each but the first naming the one before it as
    a link (a chain of temporary references, sent last first)."""
    entries = []
    for n in range(count):
        resource: dict = {
            "resourceType": "Patient",
            "name": [{"text": f"Chain Patient{n}"}],
            "birthDate": "1990-01-01",
        }
        if n:
            resource["link"] = [
                {
                    "other": {"reference": f"urn:uuid:00000000-0000-4000-8000-{n - 1:012d}"},
                    "type": "seealso",
                }
            ]
        entries.append(
            {
                "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
                "resource": resource,
                "request": {"method": "POST", "url": "Patient"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries[::-1]}


def test_a_bundle_of_too_many_entries_is_refused_before_any_work(api, world):
    api.as_user(world.front_desk)
    status, outcome, _response = api.post("", _chained_patients(MAX_BUNDLE_ENTRIES + 1))
    assert status == 413 and "at most" in diagnostics(outcome)
    assert not Patient.objects.filter(legal_name__startswith="Chain").exists()


def test_a_repeated_full_url_is_refused(api, world):
    api.as_user(world.front_desk)
    bundle = _chained_patients(2)
    bundle["entry"][1]["fullUrl"] = bundle["entry"][0]["fullUrl"]
    status, outcome, _response = api.post("", bundle)
    assert status == 400 and "fullUrl" in diagnostics(outcome)
    assert not Patient.objects.filter(legal_name__startswith="Chain").exists()


def test_if_match_star_matches_any_current_version(api, world):
    api.as_user(world.front_desk)
    path = f"Patient/{world.patient.pk}"
    _status, body, _response = api.get(path)
    body["gender"] = "female"
    status, updated, _response = api.put(path, body, If_Match="*")
    assert status == 200, updated


def test_the_location_of_a_create_reads_that_version(api, world):
    api.as_user(world.front_desk)
    status, created, response = api.post("Patient", patient_example())
    assert status == 201, created
    location = response["Location"]
    path = location.split("/fhir/R4/", 1)[1]
    status, body, read = api.get(path)
    assert status == 200 and body == created and read["ETag"] == response["ETag"]
    body["gender"] = "female"
    api.put(f"Patient/{created['id']}", body)
    status, outcome, _read = api.get(path)  # that version is no longer the current one
    assert status == 404 and "current version" in diagnostics(outcome)
