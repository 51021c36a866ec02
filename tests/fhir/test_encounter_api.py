"""Encounters over the FHIR API: visits served by telehealth.fhir through visits' registered
mapper — the round trip, the status, class, participants, period and patient location, each
search parameter, scoping through visits' selectors and the audit of every read."""

from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.encounter import Encounter

from scheduling.models import Appointment, AppointmentType, Modality
from telehealth.accounts.models import Provider
from telehealth.audit.models import AuditEvent
from tests.fhir.care import ODD_IDS, example, ids, queries_for_a_page, round_trip
from visits import services as visit_services
from visits.models import Participant, Presence, Visit


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


class Visits:
    """Visits of practice A's patients with Dr Alpha, an hour apart (the schedule refuses
    overlapping appointments)."""

    def __init__(self, world):
        self.world = world
        self.slots = 0
        self.kinds = {}

    def kind(self, modality: str) -> AppointmentType:
        if modality not in self.kinds:
            self.kinds[modality] = AppointmentType.objects.create(
                practice=self.world.practice,
                name=f"{modality.title()} follow-up",
                slug=f"{modality}-follow-up",
                modality=modality,
            )
        return self.kinds[modality]

    def add(self, *, patient=None, modality: str = Modality.VIDEO, **fields) -> Visit:
        patient = patient or self.world.patient
        start = T0 + timedelta(hours=self.slots)
        self.slots += 1
        appointment = Appointment.objects.create(
            practice=patient.practice,
            provider=self.world.clinician.provider,
            patient=patient,
            appointment_type=self.kind(modality),
            start=start,
            end=start + timedelta(minutes=20),
            blocked_start=start,
            blocked_end=start + timedelta(minutes=20),
            modality=modality,
            booked_via="staff",
            patient_state="MA",
        )
        visit = visit_services.visit_for_appointment(appointment)
        if fields:
            Visit.objects.filter(pk=visit.pk).update(**fields)
            visit.refresh_from_db()
        return visit

    def held(self, visit: Visit, minutes: int = 25) -> Visit:
        """The visit took place: started and ended, Dr Alpha in the room all along."""
        assert visit.appointment is not None
        start = visit.appointment.start
        Visit.objects.filter(pk=visit.pk).update(
            state=Visit.State.ENDED,
            started_at=start,
            ended_at=start + timedelta(minutes=minutes),
            admitted_by=self.world.clinician,
        )
        doctor = Participant.objects.create(
            visit=visit,
            role=Participant.Role.CLINICIAN,
            user=self.world.clinician,
            display_name="Dr Alpha",
            admitted_at=start,
        )
        Presence.objects.create(
            participant=doctor, joined_at=start, left_at=start + timedelta(minutes=minutes)
        )
        visit.refresh_from_db()
        return visit


@pytest.fixture
def visits(world):
    return Visits(world)


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


def test_a_held_visit_round_trips_as_a_finished_virtual_encounter(world, visits, second_doctor):
    visit = visits.held(visits.add())
    start = visit.started_at
    assert start is not None
    Visit.objects.filter(pk=visit.pk).update(
        patient_state="MA", patient_at_home=True, location_confirmed_at=start
    )
    visit.refresh_from_db()
    consult = Participant.objects.create(
        visit=visit,
        role=Participant.Role.CLINICIAN,
        user=world.other_clinician,
        display_name="Dr Second",
        admitted_at=start + timedelta(minutes=5),
    )
    Presence.objects.create(
        participant=consult,
        joined_at=start + timedelta(minutes=5),
        left_at=start + timedelta(minutes=10),
    )
    Presence.objects.create(participant=consult, joined_at=start + timedelta(minutes=12))

    served = round_trip("Encounter", visit)

    assert served["status"] == "finished"
    assert served["class"]["code"] == "VR"
    assert served["type"][0]["coding"][0]["code"] == "video-follow-up"
    assert served["subject"] == {"reference": f"Patient/{world.patient.pk}"}
    assert served["appointment"] == [{"reference": f"Appointment/{visit.appointment_id}"}]
    assert served["period"] == {
        "start": "2026-03-02T14:00:00Z",
        "end": "2026-03-02T14:25:00Z",
    }
    doctor, consultant = served["participant"]
    assert doctor["individual"]["reference"] == f"Practitioner/{world.clinician.provider.pk}"
    assert doctor["type"][0]["coding"][0]["code"] == "PPRF"
    assert doctor["period"]["end"] == "2026-03-02T14:25:00Z"
    assert consultant["individual"]["reference"] == f"Practitioner/{second_doctor.pk}"
    assert consultant["type"][0]["coding"][0]["code"] == "SPRF"
    # Back in the room and not yet left: the participation has no end.
    assert consultant["period"] == {"start": "2026-03-02T14:05:00Z"}
    [place] = served["contained"]
    assert place["address"] == {"state": "MA", "country": "US"}
    assert place["type"][0]["coding"][0]["code"] == "PTRES"
    assert served["location"] == [
        {
            "location": {"reference": "#patient-location", "display": "Patient's home"},
            "status": "completed",
        }
    ]
    assert served["serviceProvider"]["reference"] == f"Organization/{world.practice.pk}"


