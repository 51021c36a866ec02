"""The visit consumers through the real ASGI stack (origin check, sessions, auth)."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.utils import timezone

from scheduling.models import Appointment
from telehealth.asgi import application
from tests.conftest import sign_in
from tests.sockets import Communicator as WebsocketCommunicator
from visits import selectors, services
from visits.models import Participant, Visit

pytestmark = pytest.mark.django_db(transaction=True)


def make_visit(world, video_type, patient=None, start=None):
    """A video visit; its join link opens the waiting room only for one starting within
    scheduling.links.WAITING_ROOM_OPENS (the first made, or one given an earlier `start`)."""
    patient = patient or world.patient
    # One hour apart: the provider cannot be double-booked (PostgreSQL enforces it).
    start = start or timezone.now() + timedelta(minutes=5, hours=Appointment.objects.count())
    appointment = Appointment.objects.create(
        practice=patient.practice,
        provider=world.clinician.provider,
        patient=patient,
        appointment_type=video_type,
        start=start,
        end=start + timedelta(minutes=20),
        blocked_start=start,
        blocked_end=start + timedelta(minutes=20),
        modality="video",
        booked_via="staff",
        patient_state="MA",  # where they said they would be, as every booking records
    )
    return services.visit_for_appointment(appointment)


def cookie_for_user(user) -> bytes:
    client = sign_in(Client(), user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


def cookie_with_grant(visit: Visit) -> bytes:
    session = SessionStore()
    session[selectors.GRANTS_KEY] = {str(visit.pk): visit.patient_id}
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode()


def socket(path: str, cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, path, headers=headers)


async def connect(path, cookie):
    ws = socket(path, cookie)
    connected, code = await ws.connect()
    return ws, connected, code


@pytest.fixture
def room(world, video_type):
    visit = make_visit(world, video_type)
    services.patient_arrives(visit=visit)
    services.clinician_joins(visit=visit, user=world.clinician)
    return visit


async def test_anonymous_and_other_patients_are_refused(world, room, video_type):
    _, connected, _ = await connect(f"/ws/visits/{room.pk}/", None)
    assert not connected
    other_visit = await sync_to_async(make_visit)(world, video_type, world.other_patient)
    other_cookie = await sync_to_async(cookie_with_grant)(other_visit)
    _, connected, _ = await connect(f"/ws/visits/{room.pk}/", other_cookie)
    assert not connected
    _, connected, _ = await connect(f"/ws/visits/{room.pk}/waiting/", other_cookie)
    assert not connected
    outsider = await sync_to_async(cookie_for_user)(world.outside_clinician)
    _, connected, _ = await connect(f"/ws/visits/{room.pk}/", outsider)
    assert not connected


async def test_a_patient_not_yet_admitted_waits_and_hears_the_admission(world, room):
    patient_cookie = await sync_to_async(cookie_with_grant)(room)
    _, connected, _ = await connect(f"/ws/visits/{room.pk}/", patient_cookie)
    assert not connected  # not admitted: the room refuses
    waiting, connected, _ = await connect(f"/ws/visits/{room.pk}/waiting/", patient_cookie)
    assert connected
    assert (await waiting.receive_json_from())["admitted"] is False
    clinician, connected, _ = await connect(
        f"/ws/visits/{room.pk}/", await sync_to_async(cookie_for_user)(world.clinician)
    )
    assert connected
    assert (await clinician.receive_json_from())["type"] == "welcome"
    await clinician.send_json_to({"type": "admit"})
    assert (await waiting.receive_json_from(timeout=3))["type"] == "admitted"
    patient, connected, _ = await connect(f"/ws/visits/{room.pk}/", patient_cookie)
    assert connected
    await waiting.disconnect()
    await patient.disconnect()
    await clinician.disconnect()


async def admitted_pair(world, room):
    await sync_to_async(services.admit)(visit=room, by=world.clinician)
    clinician, ok1, _ = await connect(
        f"/ws/visits/{room.pk}/", await sync_to_async(cookie_for_user)(world.clinician)
    )
    welcome_c = await clinician.receive_json_from()
    patient, ok2, _ = await connect(
        f"/ws/visits/{room.pk}/", await sync_to_async(cookie_with_grant)(room)
    )
    welcome_p = await patient.receive_json_from()
    assert ok1 and ok2
    joined = await clinician.receive_json_from()
    assert joined == {
        "type": "peer-joined",
        "peer": welcome_p["peer"],
        "name": "Pat Alpha",
        "role": "patient",
        "from": welcome_p["peer"],
    }
    return clinician, welcome_c["peer"], patient, welcome_p["peer"]


async def test_frames_are_relayed_only_to_their_peer_within_the_visit(world, room, video_type):
    clinician, c_peer, patient, p_peer = await admitted_pair(world, room)
    # Someone in another visit hears nothing of this one.
    elsewhere = await sync_to_async(make_visit)(world, video_type, world.other_patient)
    await sync_to_async(services.clinician_joins)(visit=elsewhere, user=world.other_clinician)
    from telehealth.accounts.models import CareTeamMember

    await sync_to_async(CareTeamMember.objects.create)(
        patient=world.other_patient, clinician=world.other_clinician, reason="assigned"
    )
    other, ok, _ = await connect(
        f"/ws/visits/{elsewhere.pk}/", await sync_to_async(cookie_for_user)(world.other_clinician)
    )
    assert ok
    await other.receive_json_from()  # welcome

    await clinician.send_json_to({"type": "offer", "to": p_peer, "sdp": "v=0\r\no=- 1 1 IN"})
    offer = await patient.receive_json_from()
    assert offer == {
        "type": "offer",
        "to": p_peer,
        "sdp": "v=0\r\no=- 1 1 IN",
        "name": "Dr Alpha",
        "from": c_peer,
    }
    await patient.send_json_to(
        {
            "type": "ice-candidate",
            "to": c_peer,
            "candidate": {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": "0"},
        }
    )
    assert (await clinician.receive_json_from())["type"] == "ice-candidate"
    await patient.send_json_to({"type": "chat", "body": "Hello doctor"})
    assert (await clinician.receive_json_from())["body"] == "Hello doctor"
    assert (await patient.receive_json_from())["body"] == "Hello doctor"
    assert await other.receive_nothing(timeout=0.3)
    for ws in (clinician, patient, other):
        await ws.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "offer", "sdp": "v=0"}, "bad_frame"),  # no "to"
        ({"type": "offer", "to": "x", "sdp": "not sdp"}, "bad_frame"),
        ({"type": "ice-candidate", "to": "x", "candidate": "a string"}, "bad_frame"),
        ({"type": "chat", "body": "   "}, "bad_chat"),
        ({"type": "chat", "body": "x" * 2001}, "bad_chat"),
        ({"type": "admit"}, "forbidden"),  # a patient cannot admit
        ({"type": "end"}, "forbidden"),
        ({"type": "teleport"}, "unknown_type"),
        ({"no": "type"}, "bad_frame"),
    ],
)
async def test_invalid_frames_get_an_error_frame_and_the_socket_lives_on(world, room, frame, code):
    clinician, _, patient, _ = await admitted_pair(world, room)
    await patient.send_json_to(frame)
    reply = await patient.receive_json_from()
    assert reply["type"] == "error" and reply["code"] == code
    await patient.send_to(text_data="{broken")
    assert (await patient.receive_json_from())["code"] == "bad_json"
    await patient.send_json_to({"type": "chat", "body": "still here"})
    assert (await patient.receive_json_from())["body"] == "still here"
    await clinician.disconnect()
    await patient.disconnect()


async def test_a_fifth_participant_is_refused_with_a_message(world, room):
    clinician, _, patient, _ = await admitted_pair(world, room)
    sockets = [clinician, patient]

    @sync_to_async
    def add_guest(n):
        return Participant.objects.create(
            visit=room, role="guest", display_name=f"Guest {n}", admitted_at=timezone.now()
        )

    @sync_to_async
    def guest_cookie(participant):
        # A guest is represented here by a clinician of the practice joining the visit.
        from telehealth.accounts.models import CareTeamMember, Role
        from tests.conftest import make_staff

        user = make_staff(
            world.practice,
            Role.CLINICIAN,
            f"guest{participant.pk}@alpha.test",
            participant.display_name,
        )
        CareTeamMember.objects.create(patient=world.patient, clinician=user, reason="assigned")
        participant.user = user
        participant.save(update_fields=["user"])
        return cookie_for_user(user)

    for n in (3, 4):
        guest = await add_guest(n)
        ws, ok, _ = await connect(f"/ws/visits/{room.pk}/", await guest_cookie(guest))
        assert ok
        assert (await ws.receive_json_from())["type"] == "welcome"
        sockets.append(ws)
    fifth = await add_guest(5)
    ws, ok, _ = await connect(f"/ws/visits/{room.pk}/", await guest_cookie(fifth))
    assert ok
    refusal = await ws.receive_json_from()
    assert refusal["code"] == "visit_full" and "four" in refusal["message"]
    assert (await ws.receive_output())["type"] == "websocket.close"
    for s in sockets:
        await s.disconnect()


async def test_ending_the_visit_closes_the_room_and_completes_the_appointment(world, room):
    clinician, _, patient, _ = await admitted_pair(world, room)
    await clinician.send_json_to({"type": "end"})
    assert (await patient.receive_json_from(timeout=3))["type"] == "ended"
    visit = await sync_to_async(Visit.objects.select_related("appointment").get)(pk=room.pk)
    assert visit.state == "ended"
    assert visit.appointment is not None and visit.appointment.status == "completed"
    _, connected, _ = await connect(
        f"/ws/visits/{room.pk}/", await sync_to_async(cookie_with_grant)(room)
    )
    assert not connected


async def test_device_check_needs_a_grant_or_a_login(client, world, room):
    from django.test import AsyncClient

    anonymous = AsyncClient()
    response = await anonymous.post(
        "/visits/device-check/", {"sdp": "v=0"}, content_type="application/json"
    )
    assert response.status_code == 403
    granted = AsyncClient()
    cookie = await sync_to_async(cookie_with_grant)(room)
    name, value = cookie.decode().split("=", 1)
    granted.cookies[name] = value
    bad = await granted.post(
        "/visits/device-check/", {"sdp": "hello"}, content_type="application/json"
    )
    assert bad.status_code == 400 and "not a WebRTC offer" in bad.json()["detail"]


async def test_a_guest_link_works_once_and_admits_the_guest(world, room):
    from django.test import AsyncClient

    token = await sync_to_async(services.guest_invite)(
        visit=room, by=world.clinician, display_name="Ana (interpreter)"
    )
    guest = AsyncClient()
    assert (await guest.get(f"/visits/guest/{token}/")).status_code == 200  # no side effect
    joined = await guest.post(f"/visits/guest/{token}/")
    assert joined.status_code == 302 and joined["Location"] == f"/visits/{room.pk}/room/"
    again = await AsyncClient().post(f"/visits/guest/{token}/")
    assert again.status_code == 410
    cookie = f"{settings.SESSION_COOKIE_NAME}={guest.cookies[settings.SESSION_COOKIE_NAME].value}"
    ws, connected, _ = await connect(f"/ws/visits/{room.pk}/", cookie.encode())
    assert connected
    welcome = await ws.receive_json_from()
    assert welcome["role"] == "guest" and welcome["name"] == "Ana (interpreter)"
    await ws.disconnect()


async def test_an_expired_guest_link_is_refused(world, room):
    from django.test import AsyncClient

    from visits.models import GuestInvite

    token = await sync_to_async(services.guest_invite)(
        visit=room, by=world.clinician, display_name="Late guest"
    )
    await sync_to_async(GuestInvite.objects.update)(expires_at=timezone.now())
    assert (await AsyncClient().post(f"/visits/guest/{token}/")).status_code == 410


def test_walk_in_queue_from_request_to_room(client, world):
    from visits.selectors import walk_in_queue

    sign_in(client, world.patient.user)
    response = client.post("/visits/walk-in/")
    visit = Visit.objects.get(appointment__isnull=True)
    assert response["Location"] == f"/visits/{visit.pk}/waiting/"
    client.post("/visits/walk-in/")  # asking twice keeps one place in the queue
    assert Visit.objects.filter(appointment__isnull=True).count() == 1
    assert list(walk_in_queue(user=world.front_desk)) == [visit]
    assert list(walk_in_queue(user=world.outside_clinician)) == []
    from telehealth.accounts.models import Provider

    second = Provider.objects.create(
        user=world.other_clinician,
        practice=world.practice,
        slug="second",
        display_name="Dr Second",
        npi="1456789019",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )
    sign_in(client, world.other_clinician)  # not on the care team: the queue is the way in
    taken = client.post(f"/visits/{visit.pk}/take/")
    assert taken["Location"] == f"/visits/{visit.pk}/room/"
    visit.refresh_from_db()
    assert visit.provider == second
    assert client.get(f"/visits/{visit.pk}/room/").status_code == 200
    assert visit.participants.filter(user=world.other_clinician).exists()
    assert list(walk_in_queue(user=world.front_desk)) == [visit]  # still waiting to be admitted


async def test_media_and_quality_states_reach_the_others_and_patient_video_is_recorded(world, room):
    clinician, c_peer, patient, p_peer = await admitted_pair(world, room)
    await clinician.send_json_to({"type": "mute-state", "audio": True, "video": True})
    assert await patient.receive_json_from() == {
        "type": "mute-state",
        "audio": True,
        "video": True,
        "from": c_peer,
    }
    await sync_to_async(room.refresh_from_db)()
    assert room.patient_video is False  # a clinician's camera says nothing about the patient
    await patient.send_json_to({"type": "mute-state", "audio": True, "video": True})
    assert (await clinician.receive_json_from())["video"] is True
    await sync_to_async(room.refresh_from_db)()
    assert room.patient_video is True
    await patient.send_json_to({"type": "connection-quality", "audio_only": "yes", "x": 1})
    assert await clinician.receive_json_from() == {
        "type": "connection-quality",
        "audio_only": True,
        "from": p_peer,
    }
    await clinician.disconnect()
    await patient.disconnect()
