"""Where the patient is during a video or phone visit: asked in the waiting room, stored on
the visit, shown to the clinician, and the licensure gate on admission."""

import pytest
from asgiref.sync import sync_to_async
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from scheduling.models import Appointment
from telehealth.audit.models import AuditEvent
from tests.conftest import sign_in
from tests.visits.test_consumers import connect, cookie_for_user, cookie_with_grant, make_visit
from visits import selectors, services
from visits.models import Participant, Visit

TEXAS_BOOKING = {"patient_state": "TX"}


def booked_in(visit: Visit, state: str) -> Visit:
    Appointment.objects.filter(visit=visit).update(patient_state=state)
    return Visit.objects.select_related("appointment", "provider").get(pk=visit.pk)


def granted_client(visit: Visit) -> Client:
    """A browser that passed the visit's join link (its date-of-birth check)."""
    client = Client()
    session = client.session
    session[selectors.GRANTS_KEY] = {str(visit.pk): visit.patient_id}
    session.save()
    return client


def location_url(visit: Visit) -> str:
    return f"/visits/{visit.pk}/location/"


AT_HOME_IN_MA = {"state": "MA", "place": "home"}


# --- Where the location comes from ---------------------------------------------------------


@pytest.mark.django_db
def test_until_the_patient_answers_the_booking_state_is_used_not_the_record(world, video_type):
    assert world.patient.state == "MA"  # their record says Massachusetts
    visit = booked_in(make_visit(world, video_type), "TX")  # they booked from Texas
    location = selectors.location_of(visit)
    assert (location.state, location.at_home, location.source) == ("TX", None, "booking")
    assert not location.answered


@pytest.mark.django_db
def test_a_walk_in_has_no_location_until_the_patient_answers(world):
    visit = services.walk_in_request(patient=world.patient)
    location = selectors.location_of(visit)
    assert (location.state, location.source) == ("", "not_given")  # never the record's MA


@pytest.mark.django_db
def test_the_answer_replaces_the_booking_and_is_audited(world, video_type):
    visit = booked_in(make_visit(world, video_type), "TX")
    client = granted_client(visit)
    response = client.post(location_url(visit), {"state": "NH", "place": "other"})
    assert response.status_code == 302
    assert response["Location"] == f"/visits/{visit.pk}/waiting/"
    visit.refresh_from_db()
    assert (visit.patient_state, visit.patient_at_home) == ("NH", False)
    assert visit.location_confirmed_at is not None
    location = selectors.location_of(visit)
    assert (location.state, location.at_home, location.source) == ("NH", False, "answered")
    event = AuditEvent.objects.filter(detail__startswith="patient location").get()
    assert event.action == "update" and event.patient_id == visit.patient_id
    assert event.detail == "patient location confirmed: NH, not home"
    page = client.get(f"/visits/{visit.pk}/waiting/").content.decode()
    assert "Saved: you are in New Hampshire, somewhere else." in page


@pytest.mark.django_db
def test_a_partial_answer_is_refused_by_the_database(world, video_type):
    visit = make_visit(world, video_type)
    with pytest.raises(IntegrityError), transaction.atomic():
        Visit.objects.filter(pk=visit.pk).update(patient_state="TX")  # no time, no home/not


# --- The waiting room's question -----------------------------------------------------------


@pytest.mark.django_db
def test_the_waiting_room_asks_where_the_patient_is_with_the_booking_state_chosen(
    world, video_type
):
    visit = booked_in(make_visit(world, video_type), "TX")
    page = granted_client(visit).get(f"/visits/{visit.pk}/waiting/").content.decode()
    assert "Where are you right now?" in page
    assert '<label for="id_state">State you are in now</label>' in page
    assert '<option value="TX" selected>Texas</option>' in page
    assert "<legend>Are you at home or somewhere else?</legend>" in page
    assert 'type="radio" name="place" value="home"' in page
    assert "checked" not in page  # home or not: only the patient's own answer says
    assert f'action="/visits/{visit.pk}/location/"' in page


