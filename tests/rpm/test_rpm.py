"""Remote monitoring: device tokens, each payload form, idempotent resends, per-item
rejection, the rules and their episodes, escalation, missed data, monthly figures, access,
and an alert reaching a clinician's socket and the outbox within a second."""

import json
import time
from datetime import datetime, timedelta
from datetime import time as clock

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils import timezone
from django.utils.safestring import mark_safe

from rpm import panels, selectors, services
from rpm.models import Alert, Reading, Threshold, TimeLog
from telehealth.notify.models import OutboundMessage
from tests.conftest import sign_in
from tests.visits.test_consumers import connect, cookie_for_user

pytestmark = pytest.mark.django_db


def iso(moment) -> str:
    return moment.isoformat()


@pytest.fixture
def device(world):
    services.enroll(
        patient=world.patient,
        program="hypertension",
        clinicians=[world.clinician],
        by=world.clinician,
        escalation_contact=world.other_clinician,
    )
    device, token = services.device_create(
        patient=world.patient, kind="bp_cuff", by=world.clinician, serial="BP-1"
    )
    device.token = token
    return device


def upload(client, token, payload):
    return client.post(
        "/api/v1/rpm/readings",
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def bp(at, systolic=128, diastolic=82, **extra):
    return {
        "type": "blood_pressure",
        "systolic": systolic,
        "diastolic": diastolic,
        "measured_at": iso(at),
        **extra,
    }


# --- Tokens and payloads -------------------------------------------------------------------


def test_tokens_missing_wrong_or_revoked_are_refused(client, world, device):
    now = timezone.now()
    assert (
        client.post("/api/v1/rpm/readings", data="[]", content_type="application/json").status_code
        == 401
    )
    assert upload(client, "rpm_wrong", [bp(now)]).status_code == 401
    assert upload(client, device.token, [bp(now)]).status_code == 200
    services.device_revoke(device=device, by=world.clinician)
    assert upload(client, device.token, [bp(now - timedelta(minutes=1))]).status_code == 401
    assert Reading.objects.count() == 2  # systolic and diastolic of the one accepted upload


def test_simple_json_forms_and_unit_conversion(client, world, device):
    now = timezone.now()
    single = upload(client, device.token, bp(now, heart_rate=71))
    assert single.json() == {
        "accepted": 3,
        "duplicates": 0,
        "amended": 0,
        "retracted": 0,
        "rejected": [],
    }
    batch = upload(
        client,
        device.token,
        {
            "readings": [
                {"type": "weight", "value": 176.4, "unit": "[lb_av]", "measured_at": iso(now)},
                {"type": "glucose", "value": 6.0, "unit": "mmol/L", "measured_at": iso(now)},
                {"type": "temperature", "value": 98.6, "unit": "[degF]", "measured_at": iso(now)},
            ]
        },
    )
    assert batch.json()["accepted"] == 3
    values = dict(Reading.objects.values_list("vital", "value"))
    assert values["weight"] == 80.01 and values["glucose"] == 108.11
    assert values["temperature"] == 37.0 and values["heart_rate"] == 71


def observation(code, value, unit, at):
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": iso(at),
        "valueQuantity": {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }


def test_fhir_observations_and_bundles(client, world, device):
    now = timezone.now()
    panel = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "effectiveDateTime": iso(now),
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": {"value": 142, "unit": "mmHg", "code": "mm[Hg]"},
            },
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                "valueQuantity": {"value": 91, "unit": "mmHg", "code": "mm[Hg]"},
            },
        ],
    }
    assert upload(client, device.token, panel).json()["accepted"] == 2
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": observation("8867-4", 64, "/min", now)},
            {"resource": observation("59408-5", 97, "%", now)},
            {"resource": observation("1234-5", 1, "%", now)},
            {"resource": {"resourceType": "Observation", "status": "final"}},
        ],
    }
    answer = upload(client, device.token, bundle).json()
    assert answer["accepted"] == 2, answer
    assert [r["index"] for r in answer["rejected"]] == [2, 3]
    assert (
        "not a vital this service monitors (http://loinc.org|1234-5)"
        in (answer["rejected"][0]["reason"])
    )
    assert answer["rejected"][1]["reason"] == "Observation.code: is required"


