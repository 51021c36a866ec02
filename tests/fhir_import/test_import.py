"""Import of Patients and Appointments from another EHR (telehealth.fhir.imports), built from
the published examples: the dry run writes nothing and says what apply does, apply writes,
a second apply changes nothing, and what our rules refuse is reported per resource."""

import json
from datetime import timedelta

import pytest

from scheduling import services
from scheduling.fhir import appointment_type_system
from scheduling.models import Appointment, BookedVia, Status
from telehealth.accounts.fhir import patient_system
from telehealth.accounts.models import Patient
from telehealth.fhir import imports
from telehealth.fhir_import.models import ImportedIdentifier
from telehealth.notify.models import OutboundMessage
from tests.fhir.test_writes import published
from tests.scheduling.conftest import local, send_now


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

NPI = "http://hl7.org/fhir/sid/us-npi"
SOURCE_MRN = ("urn:oid:1.2.36.146.595.217.0.1", "12345")  # the published example's


def patient_example() -> dict:
    """The published Patient, adapted where our rules require: we text the mobile, so it
    carries its country code, and licensure needs a US state of residence."""
    body = published("patient-example.json")
    mobile = next(t for t in body["telecom"] if t.get("use") == "mobile")
    mobile["value"] = "+61 3 3410 5613"
    body["address"][0]["state"] = "MA"
    return body


def appointment_example(world, start) -> dict:
    """The published Appointment, adapted: upcoming, in our visit type's length and code, and
    its practitioner named by NPI (the source's Practitioner/example is not ours)."""
    body = published("appointment-example.json")
    body["start"] = start.isoformat()
    body["end"] = (start + timedelta(minutes=20)).isoformat()
    body["appointmentType"] = {
        "coding": [{"system": appointment_type_system(world.practice), "code": "video"}]
    }
    practitioner = next(
        p for p in body["participant"] if p["actor"]["reference"] == "Practitioner/example"
    )
    practitioner["actor"] = {
        "identifier": {"system": NPI, "value": world.clinician.provider.npi},
        "display": "Dr Adam Careful",
    }
    return body


def bundle(*resources: dict, kind: str = "collection") -> bytes:
    return json.dumps(
        {"resourceType": "Bundle", "type": kind, "entry": [{"resource": r} for r in resources]}
    ).encode()


def ndjson(*lines: dict | str) -> bytes:
    return "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines).encode()


def counts() -> tuple[int, int, int, int]:
    return (
        Patient.objects.count(),
        Appointment.objects.count(),
        ImportedIdentifier.objects.count(),
        OutboundMessage.objects.count(),
    )


def outcomes(report: imports.Report) -> list[str]:
    return [row.outcome for row in report.rows]


@pytest.fixture
def start():
    return local(3, 10)


@pytest.fixture
def example_file(world, video_type, start) -> bytes:
    return bundle(patient_example(), appointment_example(world, start))


def test_the_dry_run_reports_what_apply_does_and_writes_nothing(world, example_file):
    before = counts()
    report = imports.import_run(user=world.admin, data=example_file, apply=False)
    assert outcomes(report) == ["create", "create"]
    assert not report.applied and report.counts()["create"] == 2
    assert [row.target for row in report.rows] == ["", ""]  # the rolled-back ids are nobody's
    assert counts() == before


def test_apply_creates_the_patient_and_books_the_appointment(world, example_file, start):
    report = imports.import_run(user=world.admin, data=example_file, apply=True)
    assert outcomes(report) == ["create", "create"], [r.reason for r in report.rows]
    patient = Patient.objects.get(legal_name="Peter James Chalmers")
    assert patient.practice == world.practice and patient.state == "MA"
    assert report.rows[0].target == f"Patient/{patient.pk}"
    appointment = Appointment.objects.get(patient=patient)
    assert report.rows[1].target == f"Appointment/{appointment.pk}"
    assert appointment.start == start and appointment.provider == world.clinician.provider
    assert appointment.status == Status.BOOKED
    # The source's identifier is kept only as a keyed hash.
    stored = ImportedIdentifier.objects.get(resource_type="Patient", system=SOURCE_MRN[0])
    assert stored.row_id == patient.pk and SOURCE_MRN[1] not in stored.key