@pytest.mark.django_db
def test_the_waiting_patient_is_told_when_their_clinician_is_not_licensed_where_they_are(
    world, video_type
):
    visit = booked_in(make_visit(world, video_type), "TX")
    client = granted_client(visit)
    page = client.get(f"/visits/{visit.pk}/waiting/").content.decode()
    assert "Your clinician can&#x27;t see you while you&#x27;re in Texas." in page
    answer = client.post(location_url(visit), AT_HOME_IN_MA, HTTP_ACCEPT="application/json")
    assert answer.status_code == 200
    assert answer.json() == {
        "state": "MA",
        "at_home": True,
        "saved": "Saved: you are in Massachusetts, at home.",
        "not_licensed": "",
    }
    page = client.get(f"/visits/{visit.pk}/waiting/").content.decode()
    problem = page.split("data-location-problem")[1].split("</p>")[0]
    assert problem.endswith(" hidden>")  # shown empty and hidden: nothing to tell
    moved = client.post(
        location_url(visit), {"state": "CA", "place": "other"}, HTTP_ACCEPT="application/json"
    )
    assert moved.json()["not_licensed"] == (
        "Your clinician can't see you while you're in California. If you're somewhere else, "
        "update your location; the practice has been told."
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"state": "ZZ", "place": "home"}, "Choose the US state you are in right now."),
        ({"state": "", "place": "home"}, "Choose the US state you are in right now."),
        ({"place": "home"}, "Choose the US state you are in right now."),
        ({"state": "TX"}, "Say whether you are at home or somewhere else."),
        ({"state": "TX", "place": "garage"}, "Say whether you are at home or somewhere else."),
    ],
)
def test_bad_answers_get_a_400_with_the_reason_and_change_nothing(world, video_type, body, message):
    visit = make_visit(world, video_type)
    client = granted_client(visit)
    as_json = client.post(location_url(visit), body, HTTP_ACCEPT="application/json")
    assert as_json.status_code == 400
    assert message in as_json.json()["detail"]
    as_form = client.post(location_url(visit), body)
    assert as_form.status_code == 400
    assert message in as_form.content.decode()  # the waiting room again, with the reason
    assert "Where are you right now?" in as_form.content.decode()
    visit.refresh_from_db()
    assert visit.location_confirmed_at is None and visit.patient_state == ""
    assert not AuditEvent.objects.filter(detail__startswith="patient location").exists()


@pytest.mark.django_db
def test_the_service_refuses_an_unknown_state_or_a_missing_answer(world, video_type):
    visit = make_visit(world, video_type)
    with pytest.raises(services.VisitError, match="US state"):
        services.location_confirm(visit=visit, state="XX", at_home=True)
    with pytest.raises(services.VisitError, match="at home or somewhere else"):
        services.location_confirm(visit=visit, state="TX", at_home=None)  # type: ignore[arg-type]


@pytest.mark.django_db
def test_after_the_visit_ended_the_answer_is_refused(world, video_type):
    visit = make_visit(world, video_type)
    client = granted_client(visit)
    services.patient_arrives(visit=visit)
    services.admit(visit=visit, by=world.clinician)
    services.end(visit=visit, by=world.clinician)
    response = client.post(location_url(visit), AT_HOME_IN_MA, HTTP_ACCEPT="application/json")
    assert response.status_code == 409
    assert response.json()["detail"] == "This visit has ended."


# --- Who may answer ------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_and_other_patients_cannot_answer_for_the_patient(world, video_type):
    visit = make_visit(world, video_type)
    assert Client().post(location_url(visit), AT_HOME_IN_MA).status_code == 404
    other_visit = make_visit(world, video_type, patient=world.other_patient)
    assert granted_client(other_visit).post(location_url(visit), AT_HOME_IN_MA).status_code == 404
    other_patient = sign_in(Client(), world.other_patient.user)
    assert other_patient.post(location_url(visit), AT_HOME_IN_MA).status_code == 404
    outsider = make_visit(world, video_type, patient=world.outside_patient)
    assert granted_client(visit).post(location_url(outsider), AT_HOME_IN_MA).status_code == 404
    visit.refresh_from_db()
    assert visit.location_confirmed_at is None


@pytest.mark.django_db
def test_staff_cannot_answer_for_the_patient(world, video_type):
    visit = make_visit(world, video_type)
    for user in (world.clinician, world.front_desk, world.admin):
        response = sign_in(Client(), user).post(location_url(visit), AT_HOME_IN_MA)
        assert response.status_code == 404, user.role
    visit.refresh_from_db()
    assert visit.location_confirmed_at is None


