"""Group sessions: scheduling by staff, the patient's list, who may enter the room, and the
room itself against a real Janus (tests/janus_server.py): created on the least-loaded
instance, moved when its instance goes away, media published and received through it with
the token the app signed, capacity, host controls and attendance minutes."""

import asyncio
import threading
import time
from datetime import timedelta
from functools import partial

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from telehealth.audit.models import AuditEvent
from tests.concurrency import at_once
from tests.conftest import make_patient, sign_in
from tests.visits.group_helpers import admit, open_group_session
from tests.visits.janus_peer import JanusSocket, Publisher, Subscriber
from visits import group_live, group_selectors, group_services, janus
from visits.models import GroupAttendance, GroupParticipant, GroupSession, GroupWaiting


def form_data(world, **changes) -> dict:
    start = timezone.localtime() + timedelta(days=1)
    data = {
        "title": "Diabetes education",
        "host": world.clinician.pk,
        "co_hosts": [world.other_clinician.pk],
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "capacity": 12,
        "modality": "video",
        "patients": [world.patient.pk, world.other_patient.pk],
    }
    return {**data, **changes}


# --- Scheduling and pages ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["clinician", "front_desk", "practice_admin"])
def test_staff_schedule_a_group_session_with_invitees(client, world, role):
    sign_in(client, world.user_for(role))
    response = client.post(reverse("visits:group-new"), form_data(world))
    session = GroupSession.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("visits:group", args=[session.pk])
    assert session.host == world.clinician
    assert list(session.co_hosts.all()) == [world.other_clinician]
    assert {i.patient for i in session.invitees.all()} == {world.patient, world.other_patient}
    assert (
        AuditEvent.objects.filter(action="create", detail="invited to a group session").count() == 2
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"capacity": 51}, "less than or equal to 50"),
        ({"capacity": 0}, "greater than or equal to 1"),
        ({"title": ""}, "This field is required"),
        ({"starts_at": "tomorrow"}, "Enter a valid date/time"),
        ({"host": "999999"}, "Select a valid choice"),
        ({"patients": ["999999"]}, "Select a valid choice"),
    ],
)
def test_bad_form_input_is_refused_with_a_message_and_writes_nothing(
    client, world, changes, message
):
    sign_in(client, world.front_desk)
    response = client.post(reverse("visits:group-new"), form_data(world, **changes))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not GroupSession.objects.exists()


def test_end_before_start_is_refused(client, world):
    sign_in(client, world.clinician)
    data = form_data(world)
    data["ends_at"] = data["starts_at"]
    response = client.post(reverse("visits:group-new"), data)
    assert response.status_code == 400
    assert "The end must come after the start." in response.content.decode()
    assert not GroupSession.objects.exists()


def test_patients_and_hosts_of_another_practice_are_not_offered(client, world):
    sign_in(client, world.clinician)
    data = form_data(world, patients=[world.outside_patient.pk], host=world.outside_clinician.pk)
    response = client.post(reverse("visits:group-new"), data)
    assert response.status_code == 400
    assert not GroupSession.objects.exists()
    page = client.get(reverse("visits:group-new")).content.decode()
    assert "Pat Beta" not in page and "Dr Beta" not in page


def test_a_patient_cannot_host(world):
    with pytest.raises(group_services.GroupRefused):
        open_group_session(host=world.patient.user, patients=[])


def test_edit_changes_invitees_and_the_detail_page_audits_each_patient(client, world):
    session = open_group_session(host=world.clinician, patients=[world.patient])
    sign_in(client, world.front_desk)
    data = form_data(world, patients=[world.other_patient.pk], capacity=3)
    response = client.post(reverse("visits:group-edit", args=[session.pk]), data)
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.capacity == 3
    assert [i.patient for i in session.invitees.all()] == [world.other_patient]
    before = AuditEvent.objects.filter(action="view").count()
    page = client.get(reverse("visits:group", args=[session.pk]))
    assert page.status_code == 200 and "Other Alpha" in page.content.decode()
    assert AuditEvent.objects.filter(action="view").count() == before + 1
    assert page["Cache-Control"].startswith("no-store") or "no-store" in page["Cache-Control"]


