"""The schedule over the FHIR API: PractitionerRole, Schedule, Slot (computed free times) and
Appointment — read and round trip, every search parameter, paging, `_include`, scoping — and
Appointment create and cancel through scheduling's services (called through the mapper's
contract, as the core's write views will)."""

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.practitionerrole import PractitionerRole
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot

from scheduling import services
from scheduling.fhir import APPOINTMENT_STATUS, FreeSlot, parse_slot_id
from scheduling.fhir_api import appointment_mapper
from scheduling.models import Appointment, AppointmentType, BookedVia, Modality, Status
from scheduling.selectors import ProviderOffering
from telehealth.accounts.models import Patient, Role
from telehealth.audit.models import AuditEvent
from telehealth.fhir.responses import FhirError
from telehealth.notify.models import OutboundMessage
from tests.conftest import make_patient, make_staff
from tests.scheduling.conftest import local

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"


def ids(bundle: dict, mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def included(bundle: dict) -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == "include"
    ]


def round_trips(model, body: dict) -> None:
    parsed = model.model_validate(body)
    assert parsed.model_dump(mode="json", exclude_none=True) == body


def all_pages(client, bundle: dict) -> list[str]:
    seen = ids(bundle)
    while link := next((k for k in bundle["link"] if k["relation"] == "next"), None):
        status, bundle = client.url(link["url"])
        assert status == 200, bundle
        seen += ids(bundle)
    return seen


def create(user, resource: dict) -> Appointment:
    """The mapper's create, as the core's POST view calls it."""
    assert appointment_mapper.create is not None
    return appointment_mapper.create(user, resource)


def update(user, appointment: Appointment, resource: dict) -> Appointment:
    assert appointment_mapper.update is not None
    return appointment_mapper.update(user, appointment, resource)


def version(appointment: Appointment) -> str:
    assert appointment_mapper.version is not None
    return appointment_mapper.version(appointment)


@pytest.fixture
def provider(world):
    return world.clinician.provider


@pytest.fixture
def schedule(video_type, provider):
    return ProviderOffering.objects.get(provider=provider, appointmenttype=video_type)


def book(world, video_type, start, patient=None) -> Appointment:
    return services.appointment_book(
        provider=world.clinician.provider,
        patient=patient or world.patient,
        appointment_type=video_type,
        start=start,
        by=world.front_desk,
        via=BookedVia.STAFF,
        reason="Follow-up on blood pressure",
    )


def slot_id(schedule, start: datetime) -> str:
    return FreeSlot(schedule, start).id


def utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


# PractitionerRole


def test_a_practitioner_role_reads_with_its_practice_hours_and_round_trips(fhir, world, provider):
    provider.specialty = "Family medicine"
    provider.save(update_fields=["specialty"])
    status, body = fhir.as_user(world.front_desk).get(f"PractitionerRole/{provider.pk}")
    assert status == 200, body
    round_trips(PractitionerRole, body)
    assert body["practitioner"]["reference"] == f"Practitioner/{provider.pk}"
    assert body["organization"]["reference"] == f"Organization/{world.practice.pk}"
    assert body["specialty"] == [{"text": "Family medicine"}]
    assert body["telecom"] == [{"system": "phone", "value": "+16175550100", "use": "work"}]
    assert "availableTime" not in body  # no weekly hours yet


def test_available_time_groups_days_with_the_same_hours(fhir, world, video_type, provider):
    # video_type gave every day 08:00-18:00; Saturday's hours change and a rule has ended.
    provider.rules.filter(weekday=5).update(start_time="09:00", end_time="12:00")
    provider.rules.filter(weekday=6).update(valid_until="2020-01-01")
    _status, body = fhir.as_user(world.patient.user).get(f"PractitionerRole/{provider.pk}")
    assert body["availableTime"] == [
        {
            "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
            "availableStartTime": "08:00:00",
            "availableEndTime": "18:00:00",
        },
        {"daysOfWeek": ["sat"], "availableStartTime": "09:00:00", "availableEndTime": "12:00:00"},
    ]
    assert "America/New_York" in body["availabilityExceptions"]
    round_trips(PractitionerRole, body)


