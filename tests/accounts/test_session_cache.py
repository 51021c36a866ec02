"""With a shared cache, a signed-in request reads its session from the cache and its user from
the process's snapshot (user_cache): no query at all. Every change that ends a session or
alters what it may reach must still show on the very next request, with the snapshot warm.

These tests turn the cache on whatever the leg: within one test process the local-memory cache
is shared, as Redis is between processes."""

import pickle

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from telehealth.accounts import services
from telehealth.accounts.models import Practice, Role, User
from telehealth.accounts.policy import CONFIRMED_DEVICES_ATTR
from tests.conftest import current_totp, sign_in

pytestmark = pytest.mark.django_db
SECURITY = "/accounts/security/"
LOGIN = reverse("accounts:login")


@pytest.fixture(autouse=True)
def cached(settings):
    settings.SESSION_USER_CACHE = True
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    cache.clear()  # no token, so no snapshot, left by an earlier test's user of the same id


def warm(client: Client) -> Client:
    """Two requests: the first may move the idle clock; after the second the snapshot is held."""
    assert client.get(SECURITY).status_code == 200
    assert client.get(SECURITY).status_code == 200
    return client


def signed_in_user(client: Client) -> User:
    """The user the next request runs as."""
    user = client.get(SECURITY).wsgi_request.user
    assert isinstance(user, User)
    return user


def practice_of(user: User) -> Practice:
    assert user.practice is not None
    return user.practice