def test_cancelled_session_cannot_be_edited_or_joined(client, world, settings):
    settings.JANUS_INSTANCES = [{**fake_instance("x")}]
    session = open_group_session(host=world.clinician, patients=[world.patient])
    sign_in(client, world.admin)
    assert client.post(reverse("visits:group-cancel", args=[session.pk])).status_code == 302
    session.refresh_from_db()
    assert session.state == GroupSession.State.CANCELLED
    assert client.get(reverse("visits:group-edit", args=[session.pk])).status_code == 302
    sign_in(client, world.patient.user)
    response = client.post(reverse("visits:group-join", args=[session.pk]))
    assert response.status_code == 409
    assert response.json()["error"] == "This group session is not open now."


def test_patient_sees_their_sessions_only_and_chooses_how_their_name_shows(client, world):
    mine = open_group_session(host=world.clinician, patients=[world.patient], title="Mine")
    theirs = open_group_session(
        host=world.clinician, patients=[world.other_patient], title="Theirs"
    )
    sign_in(client, world.patient.user)
    page = client.get(reverse("visits:groups-mine")).content.decode()
    assert "Mine" in page and "Theirs" not in page
    url = reverse("visits:group-name", args=[mine.pk])
    assert client.post(url, {"show_full_name": "1"}).status_code == 302
    assert GroupParticipant.objects.get(session=mine).show_full_name is True
    assert AuditEvent.objects.filter(detail="full name shown").count() == 1
    assert client.post(url, {"show_full_name": "maybe"}).status_code == 302
    assert GroupParticipant.objects.get(session=mine).show_full_name is True
    assert client.post(reverse("visits:group-name", args=[theirs.pk])).status_code == 404


def test_patients_show_first_names_unless_they_choose_full_names(world):
    session = open_group_session(host=world.clinician, patients=[world.patient])
    invitation = session.invitees.get()
    assert group_selectors.display_name(invitation, world.patient.user) == "Pat"
    invitation.show_full_name = True
    assert group_selectors.display_name(invitation, world.patient.user) == "Pat Alpha"
    assert group_selectors.display_name(None, world.clinician) == "Dr Alpha"


def test_uninvited_patient_and_a_clinician_who_is_not_host_get_404(client, world, settings):
    settings.JANUS_INSTANCES = [fake_instance("x")]
    session = open_group_session(host=world.clinician, patients=[world.patient])
    for user in (world.other_patient.user, world.other_clinician, world.outside_clinician):
        sign_in(client, user)
        assert client.post(reverse("visits:group-join", args=[session.pk])).status_code == 404
    assert not GroupAttendance.objects.exists()


def test_without_a_media_server_join_says_so(client, world, settings):
    settings.JANUS_INSTANCES = []
    session = open_group_session(host=world.clinician, patients=[world.patient])
    sign_in(client, world.patient.user)
    response = client.post(reverse("visits:group-join", args=[session.pk]))
    assert response.status_code == 409
    assert "media server" in response.json()["error"]
    assert not GroupAttendance.objects.exists()


def test_before_the_window_and_after_the_end_the_room_is_closed(client, world, settings):
    settings.JANUS_INSTANCES = [fake_instance("x")]
    now = timezone.now()
    later = open_group_session(
        host=world.clinician,
        patients=[world.patient],
        starts_at=now + timedelta(minutes=20),
        ends_at=now + timedelta(minutes=80),
    )
    over = open_group_session(
        host=world.clinician,
        patients=[world.patient],
        starts_at=now - timedelta(hours=2),
        ends_at=now - timedelta(minutes=1),
    )
    sign_in(client, world.patient.user)
    for session in (later, over):
        response = client.post(reverse("visits:group-join", args=[session.pk]))
        assert response.status_code == 409
    assert not GroupAttendance.objects.exists()