def test_an_imported_upcoming_visit_is_confirmed_like_any_booking(world, video_type, start):
    """The join link and the calendar invitation are ours, so the patient gets them. The
    example has no email and no texting consent comes with an import, so one is added."""
    patient = patient_example()
    patient["telecom"].append({"system": "email", "value": "jim@example.org"})
    data = bundle(patient, appointment_example(world, start))
    assert not OutboundMessage.objects.filter(channel="email").exists()
    imports.import_run(user=world.admin, data=data, apply=True)
    confirmation = send_now(OutboundMessage.objects.get(template="appointment.confirmation"))
    assert confirmation.channel == "email" and confirmation.status == "sent"
    assert "BEGIN:VCALENDAR" in confirmation.ics_attachment


def test_a_second_apply_of_the_same_file_changes_nothing(world, example_file):
    imports.import_run(user=world.admin, data=example_file, apply=True)
    patient = Patient.objects.get(legal_name="Peter James Chalmers")
    before, updated_at = counts(), patient.updated_at
    report = imports.import_run(user=world.admin, data=example_file, apply=True)
    assert outcomes(report) == ["unchanged", "unchanged"], [r.reason for r in report.rows]
    assert counts() == before
    patient.refresh_from_db()
    assert patient.updated_at == updated_at


def test_the_same_resources_as_ndjson_import_the_same(world, video_type, start):
    data = ndjson(patient_example(), appointment_example(world, start))
    report = imports.import_run(user=world.admin, data=data, apply=True)
    assert [(r.where, r.outcome) for r in report.rows] == [
        ("line 1", "create"),
        ("line 2", "create"),
    ]
    assert Appointment.objects.filter(patient__legal_name="Peter James Chalmers").count() == 1


def test_a_changed_patient_is_reported_as_an_update_naming_what_changes(world, example_file):
    imports.import_run(user=world.admin, data=example_file, apply=True)
    changed = patient_example()
    changed["birthDate"] = "1974-12-26"
    changed["name"][0]["family"] = "Chalmers-Smith"
    dry = imports.import_run(user=world.admin, data=ndjson(changed), apply=False)
    assert outcomes(dry) == ["update"] and dry.rows[0].changes == ["birthDate", "name"]
    assert Patient.objects.filter(legal_name="Peter James Chalmers").exists()
    applied = imports.import_run(user=world.admin, data=ndjson(changed), apply=True)
    assert outcomes(applied) == ["update"]
    assert Patient.objects.get(pk=applied.rows[0].target.split("/")[1]).legal_name == (
        "Peter James Chalmers-Smith"
    )


def test_our_own_record_number_matches_our_patient_directly(world):
    ours = patient_example()
    ours["identifier"] = [
        {"system": patient_system(world.practice), "value": str(world.patient.pk)}
    ]
    before = counts()
    report = imports.import_run(user=world.admin, data=ndjson(ours), apply=True)
    assert outcomes(report) == ["update"] and report.rows[0].target == f"Patient/{world.patient.pk}"
    assert counts()[0] == before[0]


def test_another_practices_patient_is_never_matched(world):
    theirs = patient_example()
    theirs["identifier"] = [
        {"system": patient_system(world.outside_practice), "value": str(world.outside_patient.pk)}
    ]
    report = imports.import_run(user=world.admin, data=ndjson(theirs), apply=True)
    assert outcomes(report) == ["refused"] and "Patient.identifier" in report.rows[0].reason
    world.outside_patient.refresh_from_db()
    assert world.outside_patient.legal_name == "Pat Beta"
    # Nor through an identifier another practice's import recorded.
    ImportedIdentifier.objects.create(
        practice=world.outside_practice,
        resource_type="Patient",
        system=SOURCE_MRN[0],
        key=imports.identifier_key(*SOURCE_MRN),
        row_id=world.outside_patient.pk,
    )
    report = imports.import_run(user=world.admin, data=ndjson(patient_example()), apply=True)
    assert outcomes(report) == ["create"]
    assert report.rows[0].target != f"Patient/{world.outside_patient.pk}"