def test_practitioner_roles_search_by_practitioner_organization_and_active(fhir, world, provider):
    client = fhir.as_user(world.front_desk)
    _status, bundle = client.get("PractitionerRole", practitioner=f"Practitioner/{provider.pk}")
    assert ids(bundle) == [str(provider.pk)]
    _status, bundle = client.get("PractitionerRole", practitioner=str(provider.pk + 1000))
    assert ids(bundle) == []
    _status, bundle = client.get(
        "PractitionerRole", organization=f"Organization/{world.practice.pk}"
    )
    assert ids(bundle) == [str(provider.pk)]
    _status, bundle = client.get("PractitionerRole", organization=str(world.outside_practice.pk))
    assert ids(bundle) == []
    _status, bundle = client.get("PractitionerRole", active="true")
    assert ids(bundle) == [str(provider.pk)]
    _status, bundle = client.get("PractitionerRole", active="false")
    assert ids(bundle) == []
    status, body = client.get("PractitionerRole", active="maybe")
    assert status == 400 and "active" in body["issue"][0]["diagnostics"]


# Schedule


def test_a_schedule_is_a_provider_offering_a_type_and_round_trips(fhir, world, schedule):
    status, body = fhir.as_user(world.patient.user).get(f"Schedule/{schedule.pk}")
    assert status == 200, body
    round_trips(Schedule, body)
    provider = world.clinician.provider
    assert [a["reference"] for a in body["actor"]] == [
        f"Practitioner/{provider.pk}",
        f"PractitionerRole/{provider.pk}",
    ]
    assert body["active"] is True
    assert body["serviceType"][0]["coding"][0]["code"] == "video"  # the type's slug
    assert body["serviceType"][1]["coding"][0] == {
        "system": "urn:telehealth:modality",
        "code": "video",
        "display": "Video visit",
    }
    horizon = body["planningHorizon"]
    start = datetime.fromisoformat(horizon["start"])
    end = datetime.fromisoformat(horizon["end"])
    assert timedelta(days=59) < end - start < timedelta(days=60)  # 60 days less 60 min notice


def test_schedules_search_by_actor_active_and_date(fhir, world, video_type, schedule, provider):
    phone = AppointmentType.objects.create(
        practice=world.practice, name="Phone", slug="phone", modality=Modality.PHONE
    )
    phone.providers.add(provider)
    phone_schedule = ProviderOffering.objects.get(appointmenttype=phone)
    client = fhir.as_user(world.front_desk)
    both = sorted([str(schedule.pk), str(phone_schedule.pk)])
    _status, bundle = client.get("Schedule", actor=f"Practitioner/{provider.pk}")
    assert sorted(ids(bundle)) == both
    _status, bundle = client.get("Schedule", actor=f"PractitionerRole/{provider.pk}")
    assert sorted(ids(bundle)) == both
    status, _body = client.get("Schedule", actor=f"Patient/{world.patient.pk}")
    assert status == 400

    phone.is_active = False
    phone.save(update_fields=["is_active"])
    _status, bundle = client.get("Schedule", active="true")
    assert ids(bundle) == [str(schedule.pk)]
    _status, bundle = client.get("Schedule", active="false")
    assert ids(bundle) == [str(phone_schedule.pk)]

    today = datetime.now(UTC).date()
    _status, bundle = client.get("Schedule", date=(today + timedelta(days=10)).isoformat())
    assert sorted(ids(bundle)) == both
    _status, bundle = client.get("Schedule", date=f"ge{today + timedelta(days=61)}")
    assert ids(bundle) == []
    video_type.booking_horizon_days = 90
    video_type.save(update_fields=["booking_horizon_days"])
    _status, bundle = client.get("Schedule", date=f"ge{today + timedelta(days=61)}")
    assert ids(bundle) == [str(schedule.pk)]
    _status, bundle = client.get("Schedule", date=f"lt{today}")
    assert ids(bundle) == []


# Slot


def test_free_slots_of_a_day_are_computed_with_stable_ids_and_read_back(
    fhir, world, video_type, schedule
):
    taken = book(world, video_type, local(3, 10))
    client = fhir.as_user(world.patient.user)
    day = utc_day(local(3, 12))
    status, bundle = client.get("Slot", schedule=f"Schedule/{schedule.pk}", start=day, _count=200)
    assert status == 200, bundle
    Bundle.model_validate(bundle)
    starts = [datetime.fromisoformat(e["resource"]["start"]) for e in bundle["entry"]]
    assert starts == sorted(starts) and bundle["total"] == len(starts)
    # 08:00 to 17:30 every 15 minutes, less the three starts whose 30-minute block meets 10:00.
    expected = [local(3, 8) + timedelta(minutes=15 * n) for n in range(39)]
    expected = [
        s
        for s in expected
        if not taken.blocked_start - timedelta(minutes=30) < s < taken.blocked_end
    ]
    assert starts == expected
    assert bundle["entry"][0]["fullUrl"].endswith(f"/Slot/{slot_id(schedule, expected[0])}")
    _status, again = client.get("Slot", schedule=str(schedule.pk), start=day, _count=200)
    assert ids(again) == ids(bundle)

    status, body = client.get(f"Slot/{slot_id(schedule, local(3, 11))}")
    assert status == 200, body
    round_trips(Slot, body)
    assert body["schedule"]["reference"] == f"Schedule/{schedule.pk}"
    assert body["status"] == "free"
    assert datetime.fromisoformat(body["end"]) - datetime.fromisoformat(body["start"]) == timedelta(
        minutes=20
    )
    assert body["appointmentType"]["coding"][0]["code"] == "video"
    # A booked time is no longer a slot; nor is a time off the grid, nor a malformed id.
    assert client.get(f"Slot/{slot_id(schedule, local(3, 10))}")[0] == 404
    assert client.get(f"Slot/{slot_id(schedule, local(3, 11, 5))}")[0] == 404
    assert client.get("Slot/not-a-slot")[0] == 404
    video_type.is_active = False
    video_type.save(update_fields=["is_active"])
    assert client.get(f"Slot/{slot_id(schedule, local(3, 11))}")[0] == 404