def test_an_unreachable_only_instance_is_a_clear_409(client, world, settings):
    settings.JANUS_INSTANCES = [fake_instance("gone")]
    session = open_group_session(host=world.clinician, patients=[world.patient])
    sign_in(client, world.clinician)
    response = client.post(reverse("visits:group-join", args=[session.pk]))
    assert response.status_code == 409
    assert response.json()["error"] == "No media server answers at the moment. Try again shortly."
    assert not GroupAttendance.objects.exists()


def test_mute_with_a_bad_value_is_a_400(client, world):
    session = open_group_session(host=world.clinician, patients=[world.patient])
    stretch = GroupAttendance.objects.create(
        session=session, user=world.patient.user, patient=world.patient, feed=3
    )
    sign_in(client, world.clinician)
    url = reverse("visits:group-mute", args=[session.pk, stretch.pk])
    assert client.post(url, {"mute": "loud"}).status_code == 400


def fake_instance(name: str) -> dict:
    """An instance nobody listens on (a closed port on loopback)."""
    from tests.janus_server import free_port

    port = free_port()
    return {
        "name": name,
        "url": f"http://127.0.0.1:{port}/janus",
        "admin_url": f"http://127.0.0.1:{port}/admin",
        "ws_url": f"ws://127.0.0.1:{port}/",
        "api_secret": "a",
        "admin_secret": "b",
        "admin_key": "c",
        "token_secret": "d",
    }


# --- Against a real Janus ----------------------------------------------------------------------


def instance_of(server) -> janus.Instance:
    return janus.Instance(**server.entry)


def join(client, user, session) -> dict:
    """Join as `user`; a patient is admitted first unless already in the room."""
    if (
        user.role == "patient"
        and not GroupAttendance.objects.filter(
            session=session, user=user, left_at__isnull=True
        ).exists()
    ):
        admit(session, user.patient)
    sign_in(client, user)
    response = client.post(reverse("visits:group-join", args=[session.pk]))
    assert response.status_code == 200, response.content
    return response.json()


def test_room_lifecycle_publish_subscribe_with_app_tokens_then_destroy(
    client, world, janus_settings, janus_server, django_capture_on_commit_callbacks
):
    session = open_group_session(host=world.clinician, patients=[world.patient])
    patient_pass = join(client, world.patient.user, session)
    host_pass = join(client, world.clinician, session)
    assert patient_pass["room"] == host_pass["room"] and patient_pass["instance"] == "media-a"
    assert patient_pass["display"] == "Pat" and host_pass["display"] == "Dr Alpha"
    assert patient_pass["ws_url"] == janus_server.entry["ws_url"]
    for secret in ("api_secret", "admin_secret", "admin_key", "token_secret"):
        assert janus_server.entry[secret] not in str(patient_pass)

    async def media():
        publisher = Publisher(await JanusSocket.open(patient_pass["ws_url"], patient_pass["token"]))
        host = Publisher(await JanusSocket.open(host_pass["ws_url"], host_pass["token"]))
        subscriber = Subscriber(await JanusSocket.open(host_pass["ws_url"], host_pass["token"]))
        try:
            await publisher.publish(
                room=patient_pass["room"],
                pin=patient_pass["pin"],
                feed=patient_pass["feed"],
                display=patient_pass["display"],
            )
            own = await host.publish(
                room=host_pass["room"], pin=host_pass["pin"], feed=host_pass["feed"], display="Dr"
            )
            # The room ties every subscription to its subscriber's own feed (see _kick).
            await subscriber.socket.create_session()
            unnamed = await subscriber.socket.message(
                await subscriber.socket.attach(),
                {
                    "request": "join",
                    "ptype": "subscriber",
                    "room": host_pass["room"],
                    "pin": host_pass["pin"],
                    "streams": [{"feed": patient_pass["feed"]}],
                },
            )
            await subscriber.subscribe(
                room=host_pass["room"],
                pin=host_pass["pin"],
                feed=patient_pass["feed"],
                private_id=own["private_id"],
            )
            frame = await subscriber.first_video_frame()
            assert frame.width > 0
            in_room = janus.participants(instance=instance_of(janus_server), room=host_pass["room"])
            return plugin_event(unnamed), in_room
        finally:
            for peer in (publisher, host, subscriber):
                await peer.close()
                await peer.socket.close()

    unnamed, in_room = asyncio.run(media())
    assert unnamed.get("error_code") == 433, unnamed  # unauthorized: no private_id
    assert sorted((p["id"], p["display"], p["publisher"]) for p in in_room) == sorted(
        [(patient_pass["feed"], "Pat", True), (host_pass["feed"], "Dr", True)]
    )
    sign_in(client, world.clinician)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("visits:group-cancel", args=[session.pk]))
    assert not janus.room_exists(instance=instance_of(janus_server), room=patient_pass["room"])
    assert GroupAttendance.objects.filter(left_at__isnull=True).count() == 0


