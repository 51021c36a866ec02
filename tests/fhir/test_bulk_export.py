"""FHIR Bulk Data $export (https://hl.org/fhir/uv/bulkdata/export.html): kick-off checks, the
202 → 200 status flow and its manifest, every NDJSON line parsed with fhir.resources, `_since`
and `_type`, groups and one patient, practice isolation, requester-only status and files,
DELETE, expiry, encryption at rest and the audit trail."""

import dataclasses
import json
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rpm.models import Reading
from telehealth.accounts.models import CareTeamReason, Patient, Role
from telehealth.accounts.services import care_team_add
from telehealth.audit.models import Action, AuditEvent
from telehealth.fhir import bulk, registry, tasks
from telehealth.fhir.models import BulkExport, BulkExportFile
from tests.conftest import make_patient, make_staff, sign_in
from tests.rpm.test_fhir_observation import Readings


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

ASYNC = {"HTTP_ACCEPT": "application/fhir+json", "HTTP_PREFER": "respond-async"}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def store(world):
    readings = Readings(world)
    readings.add("heart_rate", 71)
    readings.pressure(128, 82)
    readings.add("weight", 80.5, patient=world.other_patient)
    readings.add("heart_rate", 99, patient=world.outside_patient)
    return readings


@pytest.fixture
def admin(client, world):
    sign_in(client, world.admin)
    return client


def kick_off(client, capture, path="$export", *, run=True, headers=ASYNC, **params):
    with capture(execute=run):
        return client.get(f"/fhir/R4/{path}", params, **headers)


def poll(client, response):
    return client.get(response["Content-Location"])


def download(client, url: str) -> list[dict]:
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"
    assert "no-store" in response["Cache-Control"]
    body = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in body.splitlines()]


def exported(client, manifest: dict) -> dict[str, list[dict]]:
    """Every file of a manifest, each line parsed with its type's fhir.resources model."""
    resources: dict[str, list[dict]] = {}
    for output in manifest["output"]:
        lines = download(client, output["url"])
        for line in lines:
            assert line["resourceType"] == output["type"]
            mapper = registry.mapper_for(output["type"])
            assert mapper is not None
            mapper.model.model_validate(line)  # raises on anything invalid
        assert len(lines) == output["count"]
        resources[output["type"]] = lines
    return resources


def ids(resources: list[dict]) -> set[str]:
    return {resource["id"] for resource in resources}


def completed(client, capture, path="$export", **params) -> tuple[dict, dict[str, list[dict]]]:
    response = kick_off(client, capture, path, **params)
    assert response.status_code == 202, response.content
    status = poll(client, response)
    assert status.status_code == 200, status.content
    manifest = status.json()
    return manifest, exported(client, manifest)


# Kick-off


def test_kick_off_without_accept_or_prefer_is_a_400_and_starts_nothing(
    admin, django_capture_on_commit_callbacks
):
    for headers in (
        {"HTTP_PREFER": "respond-async"},
        {"HTTP_ACCEPT": "application/json", "HTTP_PREFER": "respond-async"},
        {"HTTP_ACCEPT": "application/fhir+json"},
        {"HTTP_ACCEPT": "application/fhir+json", "HTTP_PREFER": "return=minimal"},
    ):
        response = kick_off(admin, django_capture_on_commit_callbacks, headers=headers)
        assert response.status_code == 400, headers
        assert response.json()["resourceType"] == "OperationOutcome"
    assert not BulkExport.objects.exists()


@pytest.mark.parametrize(
    ("path", "params", "names"),
    [
        ("$export", {"_outputFormat": "text/csv"}, "_outputFormat"),
        ("$export", {"_type": "Observation,Nonsense"}, "Nonsense"),
        ("Patient/$export", {"_type": "Practitioner"}, "Practitioner"),
        ("$export", {"_since": "2026-01-01"}, "instant"),
        ("$export", {"_since": "yesterday"}, "instant"),
        ("$export", {"_since": "2026-13-01T00:00:00Z"}, "_since"),
        ("$export", {"_typeFilter": "Observation?code=8867-4"}, "_typeFilter"),
        ("$export", {"patient": "Patient/1"}, "patient"),
    ],
)
def test_kick_off_with_a_bad_parameter_is_a_400_naming_it(
    admin, django_capture_on_commit_callbacks, path, params, names
):
    response = kick_off(admin, django_capture_on_commit_callbacks, path, **params)
    assert response.status_code == 400
    assert names in response.json()["issue"][0]["diagnostics"]
    assert not BulkExport.objects.exists()