def test_slot_search_needs_a_bounded_start_of_at_most_31_days(fhir, world, schedule):
    client = fhir.as_user(world.front_desk)
    day = datetime.now(UTC).date() + timedelta(days=2)
    for params in ({}, {"start": f"ge{day}"}, {"start": f"lt{day}"}):
        status, body = client.get("Slot", **params)
        assert status == 400, params
        assert "bounded start" in body["issue"][0]["diagnostics"]
    status, body = client.get("Slot", start=[f"ge{day}", f"lt{day + timedelta(days=32)}"])
    assert status == 400 and "31 days" in body["issue"][0]["diagnostics"]
    status, bundle = client.get("Slot", start=[f"ge{day}", f"lt{day + timedelta(days=31)}"])
    assert status == 200 and bundle["total"] > 0


def test_slot_search_by_start_prefixes_status_and_id(fhir, world, video_type, schedule):
    client = fhir.as_user(world.front_desk)
    low, high = local(3, 9), local(3, 10)
    status, bundle = client.get(
        "Slot", start=[f"ge{low.isoformat()}", f"lt{high.isoformat()}"], status="free"
    )
    assert status == 200, bundle
    nine = [slot_id(schedule, low + timedelta(minutes=15 * n)) for n in range(4)]
    assert ids(bundle) == nine
    _status, bundle = client.get(
        "Slot", start=[f"gt{low.isoformat()}", f"le{high.isoformat()}"]
    )  # gt/le on an instant: after 09:00:00, before 10:00:01
    assert ids(bundle) == nine[1:] + [slot_id(schedule, high)]
    _status, bundle = client.get(
        "Slot", start=[f"ge{low.isoformat()}", f"lt{high.isoformat()}"], status="busy"
    )
    assert ids(bundle) == []
    _status, bundle = client.get(
        "Slot", start=[f"ge{low.isoformat()}", f"lt{high.isoformat()}"], _id=nine[2]
    )
    assert ids(bundle) == [nine[2]]
    _status, bundle = client.get(
        "Slot", start=[f"ge{low.isoformat()}", f"lt{high.isoformat()}"], schedule="Schedule/999999"
    )
    assert ids(bundle) == []


def test_slots_page_in_time_order_across_schedules(fhir, world, video_type, schedule, provider):
    phone = AppointmentType.objects.create(
        practice=world.practice, name="Phone", slug="phone", modality=Modality.PHONE
    )
    phone.providers.add(provider)
    client = fhir.as_user(world.front_desk)
    window = [f"ge{local(3, 9).isoformat()}", f"lt{local(3, 11).isoformat()}"]
    _status, whole = client.get("Slot", start=window, _count=200)
    assert whole["total"] == 16 and "next" not in {k["relation"] for k in whole["link"]}
    status, first = client.get("Slot", start=window, _count=5)
    assert status == 200 and first["total"] == 16
    assert all_pages(client, first) == ids(whole)
    starts = [e["resource"]["start"] for e in whole["entry"]]
    assert starts == sorted(starts)
    status, _body = client.get("Slot", start=window, _cursor="bad/cursor")
    assert status == 400


# Appointment: read, round trip, search


