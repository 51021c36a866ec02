"""The group room's live socket (/ws/groups/<id>/, visits/group_consumers.py) through the real
ASGI stack: who may open it, the waiting room and admission (one by one, everyone, within
capacity), chat, raised hands, and error frames for bad input. On the Redis channel layer
when REDIS_URL is set (the PostgreSQL leg), in memory otherwise."""

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from telehealth.audit.models import AuditEvent
from tests.conftest import make_patient, sign_in
from tests.visits.group_helpers import open_group_session
from tests.visits.test_consumers import connect, cookie_for_user
from tests.visits.test_group_sessions import fake_instance
from visits import group_services
from visits.models import GroupAttendance, GroupChatMessage, GroupParticipant, GroupWaiting

pytestmark = pytest.mark.django_db(transaction=True)


def path(session) -> str:
    return f"/ws/groups/{session.pk}/"


async def open_as(session, user):
    cookie = await sync_to_async(cookie_for_user)(user) if user is not None else None
    ws, connected, code = await connect(path(session), cookie)
    if not connected:
        # Let the refused consumer end now: left running, its channel-layer receive was
        # cancelled only when the test's event loop closed, which once hung the teardown.
        await ws.disconnect()
    return ws, connected, code


async def welcomed(session, user) -> tuple:
    ws, connected, code = await open_as(session, user)
    assert connected, code
    welcome = await ws.receive_json_from()
    assert welcome["type"] == "welcome"
    return ws, welcome


async def next_of(ws, kind: str) -> dict:
    """The next frame of `kind`, skipping others (list refreshes come as things change)."""
    for _ in range(20):
        frame = await ws.receive_json_from()
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


@pytest.fixture
def session(world):
    return open_group_session(
        host=world.clinician,
        patients=[world.patient, world.other_patient],
        co_hosts=[world.other_clinician],
    )


async def test_outsiders_wrong_roles_and_removed_patients_are_refused(world, session):
    _, connected, code = await open_as(session, None)
    assert (connected, code) == (False, 4401)
    stranger = await sync_to_async(make_patient)(world.practice, "Stray Alpha", "stray@a.test")
    for user in (
        stranger.user,  # a patient of the practice, not invited
        world.outside_patient.user,
        world.outside_clinician,
        world.front_desk,  # staff of the practice, but not a host
        world.admin,
    ):
        _, connected, code = await open_as(session, user)
        assert (connected, code) == (False, 4403), user
    await sync_to_async(GroupParticipant.objects.filter(patient=world.other_patient).update)(
        removed_at=timezone.now()
    )
    _, connected, code = await open_as(session, world.other_patient.user)
    assert (connected, code) == (False, 4403)
    assert not await sync_to_async(GroupWaiting.objects.exists)()


async def test_a_clinician_who_is_not_host_and_a_cancelled_session_are_refused(world, session):
    plain = await sync_to_async(open_group_session)(host=world.other_clinician, patients=[])
    _, connected, code = await open_as(plain, world.clinician)
    assert (connected, code) == (False, 4403)
    await sync_to_async(group_services.group_session_cancel)(session=session, by=world.clinician)
    _, connected, code = await open_as(session, world.patient.user)
    assert (connected, code) == (False, 4403)


async def test_a_patient_waits_until_a_host_admits_them_and_minutes_start_then(
    world, session, client, settings
):
    settings.JANUS_INSTANCES = [fake_instance("x")]  # refused before any call to it
    patient, welcome = await welcomed(session, world.patient.user)
    assert welcome["inside"] is False and welcome["chat"] == [] and "waiting" not in welcome
    host, welcome = await welcomed(session, world.clinician)
    assert welcome["host"] is True
    invitation = await sync_to_async(GroupParticipant.objects.get)(patient=world.patient)
    assert welcome["waiting"] == [{"invitation": invitation.pk, "name": "Pat"}]

    def join_status() -> tuple[int, str]:
        sign_in(client, world.patient.user)
        response = client.post(reverse("visits:group-join", args=[session.pk]))
        return response.status_code, response.json()["error"]

    # The server refuses the media room to a patient not admitted, whatever their page does.
    assert await sync_to_async(join_status)() == (403, "Wait until the host lets you in.")
    assert not await sync_to_async(GroupAttendance.objects.exists)()

    before = timezone.now()
    await host.send_json_to({"type": "admit", "invitation": invitation.pk})
    assert (await patient.receive_json_from())["type"] == "admitted"
    assert (await patient.receive_json_from()) == {"type": "chat-history", "chat": []}
    assert (await next_of(host, "people"))["waiting"] == []
    stretch = await sync_to_async(GroupAttendance.objects.get)(user=world.patient.user)
    assert stretch.left_at is None and stretch.joined_at >= before
    assert not await sync_to_async(GroupWaiting.objects.exists)()
    assert await sync_to_async(
        AuditEvent.objects.filter(
            detail="admitted to the group session", actor=world.clinician
        ).exists
    )()
    for ws in (patient, host):
        await ws.disconnect()