def test_a_wrong_pin_is_refused_by_janus(client, world, janus_settings):
    session = open_group_session(host=world.clinician, patients=[world.patient])
    room_pass = join(client, world.patient.user, session)

    async def attempt():
        socket = await JanusSocket.open(room_pass["ws_url"], room_pass["token"])
        try:
            await socket.create_session()
            handle = await socket.attach()
            return await socket.message(
                handle,
                {"request": "join", "ptype": "publisher", "room": room_pass["room"], "pin": "x"},
            )
        finally:
            await socket.close()

    refused = asyncio.run(attempt())
    assert refused["plugindata"]["data"]["error_code"] == 433  # unauthorized


@pytest.mark.parametrize("kind", ["forged", "expired", "none"])
def test_forged_expired_or_missing_tokens_are_refused_by_janus(janus_server, kind):
    instance = instance_of(janus_server)
    if kind == "forged":
        token = janus.token_for(
            instance=janus.Instance(**{**janus_server.entry, "token_secret": "guess"}),
            seconds=600,
        )
    elif kind == "expired":
        token = janus.token_for(instance=instance, seconds=-5)
    else:
        token = ""
    body = {"janus": "create", "transaction": "t", **({"token": token} if token else {})}
    reply = requests.post(instance.url, json=body, timeout=5).json()
    assert reply["janus"] == "error" and reply["error"]["code"] == 403
    good = janus.token_for(instance=instance, seconds=600)
    reply = requests.post(instance.url, json={**body, "token": good}, timeout=5).json()
    assert reply["janus"] == "success"


def test_new_rooms_go_to_the_least_loaded_instance(
    client, world, settings, janus_server, second_janus
):
    settings.JANUS_INSTANCES = [janus_server.entry, second_janus.entry]
    sessions = [
        open_group_session(host=world.clinician, patients=[world.patient], title=f"G{i}")
        for i in range(3)
    ]
    placed = [join(client, world.clinician, s)["instance"] for s in sessions]
    assert placed == ["media-a", "media-b", "media-a"]
    b = instance_of(second_janus)
    session = sessions[1]
    session.refresh_from_db()
    assert janus.room_exists(instance=b, room=session.janus_room or 0)
    assert session.janus_instance == "media-b"
    # A fourth goes to media-b, which now has fewer rooms than media-a.
    fourth = open_group_session(host=world.clinician, patients=[world.patient], title="G3")
    assert join(client, world.clinician, fourth)["instance"] == "media-b"


def test_a_room_whose_instance_went_away_is_recreated_elsewhere_and_clients_rejoin(
    client, world, settings, janus_server, second_janus
):
    settings.JANUS_INSTANCES = [second_janus.entry, janus_server.entry]
    session = open_group_session(host=world.clinician, patients=[world.patient])
    first = join(client, world.patient.user, session)
    assert first["instance"] == "media-b"
    second_janus.stop()
    again = join(client, world.patient.user, session)
    assert again["instance"] == "media-a"
    assert again["ws_url"] == janus_server.entry["ws_url"]
    assert again["pin"] != first["pin"]
    assert janus.room_exists(instance=instance_of(janus_server), room=again["room"])
    # The same stretch of attendance goes on: a rejoin is not a second person.
    assert again["attendance_id"] == first["attendance_id"]
    assert GroupAttendance.objects.filter(left_at__isnull=True).count() == 1