def test_an_appointment_reads_as_fhir_and_round_trips(fhir, world, video_type):
    appointment = book(world, video_type, local(3, 10))
    status, body = fhir.as_user(world.front_desk).get(f"Appointment/{appointment.pk}")
    assert status == 200, body
    round_trips(FhirAppointment, body)
    assert body["status"] == "booked"
    assert datetime.fromisoformat(body["start"]) == appointment.start
    assert datetime.fromisoformat(body["end"]) == appointment.end
    assert body["minutesDuration"] == 20
    assert body["identifier"] == [
        {"system": "urn:telehealth:practice:alpha:appointment", "value": str(appointment.pk)}
    ]
    assert body["appointmentType"]["coding"][0]["code"] == "video"
    assert body["serviceType"][0]["coding"][0]["code"] == "video"
    assert [(p["actor"]["reference"], p["status"]) for p in body["participant"]] == [
        (f"Patient/{world.patient.pk}", "accepted"),
        (f"Practitioner/{world.clinician.provider.pk}", "accepted"),
    ]
    assert body["reasonCode"] == [{"text": "Follow-up on blood pressure"}]
    assert body["meta"]["versionId"] == version(appointment)
    assert AuditEvent.objects.filter(
        object_type="scheduling.Appointment", object_id=str(appointment.pk), patient=world.patient
    ).exists()


def test_every_status_maps_to_a_fhir_appointment_status():
    extra: Any = FhirAppointment.model_fields["status"].json_schema_extra
    allowed = set(extra["enum_values"])
    assert set(APPOINTMENT_STATUS) == set(Status)
    assert set(APPOINTMENT_STATUS.values()) <= allowed


def test_appointments_search_by_every_parameter(fhir, world, video_type):
    first = book(world, video_type, local(3, 9))
    second = book(world, video_type, local(4, 9), patient=world.other_patient)
    third = book(world, video_type, local(5, 9))
    services.appointment_cancel(appointment=third, by=world.front_desk, reason="Feeling better")
    client = fhir.as_user(world.front_desk)
    provider = world.clinician.provider

    def found(**params) -> list[str]:
        status, bundle = client.get("Appointment", **params)
        assert status == 200, bundle
        return ids(bundle)

    assert found(_id=str(second.pk)) == [str(second.pk)]
    system = "urn:telehealth:practice:alpha:appointment"
    assert found(identifier=f"{system}|{first.pk}") == [str(first.pk)]
    assert found(identifier=str(first.pk)) == [str(first.pk)]
    assert found(identifier=f"urn:telehealth:practice:beta:appointment|{first.pk}") == []
    assert found(patient=f"Patient/{world.patient.pk}") == [str(first.pk), str(third.pk)]
    assert found(practitioner=f"Practitioner/{provider.pk}") == [
        str(first.pk),
        str(second.pk),
        str(third.pk),
    ]
    assert found(practitioner=str(provider.pk + 1000)) == []
    assert found(actor=f"Patient/{world.other_patient.pk}") == [str(second.pk)]
    assert len(found(actor=f"Practitioner/{provider.pk}")) == 3
    assert client.get("Appointment", actor=str(provider.pk))[0] == 400
    assert found(date=utc_day(local(4, 9))) == [str(second.pk)]
    assert found(date=f"ge{local(4, 9).isoformat()}") == [str(second.pk), str(third.pk)]
    assert found(date=f"lt{local(4, 9).isoformat()}") == [str(first.pk)]
    assert found(status="booked") == [str(first.pk), str(second.pk)]
    assert found(status="cancelled") == [str(third.pk)]
    assert found(status="booked,cancelled") == [str(first.pk), str(second.pk), str(third.pk)]
    assert found(status="fulfilled") == []
    third.refresh_from_db()
    assert found(_lastUpdated=f"ge{third.updated_at.isoformat()}") == [str(third.pk)]
    _status, cancelled = client.get(f"Appointment/{third.pk}")
    assert cancelled["cancelationReason"] == {"text": "Feeling better"}


def test_appointments_page_by_next_links(fhir, world, video_type):
    booked = [book(world, video_type, local(3, 9 + n)) for n in range(5)]
    client = fhir.as_user(world.front_desk)
    status, bundle = client.get("Appointment", _count=2)
    assert status == 200 and bundle["total"] == 5
    assert all_pages(client, bundle) == [str(a.pk) for a in booked]


# _include


