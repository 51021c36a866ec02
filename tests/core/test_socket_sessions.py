"""Sockets end with the session, from the server's side, within a second, and nothing reaches
them afterwards: sign-out (from another connection), password change, MFA device removal,
deactivation, idle and absolute expiry, and the end of an emergency grant.

Runs on the real Redis channel layer when REDIS_URL is set, the in-memory layer otherwise.
Every WebSocket route is covered: a new route fails `test_every_socket_route_closes_on_sign_out`
until it says how to open it."""

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.plugins.otp_totp.models import TOTPDevice

from messaging import services as messaging_services
from messaging.models import Thread
from telehealth.accounts.models import BreakGlassGrant, Role, User
from telehealth.accounts.policy import AUTHENTICATED_AT_KEY, LAST_SEEN_KEY
from telehealth.asgi import application
from telehealth.realtime import CLOSE_SESSION_ENDED
from telehealth.routing import websocket_urlpatterns
from tests.conftest import World, sign_in
from tests.sockets import Communicator as WebsocketCommunicator
from tests.visits.group_helpers import open_group_session
from visits import services as visit_services
from visits.models import GroupSession, Visit

pytestmark = pytest.mark.django_db(transaction=True)

CLOSE_WITHIN = 1.0  # seconds, from the moment the session ends
QUIET = 0.3  # how long a closed socket is watched for a stray frame
NEW_PASSWORD = "a different horse, battery and staple"


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    """Message rate-limit counters live in the cache, keyed by user id; a count left by an
    earlier run must not refuse this one's posts."""
    cache.clear()


def session_cookie(client: Client) -> bytes:
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


# The frame a consumer sends once it has accepted (the other routes send none). open_socket
# waits for it: on a busy machine it can come later than any fixed pause, and would then be
# taken for a frame sent after the session ended.
GREETINGS = [
    (re.compile(r"/ws/messaging/threads/\d+/$"), "hello"),
    (re.compile(r"/ws/visits/\d+/waiting/$"), "status"),
    (re.compile(r"/ws/(visits|groups)/\d+/$"), "welcome"),
]


async def open_socket(path: str, client: Client) -> WebsocketCommunicator:
    cookie = await sync_to_async(session_cookie)(client)
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)]
    ws = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await ws.connect()
    assert connected, f"{path} refused with {code}"
    greeting = next((kind for pattern, kind in GREETINGS if pattern.match(path)), None)
    if greeting is not None:
        frame = await ws.receive_json_from(timeout=10)
        assert frame["type"] == greeting, (path, frame)
    await ws.receive_nothing(0.2)  # what else it says on connect (a room's peers, ...)
    while not ws.output_queue.empty():
        await ws.receive_output()
    return ws


async def closed(ws: WebsocketCommunicator, within: float = CLOSE_WITHIN) -> float:
    """Waits for the server to close the socket; fails on a frame first or nothing in time.
    Returns when (time.time()) the close was seen."""
    try:
        output = await ws.receive_output(timeout=within)
    except TimeoutError:
        pytest.fail(f"the socket was still open {within} s after the session ended")
    assert output == {"type": "websocket.close", "code": CLOSE_SESSION_ENDED}, output
    return time.time()


async def hears_nothing_more(*sockets: WebsocketCommunicator) -> None:
    for ws in sockets:
        if not await ws.receive_nothing(QUIET):
            pytest.fail(f"after the session ended the socket got {await ws.receive_output()}")
        await ws.disconnect()


@dataclass
class Scene:
    """A signed-in client of `user` and the thread and visit its sockets open."""

    world: World
    user: User
    client: Client
    thread: Thread
    visit: Visit


def make_scene(world: World, user: User, video_type) -> Scene:
    from tests.visits.test_consumers import make_visit

    thread, _ = messaging_services.thread_start(
        patient=world.patient, subject="Rash", body="It itches", by=world.patient.user
    )
    visit = make_visit(world, video_type)
    visit_services.patient_arrives(visit=visit)
    visit_services.clinician_joins(visit=visit, user=world.clinician)
    return Scene(world, user, sign_in(Client(), user), thread, visit)


