"""The group session room page and what it needs from the app: who may open it, the Join
links that lead there, the host's list of people in the room, and the CSP that lets the
page reach Janus. The room itself in a browser: tests/e2e/test_group_room.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.urls import reverse

from telehealth.audit.models import AuditEvent
from tests.conftest import sign_in
from tests.visits.group_helpers import open_group_session
from visits.models import GroupAttendance

ROOT = Path(__file__).resolve().parents[2]


def test_invited_patient_gets_the_room_page_without_host_controls(client, world):
    session = open_group_session(host=world.clinician, patients=[world.patient])
    sign_in(client, world.patient.user)
    response = client.get(reverse("visits:group-room", args=[session.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert reverse("visits:group-join", args=[session.pk]) in page
    assert reverse("visits:group-leave", args=[session.pk]) in page
    assert "js/group-room.js" in page
    assert "data-people-url" not in page and "Share screen" not in page
    assert "Join the session" in page


def test_host_and_co_host_get_the_room_page_with_host_controls(client, world):
    session = open_group_session(
        host=world.clinician, patients=[world.patient], co_hosts=[world.other_clinician]
    )
    for user in (world.clinician, world.other_clinician):
        sign_in(client, user)
        page = client.get(reverse("visits:group-room", args=[session.pk])).content.decode()
        assert reverse("visits:group-people", args=[session.pk]) in page
        assert "Share screen" in page


def test_the_room_page_is_refused_to_people_outside_the_session(client, world):
    session = open_group_session(host=world.clinician, patients=[world.patient])
    url = reverse("visits:group-room", args=[session.pk])
    assert client.get(url).status_code == 302  # anonymous: to sign in
    for user in (world.other_patient.user, world.other_clinician, world.outside_clinician):
        sign_in(client, user)
        assert client.get(url).status_code == 404, user
    sign_in(client, world.front_desk)
    assert client.get(url).status_code == 403


def test_join_links_lead_patients_and_hosts_to_the_room(client, world):
    session = open_group_session(host=world.clinician, patients=[world.patient])
    room = reverse("visits:group-room", args=[session.pk])
    sign_in(client, world.patient.user)
    assert room in client.get(reverse("visits:groups-mine")).content.decode()
    sign_in(client, world.clinician)
    assert room in client.get(reverse("visits:group", args=[session.pk])).content.decode()
    sign_in(client, world.front_desk)  # sees the session, does not take part
    assert room not in client.get(reverse("visits:group", args=[session.pk])).content.decode()


def test_hosts_see_who_is_in_the_room_by_feed_with_the_names_others_see(client, world):
    session = open_group_session(
        host=world.clinician, patients=[world.patient, world.other_patient]
    )
    inside = GroupAttendance.objects.create(
        session=session, user=world.patient.user, patient=world.patient, feed=11
    )
    GroupAttendance.objects.create(
        session=session,
        user=world.other_patient.user,
        patient=world.other_patient,
        feed=12,
        left_at=inside.joined_at,
    )
    host = GroupAttendance.objects.create(session=session, user=world.clinician, feed=13)
    sign_in(client, world.clinician)
    response = client.get(reverse("visits:group-people", args=[session.pk]))
    assert response.status_code == 200
    assert response.json() == {
        "people": [
            {"attendance_id": inside.pk, "feed": 11, "display": "Pat"},
            {"attendance_id": host.pk, "feed": 13, "display": "Dr Alpha"},
        ]
    }
    assert AuditEvent.objects.filter(
        action="view", patient=world.patient, actor=world.clinician
    ).exists()


def test_only_hosts_get_the_people_in_the_room(client, world):
    session = open_group_session(host=world.clinician, patients=[world.patient])
    url = reverse("visits:group-people", args=[session.pk])
    sign_in(client, world.patient.user)
    assert client.get(url).status_code == 403
    sign_in(client, world.other_clinician)
    assert client.get(url).status_code == 404


def _connect_src(janus_instances: str) -> list[str]:
    """connect-src as settings.py builds it from the environment, in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "JANUS_INSTANCES"}
    env["JANUS_INSTANCES"] = janus_instances
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['connect-src']))"
    )
    env.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings")
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_configured_janus_websocket_origins_join_connect_src():
    entry = {
        "url": "http://10.0.0.5:8088/janus",
        "admin_url": "http://10.0.0.5:7088/admin",
        "api_secret": "a",
        "admin_secret": "b",
        "admin_key": "c",
        "token_secret": "d",
    }
    instances = [
        {**entry, "name": "a", "ws_url": "wss://media-a.example.org:8989/janus"},
        {**entry, "name": "b", "ws_url": "wss://media-b.example.org/"},
    ]
    sources = _connect_src(json.dumps(instances))
    assert sources == ["'self'", "wss://media-a.example.org:8989", "wss://media-b.example.org"]
    assert _connect_src("[]") == ["'self'"]