def test_include_adds_each_patient_and_practitioner_once(fhir, world, video_type):
    first = book(world, video_type, local(3, 9))
    second = book(world, video_type, local(3, 11))
    third = book(world, video_type, local(3, 13), patient=world.other_patient)
    client = fhir.as_user(world.front_desk)
    status, bundle = client.get(
        "Appointment", _include=["Appointment:patient", "Appointment:practitioner"]
    )
    assert status == 200, bundle
    Bundle.model_validate(bundle)
    assert ids(bundle) == [str(first.pk), str(second.pk), str(third.pk)]
    provider = world.clinician.provider
    assert included(bundle) == [
        f"Patient/{world.patient.pk}",
        f"Patient/{world.other_patient.pk}",
        f"Practitioner/{provider.pk}",
    ]
    assert bundle["total"] == 3  # includes are not counted
    assert bundle["entry"][3]["fullUrl"].endswith(f"/fhir/R4/Patient/{world.patient.pk}")
    assert AuditEvent.objects.filter(
        object_type="accounts.Patient", object_id=str(world.other_patient.pk)
    ).exists()
    _status, bundle = client.get("Appointment", _include="Appointment:practitioner", _count=1)
    assert included(bundle) == [f"Practitioner/{provider.pk}"]
    next_url = next(k["url"] for k in bundle["link"] if k["relation"] == "next")
    assert "_include=Appointment%3Apractitioner" in next_url


def test_include_leaves_out_a_patient_the_user_may_not_see(fhir, world, video_type):
    # On the clinician's own schedule, but not on their care team: the appointment shows, the
    # patient's record does not.
    stranger = make_patient(world.practice, "Stranger Alpha", "stranger@alpha.test", login=False)
    start = local(3, 9)
    appointment = Appointment.objects.create(
        practice=world.practice,
        provider=world.clinician.provider,
        patient=stranger,
        appointment_type=video_type,
        start=start,
        end=start + timedelta(minutes=20),
        blocked_start=start,
        blocked_end=start + timedelta(minutes=30),
        modality="video",
        booked_via="staff",
    )
    status, bundle = fhir.as_user(world.clinician).get(
        "Appointment", _include="Appointment:patient"
    )
    assert status == 200, bundle
    assert ids(bundle) == [str(appointment.pk)]
    assert included(bundle) == []


def test_an_unknown_include_is_refused(fhir, world):
    client = fhir.as_user(world.front_desk)
    for value in ("Appointment:location", "Patient:organization", "*"):
        status, body = client.get("Appointment", _include=value)
        assert status == 400, value
        assert "_include" in body["issue"][0]["diagnostics"]
    status, _body = client.get("Slot", _include="Appointment:patient")
    assert status == 400


# Access


@pytest.mark.parametrize(
    "path", ["Appointment", "Appointment/1", "Slot", "Schedule", "Schedule/1", "PractitionerRole"]
)
def test_anonymous_gets_401(fhir, path):
    status, body = fhir.get(path)
    assert status == 401 and body["resourceType"] == "OperationOutcome"


def test_another_practice_gets_404_for_each_type(fhir, world, video_type, schedule):
    appointment = book(world, video_type, local(3, 9))
    provider = world.clinician.provider
    client = fhir.as_user(world.outside_clinician)
    for path in (
        f"Appointment/{appointment.pk}",
        f"Schedule/{schedule.pk}",
        f"Slot/{slot_id(schedule, local(3, 11))}",
        f"PractitionerRole/{provider.pk}",
    ):
        assert client.get(path)[0] == 404, path
    _status, bundle = client.get("Appointment")
    assert ids(bundle) == []
    _status, bundle = client.get("Slot", start=utc_day(local(3, 12)))
    assert ids(bundle) == []


def test_a_patient_sees_only_their_own_appointments(fhir, world, video_type):
    mine = book(world, video_type, local(3, 9))
    theirs = book(world, video_type, local(3, 11), patient=world.other_patient)
    client = fhir.as_user(world.patient.user)
    _status, bundle = client.get("Appointment", _include="Appointment:patient")
    assert ids(bundle) == [str(mine.pk)]
    assert included(bundle) == [f"Patient/{world.patient.pk}"]
    assert client.get(f"Appointment/{theirs.pk}")[0] == 404
    _status, bundle = client.get("Appointment", patient=str(world.other_patient.pk))
    assert ids(bundle) == []


def test_staff_see_the_appointments_their_role_allows(fhir, world, video_type):
    booked = book(world, video_type, local(3, 9))
    assert ids(fhir.as_user(world.admin).get("Appointment")[1]) == [str(booked.pk)]
    assert ids(fhir.as_user(world.clinician).get("Appointment")[1]) == [str(booked.pk)]
    # A clinician of the practice with no schedule and no care team sees none.
    assert ids(fhir.as_user(world.other_clinician).get("Appointment")[1]) == []
    assert fhir.as_user(world.other_clinician).get(f"Appointment/{booked.pk}")[0] == 404