def test_resending_stores_nothing_twice(client, world, device):
    start = timezone.now() - timedelta(hours=10)
    batch = [bp(start + timedelta(hours=n)) for n in range(10)]
    assert upload(client, device.token, batch).json()["accepted"] == 20
    again = upload(client, device.token, batch).json()
    assert again == {"accepted": 0, "duplicates": 20, "amended": 0, "retracted": 0, "rejected": []}
    assert Reading.objects.count() == 20


def test_bad_items_are_rejected_with_reasons_and_the_rest_kept(client, world, device):
    now = timezone.now()
    answer = upload(
        client,
        device.token,
        [
            bp(now),
            bp(now + timedelta(days=1)),
            bp(now - timedelta(minutes=5), systolic=900),
            {"type": "glucose", "value": 100, "unit": "g/L", "measured_at": iso(now)},
            {"type": "cholesterol", "value": 200, "measured_at": iso(now)},
            {"type": "glucose", "value": 100, "measured_at": "yesterday"},
            "not an object",
        ],
    ).json()
    assert answer["accepted"] == 2
    reasons = {r["index"]: r["reason"] for r in answer["rejected"]}
    assert "in the future" in reasons[1]
    assert "not a possible reading" in reasons[2]
    assert "unit 'g/L' is not accepted" in reasons[3]
    assert "unknown type 'cholesterol'" in reasons[4]
    assert "ISO 8601" in reasons[5]
    assert "JSON object" in reasons[6]
    unusable = upload(client, device.token, {"hello": "world"})
    assert unusable.status_code == 400
    too_many = upload(client, device.token, [bp(now)] * 10_001)
    assert too_many.status_code == 400 and "at most 10,000" in too_many.json()["detail"]


# --- Rules ---------------------------------------------------------------------------------


def test_critical_readings_form_one_episode_until_resolved(client, world, device):
    now = timezone.now()
    upload(client, device.token, [bp(now - timedelta(minutes=30), systolic=185, diastolic=95)])
    upload(client, device.token, [bp(now - timedelta(minutes=20), systolic=192, diastolic=96)])
    alert = Alert.objects.get()
    # Two measurements, each a systolic and a diastolic reading.
    assert (alert.severity, alert.rule, alert.readings.count()) == ("critical", "threshold", 4)
    assert "192" in alert.summary
    services.acknowledge(alert=alert, by=world.clinician)
    with pytest.raises(services.RpmError):
        services.resolve(alert=alert, by=world.clinician, note=" ")
    services.resolve(alert=alert, by=world.clinician, note="Called: missed her pills.")
    upload(client, device.token, [bp(now - timedelta(minutes=10), systolic=181, diastolic=90)])
    assert Alert.objects.count() == 2  # a new episode after the resolution


def test_patient_overrides_replace_practice_limits(client, world, device):
    Threshold.objects.create(
        practice=world.practice,
        patient=world.patient,
        vital="systolic",
        op="ge",
        value=200,
        severity="critical",
    )
    upload(client, device.token, [bp(timezone.now(), systolic=185, diastolic=90)])
    assert not Alert.objects.exists()


def test_far_from_the_patients_own_baseline_is_a_trend_alert(client, world, device):
    now = timezone.now()
    history = [
        bp(now - timedelta(days=20) + timedelta(hours=12 * n), systolic=118 + n % 4, diastolic=76)
        for n in range(30)
    ]
    upload(client, device.token, history)
    assert not Alert.objects.exists()
    upload(client, device.token, [bp(now, systolic=152, diastolic=78)])  # under 160: no threshold
    alert = Alert.objects.get()
    assert (alert.rule, alert.vital, alert.severity) == ("trend", "systolic", "warning")


def test_weight_gain_in_heart_failure(client, world, device):
    services.enroll(
        patient=world.patient,
        program="heart_failure",
        clinicians=[world.clinician],
        by=world.clinician,
    )
    scale, token = services.device_create(patient=world.patient, kind="scale", by=world.clinician)
    now = timezone.now()
    upload(
        client,
        token,
        [{"type": "weight", "value": 80.0, "measured_at": iso(now - timedelta(hours=20))}],
    )
    upload(client, token, [{"type": "weight", "value": 81.4, "measured_at": iso(now)}])
    alert = Alert.objects.get(rule="weight_gain")
    assert "1.4 kg in 1 day" in alert.summary


def test_missed_readings_alert_once(world, device, settings):
    settings.RPM_MISSED_DAYS = 3
    world.patient.rpm_enrollments.update(start_date=timezone.localdate() - timedelta(days=10))
    assert services.flag_missed_readings() == 1
    assert services.flag_missed_readings() == 0
    assert Alert.objects.get().rule == "missed"