async def test_admit_everyone_lets_in_as_many_as_fit_and_says_the_rest_wait(world):
    third = await sync_to_async(make_patient)(world.practice, "Tess Gamma", "tess@a.test")
    session = await sync_to_async(open_group_session)(
        host=world.clinician, patients=[world.patient, world.other_patient, third], capacity=2
    )
    waiting = [(await welcomed(session, p.user))[0] for p in (world.patient, world.other_patient)]
    late, _ = await welcomed(session, third.user)  # arrived last
    host, welcome = await welcomed(session, world.clinician)
    assert [w["name"] for w in welcome["waiting"]] == ["Pat", "Other", "Tess"]
    await host.send_json_to({"type": "admit-all"})
    for ws in waiting:
        assert (await ws.receive_json_from())["type"] == "admitted"
    error = await next_of(host, "error")
    assert error["code"] == "full" and "1 person is still waiting" in error["message"]
    await late.receive_nothing()
    inside = await sync_to_async(
        lambda: sorted(GroupAttendance.objects.values_list("patient__legal_name", flat=True))
    )()
    assert inside == ["Other Alpha", "Pat Alpha"]
    await host.send_json_to({"type": "admit-all"})
    refused = await next_of(host, "error")
    assert refused == {
        "type": "error",
        "code": "refused",
        "message": "This group session is full.",
    }
    for ws in (*waiting, late, host):
        await ws.disconnect()


async def test_a_waiting_socket_that_closes_leaves_the_waiting_list(world, session):
    patient, _ = await welcomed(session, world.patient.user)
    host, welcome = await welcomed(session, world.clinician)
    assert len(welcome["waiting"]) == 1
    await patient.disconnect()
    assert (await next_of(host, "people"))["waiting"] == []
    invitation = await sync_to_async(GroupParticipant.objects.get)(patient=world.patient)
    await host.send_json_to({"type": "admit", "invitation": invitation.pk})
    assert (await next_of(host, "error"))["message"] == "That person is no longer waiting."
    assert not await sync_to_async(GroupAttendance.objects.exists)()
    await host.disconnect()