def test_a_room_lost_by_a_restart_is_created_again_on_the_same_instance(
    client, world, janus_settings, janus_server
):
    session = open_group_session(host=world.clinician, patients=[world.patient])
    first = join(client, world.clinician, session)
    janus.room_destroy(
        instance=instance_of(janus_server), room=first["room"], secret=_secret(session)
    )
    again = join(client, world.clinician, session)
    assert (again["instance"], again["room"]) == ("media-a", first["room"])
    assert janus.room_exists(instance=instance_of(janus_server), room=first["room"])


def _secret(session: GroupSession) -> str:
    session.refresh_from_db()
    return session.room_secret


def test_capacity_counts_patients_in_the_room_not_hosts(client, world, janus_settings):
    third = make_patient(world.practice, "Third Alpha", "third@alpha.test", phone="+16175550777")
    session = open_group_session(
        host=world.clinician, patients=[world.patient, world.other_patient, third], capacity=2
    )
    join(client, world.patient.user, session)
    join(client, world.other_patient.user, session)
    join(client, world.clinician, session)  # hosts always get in
    with pytest.raises(group_services.GroupRefused, match="This group session is full."):
        admit(session, third)
    # Someone leaves: the place is free again; a rejoin of someone inside is not counted twice.
    sign_in(client, world.patient.user)
    assert client.post(reverse("visits:group-leave", args=[session.pk])).json() == {"left": True}
    group_live.group_admit(
        session=session,
        by=world.clinician,
        invitation_id=session.invitees.get(patient=third).pk,
    )
    join(client, third.user, session)
    join(client, third.user, session)
    assert GroupAttendance.objects.filter(left_at__isnull=True, patient__isnull=False).count() == 2


def test_attendance_minutes_add_up_each_persons_stretches(world, janus_settings):
    session = open_group_session(host=world.clinician, patients=[world.patient])
    now = timezone.now()
    user = world.patient.user
    admit(session, world.patient)
    group_services.group_join(session=session, user=user)
    GroupAttendance.objects.filter(user=user).update(joined_at=now - timedelta(minutes=50))
    group_services.group_leave(session=session, user=user)
    GroupAttendance.objects.filter(user=user).update(left_at=now - timedelta(minutes=20))
    admit(session, world.patient)
    group_services.group_join(session=session, user=user)
    GroupAttendance.objects.filter(user=user, left_at__isnull=True).update(
        joined_at=now - timedelta(minutes=10, seconds=20)
    )
    group_services.group_leave(session=session, user=user)
    group_services.group_join(session=session, user=world.clinician)
    minutes = group_selectors.attendance_minutes(session=session)
    assert minutes[user.pk] == 40
    assert minutes[world.clinician.pk] == 0
    assert group_services.group_leave(session=session, user=user) is None  # nothing open