@pytest.mark.django_db
def test_the_patient_signed_in_to_the_portal_answers_and_only_by_post(world, video_type):
    visit = make_visit(world, video_type)
    client = sign_in(Client(), world.patient.user)
    assert client.get(location_url(visit)).status_code == 405
    assert client.post(location_url(visit), AT_HOME_IN_MA).status_code == 302
    event = AuditEvent.objects.filter(detail__startswith="patient location").get()
    assert event.actor_id == world.patient.user.pk


# --- What the clinician sees ---------------------------------------------------------------


def today_page(world) -> str:
    return sign_in(Client(), world.clinician).get("/visits/").content.decode()


@pytest.mark.django_db
def test_todays_visits_show_the_location_and_where_it_came_from(world, video_type):
    visit = booked_in(make_visit(world, video_type), "TX")
    page = today_page(world)
    assert 'Texas <span class="muted">(from booking)</span>' in page
    assert "Not licensed in Texas" in page  # Dr Alpha is licensed in MA only
    services.location_confirm(visit=visit, state="MA", at_home=True)
    page = today_page(world)
    assert "Massachusetts · at home" in page
    assert "(from booking)" not in page
    assert "Not licensed in" not in page


@pytest.mark.django_db
def test_the_room_side_panel_shows_the_location(world, video_type):
    visit = booked_in(make_visit(world, video_type), "TX")
    services.patient_arrives(visit=visit)
    client = sign_in(Client(), world.clinician)
    panel = client.get(f"/visits/{visit.pk}/room/").content.decode()
    assert "<dt>Location</dt>" in panel
    assert 'Texas <span class="muted">(from booking)</span>' in panel
    assert "Not licensed in Texas" in panel
    assert 'id="state-names"' in panel and 'data-licensed-states="MA"' in panel
    services.location_confirm(visit=visit, state="VT", at_home=False)
    panel = client.get(f"/visits/{visit.pk}/room/").content.decode()
    assert "Vermont · somewhere else" in panel and "Not licensed in Vermont" in panel


# --- The licensure gate on admission -------------------------------------------------------


@pytest.mark.django_db
def test_admission_is_refused_when_the_clinician_is_not_licensed_where_the_patient_is(
    world, video_type
):
    visit = booked_in(make_visit(world, video_type), "TX")
    services.patient_arrives(visit=visit)
    with pytest.raises(services.AdmissionRefused) as refused:
        services.admit(visit=visit, by=world.clinician)
    assert refused.value.code == "not_licensed" and refused.value.state == "TX"
    assert refused.value.message.startswith(
        "You are not licensed in Texas, where Pat Alpha is right now, so this visit cannot start."
    )
    visit.refresh_from_db()
    assert visit.state == "waiting" and visit.started_at is None
    assert visit.participants.get(role="patient").admitted_at is None
    assert visit.appointment is not None and visit.appointment.status == "booked"
    assert AuditEvent.objects.filter(
        detail="admission refused: not licensed where the patient is (TX)"
    ).exists()
    services.location_confirm(visit=visit, state="MA", at_home=True)  # they were in Boston
    assert services.admit(visit=visit, by=world.clinician).state == "in_progress"


@pytest.mark.django_db
def test_the_patients_answer_outranks_a_licensed_booking_state(world, video_type):
    visit = make_visit(world, video_type)  # booked from MA, where Dr Alpha is licensed
    services.patient_arrives(visit=visit)
    services.location_confirm(visit=visit, state="FL", at_home=False)  # but they are in Miami
    with pytest.raises(services.AdmissionRefused, match="not licensed in Florida"):
        services.admit(visit=visit, by=world.clinician)


@pytest.mark.django_db
def test_a_clinician_without_a_provider_profile_cannot_start_a_remote_visit(world, video_type):
    visit = make_visit(world, video_type)
    services.patient_arrives(visit=visit)
    with pytest.raises(services.AdmissionRefused, match="not licensed in Massachusetts"):
        services.admit(visit=visit, by=world.other_clinician)


@pytest.mark.django_db
def test_a_walk_in_starts_only_once_the_patient_says_where_they_are(world):
    visit = services.walk_in_request(patient=world.patient)
    services.walk_in_take(visit=visit, by=world.clinician)
    with pytest.raises(services.AdmissionRefused) as refused:
        services.admit(visit=visit, by=world.clinician)
    assert refused.value.code == "location_needed"
    assert "Pat Alpha has not said where they are right now" in refused.value.message
    services.location_confirm(visit=visit, state="MA", at_home=True)
    assert services.admit(visit=visit, by=world.clinician).state == "in_progress"


