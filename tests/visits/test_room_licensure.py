"""Licensure once the visit has started: a second clinician entering the room, the patient
moving during the visit, and who admitted the patient (the clinician billed)."""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from scheduling.models import Appointment
from telehealth.accounts import services as accounts
from telehealth.accounts.models import CareTeamReason, Provider
from telehealth.audit.models import AuditEvent
from tests.conftest import sign_in
from tests.visits.test_consumers import connect, cookie_for_user, make_visit
from visits import selectors, services
from visits.models import Participant, Visit


def second_clinician(world, *states: str):
    """Dr Second on the patient's care team, a provider licensed in `states`."""
    Provider.objects.create(
        user=world.other_clinician,
        practice=world.practice,
        slug="second",
        display_name="Dr Second",
        npi="1245319599",
        licensed_states=list(states),
        time_zone="America/New_York",
    )
    accounts.care_team_add(
        patient=world.patient,
        clinician=world.other_clinician,
        reason=CareTeamReason.ASSIGNED,
        by=None,
    )
    return world.other_clinician


def started(world, video_type) -> Visit:
    """A Massachusetts video visit that Dr Alpha (licensed in MA) admitted."""
    visit = make_visit(world, video_type)
    services.patient_arrives(visit=visit)
    services.location_confirm(visit=visit, state="MA", at_home=True)
    services.clinician_joins(visit=visit, user=world.clinician)
    return services.admit(visit=visit, by=world.clinician)


def room_url(visit: Visit) -> str:
    return f"/visits/{visit.pk}/room/"


# --- A second clinician entering a started visit -------------------------------------------


@pytest.mark.django_db
def test_an_unlicensed_clinician_cannot_join_a_visit_another_clinician_started(world, video_type):
    visit = started(world, video_type)
    texan = second_clinician(world, "TX")
    response = sign_in(Client(), texan).get(room_url(visit))
    assert response.status_code == 403
    page = response.content.decode()
    assert (
        "You are not licensed in Massachusetts, where Pat Alpha is right now, so you cannot "
        "join this visit." in page
    )
    assert not visit.participants.filter(user=texan).exists()
    assert AuditEvent.objects.filter(
        actor=texan,
        detail="clinician refused entry: not licensed where the patient is (MA)",
    ).exists()
    with pytest.raises(services.AdmissionRefused) as refused:
        services.clinician_joins(visit=visit, user=texan)
    assert refused.value.code == "not_licensed" and refused.value.state == "MA"


@pytest.mark.django_db
def test_a_clinician_without_a_provider_profile_cannot_join_a_started_visit(world, video_type):
    visit = started(world, video_type)
    accounts.care_team_add(
        patient=world.patient,
        clinician=world.other_clinician,
        reason=CareTeamReason.ASSIGNED,
        by=None,
    )
    response = sign_in(Client(), world.other_clinician).get(room_url(visit))
    assert response.status_code == 403
    assert "not licensed in Massachusetts" in response.content.decode()


@pytest.mark.django_db
def test_a_licensed_clinician_joins_a_started_visit(world, video_type):
    visit = started(world, video_type)
    colleague = second_clinician(world, "MA", "TX")
    assert sign_in(Client(), colleague).get(room_url(visit)).status_code == 200
    assert visit.participants.get(user=colleague).role == Participant.Role.CLINICIAN


@pytest.mark.django_db
def test_a_clinician_who_entered_before_admission_is_checked_once_the_patient_is_in(
    world, video_type
):
    visit = make_visit(world, video_type)
    services.patient_arrives(visit=visit)
    services.location_confirm(visit=visit, state="MA", at_home=True)
    texan = second_clinician(world, "TX")
    client = sign_in(Client(), texan)
    assert client.get(room_url(visit)).status_code == 200  # the patient still waits
    services.admit(visit=visit, by=world.clinician)
    assert client.get(room_url(visit)).status_code == 403


@pytest.mark.django_db(transaction=True)
async def test_the_room_socket_refuses_a_clinician_who_entered_before_admission(world, video_type):
    visit = await sync_to_async(make_visit)(world, video_type)
    await sync_to_async(services.patient_arrives)(visit=visit)
    await sync_to_async(services.location_confirm)(visit=visit, state="MA", at_home=True)
    texan = await sync_to_async(second_clinician)(world, "TX")
    await sync_to_async(services.clinician_joins)(visit=visit, user=texan)
    await sync_to_async(services.clinician_joins)(visit=visit, user=world.clinician)
    await sync_to_async(services.admit)(visit=visit, by=world.clinician)
    cookie = await sync_to_async(cookie_for_user)(texan)
    _, connected, _ = await connect(f"/ws/visits/{visit.pk}/", cookie)
    assert not connected
    admitting, connected, _ = await connect(
        f"/ws/visits/{visit.pk}/", await sync_to_async(cookie_for_user)(world.clinician)
    )
    assert connected
    await admitting.disconnect()