def test_kick_off_accepts_every_ndjson_output_format(admin, django_capture_on_commit_callbacks):
    for output_format in ("application/fhir+ndjson", "application/ndjson", "ndjson"):
        response = kick_off(
            admin, django_capture_on_commit_callbacks, run=False, _outputFormat=output_format
        )
        assert response.status_code == 202


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.FRONT_DESK, Role.PATIENT])
def test_only_a_practice_admin_may_export(client, world, django_capture_on_commit_callbacks, role):
    sign_in(client, world.user_for(role))
    response = kick_off(client, django_capture_on_commit_callbacks)
    assert response.status_code == 403
    assert response.json()["resourceType"] == "OperationOutcome"
    assert not BulkExport.objects.exists()


def test_anonymous_kick_off_is_a_401(client, django_capture_on_commit_callbacks):
    response = kick_off(client, django_capture_on_commit_callbacks)
    assert response.status_code == 401


# The flow


def test_status_is_202_with_progress_until_the_job_has_run_then_the_manifest(
    admin, world, store, django_capture_on_commit_callbacks
):
    response = kick_off(admin, django_capture_on_commit_callbacks, run=False)
    assert response.status_code == 202
    assert response["Content-Location"].startswith("http://testserver/fhir/R4/$export-status/")
    waiting = poll(admin, response)
    assert waiting.status_code == 202
    assert waiting["X-Progress"] == "queued"
    assert int(waiting["Retry-After"]) > 0

    export = BulkExport.objects.get()
    tasks.run_bulk_export.delay(str(export.pk))

    done = poll(admin, response)
    assert done.status_code == 200
    assert done["Content-Type"] == "application/json"
    assert "no-store" in done["Cache-Control"]
    manifest = done.json()
    assert set(manifest) == {"transactionTime", "request", "requiresAccessToken", "output", "error"}
    assert manifest["request"] == "http://testserver/fhir/R4/$export"
    assert manifest["requiresAccessToken"] is True
    assert manifest["error"] == []
    assert sorted(o["type"] for o in manifest["output"]) == [
        "Observation",
        "Organization",
        "Patient",
        "Practitioner",
    ]
    for output in manifest["output"]:
        assert set(output) == {"type", "url", "count"}
        assert output["url"].startswith("http://testserver/fhir/R4/$export-file/")


def test_system_export_holds_the_practice_and_nothing_of_another(
    admin, world, store, django_capture_on_commit_callbacks
):
    manifest, resources = completed(admin, django_capture_on_commit_callbacks)
    assert ids(resources["Patient"]) == {str(world.patient.pk), str(world.other_patient.pk)}
    subjects = {o["subject"]["reference"] for o in resources["Observation"]}
    assert subjects == {f"Patient/{world.patient.pk}", f"Patient/{world.other_patient.pk}"}
    # The blood pressure is one panel: heart rate, pressure, weight.
    assert len(resources["Observation"]) == 3
    assert ids(resources["Organization"]) == {str(world.practice.pk)}
    assert ids(resources["Practitioner"]) == {str(world.clinician.provider.pk)}
    outsider = str(world.outside_patient.pk)
    for lines in resources.values():
        for line in lines:
            assert f"Patient/{outsider}" not in json.dumps(line)
    assert "Pat Beta" not in json.dumps(resources)


def test_patient_export_is_the_compartment_only(
    admin, world, store, django_capture_on_commit_callbacks
):
    manifest, resources = completed(admin, django_capture_on_commit_callbacks, "Patient/$export")
    assert set(resources) == {"Patient", "Observation"}
    assert manifest["request"] == "http://testserver/fhir/R4/Patient/$export"


def test_type_limits_the_files(admin, world, store, django_capture_on_commit_callbacks):
    manifest, resources = completed(
        admin, django_capture_on_commit_callbacks, _type="Observation,Organization"
    )
    assert set(resources) == {"Observation", "Organization"}
    assert "_type=Observation%2COrganization" in manifest["request"]


def test_since_keeps_only_what_changed_after_it(
    admin, world, store, django_capture_on_commit_callbacks
):
    since = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    Patient.objects.update(updated_at=since - timedelta(days=1))
    Reading.objects.update(received_at=since - timedelta(days=1))
    fresh = store.add("heart_rate", 64, patient=world.other_patient)
    Patient.objects.filter(pk=world.patient.pk).update(updated_at=since + timedelta(minutes=5))

    _manifest, resources = completed(
        admin,
        django_capture_on_commit_callbacks,
        "Patient/$export",
        _since=since.isoformat().replace("+00:00", "Z"),
    )
    assert ids(resources["Patient"]) == {str(world.patient.pk)}
    assert ids(resources["Observation"]) == {str(fresh.pk)}