@pytest.mark.django_db
def test_an_in_person_visit_has_no_licensure_gate(world, video_type):
    visit = booked_in(make_visit(world, video_type), "TX")
    Appointment.objects.filter(visit=visit).update(modality="in_person")
    visit = Visit.objects.select_related("appointment").get(pk=visit.pk)
    assert selectors.admission_refused_at(visit=visit, clinician=world.clinician) is None


@pytest.mark.django_db(transaction=True)
async def test_both_sides_are_told_of_a_refusal_and_a_new_answer_lets_the_visit_start(
    world, video_type
):
    visit = await sync_to_async(lambda: booked_in(make_visit(world, video_type), "TX"))()
    await sync_to_async(services.patient_arrives)(visit=visit)
    await sync_to_async(services.clinician_joins)(visit=visit, user=world.clinician)
    patient_cookie = await sync_to_async(cookie_with_grant)(visit)
    waiting, connected, _ = await connect(f"/ws/visits/{visit.pk}/waiting/", patient_cookie)
    assert connected
    assert (await waiting.receive_json_from())["type"] == "status"
    clinician, connected, _ = await connect(
        f"/ws/visits/{visit.pk}/", await sync_to_async(cookie_for_user)(world.clinician)
    )
    assert connected
    assert (await clinician.receive_json_from())["type"] == "welcome"

    await clinician.send_json_to({"type": "admit"})
    refusal = await clinician.receive_json_from(timeout=3)
    assert refusal["type"] == "error" and refusal["code"] == "not_licensed"
    assert refusal["state"] == "TX" and "not licensed in Texas" in refusal["message"]
    assert await waiting.receive_json_from(timeout=3) == {"type": "location-refused", "state": "TX"}
    _, connected, _ = await connect(f"/ws/visits/{visit.pk}/", patient_cookie)
    assert not connected  # still not admitted

    # The patient was in Massachusetts after all: the clinician sees the answer, and admits.
    await sync_to_async(services.location_confirm)(visit=visit, state="MA", at_home=True)
    assert await clinician.receive_json_from(timeout=3) == {
        "type": "patient-location",
        "state": "MA",
        "at_home": True,
    }
    await clinician.send_json_to({"type": "admit"})
    assert await clinician.receive_json_from(timeout=3) == {"type": "admitted"}
    assert (await waiting.receive_json_from(timeout=3))["type"] == "admitted"
    for ws in (waiting, clinician):
        await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_guest_joins_whatever_the_location_and_does_not_hear_it(world, video_type):
    from django.conf import settings
    from django.test import AsyncClient

    visit = await sync_to_async(lambda: booked_in(make_visit(world, video_type), "TX"))()
    await sync_to_async(services.patient_arrives)(visit=visit)
    await sync_to_async(services.clinician_joins)(visit=visit, user=world.clinician)
    token = await sync_to_async(services.guest_invite)(
        visit=visit, by=world.clinician, display_name="Ana (interpreter)"
    )
    guest_client = AsyncClient()
    assert (await guest_client.post(f"/visits/guest/{token}/")).status_code == 302
    cookie = (
        f"{settings.SESSION_COOKIE_NAME}={guest_client.cookies[settings.SESSION_COOKIE_NAME].value}"
    )
    guest, connected, _ = await connect(f"/ws/visits/{visit.pk}/", cookie.encode())
    assert connected  # the gate is for the clinician who provides care, not for guests
    assert (await guest.receive_json_from())["role"] == "guest"
    clinician, connected, _ = await connect(
        f"/ws/visits/{visit.pk}/", await sync_to_async(cookie_for_user)(world.clinician)
    )
    await clinician.receive_json_from()  # welcome
    assert (await guest.receive_json_from())["type"] == "peer-joined"
    await sync_to_async(services.location_confirm)(visit=visit, state="MA", at_home=True)
    assert (await clinician.receive_json_from(timeout=3))["type"] == "patient-location"
    assert await guest.receive_nothing(timeout=0.3)
    participant = await sync_to_async(Participant.objects.get)(visit=visit, role="guest")
    assert participant.admitted_at is not None and participant.admitted_at <= timezone.now()
    for ws in (guest, clinician):
        await ws.disconnect()
