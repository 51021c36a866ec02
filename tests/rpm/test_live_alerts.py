"""Live monitoring alerts: who gets them on their own socket (/ws/me/), what the event says,
and which signed-in pages carry the listener and the lists it refreshes."""

import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils import timezone

from rpm import services
from rpm.models import Alert
from telehealth.accounts.policy import LAST_SEEN_KEY
from tests.accounts.test_login_and_mfa import age_session
from tests.conftest import sign_in
from tests.visits.test_consumers import connect, cookie_for_user

pytestmark = pytest.mark.django_db(transaction=True)


def enrolled_device(world, *, escalation_contact=None):
    services.enroll(
        patient=world.patient,
        program="hypertension",
        clinicians=[world.clinician],
        by=world.clinician,
        escalation_contact=escalation_contact,
    )
    device, token = services.device_create(
        patient=world.patient, kind="bp_cuff", by=world.clinician
    )
    return token


def upload_reading(token, **reading):
    body = {"type": "blood_pressure", "measured_at": timezone.now().isoformat(), **reading}
    return Client().post(
        "/api/v1/rpm/readings",
        data=json.dumps([body]),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


async def sockets_of(*users):
    opened = []
    for user in users:
        ws, ok, code = await connect("/ws/me/", await sync_to_async(cookie_for_user)(user))
        assert ok, (user, code)
        opened.append(ws)
    return opened


async def test_only_the_enrolled_clinician_hears_of_a_critical_reading(world):
    """The patient themselves, a clinician of the same practice who does not monitor them,
    the front desk, the practice admin and a clinician of another practice are all signed in
    with their own socket open: none of them gets the event."""
    token = await sync_to_async(enrolled_device)(world)
    mine, *others = await sockets_of(
        world.clinician,
        world.patient.user,
        world.other_clinician,
        world.front_desk,
        world.admin,
        world.outside_clinician,
    )
    response = await sync_to_async(upload_reading)(token, systolic=212, diastolic=96)
    assert response.status_code == 200
    frame = await mine.receive_json_from(timeout=2)
    alert = await sync_to_async(Alert.objects.get)()
    assert frame == {
        "type": "rpm-alert",
        "alert": alert.pk,
        "patient": world.patient.pk,
        "severity": "critical",
        "summary": "Blood pressure 212/96 mmHg (systolic ≥ 180)",
        "escalation": False,
        "url": f"/rpm/patients/{world.patient.pk}/",
    }
    assert world.patient.legal_name not in json.dumps(frame)  # a notice shows no name
    for ws in others:
        assert await ws.receive_nothing(timeout=0.3)
    for ws in (mine, *others):
        await ws.disconnect()


async def test_an_escalation_reaches_the_contact_live_and_says_so(world, settings):
    settings.RPM_ESCALATION_MINUTES = 15
    token = await sync_to_async(enrolled_device)(world, escalation_contact=world.other_clinician)
    await sync_to_async(upload_reading)(token, systolic=200, diastolic=95)
    contact, outsider = await sockets_of(world.other_clinician, world.outside_clinician)

    @sync_to_async
    def overdue_and_escalated():
        Alert.objects.update(opened_at=timezone.now() - timedelta(minutes=16))
        return services.escalate_overdue()

    assert await overdue_and_escalated() == 1
    frame = await contact.receive_json_from(timeout=2)
    assert frame["escalation"] is True and frame["severity"] == "critical"
    assert await outsider.receive_nothing(timeout=0.3)
    await contact.disconnect()
    await outsider.disconnect()

    @sync_to_async
    def opened_by(user):
        return sign_in(Client(), user).get(frame["url"]).status_code

    # The contact can open what they are told about; the outsider still cannot.
    assert await opened_by(world.other_clinician) == 200
    assert await opened_by(world.outside_clinician) == 404


async def test_a_socket_without_the_second_factor_never_gets_alerts(world):
    from tests.core.test_realtime import session_cookie

    cookie = await sync_to_async(session_cookie)(world.clinician, verified=False)
    ws, ok, _ = await connect("/ws/me/", cookie)
    assert not ok


# --- Pages ------------------------------------------------------------------------------------


LISTENER = b"js/alerts.js"


def test_clinician_pages_listen_for_alerts_and_other_roles_pages_do_not(world):
    client = sign_in(Client(), world.clinician)
    for url in ("/", "/rpm/", "/messaging/inbox/", f"/rpm/patients/{world.patient.pk}/"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert LISTENER in page.content and b'data-ws-url="/ws/me/"' in page.content, url
    for user in (world.patient.user, world.front_desk, world.admin):
        assert LISTENER not in sign_in(Client(), user).get("/").content
    # Before the second factor the socket would be refused: the page does not try.
    unverified = sign_in(Client(), world.clinician, verified=False)
    assert LISTENER not in unverified.get("/accounts/security/", follow=True).content


def test_the_lists_the_listener_refreshes_are_marked_on_the_monitoring_pages(world):
    client = sign_in(Client(), world.clinician)
    dashboard = client.get("/rpm/").content.decode()
    assert 'id="monitoring-list" data-live-refresh' in dashboard
    assert "data-desktop-alerts" in dashboard  # where desktop alerts are turned on
    monitoring = client.get(f"/rpm/patients/{world.patient.pk}/").content.decode()
    assert f'id="patient-alerts" data-live-refresh data-patient="{world.patient.pk}"' in monitoring
    record = client.get(f"/patients/{world.patient.pk}/").content.decode()
    assert f'id="chart-rpm" data-live-refresh data-patient="{world.patient.pk}"' in record


def test_a_list_refreshed_by_a_live_alert_does_not_keep_an_idle_session_alive(world):
    """Alerts arriving every few minutes must not keep an unattended screen signed in."""
    client = sign_in(Client(), world.clinician)
    age_session(client, idle=14 * 60, since_login=14 * 60)
    idle_since = client.session[LAST_SEEN_KEY]
    assert client.get("/rpm/", HTTP_X_BACKGROUND_REFRESH="1").status_code == 200
    assert client.session[LAST_SEEN_KEY] == idle_since
    assert client.get("/rpm/").status_code == 200  # someone used the page
    assert client.session[LAST_SEEN_KEY] > idle_since