def test_nothing_to_export_is_an_empty_output(admin, world, django_capture_on_commit_callbacks):
    manifest, resources = completed(
        admin, django_capture_on_commit_callbacks, "Patient/$export", _type="Observation"
    )
    assert manifest["output"] == [] and resources == {}


def test_a_group_is_a_providers_care_team_panel(
    admin, world, store, django_capture_on_commit_callbacks
):
    elsewhere = make_patient(world.practice, "Third Alpha", "third@alpha.test", login=False)
    store.add("heart_rate", 80, patient=elsewhere)
    care_team_add(
        patient=elsewhere,
        clinician=world.other_clinician,
        reason=CareTeamReason.ASSIGNED,
        by=None,
    )
    provider = world.clinician.provider
    _manifest, resources = completed(
        admin, django_capture_on_commit_callbacks, f"Group/{provider.pk}/$export"
    )
    panel = {str(world.patient.pk), str(world.other_patient.pk)}
    assert ids(resources["Patient"]) == panel
    assert {o["subject"]["reference"].split("/")[1] for o in resources["Observation"]} == panel


def test_a_group_of_another_practice_or_of_nobody_is_a_404(
    admin, world, django_capture_on_commit_callbacks
):
    beta = make_staff(world.outside_practice, Role.CLINICIAN, "doc3@beta.test", "Dr Gamma")
    from telehealth.accounts.models import Provider

    provider = Provider.objects.create(
        user=beta,
        practice=world.outside_practice,
        slug="gamma",
        display_name="Dr Gamma",
        npi="1245319599",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )
    for group in (str(provider.pk), "999999", "panel"):
        response = kick_off(admin, django_capture_on_commit_callbacks, f"Group/{group}/$export")
        assert response.status_code == 404, group
    assert not BulkExport.objects.exists()


def test_one_patients_export(admin, world, store, django_capture_on_commit_callbacks):
    _manifest, resources = completed(
        admin, django_capture_on_commit_callbacks, f"Patient/{world.other_patient.pk}/$export"
    )
    assert ids(resources["Patient"]) == {str(world.other_patient.pk)}
    assert [o["code"]["coding"][0]["code"] for o in resources["Observation"]] == ["29463-7"]
    response = kick_off(
        admin, django_capture_on_commit_callbacks, f"Patient/{world.outside_patient.pk}/$export"
    )
    assert response.status_code == 404


# Who sees a job


def test_only_the_requester_sees_the_status_and_the_files(
    client, admin, world, store, django_capture_on_commit_callbacks
):
    response = kick_off(admin, django_capture_on_commit_callbacks)
    manifest = poll(admin, response).json()
    status_url, file_url = response["Content-Location"], manifest["output"][0]["url"]

    second_admin = make_staff(world.practice, Role.PRACTICE_ADMIN, "admin2@alpha.test", "Two")
    sign_in(client, second_admin)
    assert client.get(status_url).status_code == 404
    assert client.get(file_url).status_code == 404
    assert client.delete(status_url).status_code == 404
    sign_in(client, world.clinician)
    assert client.get(status_url).status_code == 403
    assert client.get(file_url).status_code == 403
    client.logout()
    assert client.get(status_url).status_code == 401
    assert client.get(file_url).status_code == 401
    assert BulkExport.objects.filter(status=BulkExport.Status.COMPLETED).count() == 1


def test_delete_cancels_and_removes_the_files(
    admin, world, store, media_root, django_capture_on_commit_callbacks
):
    response = kick_off(admin, django_capture_on_commit_callbacks)
    manifest = poll(admin, response).json()
    folder = media_root / "fhir-bulk" / str(BulkExport.objects.get().pk)
    assert len(list(folder.iterdir())) == len(manifest["output"])

    with django_capture_on_commit_callbacks(execute=True):
        deleted = admin.delete(response["Content-Location"])
    assert deleted.status_code == 202
    assert not folder.exists()
    assert not BulkExport.objects.exists() and not BulkExportFile.objects.exists()
    assert poll(admin, response).status_code == 404
    assert admin.get(manifest["output"][0]["url"]).status_code == 404


