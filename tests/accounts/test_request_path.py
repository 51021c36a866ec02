"""What every signed-in request costs: the session is written at most once a minute (the idle
clock), and the user, their practice or patient record and their second factor are read
together, so a simple page takes a fixed, small number of queries; with the cache (Redis), none.
What ends a cached session on the next request: tests/accounts/test_session_cache.py."""

import re
import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from telehealth.accounts import services
from telehealth.accounts.middleware import SECONDS_LEFT_HEADER
from telehealth.accounts.policy import ACTIVITY_RESOLUTION_SECONDS, LAST_SEEN_KEY
from tests.accounts.test_login_and_mfa import age_session
from tests.conftest import current_totp, sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db
SECURITY = "/accounts/security/"
WRITES = ("INSERT", "UPDATE", "DELETE")


def writes(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().startswith(WRITES)]


DB_SESSIONS = "django.contrib.sessions.backends.db"
CACHED_SESSIONS = "telehealth.accounts.sessions"


@pytest.fixture
def without_cache(settings):
    """As without Redis: the session and the user read from the database on every request."""
    settings.SESSION_USER_CACHE = False
    settings.SESSION_ENGINE = DB_SESSIONS


@pytest.fixture
def with_cache(settings):
    """As with Redis: the session from the cache, the user from the process's snapshot."""
    settings.SESSION_USER_CACHE = True
    settings.SESSION_ENGINE = CACHED_SESSIONS
    cache.clear()


# Without the cache: session; user + practice/patient + "has a confirmed device"; the staff
# member's verified device (django_otp's lookup by the id the session holds).
@pytest.mark.parametrize(("role", "expected"), [("clinician", 3), ("patient", 2)])
def test_a_signed_in_page_takes_a_fixed_number_of_queries_and_writes_nothing(
    client, world, without_cache, role, expected, django_assert_num_queries
):
    sign_in(client, world.patient.user if role == "patient" else world.clinician)
    assert client.get(SECURITY).status_code == 200  # the first request moves the idle clock
    with django_assert_num_queries(expected):
        assert client.get(SECURITY).status_code == 200


@pytest.mark.parametrize("role", ["clinician", "patient"])
def test_with_the_cache_a_signed_in_page_takes_no_query(
    client, world, with_cache, role, django_assert_num_queries
):
    sign_in(client, world.patient.user if role == "patient" else world.clinician)
    assert client.get(SECURITY).status_code == 200
    with django_assert_num_queries(0):
        assert client.get(SECURITY).status_code == 200


def test_a_patient_with_mfa_on_still_reads_the_user_and_device_in_two_queries(
    client, world, without_cache, django_assert_num_queries
):
    TOTPDevice.objects.create(user=world.patient.user, name="phone", confirmed=True)
    sign_in(client, world.patient.user)
    client.get(SECURITY)
    with django_assert_num_queries(3):
        assert client.get(SECURITY).status_code == 200


def test_activity_is_recorded_at_most_once_a_minute(client, world):
    sign_in(client, world.front_desk)
    age_session(client, idle=ACTIVITY_RESOLUTION_SECONDS - 20, since_login=600)
    seen = client.session[LAST_SEEN_KEY]
    with CaptureQueriesContext(connection) as captured:
        assert client.get(SECURITY).status_code == 200
    assert client.session[LAST_SEEN_KEY] == seen
    assert writes(captured) == []
    age_session(client, idle=ACTIVITY_RESOLUTION_SECONDS + 1, since_login=600)
    assert client.get(SECURITY).status_code == 200
    assert time.time() - client.session[LAST_SEEN_KEY] < 5


def test_stay_signed_in_moves_the_idle_clock_even_within_the_minute(client, world):
    sign_in(client, world.clinician)
    age_session(client, idle=30, since_login=600)
    response = client.post(reverse("accounts:keepalive"))
    assert response.status_code == 200
    assert time.time() - client.session[LAST_SEEN_KEY] < 5
    assert response.json()["seconds_left"] >= 15 * 60 - 5


def test_the_page_counts_its_timeout_warning_from_the_real_deadline(client, world):
    """Activity 50 s ago was the last one recorded: the page and each response say the session
    ends 50 s sooner than a full idle period from now."""
    sign_in(client, world.clinician)
    age_session(client, idle=50, since_login=600)
    response = client.get(SECURITY)
    left = 15 * 60 - 50
    assert left - 5 <= int(response[SECONDS_LEFT_HEADER]) <= left
    shown = re.search(r'data-session-left="(\d+)"', response.content.decode())
    assert shown is not None
    assert left - 5 <= int(shown.group(1)) <= left


def test_a_password_reset_still_ends_every_session(world):
    """The user row read with their practice still carries what the session hash checks."""
    session = sign_in(Client(), world.patient.user)
    assert session.get(SECURITY).status_code == 200
    user = world.patient.user
    user.set_password("a new long passphrase 42")
    user.save(update_fields=["password"])
    assert session.get(SECURITY)["Location"].startswith(reverse("accounts:login"))


def test_confirming_a_device_ends_the_users_other_sessions(world):
    session = sign_in(Client(), world.patient.user)
    assert session.get(SECURITY).status_code == 200
    device = TOTPDevice.objects.create(user=world.patient.user, name="phone", confirmed=False)
    services.totp_device_confirm(
        user=world.patient.user, device=device, token=current_totp(device), request=None
    )
    assert session.get(SECURITY)["Location"].startswith(reverse("accounts:login"))


def test_the_request_user_is_the_user_itself_once_verified(client, world):
    """The OTP middleware verifies the user read before it and hands on the user, not a proxy
    around a proxy, and the verification still holds (and fails without the device)."""
    from telehealth.accounts.models import User

    sign_in(client, world.clinician)
    user = client.get(SECURITY).wsgi_request.user
    assert type(user) is User
    assert user.is_verified()  # type: ignore[attr-defined]  # set by the OTP middleware
    unverified = sign_in(Client(), world.clinician, verified=False)
    response = unverified.get(SECURITY)
    assert response.status_code == 302
    assert type(response.wsgi_request.user) is User
    assert not response.wsgi_request.user.is_verified()  # type: ignore[attr-defined]