@pytest.mark.django_db
def test_the_admitting_clinician_stays_when_the_patient_moves(world, video_type):
    visit = started(world, video_type)
    services.location_confirm(visit=visit, state="TX", at_home=False)
    assert sign_in(Client(), world.clinician).get(room_url(visit)).status_code == 200


@pytest.mark.django_db
def test_an_in_person_visit_takes_any_clinician_who_may_see_it(world, video_type):
    visit = started(world, video_type)
    Appointment.objects.filter(visit=visit).update(modality="in_person")
    texan = second_clinician(world, "TX")
    assert sign_in(Client(), texan).get(room_url(visit)).status_code == 200


@pytest.mark.django_db
def test_a_walk_in_taken_by_an_unlicensed_clinician_does_not_start(world):
    texan = second_clinician(world, "TX")
    visit = services.walk_in_request(patient=world.patient)
    services.location_confirm(visit=visit, state="MA", at_home=True)
    services.walk_in_take(visit=visit, by=texan)
    with pytest.raises(services.AdmissionRefused, match="not licensed in Massachusetts"):
        services.admit(visit=visit, by=texan)
    visit.refresh_from_db()
    assert visit.state == Visit.State.WAITING and visit.admitted_by is None


# --- Who admitted the patient (the clinician billed) ---------------------------------------


@pytest.mark.django_db
def test_admission_records_who_admitted_and_billing_renders_them(world, video_type):
    colleague = second_clinician(world, "MA")
    visit = make_visit(world, video_type)  # booked with Dr Alpha
    services.patient_arrives(visit=visit)
    services.location_confirm(visit=visit, state="MA", at_home=True)
    assert selectors.rendering_clinician(visit) == world.clinician.provider  # not admitted yet
    services.clinician_joins(visit=visit, user=colleague)
    services.admit(visit=visit, by=colleague)
    visit.refresh_from_db()
    assert visit.admitted_by == colleague
    assert selectors.rendering_clinician(visit) == colleague.provider
    services.admit(visit=visit, by=world.clinician)  # a readmission does not change it
    visit.refresh_from_db()
    assert visit.admitted_by == colleague


# --- The patient moving during the visit ---------------------------------------------------

MOVED_TO_TEXAS = (
    "Pat Alpha is now in Texas, where Dr Alpha is not licensed. The call goes on: decide with "
    "the patient how to continue their care safely."
)


@pytest.mark.django_db
def test_a_move_during_the_visit_is_audited_and_warned_in_the_side_panel(world, video_type):
    visit = started(world, video_type)
    services.location_confirm(visit=visit, state="TX", at_home=False)
    visit.refresh_from_db()
    assert visit.state == Visit.State.IN_PROGRESS  # the call is not cut
    assert AuditEvent.objects.filter(
        detail=f"patient moved during the visit to TX: not licensed there: "
        f"user #{world.clinician.pk}"
    ).exists()
    page = sign_in(Client(), world.clinician).get(room_url(visit)).content.decode()
    assert "data-licensure-warning" in page and MOVED_TO_TEXAS in page
    services.location_confirm(visit=visit, state="MA", at_home=True)  # back home
    page = sign_in(Client(), world.clinician).get(room_url(visit)).content.decode()
    assert MOVED_TO_TEXAS not in page and 'data-licensure-warning role="alert" hidden' in page


@pytest.mark.django_db
def test_a_move_where_everyone_in_the_room_is_licensed_warns_no_one(world, video_type):
    visit = started(world, video_type)
    Provider.objects.filter(user=world.clinician).update(licensed_states=["MA", "TX"])
    services.location_confirm(visit=visit, state="TX", at_home=False)
    assert not AuditEvent.objects.filter(detail__startswith="patient moved during").exists()
    page = sign_in(Client(), world.clinician).get(room_url(visit)).content.decode()
    assert "is now in Texas" not in page


@pytest.mark.django_db(transaction=True)
async def test_the_clinicians_in_the_room_are_told_live_when_the_patient_moves(world, video_type):
    visit = await sync_to_async(started)(world, video_type)
    clinician, connected, _ = await connect(
        f"/ws/visits/{visit.pk}/", await sync_to_async(cookie_for_user)(world.clinician)
    )
    assert connected
    assert (await clinician.receive_json_from())["type"] == "welcome"
    await sync_to_async(services.location_confirm)(visit=visit, state="TX", at_home=False)
    assert await clinician.receive_json_from(timeout=3) == {
        "type": "patient-location",
        "state": "TX",
        "at_home": False,
        "not_licensed": True,
        "message": MOVED_TO_TEXAS,
    }
    await sync_to_async(services.location_confirm)(visit=visit, state="MA", at_home=True)
    assert await clinician.receive_json_from(timeout=3) == {
        "type": "patient-location",
        "state": "MA",
        "at_home": True,
    }
    await clinician.disconnect()