def test_the_capability_statement_offers_the_schedule_types(fhir):
    _status, body = fhir.get("metadata")
    resources = {r["type"]: r for r in body["rest"][0]["resource"]}
    assert {p["name"] for p in resources["Appointment"]["searchParam"]} == {
        "_id",
        "_lastUpdated",
        "identifier",
        "patient",
        "practitioner",
        "actor",
        "date",
        "status",
    }
    assert resources["Appointment"]["searchInclude"] == [
        "Appointment:patient",
        "Appointment:practitioner",
    ]
    assert "searchInclude" not in resources["Slot"]
    assert {p["name"] for p in resources["Slot"]["searchParam"]} == {
        "_id",
        "schedule",
        "start",
        "status",
    }
    assert {p["name"] for p in resources["Schedule"]["searchParam"]} == {
        "_id",
        "actor",
        "active",
        "date",
    }
    assert {p["name"] for p in resources["PractitionerRole"]["searchParam"]} == {
        "_id",
        "practitioner",
        "organization",
        "active",
    }


# Writes through the mapper contract


def new_appointment(world, **fields) -> dict:
    resource = {
        "resourceType": "Appointment",
        "status": "booked",
        "participant": [
            {"actor": {"reference": f"Patient/{world.patient.pk}"}, "status": "accepted"}
        ],
    }
    resource.update(fields)
    FhirAppointment.model_validate(resource)  # as the core validates before calling create
    return resource


def test_create_books_the_named_slot_through_the_booking_service(world, video_type, schedule):
    start = local(3, 10)
    resource = new_appointment(
        world,
        slot=[{"reference": f"Slot/{slot_id(schedule, start)}"}],
        reasonCode=[{"text": "Rash"}],
    )
    appointment = create(world.front_desk, resource)
    assert appointment.start == start and appointment.status == Status.BOOKED
    assert appointment.patient == world.patient and appointment.reason == "Rash"
    assert appointment.provider == world.clinician.provider
    assert appointment.booked_via == BookedVia.STAFF and appointment.booked_by == world.front_desk
    assert OutboundMessage.objects.filter(
        template="appointment.confirmation", related_id=str(appointment.pk)
    ).exists()
    assert AuditEvent.objects.filter(
        object_type="scheduling.Appointment", object_id=str(appointment.pk), action="create"
    ).exists()
    body = appointment_mapper.read(world.front_desk, str(appointment.pk))
    assert body["status"] == "booked" and datetime.fromisoformat(body["start"]) == start


def test_create_books_by_start_practitioner_and_type(world, video_type):
    start = local(3, 14)
    resource = new_appointment(
        world,
        start=start.isoformat(),
        end=(start + timedelta(minutes=20)).isoformat(),
        appointmentType={
            "coding": [
                {"system": "urn:telehealth:practice:alpha:appointment-type", "code": "video"}
            ]
        },
    )
    resource["participant"].append(
        {
            "actor": {"reference": f"PractitionerRole/{world.clinician.provider.pk}"},
            "status": "accepted",
        }
    )
    appointment = create(world.patient.user, resource)
    assert appointment.start == start and appointment.booked_via == BookedVia.ONLINE


def test_a_taken_slot_is_409_and_leaves_one_appointment(world, video_type, schedule):
    start = local(3, 10)
    resource = new_appointment(world, slot=[{"reference": f"Slot/{slot_id(schedule, start)}"}])
    create(world.front_desk, resource)
    other = new_appointment(world, slot=resource["slot"])
    other["participant"][0]["actor"]["reference"] = f"Patient/{world.other_patient.pk}"
    with pytest.raises(FhirError) as error:
        create(world.front_desk, other)
    assert error.value.status == 409
    assert Appointment.objects.filter(start=start).count() == 1