def test_host_removes_and_mutes_a_publisher_in_janus(client, world, janus_settings, janus_server):
    session = open_group_session(
        host=world.clinician, patients=[world.patient], co_hosts=[world.other_clinician]
    )
    patient_pass = join(client, world.patient.user, session)
    instance = instance_of(janus_server)

    # One event loop for the publisher, paused while the host's requests run on this thread
    # (the test database's connection belongs to it); what Janus sends meanwhile waits in
    # the socket.
    loop = asyncio.new_event_loop()
    socket = loop.run_until_complete(
        JanusSocket.open(patient_pass["ws_url"], patient_pass["token"])
    )
    publisher = Publisher(socket)
    try:
        loop.run_until_complete(
            publisher.publish(
                room=patient_pass["room"],
                pin=patient_pass["pin"],
                feed=patient_pass["feed"],
                display="Pat",
            )
        )
        mute_url = reverse("visits:group-mute", args=[session.pk, patient_pass["attendance_id"]])
        remove_url = reverse(
            "visits:group-remove", args=[session.pk, patient_pass["attendance_id"]]
        )
        sign_in(client, world.other_clinician)  # a co-host
        muted = client.post(mute_url, {"mute": "1"})
        sign_in(client, world.patient.user)
        by_patient = client.post(remove_url)
        sign_in(client, world.clinician)
        removed = client.post(remove_url)
        left = loop.run_until_complete(
            socket.wait_for(
                lambda m: (
                    plugin_event(m).get("leaving") is not None
                    or plugin_event(m).get("kicked") is not None
                    or m.get("janus") == "hangup"
                ),
                timeout=10,
            )
        )
    finally:
        loop.run_until_complete(publisher.close())
        loop.run_until_complete(socket.close())
        loop.close()
    assert muted.status_code == 200 and muted.json() == {"muted": True}
    assert by_patient.status_code == 403
    assert removed.status_code == 200
    assert left
    assert janus.participants(instance=instance, room=patient_pass["room"]) == []
    stretch = GroupAttendance.objects.get(pk=patient_pass["attendance_id"])
    assert stretch.left_at is not None
    assert AuditEvent.objects.filter(detail="removed from the group session").count() == 1
    assert AuditEvent.objects.filter(detail="muted in the group session").count() == 1
    assert AuditEvent.objects.filter(detail="joined the group session").count() == 1


def plugin_event(message: dict) -> dict:
    return message.get("plugindata", {}).get("data", {})


@pytest.mark.django_db(transaction=True)
def test_concurrent_admissions_never_exceed_capacity(require_postgres, janus_server, settings):
    from tests.conftest import World

    settings.JANUS_INSTANCES = [janus_server.entry]
    world = World()
    patients = [
        make_patient(world.practice, f"Racer {i}", f"racer{i}@x.test", phone=f"+1617555{i:04d}")
        for i in range(10)
    ]
    session = open_group_session(
        host=world.clinician, patients=patients, capacity=4, co_hosts=[world.other_clinician]
    )
    for invitation in session.invitees.all():
        GroupWaiting.objects.create(invitation=invitation, channel=f"test.{invitation.pk}")

    def attempt(patient) -> str:
        # Host and co-host admit people one by one at the same moment; each admitted
        # patient then joins the media room.
        host = world.clinician if patient.pk % 2 else world.other_clinician
        try:
            group_live.group_admit(
                session=session,
                by=host,
                invitation_id=session.invitees.get(patient=patient).pk,
            )
            group_services.group_join(session=session, user=patient.user)
        except group_services.GroupRefused as refused:
            return str(refused)
        return "in"

    outcomes = [str(o) for o in at_once([partial(attempt, p) for p in patients])]
    assert sorted(outcomes) == ["This group session is full."] * 6 + ["in"] * 4
    assert GroupAttendance.objects.filter(session=session, left_at__isnull=True).count() == 4
    session.refresh_from_db()
    assert janus.room_exists(instance=instance_of(janus_server), room=session.janus_room or 0)


def janus_join(room_pass: dict, *, pin: str, feed: int | None = None) -> dict:
    """A publisher join straight to Janus with the given pass's token: Janus's answer."""

    async def attempt():
        socket = await JanusSocket.open(room_pass["ws_url"], room_pass["token"])
        try:
            await socket.create_session()
            handle = await socket.attach()
            request = {"request": "join", "ptype": "publisher", "room": room_pass["room"]}
            return await socket.message(
                handle, {**request, "pin": pin, **({"id": feed} if feed else {})}
            )
        finally:
            await socket.close()

    return plugin_event(asyncio.run(attempt()))


