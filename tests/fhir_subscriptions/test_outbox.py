"""Changes queue notifications in their own transaction: one row per matching active
subscription of the changed resource's practice, numbered in order."""

import json

import pytest
from django.db import transaction
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from rpm import services as rpm_services
from rpm.uploads import upload_store
from scheduling import services as scheduling
from scheduling.models import BookedVia
from telehealth.accounts.models import Role
from telehealth.fhir_subscriptions.models import Delivery, NotificationSubscription
from telehealth.fhir_subscriptions.services import subscription_set_status
from telehealth.fhir_subscriptions.topics import (
    ENCOUNTER_CHANGED,
    OBSERVATION_CREATED,
)
from tests.conftest import make_staff
from tests.fhir_subscriptions.conftest import subscribe
from tests.scheduling.conftest import local
from visits import services as visits


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.usefixtures("local_endpoints")
URL = "http://127.0.0.1:9/hook"


def book(world, video_type, hour=10):
    return scheduling.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, hour),
        by=None,
        via=BookedVia.ONLINE,
    )


def status_parameters(delivery: Delivery) -> dict:
    bundle = Bundle.model_validate(json.loads(delivery.body)).model_dump(mode="json")
    return {p["name"]: p for p in bundle["entry"][0]["resource"]["parameter"]}


def test_booking_queues_one_notification_per_matching_active_subscription(world, video_type):
    wanted, _ = subscribe(world, URL)
    subscribe(world, URL, topics=[OBSERVATION_CREATED], name="Readings only")
    paused, _ = subscribe(world, URL, name="Paused")
    subscription_set_status(subscription=paused, status="paused", by=world.admin)
    outside_admin = make_staff(world.outside_practice, Role.PRACTICE_ADMIN, "a@beta.test", "B")
    subscribe(world, URL, practice=world.outside_practice, by=outside_admin, name="Beta EHR")

    appointment = book(world, video_type)

    delivery = Delivery.objects.get()
    assert delivery.subscription == wanted
    assert delivery.focus == f"Appointment/{appointment.pk}"
    assert delivery.event_number == 1
    params = status_parameters(delivery)
    assert params["type"]["valueCode"] == "event-notification"
    assert params["topic"]["valueCanonical"].endswith(
        "/fhir/R4/SubscriptionTopic/appointment-changed"
    )
    assert params["events-since-subscription-start"]["valueString"] == "1"
    event = {part["name"]: part for part in params["notification-event"]["part"]}
    assert event["focus"]["valueReference"]["reference"].endswith(
        f"/fhir/R4/Appointment/{appointment.pk}"
    )
    # id-only: the changed resource is named, never included.
    assert "resource" not in json.loads(delivery.body)["entry"][1]


def test_a_rolled_back_booking_queues_nothing(world, video_type):
    subscription, _ = subscribe(world, URL)

    class Abandon(Exception):
        pass

    with pytest.raises(Abandon), transaction.atomic():
        book(world, video_type)
        assert Delivery.objects.count() == 1  # written inside the booking's transaction
        raise Abandon

    assert Delivery.objects.count() == 0
    subscription.refresh_from_db()
    assert subscription.events_since_start == 0


def test_events_are_numbered_per_subscription_in_order(world, video_type):
    first, _ = subscribe(world, URL)
    appointment = book(world, video_type)
    second, _ = subscribe(world, URL, name="Joined later")
    scheduling.appointment_cancel(appointment=appointment, by=None, reason="ill")
    numbers = {
        name: list(
            Delivery.objects.filter(subscription__name=name)
            .order_by("id")
            .values_list("event_number", flat=True)
        )
        for name in ("EHR", "Joined later")
    }
    assert numbers == {"EHR": [1, 2], "Joined later": [1]}
    first.refresh_from_db()
    assert first.events_since_start == 2


def test_visit_state_changes_notify_encounter_subscribers(world, video_type):
    subscribe(world, URL, topics=[ENCOUNTER_CHANGED])
    appointment = book(world, video_type)
    visit = visits.visit_for_appointment(appointment)
    visits.patient_arrives(visit=visit)
    visits.end(visit=visit, by=world.clinician)
    assert list(Delivery.objects.order_by("id").values_list("focus", "event_number")) == [
        (f"Encounter/{visit.pk}", 1),
        (f"Encounter/{visit.pk}", 2),
    ]


def test_each_new_reading_notifies_observation_subscribers_once(world):
    subscribe(world, URL, topics=[OBSERVATION_CREATED])
    rpm_services.enroll(
        patient=world.patient,
        program="hypertension",
        clinicians=[world.clinician],
        by=world.clinician,
    )
    device, _token = rpm_services.device_create(
        patient=world.patient, kind="bp_cuff", by=world.clinician, serial="BP-1"
    )
    reading = {"type": "blood_pressure", "systolic": 128, "diastolic": 82}
    reading["measured_at"] = timezone.now().isoformat()
    upload_store(device=device, payload=reading)
    upload_store(device=device, payload=reading)  # a resend stores, and notifies, nothing
    readings = list(world.patient.rpm_readings.order_by("pk").values_list("pk", flat=True))
    assert len(readings) == 2  # systolic and diastolic
    assert list(Delivery.objects.order_by("id").values_list("focus", flat=True)) == [
        f"Observation/{pk}" for pk in readings
    ]


def test_a_subscription_in_error_queues_nothing(world, video_type):
    subscription, _ = subscribe(world, URL)
    NotificationSubscription.objects.filter(pk=subscription.pk).update(status="error")
    book(world, video_type)
    assert not Delivery.objects.exists()