def test_unacknowledged_critical_alerts_escalate_once(client, world, device, settings):
    settings.RPM_ESCALATION_MINUTES = 15
    upload(client, device.token, [bp(timezone.now(), systolic=200, diastolic=95)])
    alert = Alert.objects.get()
    assert services.escalate_overdue() == 0  # not overdue yet
    Alert.objects.filter(pk=alert.pk).update(opened_at=timezone.now() - timedelta(minutes=16))
    assert services.escalate_overdue() == 1
    assert services.escalate_overdue() == 0
    emails = OutboundMessage.objects.filter(template="rpm.alert")
    assert {m.staff for m in emails} == {world.clinician, world.other_clinician}
    assert all(world.patient.legal_name not in m.body for m in emails)


# --- Figures --------------------------------------------------------------------------------


def test_the_dashboard_counts_local_days_with_readings_in_the_last_30(world, device):
    """A rolling adherence figure, not a billing period: days in the practice's zone, today
    and the 29 before it, two readings on one day counting once."""
    zone = world.practice.zone
    today = timezone.localdate(timezone=zone)
    # 23:30 local is the next day in UTC: 30 days ago would count if days were UTC dates.
    moments = [
        datetime.combine(today - timedelta(days=n), clock(23, 30), zone) for n in (1, 29, 30, 45)
    ]
    moments += [moments[0] - timedelta(hours=1), timezone.now()]
    Reading.objects.bulk_create(
        Reading(patient=world.patient, device=device, vital="heart_rate", value=70, measured_at=m)
        for m in moments
    )
    rows = selectors.dashboard(user=world.clinician)
    assert rows[0]["recent_days"] == 3  # today, yesterday, 29 days ago


def test_time_logs_need_minutes(world, device):
    today = timezone.localdate()
    services.time_log(
        patient=world.patient, by=world.clinician, kind="interactive", minutes=12, day=today
    )
    with pytest.raises(services.RpmError):
        services.time_log(
            patient=world.patient, by=world.clinician, kind="monitoring", minutes=0, day=today
        )
    assert TimeLog.objects.count() == 1


def test_the_patient_page_shows_what_registered_panels_give(client, world, device):
    def panel(request, patient):
        return mark_safe(f"<p>panel for {patient.pk}</p>")  # as render_to_string gives

    panels.register(panel)
    try:
        sign_in(client, world.clinician)
        html = client.get(f"/rpm/patients/{world.patient.pk}/").content.decode()
    finally:
        panels.unregister(panel)
    assert f"<p>panel for {world.patient.pk}</p>" in html


# --- Pages and access ----------------------------------------------------------------------


def test_pages_by_role(client, world, device):
    upload(client, device.token, [bp(timezone.now() - timedelta(hours=n)) for n in range(5)])
    sign_in(client, world.clinician)
    assert b"Pat Alpha" in client.get("/rpm/").content
    page = client.get(f"/rpm/patients/{world.patient.pk}/?days=7")
    assert page.status_code == 200 and b"<svg" in page.content
    assert client.get(f"/rpm/patients/{world.outside_patient.pk}/").status_code == 404
    sign_in(client, world.front_desk)
    assert client.get("/rpm/").status_code == 403
    assert client.get(f"/rpm/patients/{world.patient.pk}/").status_code == 403
    sign_in(client, world.patient.user)
    assert b"<svg" in client.get("/rpm/mine/").content
    assert client.get("/rpm/").status_code == 403
    sign_in(client, world.outside_clinician)
    assert client.get(f"/rpm/patients/{world.patient.pk}/").status_code == 404


def test_a_new_device_token_is_shown_once_and_kept_hashed(client, world, device):
    sign_in(client, world.clinician)
    page = client.post(f"/rpm/patients/{world.patient.pk}/devices/", {"kind": "scale"})
    token = page.content.decode().split("<code>")[1].split("</code>")[0]
    assert token.startswith("rpm_")
    assert "no-store" in page["Cache-Control"]
    from rpm.models import Device

    assert not Device.objects.filter(token_hash=token).exists()
    found = services.device_for_token(token)
    assert found is not None and found.kind == "scale"


