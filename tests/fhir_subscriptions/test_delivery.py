"""The worker POSTs each notification, signed, to a real HTTP receiver, and retries or gives
up as the receiver's answers say."""

import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters

from telehealth.fhir_subscriptions import services
from telehealth.fhir_subscriptions.dispatch import deliver_due
from telehealth.fhir_subscriptions.models import Delivery, NotificationSubscription
from telehealth.fhir_subscriptions.topics import APPOINTMENT_CHANGED
from tests.fhir_subscriptions.conftest import subscribe

pytestmark = pytest.mark.usefixtures("local_endpoints")
Status = Delivery.Status


def verify(secret: str, headers: dict, body: bytes) -> bool:
    """What docs/fhir-notifications.md tells integrators to do, written independently of the
    sender's code."""
    fields = dict(part.split("=", 1) for part in headers["X-Telehealth-Signature"].split(","))
    if abs(time.time() - int(fields["t"])) > 300:
        return False
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), fields["v1"])


def parsed(body: bytes) -> dict:
    """The Bundle as fhir.resources reads it (which refuses anything malformed), and its first
    entry read as the Parameters the Backport IG puts there."""
    bundle = Bundle.model_validate(json.loads(body)).model_dump(mode="json", exclude_none=True)
    Parameters.model_validate(bundle["entry"][0]["resource"])
    return bundle


def change(world, subscription_count=1):
    """An appointment change, as scheduling reports it (the outbox tests book for real)."""
    return services.resources_changed(
        practice_id=world.practice.pk, topic=APPOINTMENT_CHANGED, resource_ids=[42]
    )


def make_due():
    Delivery.objects.filter(status=Status.QUEUED).update(send_at=timezone.now())


def test_the_receiver_gets_a_signed_bundle_it_can_verify_and_parse(world, receiver):
    subscription, secret = subscribe(world, receiver.url)
    change(world)

    report = deliver_due()

    assert report.delivered == 1
    (request,) = receiver.requests
    assert request.headers["Content-Type"] == "application/fhir+json"
    assert verify(secret, request.headers, request.body)
    assert not verify("another secret", request.headers, request.body)
    bundle = parsed(request.body)
    assert bundle["type"] == "history"
    params = {p["name"]: p for p in bundle["entry"][0]["resource"]["parameter"]}
    assert params["subscription"]["valueReference"]["reference"].endswith(
        f"/fhir/R4/Subscription/{subscription.key}"
    )
    assert params["status"]["valueCode"] == "active"
    assert bundle["entry"][1]["fullUrl"].endswith("/fhir/R4/Appointment/42")
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.response_status, delivery.attempts) == (
        Status.DELIVERED,
        200,
        1,
    )
    assert delivery.delivered_at is not None
    assert deliver_due().handled == 0  # nothing sent twice


@pytest.mark.parametrize("answer", [500, 503, 429])
def test_server_errors_are_retried_with_backoff_then_delivered(world, receiver, answer):
    subscribe(world, receiver.url)
    change(world)
    receiver.answers = [answer]

    assert deliver_due().retried == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.response_status) == (Status.QUEUED, answer)
    assert delivery.send_at > timezone.now() + timedelta(seconds=20)
    assert deliver_due().handled == 0  # not due before its backoff

    make_due()
    assert deliver_due().delivered == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_status, delivery.attempts) == (
        Status.DELIVERED,
        200,
        2,
    )
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body  # the same notification


def test_gives_up_after_the_last_attempt_and_stops_the_subscription(world, receiver, settings):
    settings.FHIR_NOTIFY_MAX_ATTEMPTS = 3
    subscription, _ = subscribe(world, receiver.url)
    change(world)
    receiver.answers = [500] * 10
    for _ in range(3):
        make_due()
        deliver_due()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Status.FAILED, 3)
    assert "Gave up after 3 attempts" in delivery.last_error
    subscription.refresh_from_db()
    assert subscription.status == NotificationSubscription.Status.ERROR
    assert len(receiver.requests) == 3
    assert change(world) == 0  # a stopped subscription hears of nothing more