@pytest.mark.parametrize(
    "change, status",
    [
        ("outside_hours", 422),
        ("unlicensed_state", 422),
        ("unknown_type", 422),
        ("type_of_another_provider", 422),
        ("bad_slot_reference", 400),
        ("slot_of_another_practice", 422),
        ("patient_of_another_practice", 422),
        ("no_patient", 422),
        ("status_proposed", 422),
        ("end_not_the_duration", 422),
        ("naive_start", 400),
    ],
)
def test_create_refuses_what_the_schedule_refuses(world, video_type, schedule, change, status):
    start = local(3, 10)
    resource = new_appointment(world, slot=[{"reference": f"Slot/{slot_id(schedule, start)}"}])
    provider = world.clinician.provider
    by_times = {
        "start": start.isoformat(),
        "appointmentType": {"coding": [{"code": "video"}]},
    }
    practitioner = {"actor": {"reference": f"Practitioner/{provider.pk}"}, "status": "accepted"}
    if change == "outside_hours":
        resource["slot"] = [{"reference": f"Slot/{slot_id(schedule, local(3, 22))}"}]
    elif change == "unlicensed_state":
        Patient.objects.filter(pk=world.patient.pk).update(state="TX")
    elif change == "unknown_type":
        del resource["slot"]
        resource.update(by_times, appointmentType={"coding": [{"code": "surgery"}]})
        resource["participant"].append(practitioner)
    elif change == "type_of_another_provider":
        AppointmentType.objects.create(practice=world.practice, name="Group", slug="group")
        del resource["slot"]
        resource.update(by_times, appointmentType={"coding": [{"code": "group"}]})
        resource["participant"].append(practitioner)
    elif change == "bad_slot_reference":
        resource["slot"] = [{"reference": "Slot/tomorrow-morning"}]
    elif change == "slot_of_another_practice":
        outsider = make_staff(world.outside_practice, Role.FRONT_DESK, "d@beta.test", "Desk B")
        resource["participant"][0]["actor"]["reference"] = f"Patient/{world.outside_patient.pk}"
        world.front_desk = outsider
    elif change == "patient_of_another_practice":
        resource["participant"][0]["actor"]["reference"] = f"Patient/{world.outside_patient.pk}"
    elif change == "no_patient":
        resource["participant"] = [practitioner]
    elif change == "status_proposed":
        resource["status"] = "proposed"
    elif change == "end_not_the_duration":
        resource["end"] = (start + timedelta(minutes=45)).isoformat()
    elif change == "naive_start":
        resource["start"] = "2030-01-01T10:00:00"
    with pytest.raises(FhirError) as error:
        create(world.front_desk, resource)
    assert error.value.status == status, error.value.diagnostics
    assert Appointment.objects.count() == 0


def test_clinicians_do_not_book_and_patients_book_only_for_themselves(world, video_type, schedule):
    resource = new_appointment(
        world, slot=[{"reference": f"Slot/{slot_id(schedule, local(3, 10))}"}]
    )
    with pytest.raises(FhirError) as error:
        create(world.clinician, resource)
    assert error.value.status == 403
    resource["participant"][0]["actor"]["reference"] = f"Patient/{world.other_patient.pk}"
    with pytest.raises(FhirError) as error:
        create(world.patient.user, resource)
    assert error.value.status == 422
    video_type.bookable_online = False
    video_type.save(update_fields=["bookable_online"])
    resource["participant"][0]["actor"]["reference"] = f"Patient/{world.patient.pk}"
    with pytest.raises(FhirError) as error:
        create(world.patient.user, resource)
    assert error.value.status == 422
    assert Appointment.objects.count() == 0


def test_a_published_example_adapted_to_our_references_books(world, video_type):
    example = json.loads((FIXTURES / "appointment-example.json").read_text())
    start = local(3, 15)
    example.pop("id")
    example["start"] = start.isoformat()
    example["end"] = (start + timedelta(minutes=20)).isoformat()
    example["appointmentType"] = {"coding": [{"code": "video"}]}
    example["participant"] = [
        {**example["participant"][0], "actor": {"reference": f"Patient/{world.patient.pk}"}},
        {
            **example["participant"][1],
            "actor": {"reference": f"Practitioner/{world.clinician.provider.pk}"},
        },
    ]
    FhirAppointment.model_validate(example)
    appointment = create(world.front_desk, example)
    assert appointment.start == start and appointment.patient == world.patient


def test_our_slot_has_the_shape_of_the_published_example(fhir, world, schedule):
    published = Slot.model_validate_json((FIXTURES / "slot-example.json").read_text())
    _status, ours = fhir.as_user(world.front_desk).get(f"Slot/{slot_id(schedule, local(3, 11))}")
    parsed = Slot.model_validate(ours)
    for element in ("schedule", "status", "start", "end", "serviceType", "appointmentType"):
        assert getattr(published, element) is not None and getattr(parsed, element) is not None
    assert str(parsed.schedule.reference).startswith("Schedule/")


def test_cancel_through_update_changes_status_reason_and_version(world, video_type):
    appointment = book(world, video_type, local(3, 10))
    before = version(appointment)
    resource = appointment_mapper.read(world.front_desk, str(appointment.pk))
    resource["status"] = "cancelled"
    resource["cancelationReason"] = {"text": "Patient is travelling"}
    cancelled = update(world.front_desk, appointment, resource)
    cancelled.refresh_from_db()
    assert cancelled.status == Status.CANCELLED
    assert cancelled.cancel_reason == "Patient is travelling"
    assert version(cancelled) != before
    body = appointment_mapper.read(world.front_desk, str(appointment.pk))
    assert body["status"] == "cancelled" and body["meta"]["versionId"] != before
    with pytest.raises(FhirError) as error:
        update(world.front_desk, cancelled, resource)
    assert error.value.status == 422