def sent_to_login(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(LOGIN)


@pytest.mark.parametrize("role", ["clinician", "patient"])
def test_a_warm_signed_in_request_takes_no_query(client, world, role, django_assert_num_queries):
    sign_in(client, world.patient.user if role == "patient" else world.clinician)
    warm(client)
    with django_assert_num_queries(0):
        assert client.get(SECURITY).status_code == 200


def test_a_cold_request_reads_the_user_and_their_devices_once(
    client, world, django_assert_num_queries
):
    """The user with practice and "has a device" in one query, then each kind of device (TOTP,
    backup codes); the session comes from the cache."""
    sign_in(client, world.clinician)
    warm(client)
    User.objects.get(pk=world.clinician.pk).save(update_fields=["full_name"])
    with django_assert_num_queries(3):
        assert client.get(SECURITY).status_code == 200
    with django_assert_num_queries(0):
        assert client.get(SECURITY).status_code == 200


def test_a_password_change_ends_the_session_on_the_next_request(world):
    session = warm(sign_in(Client(), world.front_desk))
    user = User.objects.get(pk=world.front_desk.pk)
    user.set_password("a new long passphrase 42")
    user.save(update_fields=["password"])
    assert sent_to_login(session.get(SECURITY))


def test_a_new_security_stamp_ends_the_session_on_the_next_request(world):
    session = warm(sign_in(Client(), world.clinician))
    device = TOTPDevice.objects.create(user=world.clinician, name="new phone", confirmed=False)
    services.totp_device_confirm(
        user=world.clinician, device=device, token=current_totp(device), request=None
    )
    assert sent_to_login(session.get(SECURITY))


def test_turning_mfa_off_ends_the_patients_other_sessions(world):
    TOTPDevice.objects.create(user=world.patient.user, name="phone", confirmed=True)
    session = warm(sign_in(Client(), world.patient.user))
    services.mfa_disable(user=world.patient.user, request=None)
    assert sent_to_login(session.get(SECURITY))


def test_a_deactivated_user_is_signed_out_on_the_next_request(world):
    session = warm(sign_in(Client(), world.front_desk))
    user = User.objects.get(pk=world.front_desk.pk)
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert sent_to_login(session.get(SECURITY))


def test_a_deleted_user_is_signed_out_on_the_next_request(world):
    user = services.staff_user_create(
        email="temp@alpha.test",
        password="a long passphrase 42",
        full_name="Temp",
        role=Role.FRONT_DESK,
        practice=world.practice,
    )
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    session = warm(sign_in(Client(), user))
    TOTPDevice.objects.filter(user=user).delete()
    User.objects.filter(pk=user.pk).delete()
    assert sent_to_login(session.get(SECURITY))


def test_a_role_change_applies_on_the_next_request(world):
    session = warm(sign_in(Client(), world.admin))
    user = User.objects.get(pk=world.admin.pk)
    user.role = Role.FRONT_DESK
    user.save(update_fields=["role"])
    assert signed_in_user(session).role == Role.FRONT_DESK


def test_a_move_to_another_practice_applies_on_the_next_request(world):
    session = warm(sign_in(Client(), world.front_desk))
    user = User.objects.get(pk=world.front_desk.pk)
    user.practice = world.outside_practice
    user.save(update_fields=["practice"])
    assert signed_in_user(session).practice_id == world.outside_practice.pk


def test_a_removed_device_sends_staff_back_to_enrolment(world):
    session = warm(sign_in(Client(), world.clinician))
    TOTPDevice.objects.filter(user=world.clinician).delete()  # an admin removing it
    response = session.get(SECURITY)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:mfa-setup"))


def test_an_unconfirmed_device_no_longer_verifies_the_session(world):
    session = warm(sign_in(Client(), world.clinician))
    TOTPDevice.objects.create(user=world.clinician, name="spare", confirmed=True)
    device = TOTPDevice.objects.get(user=world.clinician, name="test")
    device.confirmed = False
    device.save(update_fields=["confirmed"])
    response = session.get(SECURITY)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:mfa-verify"))


def test_signing_out_ends_the_session_for_its_cookie(world):
    session = warm(sign_in(Client(), world.front_desk))
    cookie = session.cookies[settings.SESSION_COOKIE_NAME].value
    session.post(reverse("accounts:logout"))
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert sent_to_login(replay.get(SECURITY))


def test_a_session_an_operator_deletes_ends_on_the_next_request(world):
    session = warm(sign_in(Client(), world.front_desk))
    key = session.cookies[settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(session_key=key).delete()
    assert sent_to_login(session.get(SECURITY))


def test_a_patients_new_language_applies_on_the_next_request(world):
    session = warm(sign_in(Client(), world.patient.user))
    patient = world.patient
    patient.preferred_language = "es"
    patient.save(update_fields=["preferred_language"])
    assert session.get(SECURITY)["Content-Language"] == "es"


def test_a_practices_new_time_zone_applies_on_the_next_request(world):
    session = warm(sign_in(Client(), world.front_desk))
    practice = Practice.objects.get(pk=world.practice.pk)
    practice.time_zone = "Europe/Berlin"
    practice.save(update_fields=["time_zone"])
    assert practice_of(signed_in_user(session)).time_zone == "Europe/Berlin"


def test_each_request_gets_its_own_copy_of_the_user(world):
    """A view that changes request.user without saving (a form bound to it) leaves the next
    request's user as stored."""
    session = warm(sign_in(Client(), world.clinician))
    first = signed_in_user(session)
    first.full_name = "Changed in memory"
    practice_of(first).time_zone = "Asia/Tokyo"
    second = signed_in_user(session)
    assert second is not first
    assert second.full_name == "Dr Alpha"
    assert practice_of(second).time_zone == "America/New_York"
    assert getattr(second, CONFIRMED_DEVICES_ATTR)  # read from the snapshot, not the database


def test_a_change_saved_while_the_cache_is_away_still_saves_and_shows_within_the_bound(
    client, world, monkeypatch, django_assert_num_queries
):
    """An admin deactivating an account during a Redis outage must not get a 500; the change
    reaches every process within SNAPSHOT_SECONDS even though no token could be replaced."""
    from telehealth.accounts import user_cache

    sign_in(client, world.clinician)
    warm(client)

    def unreachable(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to redis")

    user = User.objects.get(pk=world.clinician.pk)
    user.full_name = "Dr Renamed"
    with monkeypatch.context() as outage:
        outage.setattr(user_cache.cache, "set_many", unreachable)
        user.save(update_fields=["full_name"])  # no exception
    assert User.objects.get(pk=user.pk).full_name == "Dr Renamed"
    # Another process still holds the old snapshot under unchanged tokens: simulate it.
    tokens = user_cache._tokens(user.pk)
    assert tokens is not None
    old = User.objects.get(pk=user.pk)
    old.full_name = "Dr Alpha (stale)"
    monkeypatch.setitem(
        user_cache._snapshots, user.pk, (*tokens, user_cache.time.monotonic(), pickle.dumps(old))
    )
    assert signed_in_user(client).full_name == "Dr Alpha (stale)"
    later = user_cache.time.monotonic() + user_cache.SNAPSHOT_SECONDS + 1
    monkeypatch.setattr(user_cache.time, "monotonic", lambda: later)
    assert signed_in_user(client).full_name == "Dr Renamed"