def test_a_read_is_the_round_tripped_resource_and_is_audited(fhir, world, visits):
    visit = visits.held(visits.add())
    status, body = fhir.as_user(world.clinician).get(f"Encounter/{visit.pk}")
    assert status == 200, body
    assert body == round_trip("Encounter", visit)
    assert AuditEvent.objects.filter(
        object_type="visits.Visit", object_id=str(visit.pk), patient=world.patient
    ).exists()


def test_statuses_follow_the_visit_and_its_appointment(fhir, world, visits):
    planned = visits.add()
    arrived = visits.add(state=Visit.State.WAITING, waiting_since=T0)
    running = visits.add(state=Visit.State.IN_PROGRESS, started_at=T0)
    finished = visits.held(visits.add())
    no_show = visits.add(state=Visit.State.ENDED, ended_at=T0)
    called_off = visits.add()
    Appointment.objects.filter(pk=called_off.appointment_id).update(status="cancelled")
    expected = {
        "planned": [planned],
        "arrived": [arrived],
        "in-progress": [running],
        "finished": [finished],
        "cancelled": [no_show, called_off],
    }
    client = fhir.as_user(world.clinician)
    for code, rows in expected.items():
        status, bundle = client.get("Encounter", status=code)
        assert status == 200, bundle
        assert ids(bundle) == sorted(str(v.pk) for v in rows), code
        assert {e["resource"]["status"] for e in bundle["entry"]} == {code}
    _status, bundle = client.get("Encounter", status="planned,arrived")
    assert ids(bundle) == sorted([str(planned.pk), str(arrived.pk)])
    _status, bundle = client.get("Encounter", status="onleave")
    assert bundle["total"] == 0


def test_class_is_virtual_for_video_and_phone_and_ambulatory_in_person(fhir, world, visits):
    video = visits.add()
    phone = visits.add(modality=Modality.PHONE)
    clinic = visits.add(modality=Modality.IN_PERSON)
    client = fhir.as_user(world.clinician)
    _status, bundle = client.get(
        "Encounter", **{"class": "http://terminology.hl7.org/CodeSystem/v3-ActCode|VR"}
    )
    assert ids(bundle) == sorted([str(video.pk), str(phone.pk)])
    _status, bundle = client.get("Encounter", **{"class": "AMB"})
    assert ids(bundle) == [str(clinic.pk)]
    assert bundle["entry"][0]["resource"]["class"]["code"] == "AMB"
    _status, bundle = client.get("Encounter", **{"class": "http://snomed.info/sct|VR"})
    assert bundle["total"] == 0


def test_search_by_patient_subject_appointment_and_practitioner(fhir, world, visits, second_doctor):
    mine = visits.held(visits.add())
    theirs = visits.add(patient=world.other_patient)
    Participant.objects.create(
        visit=theirs,
        role=Participant.Role.CLINICIAN,
        user=world.other_clinician,
        display_name="Dr Second",
    )
    client = fhir.as_user(world.admin)
    _status, bundle = client.get("Encounter", patient=f"Patient/{world.patient.pk}")
    assert ids(bundle) == [str(mine.pk)]
    _status, bundle = client.get("Encounter", subject=str(world.other_patient.pk))
    assert ids(bundle) == [str(theirs.pk)]
    _status, bundle = client.get("Encounter", appointment=f"Appointment/{theirs.appointment_id}")
    assert ids(bundle) == [str(theirs.pk)]
    _status, bundle = client.get("Encounter", practitioner=f"Practitioner/{second_doctor.pk}")
    assert ids(bundle) == [str(theirs.pk)]
    _status, bundle = client.get("Encounter", participant=str(world.clinician.provider.pk))
    assert ids(bundle) == sorted([str(mine.pk), str(theirs.pk)])  # booked with Dr Alpha too
    _status, bundle = client.get("Encounter", patient="Patient/abc")
    assert bundle["total"] == 0