def test_a_removed_patient_stays_out_of_the_app_and_of_janus(
    client, world, janus_settings, janus_server
):
    session = open_group_session(
        host=world.clinician, patients=[world.patient, world.other_patient]
    )
    old = join(client, world.patient.user, session)
    sign_in(client, world.clinician)
    url = reverse("visits:group-remove", args=[session.pk, old["attendance_id"]])
    assert client.post(url).json() == {"removed": True}
    assert GroupParticipant.objects.get(patient=world.patient).removed_at is not None

    sign_in(client, world.patient.user)
    refused = client.post(reverse("visits:group-join", args=[session.pk]))
    assert refused.status_code == 403
    assert refused.json()["error"] == "The host removed you from this group session."
    # The pin and token they still hold no longer get them into the room.
    assert janus_join(old, pin=old["pin"])["error_code"] == 433
    # The others get the new pin from the app, and Janus lets them in with it.
    other = join(client, world.other_patient.user, session)
    assert other["pin"] != old["pin"] and other["room"] == old["room"]
    joined = janus_join(other, pin=other["pin"], feed=other["feed"])
    assert joined["videoroom"] == "joined", joined


def edit(session: GroupSession, world, **changes) -> None:
    """Save the session as staff would, with `changes`."""
    fields = {
        "title": session.title,
        "host": session.host,
        "co_hosts": list(session.co_hosts.all()),
        "starts_at": session.starts_at,
        "ends_at": session.ends_at,
        "capacity": session.capacity,
        "modality": session.modality,
        "patients": [i.patient for i in session.invitees.all()],
    }
    group_services.group_session_update(
        session=session, by=world.clinician, **{**fields, **changes}
    )


def test_uninviting_a_patient_changes_the_pin_and_drops_them(
    client, world, janus_settings, janus_server
):
    session = open_group_session(
        host=world.clinician, patients=[world.patient, world.other_patient]
    )
    old = join(client, world.patient.user, session)
    edit(session, world, patients=[world.other_patient])
    assert GroupAttendance.objects.get(pk=old["attendance_id"]).left_at is not None
    assert janus_join(old, pin=old["pin"])["error_code"] == 433
    other = join(client, world.other_patient.user, session)
    assert janus_join(other, pin=other["pin"], feed=other["feed"])["videoroom"] == "joined"


def test_tokens_last_the_rest_of_the_session_plus_a_margin(world, janus_settings, settings):
    session = open_group_session(host=world.clinician, patients=[world.patient])  # 55 min left
    token = group_services.group_join(session=session, user=world.clinician).token
    expiry = int(token.split(",")[0]) - int(timezone.now().timestamp())
    full = 55 * 60 + group_services.TOKEN_MARGIN_SECONDS
    assert full - 30 <= expiry <= full
    settings.JANUS_TOKEN_SECONDS = 600
    token = group_services.group_join(session=session, user=world.clinician).token
    assert int(token.split(",")[0]) - int(timezone.now().timestamp()) <= 600


def max_publishers(server, room: int) -> int:
    listed = janus.rooms(instance=instance_of(server))
    return next(r["max_publishers"] for r in listed if r["room"] == room)


def test_a_capacity_change_reaches_the_live_room(client, world, janus_settings, janus_server):
    session = open_group_session(
        host=world.clinician, patients=[world.patient], co_hosts=[world.other_clinician]
    )
    room = join(client, world.clinician, session)["room"]
    assert max_publishers(janus_server, room) == 8 + 2
    edit(session, world, capacity=20)
    assert max_publishers(janus_server, room) == 20 + 2


def test_uninviting_while_the_rooms_server_is_down_is_a_clear_409_and_changes_nothing(
    client, world, settings
):
    settings.JANUS_INSTANCES = [fake_instance("down")]
    session = open_group_session(
        host=world.clinician, patients=[world.patient, world.other_patient]
    )
    GroupSession.objects.filter(pk=session.pk).update(
        janus_instance="down", janus_room=7, room_pin="old", room_secret="s"
    )
    sign_in(client, world.front_desk)
    data = form_data(world, patients=[world.other_patient.pk])
    response = client.post(reverse("visits:group-edit", args=[session.pk]), data)
    assert response.status_code == 409
    assert "The media server down does not answer." in response.content.decode()
    session.refresh_from_db()
    assert session.room_pin == "old"
    assert session.invitees.count() == 2