def test_update_refuses_anything_but_cancellation(world, video_type):
    appointment = book(world, video_type, local(3, 10))
    resource = appointment_mapper.read(world.front_desk, str(appointment.pk))
    moved = {**resource, "start": local(3, 12).isoformat(), "end": local(3, 12, 20).isoformat()}
    moved_and_cancelled = {**moved, "status": "cancelled"}
    checked_in = {**resource, "status": "checked-in"}
    for attempt in (moved, moved_and_cancelled, checked_in):
        with pytest.raises(FhirError) as error:
            update(world.front_desk, appointment, attempt)
        assert error.value.status == 422
        assert "Only cancellation" in error.value.diagnostics
    with pytest.raises(FhirError) as error:
        update(world.clinician, appointment, {**resource, "status": "cancelled"})
    assert error.value.status == 403
    appointment.refresh_from_db()
    assert appointment.status == Status.BOOKED and appointment.start == local(3, 10)


# Pure parts


def test_slot_ids_name_schedule_and_start():
    class Offering:
        pk = 42

    start = datetime(2026, 12, 7, 15, 45, tzinfo=UTC)
    slot = FreeSlot(Offering(), start)
    assert slot.id == "42-202612071545"
    assert parse_slot_id(slot.id) == (42, start)
    assert parse_slot_id("42-202613071545") is None  # month 13
    assert parse_slot_id("42-2026120715") is None
    assert parse_slot_id("x-202612071545") is None
    assert slot.sort_key < FreeSlot(Offering(), start + timedelta(minutes=15)).sort_key


# Concurrency (PostgreSQL)


@pytest.mark.django_db(transaction=True)
def test_two_creates_racing_for_one_slot_leave_one_booking_and_a_409(
    require_postgres, world, video_type, schedule
):
    start = local(3, 10)
    slot = [{"reference": f"Slot/{slot_id(schedule, start)}"}]
    resources = [new_appointment(world, slot=slot), new_appointment(world, slot=slot)]
    resources[1]["participant"][0]["actor"]["reference"] = f"Patient/{world.other_patient.pk}"
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(resource):
        try:
            barrier.wait()
            create(world.front_desk, resource)
            result = "booked"
        except FhirError as error:
            result = str(error.status)
        except Exception as error:  # anything else is a failure the assertion shows
            result = f"error: {error!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(r,)) for r in resources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["409", "booked"]
    assert Appointment.objects.filter(start=start).count() == 1


def test_a_page_of_appointments_is_one_query_however_many(world, video_type):
    from django.test.utils import CaptureQueriesContext

    from scheduling.fhir import appointment_search, appointment_to_fhir

    for hour in (9, 11, 13):
        book(world, video_type, local(3, hour))
    book(world, video_type, local(4, 9), patient=world.other_patient)
    with CaptureQueriesContext(connection) as queries:
        resources = [appointment_to_fhir(row) for row in appointment_search(world.front_desk, {})]
    assert len(resources) == 4 and len(queries) == 1


# The same writes over HTTP, through the core's create and update views


def test_appointments_are_booked_and_cancelled_over_http(client, world, video_type, schedule):
    from tests.fhir.test_writes import Api

    api = Api(client).as_user(world.front_desk)
    start = local(3, 10)
    resource = new_appointment(world, slot=[{"reference": f"Slot/{slot_id(schedule, start)}"}])
    status, body, response = api.post("Appointment", resource)
    assert status == 201, body
    appointment = Appointment.objects.get(pk=body["id"])
    assert response["Location"].endswith(
        f"/fhir/R4/Appointment/{appointment.pk}/_history/{version(appointment)}"
    )
    assert response["ETag"] == f'W/"{version(appointment)}"'

    other = new_appointment(world, slot=resource["slot"])
    other["participant"][0]["actor"]["reference"] = f"Patient/{world.other_patient.pk}"
    status, outcome, _response = api.post("Appointment", other)
    assert status == 409
    assert OperationOutcome.model_validate(outcome).issue[0].code == "conflict"
    assert Appointment.objects.filter(start=start).count() == 1

    stale = response["ETag"]
    body["status"] = "cancelled"
    body["cancelationReason"] = {"text": "Patient is travelling"}
    status, cancelled, response = api.put(f"Appointment/{appointment.pk}", body, If_Match=stale)
    assert status == 200, cancelled
    assert cancelled["status"] == "cancelled"
    status, outcome, _response = api.put(f"Appointment/{appointment.pk}", body, If_Match=stale)
    assert status == 412, outcome
