"""The practice admin's registration page: only admins, only their own practice's
subscriptions, and the signing secret shown once."""

import pytest
from django.db import connection
from django.urls import reverse

from telehealth.accounts.models import Role
from telehealth.audit.models import AuditEvent
from telehealth.fhir_subscriptions.models import Delivery, NotificationSubscription
from tests.conftest import make_staff, sign_in
from tests.fhir_subscriptions.conftest import subscribe


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.usefixtures("local_endpoints")
LIST = reverse("fhir_subscriptions:list")
FORM = {"name": "Partner EHR", "endpoint": "", "topics": ["appointment-changed"]}


def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(client, world, receiver):
    sign_in(client, world.admin)
    response = client.post(LIST, {**FORM, "endpoint": receiver.url})
    assert response.status_code == 200
    subscription = NotificationSubscription.objects.get()
    assert subscription.practice == world.practice
    assert subscription.topics == ["appointment-changed"]
    assert subscription.secret in response.content.decode()
    assert AuditEvent.objects.filter(action="create", object_id=str(subscription.pk)).exists()
    # Stored encrypted, and never on a page again.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret FROM fhir_subscriptions_notificationsubscription WHERE id = %s",
            [subscription.pk],
        )
        (stored,) = cursor.fetchone()
    assert stored and subscription.secret not in stored
    for url in (LIST, reverse("fhir_subscriptions:detail", args=[subscription.pk])):
        page = client.get(url)
        assert page.status_code == 200
        assert subscription.secret not in page.content.decode()


def test_a_private_endpoint_is_refused_with_a_reason(client, world, settings):
    settings.FHIR_NOTIFY_ALLOWED_HOSTS = []
    sign_in(client, world.admin)
    response = client.post(LIST, {**FORM, "endpoint": "https://10.0.0.5/hook"})
    assert response.status_code == 400
    assert "public internet address" in response.content.decode()
    assert not NotificationSubscription.objects.exists()


def test_the_test_button_queues_a_handshake_and_pausing_works(client, world, receiver):
    subscription, _ = subscribe(world, receiver.url)
    sign_in(client, world.admin)
    detail = reverse("fhir_subscriptions:detail", args=[subscription.pk])
    response = client.post(reverse("fhir_subscriptions:handshake", args=[subscription.pk]))
    assert response.status_code == 302
    assert response["Location"] == detail
    assert Delivery.objects.get().kind == Delivery.Kind.HANDSHAKE
    client.post(reverse("fhir_subscriptions:status", args=[subscription.pk]), {"status": "paused"})
    subscription.refresh_from_db()
    assert subscription.status == "paused"
    client.post(reverse("fhir_subscriptions:status", args=[subscription.pk]), {"status": "error"})
    subscription.refresh_from_db()
    assert subscription.status == "paused"  # only pause and active are chosen by hand


@pytest.mark.parametrize("role", [Role.PATIENT, Role.CLINICIAN, Role.FRONT_DESK])
def test_other_roles_are_refused(client, world, receiver, role):
    subscription, _ = subscribe(world, receiver.url)
    sign_in(client, world.user_for(role))
    assert client.get(LIST).status_code == 403
    assert client.post(LIST, {**FORM, "endpoint": receiver.url}).status_code == 403
    detail = reverse("fhir_subscriptions:detail", args=[subscription.pk])
    assert client.get(detail).status_code == 403
    assert not Delivery.objects.exists()


def test_anonymous_users_are_sent_to_sign_in(client, world):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_another_practices_admin_gets_404(client, world, receiver):
    subscription, _ = subscribe(world, receiver.url)
    outsider = make_staff(world.outside_practice, Role.PRACTICE_ADMIN, "a@beta.test", "Beta")
    sign_in(client, outsider)
    for name in ("detail",):
        assert (
            client.get(reverse(f"fhir_subscriptions:{name}", args=[subscription.pk])).status_code
            == 404
        )
    for name in ("handshake", "status"):
        url = reverse(f"fhir_subscriptions:{name}", args=[subscription.pk])
        assert client.post(url, {"status": "paused"}).status_code == 404
    assert subscription.endpoint not in client.get(LIST).content.decode()
    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert not Delivery.objects.exists()
