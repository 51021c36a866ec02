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
    settings.SESSION_ENGINE = "telehealth.accounts.sessions"
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


# ------------------------------------------------------------------- round trips to the cache

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        "KEY_PREFIX": "telehealth",
    }
}
# Every method of Django's cache API that talks to the store; with Redis each call is one
# round trip (get_many is one MGET, set_many one pipeline).
CACHE_CALLS = ("get", "get_many", "set", "set_many", "add", "delete", "delete_many", "has_key")


@pytest.fixture
def cache_calls(monkeypatch) -> list[tuple[str, tuple]]:
    """The calls to the shared cache from here on: (method, positional arguments)."""
    from django.core.cache import caches

    calls: list[tuple[str, tuple]] = []
    inside = [0]  # the local-memory cache's get_many calls its own get: count the outer call
    backend = caches["default"]
    for name in CACHE_CALLS:
        method = getattr(backend, name)

        def counted(*args, _name=name, _method=method, **kwargs):
            if not inside[0]:
                calls.append((_name, args))
            inside[0] += 1
            try:
                return _method(*args, **kwargs)
            finally:
                inside[0] -= 1

        monkeypatch.setattr(backend, name, counted)
    return calls


@pytest.fixture
def redis_commands(monkeypatch, require_redis) -> list[tuple]:
    """Every command sent to Redis from here on, as sent; a pipeline counts as one entry."""
    import redis
    from redis.client import Pipeline

    sent: list[tuple] = []
    execute_command = redis.Redis.execute_command
    execute_pipeline = Pipeline.execute

    def command(self, *args, **options):
        sent.append(args)
        return execute_command(self, *args, **options)

    def pipeline(self, *args, **kwargs):
        sent.append(("PIPELINE", *(c[0][0] for c in self.command_stack)))
        return execute_pipeline(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", command)
    monkeypatch.setattr(Pipeline, "execute", pipeline)
    return sent


@pytest.mark.parametrize("role", ["clinician", "patient"])
def test_a_warm_signed_in_request_reads_the_cache_once(client, world, role, cache_calls):
    """The session and the user's snapshot tokens in one read, and nothing written."""
    sign_in(client, world.patient.user if role == "patient" else world.clinician)
    warm(client)
    cache_calls.clear()
    assert client.get(SECURITY).status_code == 200
    assert [name for name, _ in cache_calls] == ["get_many"]
    keys = cache_calls[0][1][0]
    user = world.patient.user if role == "patient" else world.clinician
    assert any(key.endswith(client.cookies[settings.SESSION_COOKIE_NAME].value) for key in keys)
    assert f"session-user:{user.pk}" in keys


def test_a_warm_signed_in_request_sends_one_command_to_redis(client, world, redis_commands):
    """Counted on the wire: one MGET of the session and the tokens, no other command."""
    sign_in(client, world.clinician)
    warm(client)
    redis_commands.clear()
    assert client.get(SECURITY).status_code == 200
    assert [args[0] for args in redis_commands] == ["MGET"]
    assert len(redis_commands[0]) == 4  # MGET session user-token practices-token


def test_a_process_that_has_not_read_the_session_reads_the_tokens_after_it(
    client, world, cache_calls
):
    """Another worker's first request with this session: the user id is only known once the
    session is read, so the tokens come in a second read; the request after that is warm."""
    from telehealth.accounts import sessions

    sign_in(client, world.clinician)
    warm(client)
    sessions._users.clear()  # as in a process that never saw this session
    cache_calls.clear()
    assert client.get(SECURITY).status_code == 200
    assert [name for name, _ in cache_calls] == ["get_many", "get_many"]
    cache_calls.clear()
    assert client.get(SECURITY).status_code == 200
    assert [name for name, _ in cache_calls] == ["get_many"]


def test_tokens_read_for_another_user_are_not_used(client, world, cache_calls):
    """The store's guess of whose session it reads is wrong (it remembered another user): the
    tokens read with the session are not this user's, so theirs are read, and a change to this
    user still shows at once."""
    from telehealth.accounts import sessions

    sign_in(client, world.front_desk)
    warm(client)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    sessions._users[key] = world.clinician.pk
    user = User.objects.get(pk=world.front_desk.pk)
    user.is_active = False
    user.save(update_fields=["is_active"])
    cache_calls.clear()
    assert sent_to_login(client.get(SECURITY))
    assert [name for name, _ in cache_calls][:2] == ["get_many", "get_many"]


def test_the_tokens_read_with_the_session_go_stale_with_it(world):
    """The tokens come with the session in one read, so a change saved after a warm request is
    seen by the next one (nothing is carried over from one request to the next)."""
    session = warm(sign_in(Client(), world.clinician))
    user = User.objects.get(pk=world.clinician.pk)
    user.set_password("another long passphrase 7")
    user.save(update_fields=["password"])
    assert sent_to_login(session.get(SECURITY))
    assert sent_to_login(session.get(SECURITY))


def test_with_redis_unreachable_a_signed_in_request_is_served_from_the_database(client, world):
    """Redis goes away: the session and the user are read from the database (no 500, and no
    second wait on Redis for the user), and a change saved meanwhile shows on the next request."""
    from django.test import override_settings

    sign_in(client, world.clinician)
    warm(client)
    with override_settings(CACHES=UNREACHABLE_REDIS):
        response = client.get(SECURITY)
        assert response.status_code == 200
        assert response.wsgi_request.user.pk == world.clinician.pk
        user = User.objects.get(pk=world.clinician.pk)
        user.is_active = False
        user.save(update_fields=["is_active"])  # no exception
        assert sent_to_login(client.get(SECURITY))


def test_with_redis_unreachable_a_new_session_key_is_checked_in_the_database(world):
    """Creating a session asks whether a key is taken: the database answers when Redis cannot."""
    from django.test import override_settings

    from telehealth.accounts.sessions import SessionStore

    taken = SessionStore()
    taken.create()
    assert taken.session_key is not None
    with override_settings(CACHES=UNREACHABLE_REDIS):
        store = SessionStore()
        assert store.exists(taken.session_key)
        assert not store.exists("k" * 32)