@pytest.mark.django_db(transaction=True)
async def test_a_critical_reading_reaches_the_clinician_and_the_outbox_within_a_second(world):
    device = await sync_to_async(_enrolled_device)(world)
    ws, ok, _ = await connect("/ws/me/", await sync_to_async(cookie_for_user)(world.clinician))
    assert ok
    began = time.monotonic()
    response = await sync_to_async(upload)(
        Client(), device.token, [bp(timezone.now(), systolic=210, diastolic=115)]
    )
    frame = await ws.receive_json_from(timeout=1)
    elapsed = time.monotonic() - began
    assert response.status_code == 200
    assert frame["type"] == "rpm-alert" and frame["severity"] == "critical"
    assert elapsed < 1.0
    assert await sync_to_async(OutboundMessage.objects.filter(template="rpm.alert").count)() == 1
    await ws.disconnect()


def _enrolled_device(world):
    services.enroll(
        patient=world.patient,
        program="hypertension",
        clinicians=[world.clinician],
        by=world.clinician,
    )
    device, token = services.device_create(
        patient=world.patient, kind="bp_cuff", by=world.clinician
    )
    device.token = token
    return device


@pytest.mark.parametrize(
    "body",
    [
        '{"resourceType": "Bundle", "entry": "nope"}',
        '{"resourceType": "Bundle", "entry": ["x", 3]}',
        "[" * 100_000,
        '{"readings": [{"type": "glucose", "value": NaN, "measured_at": "2026-01-01T00:00:00Z"}]}',
        "not json",
    ],
)
def test_malformed_uploads_get_a_clear_answer(client, world, device, body):
    response = client.post(
        "/api/v1/rpm/readings",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {device.token}",
    )
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["accepted"] == 0 and response.json()["rejected"]
    assert not Reading.objects.exists()


@pytest.mark.parametrize(
    "item",
    [
        {"type": ["glucose"], "value": 100},
        {"type": {"a": 1}, "value": 100},
        {"type": "glucose", "value": 100, "unit": ["mg/dL"]},
        {"type": "glucose", "value": 10**400},
        {"type": "glucose", "value": float("inf")},
        {"type": "glucose", "value": 100, "measured_at": "2026-13-45T08:00:00Z"},
        {"type": "glucose", "value": 100, "measured_at": ["2026-01-01T08:00:00Z"]},
    ],
)
def test_odd_values_are_rejected_per_item_and_the_rest_kept(client, world, device, item):
    now = timezone.now()
    item.setdefault("measured_at", iso(now - timedelta(minutes=1)))
    response = upload(client, device.token, [item, bp(now - timedelta(minutes=2))])
    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 2  # systolic and diastolic of the good reading
    assert [r["index"] for r in answer["rejected"]] == [0]
    assert Reading.objects.count() == 2


def test_clinicians_see_and_hear_only_their_own_practices_patients(client, world, device):
    with pytest.raises(services.RpmError):
        services.enroll(
            patient=world.patient,
            program="diabetes",
            clinicians=[world.outside_clinician],
            by=world.admin,
        )
    # A clinician who moved to another practice keeps nothing of the old one's monitoring.
    world.clinician.practice = world.outside_practice
    world.clinician.save(update_fields=["practice"])
    sign_in(client, world.clinician)
    assert b"Pat Alpha" not in client.get("/rpm/").content
    assert client.get(f"/rpm/patients/{world.patient.pk}/").status_code == 404
    upload(Client(), device.token, [bp(timezone.now(), systolic=200, diastolic=100)])
    alert = Alert.objects.get(severity="critical")
    assert services._assigned(alert.patient) == []
    assert not OutboundMessage.objects.filter(template="rpm.alert").exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_critical_batches_share_one_episode(require_postgres, world):
    import threading

    from django.db import connection

    services.enroll(
        patient=world.patient,
        program="hypertension",
        clinicians=[world.clinician],
        by=world.clinician,
    )
    tokens = [
        services.device_create(patient=world.patient, kind="bp_cuff", by=world.clinician)[1]
        for _ in range(6)
    ]
    barrier = threading.Barrier(len(tokens))
    statuses: list = []
    now = timezone.now()

    def send(n, token):
        try:
            barrier.wait()
            at = now - timedelta(minutes=n)
            statuses.append(upload(Client(), token, [bp(at, systolic=200, diastolic=100)]))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n, t)) for n, t in enumerate(tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in statuses] == [200] * len(tokens)
    alert = Alert.objects.get(severity="critical")
    assert alert.readings.count() == 2 * len(tokens)  # systolic and diastolic of each