def stored_body(message_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM visits_groupchatmessage WHERE id = %s", [message_id])
        return str(cursor.fetchone()[0])


async def admitted_room(world, session):
    """The host, Pat admitted, and Other still waiting: three open sockets."""
    pat, _ = await welcomed(session, world.patient.user)
    other, _ = await welcomed(session, world.other_patient.user)
    host, _ = await welcomed(session, world.clinician)
    invitation = await sync_to_async(GroupParticipant.objects.get)(patient=world.patient)
    await host.send_json_to({"type": "admit", "invitation": invitation.pk})
    await next_of(pat, "chat-history")
    return host, pat, other


async def test_chat_reaches_everyone_in_the_room_by_room_names_and_not_the_waiting_room(
    world, session
):
    host, pat, other = await admitted_room(world, session)
    await pat.send_json_to({"type": "chat", "body": "  Hello group  "})
    for ws in (host, pat):
        frame = await next_of(ws, "chat")
        assert (frame["name"], frame["body"]) == ("Pat", "Hello group")
    await host.send_json_to({"type": "chat", "body": "Welcome"})
    assert (await next_of(pat, "chat"))["name"] == "Dr Alpha"
    await other.receive_nothing()  # waiting: hears none of it

    message = await sync_to_async(GroupChatMessage.objects.filter(sender=world.patient.user).get)()
    assert message.body == "Hello group" and message.patient_id == world.patient.pk
    assert "Hello group" not in await sync_to_async(stored_body)(message.pk)  # encrypted
    assert await sync_to_async(
        AuditEvent.objects.filter(
            detail="chat message in the group session", patient=world.patient
        ).exists
    )()

    # A patient who chose their full name is shown by it; someone entering gets the history.
    await sync_to_async(GroupParticipant.objects.filter(patient=world.patient).update)(
        show_full_name=True
    )
    co_host, welcome = await welcomed(session, world.other_clinician)
    assert [(m["name"], m["body"]) for m in welcome["chat"]] == [
        ("Pat Alpha", "Hello group"),
        ("Dr Alpha", "Welcome"),
    ]
    assert await sync_to_async(
        AuditEvent.objects.filter(
            detail="group chat history", actor=world.other_clinician, patient=world.patient
        ).exists
    )()
    # Once her place is gone, what she said shows her first name, never her legal name.
    await sync_to_async(GroupParticipant.objects.filter(patient=world.patient).delete)()
    later, welcome = await welcomed(session, world.clinician)
    assert [m["name"] for m in welcome["chat"]] == ["Pat", "Dr Alpha"]
    for ws in (host, pat, other, co_host, later):
        await ws.disconnect()


async def test_hands_show_to_hosts_in_order_and_a_host_lowers_one(world, session):
    host, pat, other = await admitted_room(world, session)
    invitation = await sync_to_async(GroupParticipant.objects.get)(patient=world.other_patient)
    await host.send_json_to({"type": "admit", "invitation": invitation.pk})
    await next_of(other, "chat-history")
    await other.send_json_to({"type": "hand", "raised": True})
    assert await next_of(other, "hand") == {"type": "hand", "raised": True, "by_host": False}
    await pat.send_json_to({"type": "hand", "raised": True})
    await next_of(pat, "hand")
    for _ in range(5):
        hands = (await next_of(host, "people"))["hands"]
        if len(hands) == 2:
            break
    assert [h["name"] for h in hands] == ["Other", "Pat"]
    await host.send_json_to({"type": "lower-hand", "attendance": hands[0]["attendance"]})
    assert await next_of(other, "hand") == {"type": "hand", "raised": False, "by_host": True}
    for _ in range(5):
        hands = (await next_of(host, "people"))["hands"]
        if len(hands) == 1:
            break
    assert [h["name"] for h in hands] == ["Pat"]
    for ws in (host, pat, other):
        await ws.disconnect()


@pytest.mark.parametrize(
    "frame, code, words",
    [
        ({"type": "chat"}, "bad_frame", "needs a 'body'"),
        ({"type": "chat", "body": 5}, "bad_frame", "needs a 'body'"),
        ({"type": "chat", "body": "   "}, "refused", "Type a message first."),
        ({"type": "chat", "body": "x" * 2001}, "refused", "limited to 2,000 characters"),
        ({"type": "hand", "raised": "yes"}, "bad_frame", "'raised'"),
        ({"type": "admit", "invitation": "1"}, "bad_frame", "whom to admit"),
        ({"type": "admit", "invitation": True}, "bad_frame", "whom to admit"),
        ({"type": "lower-hand"}, "bad_frame", "whose hand"),
        ({"type": "lower-hand", "attendance": 999999}, "refused", "not in the room"),
        ({"type": "dance"}, "unknown_type", "dance"),
        ({"kind": "chat"}, "bad_frame", "'type'"),
    ],
)
async def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(
    world, session, frame, code, words
):
    host, _ = await welcomed(session, world.clinician)
    await host.send_json_to(frame)
    error = await next_of(host, "error")
    assert error["code"] == code and words in error["message"], error
    await host.send_to(text_data="{not json")
    assert (await next_of(host, "error"))["code"] == "bad_json"
    await host.send_json_to({"type": "ping"})
    assert await next_of(host, "pong") == {"type": "pong"}
    assert not await sync_to_async(GroupChatMessage.objects.exists)()
    await host.disconnect()


async def test_patients_cannot_admit_lower_hands_or_talk_before_admission(world, session):
    patient, _ = await welcomed(session, world.patient.user)
    for frame in (
        {"type": "admit-all"},
        {"type": "admit", "invitation": 1},
        {"type": "lower-hand", "attendance": 1},
    ):
        await patient.send_json_to(frame)
        assert (await patient.receive_json_from())["code"] == "forbidden"
    await patient.send_json_to({"type": "chat", "body": "Anyone there?"})
    assert (await patient.receive_json_from())["message"] == "Wait until the host lets you in."
    await patient.send_json_to({"type": "hand", "raised": True})
    assert (await patient.receive_json_from())["message"] == "Join the room first."
    assert not await sync_to_async(GroupChatMessage.objects.exists)()
    await patient.disconnect()


async def test_cancelling_closes_every_socket_and_uninviting_closes_the_patients(world, session):
    host, pat, other = await admitted_room(world, session)

    def uninvite_pat() -> None:
        from tests.visits.test_group_sessions import edit

        edit(session, world, patients=[world.other_patient])

    await sync_to_async(uninvite_pat)()
    assert (await next_of(pat, "removed")) == {"type": "removed"}
    assert await pat.receive_output() == {"type": "websocket.close", "code": 4403}
    await host.send_json_to({"type": "chat", "body": "Still here?"})
    await next_of(host, "chat")
    await sync_to_async(group_services.group_session_cancel)(session=session, by=world.clinician)
    for ws in (host, other):
        assert (await next_of(ws, "cancelled")) == {"type": "cancelled"}
        assert await ws.receive_output() == {"type": "websocket.close", "code": 4403}


async def test_a_host_replaced_while_their_socket_is_open_can_no_longer_admit(world, session):
    """The socket keeps the session it opened on; host rights are asked of the session now."""
    from visits import group_live
    from visits.models import GroupSession

    waiting, _ = await welcomed(session, world.patient.user)
    await sync_to_async(GroupSession.objects.filter(pk=session.pk).update)(
        host=world.other_clinician
    )
    await sync_to_async(session.co_hosts.clear)()
    with pytest.raises(group_services.GroupRefused, match="Only the host"):
        await sync_to_async(group_live.group_admit)(session=session, by=world.clinician)
    assert not await sync_to_async(
        GroupAttendance.objects.filter(session=session, patient=world.patient).exists
    )()
    await waiting.disconnect()