class LoopThread:
    """An event loop running in a thread of its own, so media keeps arriving (and is
    counted as it arrives) while this thread calls the app's services."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


async def count_frames(track, arrivals: list[float]) -> None:
    """Note the arrival time of every decoded frame until the track ends."""
    from aiortc.mediastreams import MediaStreamError

    try:
        while True:
            await track.recv()
            arrivals.append(time.monotonic())
    except MediaStreamError:
        pass


def test_a_removed_participant_stops_receiving_what_they_subscribed_to(
    client, world, janus_settings, janus_server
):
    """The patient subscribed to the host before their removal, twice: as our page does (tied
    to their own feed), and as a modified client could (tied to a second participant joined
    with the same pin and an id the app never handed out). The removal closes both: no frame
    of the host reaches either 3-6 s after it, and Janus refuses the closed handles."""
    session = open_group_session(host=world.clinician, patients=[world.patient])
    host_pass = join(client, world.clinician, session)
    patient_pass = join(client, world.patient.user, session)
    room, pin, token = patient_pass["room"], patient_pass["pin"], patient_pass["token"]
    runner = LoopThread()
    arrivals: dict[str, list[float]] = {"own feed": [], "side participant": []}
    peers: list = []
    side: dict = {}

    async def setup():
        host = Publisher(await JanusSocket.open(host_pass["ws_url"], host_pass["token"]))
        patient = Publisher(await JanusSocket.open(patient_pass["ws_url"], token))
        peers.extend([host, patient])
        await host.publish(room=room, pin=host_pass["pin"], feed=host_pass["feed"], display="Dr")
        own = await patient.publish(room=room, pin=pin, feed=patient_pass["feed"], display="Pat")
        socket = await JanusSocket.open(patient_pass["ws_url"], token)
        await socket.create_session()
        handle = await socket.attach()
        extra = plugin_event(
            await socket.message(
                handle, {"request": "join", "ptype": "publisher", "room": room, "pin": pin}
            )
        )
        assert extra.get("videoroom") == "joined", extra
        side.update(socket=socket, id=extra["id"])
        for label, private_id in (
            ("own feed", own["private_id"]),
            ("side participant", extra["private_id"]),
        ):
            watching = Subscriber(await JanusSocket.open(patient_pass["ws_url"], token))
            peers.append(watching)
            await watching.subscribe(
                room=room, pin=pin, feed=host_pass["feed"], private_id=private_id
            )
            video = next(t for t in watching.tracks if t.kind == "video")
            await asyncio.wait_for(video.recv(), 15)
            asyncio.ensure_future(count_frames(video, arrivals[label]))

    async def ask_again(subscriber) -> dict:
        return plugin_event(
            await subscriber.socket.message(subscriber.handle, {"request": "configure"})
        )

    async def teardown():
        for peer in peers:
            await peer.close()
            await peer.socket.close()
        if side:
            await side["socket"].close()

    try:
        runner.run(setup())
        time.sleep(1)
        assert all(len(a) > 5 for a in arrivals.values()), "frames flowed before the removal"
        stretch = GroupAttendance.objects.get(pk=patient_pass["attendance_id"])
        session.refresh_from_db()
        group_services.group_remove(session=session, by=world.clinician, attendance=stretch)
        removed_at = time.monotonic()
        time.sleep(6)
        late = {label: len([t for t in a if t > removed_at + 3]) for label, a in arrivals.items()}
        answers = [runner.run(ask_again(peer)) for peer in peers[2:]]
        in_room = janus.participants(instance=instance_of(janus_server), room=room)
    finally:
        runner.run(teardown())
        runner.stop()
    assert late == {"own feed": 0, "side participant": 0}
    assert [a.get("error_code") for a in answers] == [433, 433], answers  # kicked: unauthorized
    assert [p["id"] for p in in_room] == [host_pass["feed"]]