def test_a_client_error_is_not_retried(world, receiver):
    subscription, _ = subscribe(world, receiver.url)
    change(world)
    receiver.answers = [400]
    assert deliver_due().failed == 1
    make_due()
    assert deliver_due().handled == 0
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.response_status, delivery.attempts) == (Status.FAILED, 400, 1)
    assert len(receiver.requests) == 1
    subscription.refresh_from_db()
    assert subscription.status == NotificationSubscription.Status.ERROR


def test_an_unreachable_endpoint_is_retried(world):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    subscribe(world, f"http://127.0.0.1:{port}/hook")  # nothing listens there any more
    change(world)
    assert deliver_due().retried == 1
    delivery = Delivery.objects.get()
    assert delivery.status == Status.QUEUED
    assert "ConnectionError" in delivery.last_error


def test_events_of_a_paused_subscription_wait_until_it_is_active(world, receiver):
    subscription, _ = subscribe(world, receiver.url)
    change(world)
    services.subscription_set_status(subscription=subscription, status="paused", by=world.admin)
    assert deliver_due().handled == 0
    services.subscription_set_status(subscription=subscription, status="active", by=world.admin)
    assert deliver_due().delivered == 1


def test_a_test_notification_is_a_handshake_with_no_event(world, receiver):
    subscription, secret = subscribe(world, receiver.url)
    services.handshake_queue(subscription=subscription, by=world.admin)
    assert deliver_due().delivered == 1
    (request,) = receiver.requests
    assert verify(secret, request.headers, request.body)
    bundle = parsed(request.body)
    assert len(bundle["entry"]) == 1
    params = {p["name"]: p for p in bundle["entry"][0]["resource"]["parameter"]}
    assert params["type"]["valueCode"] == "handshake"
    assert "notification-event" not in params
    subscription.refresh_from_db()
    assert subscription.events_since_start == 0
    services.subscription_set_status(subscription=subscription, status="paused", by=world.admin)
    services.handshake_queue(subscription=subscription, by=world.admin)
    assert deliver_due().delivered == 1  # a test goes out even while paused, saying so
    params = {
        p["name"]: p for p in parsed(receiver.requests[1].body)["entry"][0]["resource"]["parameter"]
    }
    assert params["status"]["valueCode"] == "off"


def test_an_endpoint_no_longer_allowed_is_not_posted_to(world, receiver, settings):
    subscription, _ = subscribe(world, receiver.url)
    change(world)
    settings.FHIR_NOTIFY_ALLOWED_HOSTS = []  # as in production: a loopback address
    assert deliver_due().failed == 1
    assert receiver.requests == []
    subscription.refresh_from_db()
    assert subscription.status == NotificationSubscription.Status.ERROR


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_deliver_one_notification_twice(
    require_postgres, world, receiver, settings
):
    settings.FHIR_NOTIFY_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.OUTBOX_BATCH_SIZE = 5
    receiver.delay = 0.01  # slow enough that both workers are busy at once
    subscription, _ = subscribe(world, receiver.url)
    # bulk_create: no nudge, so nothing is delivered before the two workers start.
    Delivery.objects.bulk_create(
        Delivery(subscription=subscription, dedupe_key=f"race:{i}", event_number=i, body="{}")
        for i in range(1, 41)
    )
    barrier = threading.Barrier(2)
    reports = []

    def worker():
        try:
            barrier.wait()
            reports.append(deliver_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = [r.headers["X-Telehealth-Delivery"] for r in receiver.requests]
    assert len(keys) == 40
    assert len(set(keys)) == 40
    assert sum(r.delivered for r in reports) == 40
    assert all(r.delivered for r in reports)  # both took part
    assert Delivery.objects.filter(status=Status.DELIVERED).count() == 40