def test_delete_before_the_job_runs_means_it_never_writes(
    admin, world, store, media_root, django_capture_on_commit_callbacks
):
    response = kick_off(admin, django_capture_on_commit_callbacks, run=False)
    export_id = str(BulkExport.objects.get().pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert admin.delete(response["Content-Location"]).status_code == 202
    tasks.run_bulk_export.delay(export_id)
    assert not (media_root / "fhir-bulk" / export_id).exists()
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()


def test_other_methods_are_refused(admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        assert admin.post("/fhir/R4/$export", **ASYNC).status_code == 405
    assert admin.post(f"/fhir/R4/$export-status/{uuid.uuid4()}").status_code == 405


# Expiry and storage


def test_after_expiry_status_and_files_are_gone_and_beat_deletes_them(
    admin, world, store, media_root, django_capture_on_commit_callbacks, settings
):
    settings.FHIR_BULK_EXPORT_TTL_HOURS = 24
    response = kick_off(admin, django_capture_on_commit_callbacks)
    manifest = poll(admin, response).json()
    export = BulkExport.objects.get()
    assert timedelta(hours=23) < export.expires_at - timezone.now() <= timedelta(hours=24), (
        export.expires_at
    )
    kept = bulk.expired_exports_delete()
    assert kept == 0 and BulkExport.objects.exists()

    BulkExport.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert poll(admin, response).status_code == 404
    assert admin.get(manifest["output"][0]["url"]).status_code == 404
    assert tasks.delete_expired_bulk_exports.delay().get() == 1
    assert not BulkExport.objects.exists() and not BulkExportFile.objects.exists()
    assert not (media_root / "fhir-bulk" / str(export.pk)).exists()


def test_files_are_encrypted_at_rest(admin, world, store, django_capture_on_commit_callbacks):
    manifest, resources = completed(admin, django_capture_on_commit_callbacks, "Patient/$export")
    patients_file = BulkExportFile.objects.get(resource_type="Patient")
    stored = bulk.file_path(patients_file).read_bytes()
    plaintext = "".join(json.dumps(p, separators=(",", ":")) + "\n" for p in resources["Patient"])
    assert stored and stored != plaintext.encode()
    assert b"resourceType" not in stored and b"Pat Alpha" not in stored
    assert b'"Pat Alpha"' in plaintext.encode()


# Audit and cost


def test_the_export_is_audited_once_and_per_patient(
    admin, world, store, django_capture_on_commit_callbacks
):
    completed(admin, django_capture_on_commit_callbacks, "Patient/$export")
    export = BulkExport.objects.get()
    events = AuditEvent.objects.filter(action=Action.EXPORT).about_record(export)
    # One event about the export and each patient in it.
    summary = events.get(detail__contains="completed")
    assert summary.actor == world.admin
    assert "of 2 patients" in summary.detail
    per_patient = {s.patient_id for s in summary.subjects.all()} - {None}
    assert per_patient == {world.patient.pk, world.other_patient.pk}
    downloads = events.filter(detail__startswith="FHIR $export file downloaded")
    assert downloads.count() == 2  # the Patient and the Observation file


def test_the_export_costs_the_same_queries_for_more_patients(
    world, store, django_capture_on_commit_callbacks
):
    def queries_of_one_export() -> int:
        export = bulk.export_start(
            by=world.admin,
            level=BulkExport.Level.SYSTEM,
            target_id="",
            kickoff=bulk.parse_kickoff(level=BulkExport.Level.SYSTEM, items=[]),
            request_url="http://testserver/fhir/R4/$export",
        )
        with CaptureQueriesContext(connection) as queries:
            bulk.export_run(export_id=str(export.pk))
        export.refresh_from_db()
        assert export.status == BulkExport.Status.COMPLETED, export.error
        return len(queries)

    few = queries_of_one_export()
    for n in range(8):
        patient = make_patient(world.practice, f"More Alpha{n}", f"more{n}@alpha.test", login=False)
        store.add("heart_rate", 60 + n, patient=patient)
        store.pressure(120 + n, 80, patient=patient)
    assert queries_of_one_export() == few


def test_a_failed_job_answers_an_operation_outcome_without_phi(
    admin, world, store, media_root, django_capture_on_commit_callbacks
):
    def broken_to_fhir(patient: Patient) -> dict:
        raise ValueError(f"cannot map {patient.legal_name}")  # a mapper's bug, naming PHI

    patient_mapper = registry.mapper_for("Patient")
    assert patient_mapper is not None
    registry.unregister("Patient")
    registry.register(dataclasses.replace(patient_mapper, to_fhir=broken_to_fhir))
    try:
        response = kick_off(admin, django_capture_on_commit_callbacks)
    finally:
        registry.unregister("Patient")
        registry.register(patient_mapper)
    failed = poll(admin, response)
    assert failed.status_code == 422
    outcome = failed.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "ValueError" in outcome["issue"][0]["diagnostics"]
    assert "Pat Alpha" not in failed.content.decode()
    export = BulkExport.objects.get()
    assert export.status == BulkExport.Status.FAILED
    assert not (media_root / "fhir-bulk" / str(export.pk)).exists()
    assert not BulkExportFile.objects.exists()


def test_the_capability_statement_offers_export(fhir):
    status, body = fhir.get("metadata")
    assert status == 200
    definition = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
    assert body["rest"][0]["operation"] == [{"name": "export", "definition": definition}]


def test_status_of_a_url_that_names_no_job_is_a_404(admin):
    response = admin.get(reverse("fhir:export-status", kwargs={"export_id": uuid.uuid4()}))
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_under_asgi_a_file_streams_through_an_asynchronous_iterator(
    admin, async_client, world, store, django_capture_on_commit_callbacks
):
    manifest, resources = completed(admin, django_capture_on_commit_callbacks, "Patient/$export")
    url = next(o["url"] for o in manifest["output"] if o["type"] == "Observation")
    sign_in(async_client, world.admin)

    async def fetch() -> tuple[int, bool, bytes]:
        response = await async_client.get(url)
        chunks = [chunk async for chunk in response.streaming_content]
        return response.status_code, response.is_async, b"".join(chunks)

    status, is_async, body = async_to_sync(fetch)()
    assert status == 200 and is_async
    assert [json.loads(line) for line in body.splitlines()] == resources["Observation"]


def test_a_job_that_died_is_failed_by_beat_and_its_status_says_so(
    admin, world, store, media_root, django_capture_on_commit_callbacks
):
    stuck = kick_off(admin, django_capture_on_commit_callbacks, run=False)
    export = BulkExport.objects.get()
    # Its worker died mid-way: the job is left running, a partial file on disk.
    BulkExport.objects.filter(pk=export.pk).update(status=BulkExport.Status.RUNNING)
    partial = media_root / "fhir-bulk" / str(export.pk) / "partial.ndjson"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"...")
    fresh = kick_off(admin, django_capture_on_commit_callbacks, run=False)
    assert poll(admin, stuck).status_code == 202

    BulkExport.objects.filter(pk=export.pk).update(
        created_at=timezone.now() - bulk.STUCK_AFTER - timedelta(minutes=1)
    )
    assert tasks.delete_expired_bulk_exports.delay().get() == 0  # failed, not yet expired

    answer = poll(admin, stuck)
    assert answer.status_code == 422
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    assert outcome["issue"][0]["diagnostics"] == bulk.STUCK_ERROR
    assert not partial.parent.exists()
    assert poll(admin, fresh).status_code == 202  # a job within the bound is left alone
    export.refresh_from_db()
    assert export.status == BulkExport.Status.FAILED and export.finished_at is not None


def test_a_slow_job_failed_by_beat_stops_at_its_next_progress_check(
    world, store, media_root, django_capture_on_commit_callbacks
):
    export = bulk.export_start(
        by=world.admin,
        level=BulkExport.Level.SYSTEM,
        target_id="",
        kickoff=bulk.parse_kickoff(level=BulkExport.Level.SYSTEM, items=[]),
        request_url="http://testserver/fhir/R4/$export",
    )
    BulkExport.objects.filter(pk=export.pk).update(
        status=BulkExport.Status.RUNNING,
        created_at=timezone.now() - bulk.STUCK_AFTER - timedelta(minutes=1),
    )
    assert bulk.stuck_exports_fail() == 1
    # Were its worker still alive, its next progress report and its completion both find
    # it no longer running and stop; the failure stands.
    with pytest.raises(bulk._Cancelled):
        bulk._report(export, "Observation: 2000 written")
    with pytest.raises(bulk._Cancelled):
        bulk._complete(export, [], set())
    export.refresh_from_db()
    assert export.status == BulkExport.Status.FAILED and export.error == bulk.STUCK_ERROR
    assert not BulkExportFile.objects.exists()