def test_bad_lines_are_reported_by_path_without_losing_the_good_ones(world, video_type, start):
    invalid = patient_example() | {"gender": 7, "favouriteColour": "blue"}
    data = ndjson(
        patient_example(),
        "{not json",
        invalid,
        {"resourceType": "Observation", "status": "final", "code": {"text": "x"}},
        appointment_example(world, start),
    )
    report = imports.import_run(user=world.admin, data=data, apply=False)
    rows = {row.where: row for row in report.rows}
    assert [rows[f"line {n}"].outcome for n in range(1, 6)] == [
        "create",
        "refused",
        "refused",
        "refused",
        "create",
    ]
    assert "not a JSON object" in rows["line 2"].reason
    assert "Patient.gender" in rows["line 3"].reason
    assert "Patient.favouriteColour" in rows["line 3"].reason
    assert "blue" not in rows["line 3"].reason
    assert "only Patient and Appointment" in rows["line 4"].reason


def test_a_taken_slot_is_refused_in_the_dry_run_as_in_apply(world, video_type, start):
    services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=start,
        by=world.front_desk,
        via=BookedVia.STAFF,
    )
    data = bundle(patient_example(), appointment_example(world, start), kind="transaction")
    for apply in (False, True):
        report = imports.import_run(user=world.admin, data=data, apply=apply)
        assert outcomes(report) == ["create", "refused"]
        assert "taken" in report.rows[1].reason
    assert Appointment.objects.filter(start=start).count() == 1
    assert Patient.objects.filter(legal_name="Peter James Chalmers").count() == 1


def test_past_and_not_booked_appointments_are_refused_with_their_reason(world, video_type):
    past = appointment_example(world, local(-2, 10))
    cancelled = appointment_example(world, local(4, 10)) | {"status": "cancelled", "id": "c"}
    report = imports.import_run(
        user=world.admin, data=bundle(patient_example(), past, cancelled), apply=False
    )
    assert outcomes(report) == ["create", "refused", "refused"]
    assert "in the past" in report.rows[1].reason
    assert "only booked appointments" in report.rows[2].reason


def test_a_cancellation_in_the_source_cancels_the_imported_appointment(world, example_file, start):
    imports.import_run(user=world.admin, data=example_file, apply=True)
    cancelled = appointment_example(world, start) | {"status": "cancelled"}
    report = imports.import_run(user=world.admin, data=ndjson(cancelled), apply=True)
    assert outcomes(report) == ["update"] and report.rows[0].changes == ["status"]
    assert Appointment.objects.get(start=start).status == Status.CANCELLED
    again = imports.import_run(user=world.admin, data=ndjson(cancelled), apply=True)
    assert outcomes(again) == ["unchanged"]


def test_an_appointment_of_a_patient_imported_before_resolves_by_source_id(
    world, video_type, start
):
    imports.import_run(user=world.admin, data=ndjson(patient_example()), apply=True)
    report = imports.import_run(
        user=world.admin, data=ndjson(appointment_example(world, start)), apply=True
    )
    assert outcomes(report) == ["create"]
    assert Appointment.objects.get().patient.legal_name == "Peter James Chalmers"


def test_a_file_too_large_or_empty_is_refused_as_a_whole(world):
    with pytest.raises(imports.ImportFileError):
        imports.import_run(user=world.admin, data=b" " * (imports.MAX_BYTES + 1), apply=False)
    with pytest.raises(imports.ImportFileError):
        imports.import_run(user=world.admin, data=b"\n\n", apply=False)


def test_a_clinician_importing_is_refused_by_the_patient_writers_rule(world):
    report = imports.import_run(user=world.clinician, data=ndjson(patient_example()), apply=True)
    assert outcomes(report) == ["refused"]
    assert not Patient.objects.filter(legal_name="Peter James Chalmers").exists()


def test_a_patient_without_identifiers_matches_by_its_source_id_or_is_refused(world):
    bare = patient_example()
    del bare["identifier"]
    first = imports.import_run(user=world.admin, data=ndjson(bare), apply=True)
    again = imports.import_run(user=world.admin, data=ndjson(bare), apply=True)
    assert outcomes(first) == ["create"] and outcomes(again) == ["unchanged"]
    del bare["id"]
    report = imports.import_run(user=world.admin, data=ndjson(bare), apply=True)
    assert outcomes(report) == ["refused"] and "Patient.identifier" in report.rows[0].reason
    assert Patient.objects.filter(legal_name="Peter James Chalmers").count() == 1