def post_to_thread(scene: Scene) -> None:
    messaging_services.message_post(
        thread=Thread.objects.get(pk=scene.thread.pk),
        body="Sent after the session ended",
        by=scene.world.front_desk,
    )


def post_to_waiting_room(scene: Scene) -> None:
    visit_services.set_provider_status(
        visit=scene.visit, by=scene.world.clinician, text="Running five minutes late"
    )


async def patient_sockets(scene: Scene) -> list[WebsocketCommunicator]:
    """Two sockets of one patient session: a message thread and a visit's waiting room."""
    return [
        await open_socket(f"/ws/messaging/threads/{scene.thread.pk}/", scene.client),
        await open_socket(f"/ws/visits/{scene.visit.pk}/waiting/", scene.client),
    ]


async def staff_sockets(scene: Scene) -> list[WebsocketCommunicator]:
    """Two sockets of one staff session: a message thread and the shared inbox."""
    return [
        await open_socket(f"/ws/messaging/threads/{scene.thread.pk}/", scene.client),
        await open_socket("/ws/messaging/inbox/", scene.client),
    ]


async def assert_both_end_and_stay_silent(scene: Scene, sockets, end: Callable[[], None]):
    await sync_to_async(end)()
    await asyncio.gather(*(closed(ws) for ws in sockets))
    await sync_to_async(post_to_thread)(scene)
    await sync_to_async(post_to_waiting_room)(scene)
    await hears_nothing_more(*sockets)


@pytest.fixture
def patient_scene(world, video_type) -> Scene:
    return make_scene(world, world.patient.user, video_type)


async def test_sign_out_from_another_connection_closes_every_socket_of_the_session(
    patient_scene,
):
    sockets = await patient_sockets(patient_scene)

    def sign_out():
        response = patient_scene.client.post(reverse("accounts:logout"))
        assert response.status_code in (200, 302)

    await assert_both_end_and_stay_silent(patient_scene, sockets, sign_out)


async def test_sign_out_leaves_the_users_other_session_open(patient_scene):
    sockets = await patient_sockets(patient_scene)
    elsewhere = await sync_to_async(sign_in)(Client(), patient_scene.user)
    other_thread = await open_socket(f"/ws/messaging/threads/{patient_scene.thread.pk}/", elsewhere)
    await sync_to_async(patient_scene.client.post)(reverse("accounts:logout"))
    await asyncio.gather(*(closed(ws) for ws in sockets))
    await sync_to_async(post_to_thread)(patient_scene)
    frame = await other_thread.receive_json_from(timeout=2)
    assert frame["type"] == "message" and frame["body"] == "Sent after the session ended"
    await hears_nothing_more(*sockets)
    await other_thread.disconnect()


