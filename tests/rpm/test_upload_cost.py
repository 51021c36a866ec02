"""What a device upload costs the database, and the one query that authenticates it: the
device, its practice and its enrolment start, with every rule of the token kept."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rpm import services, uploads
from rpm.models import Alert, Enrollment, Reading, Threshold
from telehealth.fhir_subscriptions.models import Delivery
from telehealth.fhir_subscriptions.services import subscription_set_status
from telehealth.fhir_subscriptions.topics import APPOINTMENT_CHANGED, OBSERVATION_CREATED
from tests.fhir_subscriptions.conftest import local_endpoints as local_endpoints  # noqa: F401
from tests.fhir_subscriptions.conftest import subscribe
from tests.rpm.test_rpm import bp, upload
from tests.rpm.test_rpm import device as device  # noqa: F401, PLC0414  (a fixture)


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")  # RELEASE SAVEPOINT in tests


def readings(start, count: int) -> list[dict]:
    """`count` blood pressure readings (two an item), five minutes apart, none alarming."""
    return [bp(start + timedelta(minutes=5 * n)) for n in range(count // 2)]


def test_an_upload_costs_the_same_queries_for_10_or_100_readings(
    require_postgres, client, world, device
):
    now = timezone.now()
    assert upload(client, device.token, readings(now - timedelta(days=3), 10)).status_code == 200
    counts = {}
    for size, start in ((10, now - timedelta(days=2)), (100, now - timedelta(days=1))):
        with CaptureQueriesContext(connection) as queries:
            answer = upload(client, device.token, readings(start, size))
        assert answer.status_code == 200
        assert answer.json()["accepted"] == size
        counts[size] = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    # The token's device with its enrolment start, its limits and whether anyone subscribes;
    # the insert; the baseline; and the transaction around the writes.
    assert counts[10] == counts[100]
    assert [sql for sql in counts[100] if sql not in TRANSACTION_CONTROL] == [
        "SELECT",
        "INSERT",
        "WITH",
    ]
    assert Reading.objects.count() == 10 + 10 + 100


def test_the_token_brings_the_device_its_practice_and_its_enrolment_start(world, device):
    Enrollment.objects.filter(patient=world.patient).update(start_date=date(2026, 3, 9))
    services.enroll(
        patient=world.patient, program="diabetes", clinicians=[world.clinician], by=world.clinician
    )
    Enrollment.objects.filter(program="diabetes").update(start_date=date(2026, 1, 5))
    found = services.device_for_token(device.token)
    assert found is not None
    assert found.pk == device.pk
    assert found.patient.pk == world.patient.pk
    assert found.patient.practice_id == world.practice.pk
    assert vars(found)["enrolled_from"] == date(2026, 1, 5)
    # Ingestion never reads the patient's PHI; code that does still gets it, decrypted.
    assert found.patient.phone == world.patient.phone
    assert found.patient.legal_name == world.patient.legal_name


def test_a_device_of_a_patient_no_longer_enrolled_reads_from_its_creation(world, device, settings):
    Enrollment.objects.filter(patient=world.patient).update(is_active=False)
    found = services.device_for_token(device.token)
    assert found is not None
    assert vars(found)["enrolled_from"] is None
    window = uploads.monitoring_window(found, timezone.now())
    assert window.earliest is not None
    assert window.earliest.date() == timezone.localdate(device.created_at) - timedelta(
        days=settings.RPM_BACKFILL_DAYS
    )


def test_a_revoked_or_unknown_token_finds_no_device(world, device):
    assert services.device_for_token(device.token + "x") is None
    assert services.device_for_token("") is None
    services.device_revoke(device=device, by=world.clinician)
    assert services.device_for_token(device.token) is None


def test_the_token_brings_the_limits_in_force(require_postgres, world, device):
    def limit(**fields):
        fields = {"practice": world.practice, "op": "ge", "severity": "critical", **fields}
        Threshold.objects.create(**fields)

    limit(vital="glucose", value=300)  # the practice's, every program
    limit(vital="systolic", value=170, program="hypertension")  # the patient's program
    limit(vital="weight", value=150, program="heart_failure")  # not the patient's program
    limit(vital="systolic", value=200, patient=world.patient)  # the patient's own
    limit(vital="glucose", value=100, practice=world.outside_practice)  # another practice's
    found = services.device_for_token(device.token)
    assert found is not None
    assert vars(found)["limits"] == services.limits_for(world.patient)
    assert [(x.op, x.value) for x in vars(found)["limits"]["glucose"]] == [("ge", 300)]
    assert [x.value for x in vars(found)["limits"]["systolic"]] == [200]


@pytest.mark.usefixtures("local_endpoints")
def test_the_token_says_whether_the_practice_hears_of_new_readings(
    require_postgres, client, world, device
):
    def subscribed() -> bool:
        found = services.device_for_token(device.token)
        assert found is not None
        return vars(found)["observation_subscribed"]

    assert not subscribed()
    subscribe(world, "http://127.0.0.1:9/hook", topics=[APPOINTMENT_CHANGED])
    assert not subscribed()
    paused, _ = subscribe(world, "http://127.0.0.1:9/hook", topics=[OBSERVATION_CREATED])
    subscription_set_status(subscription=paused, status="paused", by=world.admin)
    assert not subscribed()
    subscription_set_status(subscription=paused, status="active", by=world.admin)
    assert subscribed()
    answer = upload(client, device.token, readings(timezone.now() - timedelta(hours=1), 4))
    assert answer.json()["accepted"] == 4
    stored = Reading.objects.filter(device=device).order_by("pk").values_list("pk", flat=True)
    assert list(Delivery.objects.order_by("pk").values_list("focus", flat=True)) == [
        f"Observation/{pk}" for pk in stored
    ]


def test_limits_brought_by_the_token_raise_alerts(client, world, device):
    Threshold.objects.create(
        practice=world.practice, vital="systolic", op="ge", value=150, severity="warning"
    )
    answer = upload(client, device.token, [bp(timezone.now(), systolic=155, diastolic=80)])
    assert answer.json()["accepted"] == 2
    alert = Alert.objects.get()
    assert (alert.severity, alert.rule) == ("warning", "threshold")


def test_a_batch_whose_alert_cannot_be_written_keeps_none_of_its_readings(
    world, device, monkeypatch
):
    """The readings and the alert they raise commit together or not at all."""
    found = services.device_for_token(device.token)
    assert found is not None
    now = timezone.now()
    batch = readings(now - timedelta(hours=9), 98) + [bp(now, systolic=190, diastolic=95)]

    def broken(**kwargs):
        raise RuntimeError("the audit store is down")

    monkeypatch.setattr("rpm.services.audit.record", broken)
    with pytest.raises(RuntimeError):
        uploads.ingest_payload(device=found, payload=batch)
    assert not Reading.objects.exists()
    assert not Alert.objects.exists()
    monkeypatch.undo()
    answer = uploads.ingest_payload(device=found, payload=batch)
    assert answer["accepted"] == 100
    alert = Alert.objects.get()
    assert (alert.severity, alert.readings.count()) == ("critical", 2)


def test_each_item_of_a_batch_is_answered_for_new_and_resent_readings(world, device):
    found = services.device_for_token(device.token)
    assert found is not None
    now = timezone.now()
    first = readings(now - timedelta(hours=5), 20)
    answer = uploads.upload_store(device=found, payload=first)
    assert [item.outcome for item in answer.items] == ["created"] * 10
    # Half sent again, half new, one new item twice: each answered for itself.
    again = first[5:] + readings(now - timedelta(hours=1), 10)
    again.append(again[-1])
    answer = uploads.upload_store(device=found, payload=again)
    assert [item.outcome for item in answer.items] == ["duplicate"] * 5 + ["created"] * 5 + [
        "duplicate"
    ]
    assert (answer.new, answer.duplicates) == (10, 12)
