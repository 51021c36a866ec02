"""Moving a video visit from the peer-to-peer mesh to a group room: the fifth invitation is
refused with the offer to move; the move makes one group session linked to the visit (hosts,
the admitted patient, attendance from the move, audit), once however often or concurrently it
is asked; the visit's room is told and later joins are sent to the group room."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse
from django.utils import timezone

from telehealth.audit.models import AuditEvent
from tests.concurrency import at_once
from tests.conftest import make_patient, sign_in
from tests.visits.test_consumers import connect, cookie_for_user, cookie_with_grant, make_visit
from visits import move_services, services
from visits.models import (
    GroupAttendance,
    GroupParticipant,
    GroupSession,
    Participant,
    Presence,
    Visit,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def visit(world, video_type) -> Visit:
    """A started visit: the patient admitted, Dr Alpha in the room, both connected."""
    visit = make_visit(world, video_type)
    services.patient_arrives(visit=visit)
    services.clinician_joins(visit=visit, user=world.clinician)
    services.admit(visit=visit, by=world.clinician)
    for participant in visit.participants.all():
        services.presence_open(participant=participant)
    return Visit.objects.get(pk=visit.pk)


def fill_to_four(visit: Visit, by) -> None:
    """Two guest links on top of the patient and the clinician: the visit holds four."""
    services.guest_invite(visit=visit, by=by, display_name="Interpreter")
    services.guest_invite(visit=visit, by=by, display_name="Daughter")


# --- The fifth invitation ----------------------------------------------------------------


def test_the_fourth_person_is_invited_and_the_fifth_is_refused_with_visit_full(world, visit):
    services.guest_invite(visit=visit, by=world.clinician, display_name="Interpreter")
    services.guest_invite(visit=visit, by=world.clinician, display_name="Daughter")
    with pytest.raises(services.VisitFull):
        services.guest_invite(visit=visit, by=world.clinician, display_name="Son")
    assert visit.invites.count() == 2


def test_an_expired_guest_link_no_longer_holds_a_place(world, visit):
    fill_to_four(visit, world.clinician)
    visit.invites.filter(display_name="Daughter").update(expires_at=timezone.now())
    services.guest_invite(visit=visit, by=world.clinician, display_name="Son")
    assert visit.invites.count() == 3


def test_the_fifth_invitation_answers_409_with_the_address_of_the_move(client, world, visit):
    fill_to_four(visit, world.clinician)
    sign_in(client, world.clinician)
    response = client.post(reverse("visits:invite", args=[visit.pk]), {"name": "Son"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "visit_full"
    assert body["move_url"] == reverse("visits:move-to-group", args=[visit.pk])
    assert "4 people" in body["detail"]
    assert not GroupSession.objects.exists()  # offered, not done


# --- The move ------------------------------------------------------------------------------


def test_the_move_makes_a_group_session_with_the_visits_people_admitted(world, visit):
    second = Participant.objects.create(  # a colleague who came in (licensure aside)
        visit=visit,
        role=Participant.Role.CLINICIAN,
        user=world.other_clinician,
        display_name="Dr Second",
        admitted_at=timezone.now(),
    )
    Presence.objects.create(participant=second)
    before = timezone.now()
    session = move_services.visit_move_to_group(visit=visit, by=world.clinician)

    assert session.visit_id == visit.pk
    assert session.practice_id == visit.practice_id
    assert session.title == visit.appointment.appointment_type.name
    assert session.host == world.clinician  # the visit's provider
    assert list(session.co_hosts.all()) == [world.other_clinician]
    assert session.starts_at == visit.started_at
    assert session.ends_at >= before + move_services.MOVED_MINIMUM
    assert session.modality == GroupSession.Modality.VIDEO
    invitation = GroupParticipant.objects.get(session=session)
    assert invitation.patient == world.patient
    # Everyone connected goes on in the group room from the move; the visit's minutes stop.
    stretches = {s.user_id: s for s in GroupAttendance.objects.filter(session=session)}
    assert set(stretches) == {world.clinician.pk, world.other_clinician.pk, world.patient.user_id}
    assert stretches[world.patient.user_id].patient == world.patient
    assert stretches[world.clinician.pk].patient is None
    moved_at = stretches[world.clinician.pk].joined_at
    assert all(s.joined_at == moved_at and s.left_at is None for s in stretches.values())
    assert not Presence.objects.filter(participant__visit=visit, left_at__isnull=True).exists()
    assert set(
        Presence.objects.filter(participant__visit=visit).values_list("left_at", flat=True)
    ) == {moved_at}
    # The visit keeps its note and billing: it is not ended by the move.
    visit.refresh_from_db()
    assert visit.state == Visit.State.IN_PROGRESS
    assert AuditEvent.objects.filter(
        object_type="visits.GroupSession",
        object_id=str(session.pk),
        detail=f"visit #{visit.pk} moved to a group room",
        patient=world.patient,
        actor=world.clinician,
    ).exists()
    assert AuditEvent.objects.filter(
        object_type="visits.Visit", detail=f"moved to group session #{session.pk}"
    ).exists()


def test_a_patient_still_waiting_is_invited_but_not_admitted(world, video_type):
    visit = make_visit(world, video_type)
    services.patient_arrives(visit=visit)
    services.clinician_joins(visit=visit, user=world.clinician)
    session = move_services.visit_move_to_group(visit=visit, by=world.clinician)
    assert GroupParticipant.objects.get(session=session).patient == world.patient
    # Nobody was connected: no stretch, so the patient waits for a host in the group room.
    assert not GroupAttendance.objects.filter(session=session).exists()


def test_a_second_move_returns_the_same_session_and_writes_nothing(world, visit):
    first = move_services.visit_move_to_group(visit=visit, by=world.clinician)
    audits = AuditEvent.objects.count()
    second = move_services.visit_move_to_group(visit=visit, by=world.clinician)
    assert second.pk == first.pk
    assert GroupSession.objects.count() == 1
    assert GroupParticipant.objects.count() == 1
    assert AuditEvent.objects.count() == audits


def test_concurrent_moves_make_one_group_session(require_postgres, world, visit):
    racers = 8
    outcomes = at_once(
        [lambda: move_services.visit_move_to_group(visit=visit, by=world.clinician).pk] * racers
    )
    session = GroupSession.objects.get()
    assert outcomes == [session.pk] * racers
    assert GroupParticipant.objects.filter(session=session).count() == 1
    assert GroupAttendance.objects.filter(session=session).count() == 2


def test_a_guest_in_the_room_stops_the_move(world, visit, client):
    token = services.guest_invite(visit=visit, by=world.clinician, display_name="Interpreter")
    guest = services.guest_redeem(token=token)
    Presence.objects.create(participant=guest)
    with pytest.raises(move_services.MoveRefused, match="guests cannot join a group room"):
        move_services.visit_move_to_group(visit=visit, by=world.clinician)
    assert not GroupSession.objects.exists()
    # Once they have left, the visit can move.
    Presence.objects.filter(participant=guest).update(left_at=timezone.now())
    assert move_services.visit_move_to_group(visit=visit, by=world.clinician)


def test_a_patient_without_a_portal_account_stops_the_move(world, video_type):
    walk_up = make_patient(world.practice, "Noa Account", "noa@alpha.test", login=False)
    visit = make_visit(world, video_type, patient=walk_up)
    services.clinician_joins(visit=visit, user=world.clinician)
    with pytest.raises(move_services.MoveRefused, match="no portal account"):
        move_services.visit_move_to_group(visit=visit, by=world.clinician)


def test_an_ended_visit_does_not_move(world, visit):
    services.end(visit=visit, by=world.clinician)
    with pytest.raises(move_services.MoveRefused, match="ended"):
        move_services.visit_move_to_group(visit=visit, by=world.clinician)


def test_after_the_move_guest_links_are_refused(world, visit):
    token = services.guest_invite(visit=visit, by=world.clinician, display_name="Interpreter")
    move_services.visit_move_to_group(visit=visit, by=world.clinician)
    with pytest.raises(services.VisitError, match="moved to a group room"):
        services.guest_redeem(token=token)
    with pytest.raises(services.VisitError, match="moved to a group room"):
        services.guest_invite(visit=visit, by=world.clinician, display_name="Son")


# --- The endpoint --------------------------------------------------------------------------


def test_the_clinician_in_the_visit_moves_it_and_is_sent_to_the_group_room(client, world, visit):
    sign_in(client, world.clinician)
    url = reverse("visits:move-to-group", args=[visit.pk])
    response = client.post(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    session = GroupSession.objects.get(visit=visit)
    assert response.json() == {
        "url": reverse("visits:group-room", args=[session.pk]),
        "session": session.pk,
    }
    response = client.post(url)  # a plain form post, and a second move: the same room
    assert response.status_code == 302
    assert response["Location"] == reverse("visits:group-room", args=[session.pk])


def test_a_clinician_not_in_the_visit_gets_404(client, world, visit):
    sign_in(client, world.other_clinician)  # same practice, not a participant
    response = client.post(reverse("visits:move-to-group", args=[visit.pk]))
    assert response.status_code == 404
    assert not GroupSession.objects.exists()


def test_the_patient_and_front_desk_are_refused(client, world, visit):
    for user in (world.patient.user, world.front_desk):
        sign_in(client, user)
        response = client.post(reverse("visits:move-to-group", args=[visit.pk]))
        assert response.status_code == 403
    assert not GroupSession.objects.exists()


def test_anonymous_is_sent_to_sign_in(client, visit):
    response = client.post(reverse("visits:move-to-group", args=[visit.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_a_refused_move_answers_409_with_the_reason(client, world, visit):
    token = services.guest_invite(visit=visit, by=world.clinician, display_name="Interpreter")
    Presence.objects.create(participant=services.guest_redeem(token=token))
    sign_in(client, world.clinician)
    response = client.post(
        reverse("visits:move-to-group", args=[visit.pk]), HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 409
    assert "guests cannot join a group room" in response.json()["detail"]


def test_after_the_move_the_visit_pages_send_everyone_to_the_group_room(client, world, visit):
    session = move_services.visit_move_to_group(visit=visit, by=world.clinician)
    group_room = reverse("visits:group-room", args=[session.pk])
    sign_in(client, world.clinician)
    assert client.get(reverse("visits:room", args=[visit.pk]))["Location"] == group_room
    sign_in(client, world.patient.user)
    assert client.get(reverse("visits:room", args=[visit.pk]))["Location"] == group_room
    assert client.get(reverse("visits:waiting", args=[visit.pk]))["Location"] == group_room
    # The moved patient and clinician reach the group room page; the note stays the visit's.
    assert client.get(group_room).status_code == 200
    sign_in(client, world.clinician)
    assert client.get(group_room).status_code == 200
    assert client.get(reverse("visits:record", args=[visit.pk])).status_code == 200


# --- The visit's socket --------------------------------------------------------------------


async def test_the_move_reaches_everyone_connected_and_later_sockets_are_sent_on(world, visit):
    clinician, ok1, _ = await connect(
        f"/ws/visits/{visit.pk}/", await sync_to_async(cookie_for_user)(world.clinician)
    )
    assert ok1 and (await clinician.receive_json_from())["type"] == "welcome"
    patient, ok2, _ = await connect(
        f"/ws/visits/{visit.pk}/", await sync_to_async(cookie_with_grant)(visit)
    )
    assert ok2 and (await patient.receive_json_from())["type"] == "welcome"
    assert (await clinician.receive_json_from())["type"] == "peer-joined"

    session = await sync_to_async(move_services.visit_move_to_group)(
        visit=visit, by=world.clinician
    )
    moved = {"type": "moved", "url": reverse("visits:group-room", args=[session.pk])}
    assert await clinician.receive_json_from(timeout=3) == moved
    assert await patient.receive_json_from(timeout=3) == moved
    for ws in (clinician, patient):
        assert (await ws.receive_output(timeout=3))["type"] == "websocket.close"

    # A page still open on the visit (or reconnecting) is sent to the group room too.
    late, ok, _ = await connect(
        f"/ws/visits/{visit.pk}/", await sync_to_async(cookie_for_user)(world.clinician)
    )
    assert ok
    assert await late.receive_json_from(timeout=3) == moved
    closed = await late.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4410}
    for ws in (clinician, patient, late):
        await ws.wait()  # the consumers' disconnect handlers have run


async def test_a_guest_still_connected_is_told_they_cannot_follow(world, visit):
    token = await sync_to_async(services.guest_invite)(
        visit=visit, by=world.clinician, display_name="Interpreter"
    )
    guest = await sync_to_async(services.guest_redeem)(token=token)
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore

    from visits import selectors

    def guest_cookie() -> bytes:
        store = SessionStore()
        store[selectors.GUEST_KEY] = {str(visit.pk): guest.pk}
        store.create()
        return f"{settings.SESSION_COOKIE_NAME}={store.session_key}".encode()

    # The guest's page opens after the move (their presence never counted): refused politely.
    await sync_to_async(Presence.objects.filter(participant=guest).delete)()
    await sync_to_async(move_services.visit_move_to_group)(visit=visit, by=world.clinician)
    ws, ok, _ = await connect(f"/ws/visits/{visit.pk}/", await sync_to_async(guest_cookie)())
    assert ok
    frame = await ws.receive_json_from(timeout=3)
    assert frame["type"] == "error" and frame["code"] == "moved"
    assert "url" not in frame
    assert await ws.receive_output(timeout=3) == {"type": "websocket.close", "code": 4410}
    await ws.wait()


def test_moved_session_ends_no_earlier_than_its_appointment(world, visit):
    appointment = visit.appointment
    appointment.end = appointment.blocked_end = timezone.now() + timedelta(hours=2)
    appointment.save(update_fields=["end", "blocked_end"])
    session = move_services.visit_move_to_group(visit=visit, by=world.clinician)
    assert session.ends_at == visit.appointment.end


# --- After the move: the visit's record ----------------------------------------------------


def test_the_record_of_a_moved_visit_says_so_and_its_clinician_ends_it_there(client, world, visit):
    session = move_services.visit_move_to_group(visit=visit, by=world.clinician)
    sign_in(client, world.clinician)
    page = client.get(reverse("visits:record", args=[visit.pk])).content.decode()
    assert "Moved to a group room at" in page
    assert reverse("visits:group", args=[session.pk]) in page
    assert reverse("visits:end-moved", args=[visit.pk]) in page
    group_page = client.get(reverse("visits:group", args=[session.pk])).content.decode()
    assert reverse("visits:record", args=[visit.pk]) in group_page

    response = client.post(reverse("visits:end-moved", args=[visit.pk]))
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.state == Visit.State.ENDED
    page = client.get(reverse("visits:record", args=[visit.pk])).content.decode()
    assert reverse("visits:end-moved", args=[visit.pk]) not in page


def test_a_visit_that_has_not_moved_is_not_ended_from_its_record(client, world, visit):
    sign_in(client, world.clinician)
    response = client.post(reverse("visits:end-moved", args=[visit.pk]), follow=True)
    assert "End this visit from its room." in response.content.decode()
    visit.refresh_from_db()
    assert visit.state == Visit.State.IN_PROGRESS
    assert reverse("visits:end-moved", args=[visit.pk]) not in response.content.decode()


def test_only_a_clinician_in_the_visit_ends_it(client, world, visit):
    move_services.visit_move_to_group(visit=visit, by=world.clinician)
    sign_in(client, world.other_clinician)
    assert client.post(reverse("visits:end-moved", args=[visit.pk])).status_code == 404
    sign_in(client, world.front_desk)
    assert client.post(reverse("visits:end-moved", args=[visit.pk])).status_code == 403
    visit.refresh_from_db()
    assert visit.state == Visit.State.IN_PROGRESS