async def test_a_password_reset_closes_every_socket_of_the_users_sessions(patient_scene):
    sockets = await patient_sockets(patient_scene)
    user = patient_scene.user

    def reset_password():
        client = Client()
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        form = client.get(reverse("accounts:password-reset-confirm", args=[uid, token]))
        response = client.post(
            form["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
        )
        assert response.status_code == 302, response.content

    await assert_both_end_and_stay_silent(patient_scene, sockets, reset_password)


async def test_removing_a_staff_members_mfa_device_closes_their_sockets(world, video_type):
    scene = await sync_to_async(make_scene)(world, world.clinician, video_type)
    sockets = await staff_sockets(scene)

    def remove_device():
        TOTPDevice.objects.filter(user=world.clinician).delete()

    await assert_both_end_and_stay_silent(scene, sockets, remove_device)


async def test_turning_mfa_off_elsewhere_closes_the_patients_other_sockets(world, video_type):
    await sync_to_async(TOTPDevice.objects.create)(
        user=world.patient.user, name="phone", confirmed=True
    )
    scene = await sync_to_async(make_scene)(world, world.patient.user, video_type)
    sockets = await patient_sockets(scene)

    def turn_off_elsewhere():
        other = sign_in(Client(), world.patient.user)
        response = other.post(reverse("accounts:security"), {"action": "disable"})
        assert response.status_code == 302

    await assert_both_end_and_stay_silent(scene, sockets, turn_off_elsewhere)


async def test_deactivating_the_account_closes_its_sockets(patient_scene):
    sockets = await patient_sockets(patient_scene)

    def deactivate():
        user = User.objects.get(pk=patient_scene.user.pk)
        user.is_active = False
        user.save()  # as the admin's change form does

    await assert_both_end_and_stay_silent(patient_scene, sockets, deactivate)


@pytest.mark.parametrize(
    ("setting", "session_key"),
    [
        ("SESSION_IDLE_SECONDS_PATIENT", LAST_SEEN_KEY),
        ("SESSION_ABSOLUTE_SECONDS", AUTHENTICATED_AT_KEY),
    ],
    ids=["idle", "absolute"],
)
async def test_the_session_expiring_closes_its_sockets_on_time(
    patient_scene, settings, setting, session_key
):
    setattr(settings, setting, 3)
    sockets = await patient_sockets(patient_scene)
    deadline = await sync_to_async(lambda: patient_scene.client.session[session_key])() + 3
    seen = await asyncio.gather(
        *(closed(ws, within=deadline - time.time() + CLOSE_WITHIN) for ws in sockets)
    )
    assert all(deadline <= t <= deadline + CLOSE_WITHIN for t in seen), (deadline, seen)
    await sync_to_async(post_to_thread)(patient_scene)
    await sync_to_async(post_to_waiting_room)(patient_scene)
    await hears_nothing_more(*sockets)


async def test_an_emergency_grant_ending_closes_the_sockets_that_rest_on_it(world, video_type):
    """A clinician outside the care team reads the thread under a grant; when it ends, that
    socket closes and hears nothing more, while the session's inbox socket stays open."""
    scene = await sync_to_async(make_scene)(world, world.other_clinician, video_type)
    expires_at = timezone.now() + timedelta(seconds=2)
    await sync_to_async(BreakGlassGrant.objects.create)(
        clinician=world.other_clinician,
        patient=world.patient,
        reason="Covering the on-call shift",
        expires_at=expires_at,
    )
    thread, inbox = await staff_sockets(scene)
    seen = await closed(thread, within=expires_at.timestamp() - time.time() + CLOSE_WITHIN)
    assert expires_at.timestamp() <= seen <= expires_at.timestamp() + CLOSE_WITHIN
    await sync_to_async(post_to_thread)(scene)
    assert (await inbox.receive_json_from(timeout=2))["type"] == "thread-updated"
    await hears_nothing_more(thread)
    await inbox.disconnect()


def route_cases(world: World, scene: Scene, group: GroupSession) -> dict[str, tuple[str, User]]:
    """How to open each WebSocket route: the path and who opens it."""
    return {
        "ws/groups/<int:session_id>/": (f"/ws/groups/{group.pk}/", world.patient.user),
        "ws/me/": ("/ws/me/", world.patient.user),
        "ws/messaging/threads/<int:thread_id>/": (
            f"/ws/messaging/threads/{scene.thread.pk}/",
            world.patient.user,
        ),
        "ws/messaging/inbox/": ("/ws/messaging/inbox/", world.front_desk),
        "ws/visits/<int:visit_id>/": (f"/ws/visits/{scene.visit.pk}/", world.clinician),
        "ws/visits/<int:visit_id>/waiting/": (
            f"/ws/visits/{scene.visit.pk}/waiting/",
            world.patient.user,
        ),
    }


async def test_every_socket_route_closes_on_sign_out(patient_scene):
    world = patient_scene.world
    group = await sync_to_async(open_group_session)(host=world.clinician, patients=[world.patient])
    cases = route_cases(world, patient_scene, group)
    routes = [str(route.pattern) for route in websocket_urlpatterns]
    assert sorted(routes) == sorted(cases), "say in route_cases how to open each route"
    for route in routes:
        path, user = cases[route]
        client = await sync_to_async(sign_in)(Client(), user)
        ws = await open_socket(path, client)
        await sync_to_async(client.post)(reverse("accounts:logout"))
        await closed(ws)
        await hears_nothing_more(ws)


async def test_the_waiting_room_rechecks_the_sign_in_not_only_the_link_grant(patient_scene):
    """A session gone from the store without a sign-out (cleared by an operator, say): the
    waiting room's next frame finds it, as the thread's does."""
    from django.contrib.sessions.models import Session

    path = f"/ws/visits/{patient_scene.visit.pk}/waiting/"
    waiting = await open_socket(path, patient_scene.client)
    key = patient_scene.client.cookies[settings.SESSION_COOKIE_NAME].value
    await sync_to_async(Session.objects.filter(session_key=key).delete)()
    await waiting.send_json_to({"type": "ping"})
    await closed(waiting)
    await hears_nothing_more(waiting)


def post_internal_note(scene: Scene) -> None:
    messaging_services.message_post(
        thread=Thread.objects.get(pk=scene.thread.pk),
        body="Internal note sent after the move",
        by=scene.world.front_desk,
        internal=True,
    )


def moved_to_another_practice(world: World) -> None:
    user = User.objects.get(pk=world.clinician.pk)
    user.practice = world.outside_practice
    user.save(update_fields=["practice"])


def moved_by_a_full_save(world: World) -> None:
    user = User.objects.get(pk=world.clinician.pk)
    user.practice_id = world.outside_practice.pk
    user.save()  # as the admin's change form does


def made_a_patient(world: World) -> None:
    user = User.objects.get(pk=world.clinician.pk)
    user.role = Role.PATIENT
    user.save(update_fields=["role"])


@pytest.mark.parametrize(
    "change",
    [moved_to_another_practice, moved_by_a_full_save, made_a_patient],
    ids=["practice", "practice-full-save", "role-patient"],
)
async def test_a_clinician_losing_access_closes_their_thread_and_inbox_sockets(
    world: World, video_type: object, change: Callable[[World], None]
) -> None:
    """The old practice's thread messages, internal notes and inbox events stop reaching a
    clinician who no longer belongs there, without a sign-out."""
    scene = await sync_to_async(make_scene)(world, world.clinician, video_type)
    sockets = await staff_sockets(scene)
    if change is not made_a_patient:  # a visit's room follows the practice, not the role
        sockets.append(await open_socket(f"/ws/visits/{scene.visit.pk}/", scene.client))
    await sync_to_async(change)(world)
    await asyncio.gather(*(closed(ws) for ws in sockets))
    await sync_to_async(post_to_thread)(scene)
    await sync_to_async(post_internal_note)(scene)
    await hears_nothing_more(*sockets)


async def test_a_role_change_that_keeps_access_keeps_the_sockets(
    world: World, video_type: object
) -> None:
    """Front desk still reads every thread and the inbox of the practice: nothing closes and
    the next message arrives."""
    scene = await sync_to_async(make_scene)(world, world.clinician, video_type)
    thread, inbox = await staff_sockets(scene)

    def made_front_desk() -> None:
        user = User.objects.get(pk=world.clinician.pk)
        user.role = Role.FRONT_DESK
        user.save(update_fields=["role"])

    await sync_to_async(made_front_desk)()
    assert await thread.receive_nothing(QUIET) and await inbox.receive_nothing(QUIET)
    await sync_to_async(post_internal_note)(scene)
    frame = await thread.receive_json_from(timeout=2)
    assert frame["type"] == "message" and frame["body"] == "Internal note sent after the move"
    assert (await inbox.receive_json_from(timeout=2))["type"] == "thread-updated"
    await thread.disconnect()
    await inbox.disconnect()


async def test_a_frame_in_rechecks_access_when_the_practice_changed(
    world: World, video_type: object
) -> None:
    """A change saved without signals (a queryset update) sends no re-check: the next frame
    the socket gets finds it."""
    scene = await sync_to_async(make_scene)(world, world.clinician, video_type)
    sockets = await staff_sockets(scene)
    await sync_to_async(User.objects.filter(pk=world.clinician.pk).update)(
        practice=world.outside_practice
    )
    for ws in sockets:
        await ws.send_json_to({"type": "ping"})
        await closed(ws)
    await sync_to_async(post_internal_note)(scene)
    await hears_nothing_more(*sockets)