def test_search_by_date_compares_with_the_actual_period(fhir, world, visits):
    early = visits.held(visits.add(), minutes=30)  # 14:00-14:30
    late = visits.held(visits.add(), minutes=30)  # 15:00-15:30
    running = visits.add(state=Visit.State.IN_PROGRESS, started_at=T0 + timedelta(hours=5))
    visits.add()  # planned: no period, never matched by a date
    client = fhir.as_user(world.clinician)

    def found(value: str) -> list[str]:
        status, bundle = client.get("Encounter", date=value)
        assert status == 200, bundle
        return ids(bundle)

    assert found("2026-03-02") == sorted([str(early.pk), str(late.pk), str(running.pk)])
    assert found("2026-03-02T14:20:00Z") == [str(early.pk)]
    assert found("ge2026-03-02T14:45:00Z") == sorted([str(late.pk), str(running.pk)])
    assert found("gt2026-03-02T15:29:00Z") == sorted([str(late.pk), str(running.pk)])
    assert found("le2026-03-02T14:45:00Z") == [str(early.pk)]
    assert found("lt2026-03-02T15:00:00Z") == [str(early.pk)]
    assert found("ge2026-03-03") == [str(running.pk)]  # still running: open-ended
    status, body = client.get("Encounter", date="ne2026-03-02")
    assert status == 400 and body["resourceType"] == "OperationOutcome"


def test_anonymous_gets_401(fhir, world, visits):
    visit = visits.add()
    status, body = fhir.get(f"Encounter/{visit.pk}")
    assert status == 401 and body["resourceType"] == "OperationOutcome"
    status, _body = fhir.get("Encounter")
    assert status == 401


def test_another_practice_gets_404_and_an_empty_search(fhir, world, visits):
    visit = visits.add()
    client = fhir.as_user(world.outside_clinician)
    status, body = client.get(f"Encounter/{visit.pk}")
    assert status == 404 and body["resourceType"] == "OperationOutcome"
    _status, bundle = client.get("Encounter")
    assert bundle["total"] == 0


def test_a_patient_sees_only_their_own_visits(fhir, world, visits):
    mine = visits.add()
    theirs = visits.add(patient=world.other_patient)
    client = fhir.as_user(world.patient.user)
    status, body = client.get(f"Encounter/{mine.pk}")
    assert status == 200, body
    status, _body = client.get(f"Encounter/{theirs.pk}")
    assert status == 404
    _status, bundle = client.get("Encounter")
    assert ids(bundle) == [str(mine.pk)]
    Bundle.model_validate(bundle)


def test_a_clinician_off_the_care_team_gets_404(fhir, world, visits):
    visit = visits.add()
    status, _body = fhir.as_user(world.other_clinician).get(f"Encounter/{visit.pk}")
    assert status == 404


def test_an_unknown_parameter_is_an_operation_outcome(fhir, world, visits):
    status, body = fhir.as_user(world.clinician).get("Encounter", reason="x")
    assert status == 400 and "reason" in body["issue"][0]["diagnostics"]


def test_our_coding_matches_the_published_encounter_examples(world, visits):
    """Encounter-example codes its class in v3 ActCode as we do; Encounter-home is the
    published shape of a place known only by kind: a contained Location referenced by #id."""
    published = example("encounter-example.json")
    home = example("encounter-example-home.json")
    Encounter.model_validate(published)
    Encounter.model_validate(home)
    visit = visits.held(visits.add())
    Visit.objects.filter(pk=visit.pk).update(
        patient_state="MA", patient_at_home=True, location_confirmed_at=visit.started_at
    )
    visit.refresh_from_db()
    served = round_trip("Encounter", visit)
    assert served["class"]["system"] == published["class"]["system"]
    assert set(served["class"]) == set(published["class"])  # system, code, display
    assert home["location"][0]["location"]["reference"] == "#" + home["contained"][0]["id"]
    assert served["location"][0]["location"]["reference"] == "#" + served["contained"][0]["id"]
    assert served["contained"][0]["resourceType"] == home["contained"][0]["resourceType"]
    assert served["contained"][0]["mode"] == home["contained"][0]["mode"]
    assert served["location"][0]["status"] == home["location"][0]["status"]


def test_a_page_costs_the_same_queries_whatever_its_size(world, visits, second_doctor):
    visits.held(visits.add())
    few = queries_for_a_page("Encounter", world.admin)
    for _ in range(5):
        visit = visits.held(visits.add(patient=world.other_patient))
        Participant.objects.create(
            visit=visit,
            role=Participant.Role.CLINICIAN,
            user=world.other_clinician,
            display_name="Dr Second",
        )
    many = queries_for_a_page("Encounter", world.admin)
    assert (few[0], many[0]) == (1, 6)
    assert many[1] == few[1]


@pytest.mark.parametrize("odd", ODD_IDS)
def test_odd_ids_and_references_match_nothing(fhir, world, odd):
    client = fhir.as_user(world.admin)
    status, body = client.get(f"Encounter/{odd}")
    assert status == 404 and body["resourceType"] == "OperationOutcome"
    for name in ["patient", "subject", "practitioner", "participant", "appointment"]:
        status, bundle = client.get("Encounter", **{name: f"Patient/{odd}"})
        assert status == 200 and bundle["total"] == 0, (name, bundle)
