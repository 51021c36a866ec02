"""The per-account sign-in lock: many addresses cannot share out the guesses, the lock grows
with each round, and the account's own addresses keep working."""

import itertools
import threading
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from tests.conftest import PASSWORD

LOGIN = "/accounts/login/"
WRONG = "not the password at all"
_addresses = (f"198.51.{i // 250}.{i % 250 + 1}" for i in itertools.count())


def new_address() -> str:
    """An address nobody has used yet in this test run."""
    return next(_addresses)


def attempt(client: Client, email: str, password: str = WRONG, *, ip: str | None = None):
    return client.post(
        LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip or new_address()
    )


def fail_from_many_addresses(email: str, failures: int, *, per_address: int = 4) -> None:
    """`failures` wrong passwords, `per_address` from each address (below axes' limit)."""
    while failures > 0:
        ip = new_address()
        for _ in range(min(per_address, failures)):
            assert attempt(Client(), email, ip=ip).status_code == 200
            failures -= 1


def signs_in(email: str, *, ip: str | None = None) -> bool:
    client = Client()
    response = attempt(client, email, PASSWORD, ip=ip)
    return response.status_code == 302 and SESSION_KEY in client.session


def end_the_lock(user) -> None:
    """Time passing: the current lock is over."""
    from telehealth.accounts.models import SignInBackoff

    SignInBackoff.objects.filter(user=user).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )


def retry_after(email: str) -> int:
    response = attempt(Client(), email, PASSWORD)
    assert response.status_code == 429
    return int(response["Retry-After"])


def test_four_tries_from_each_of_ten_addresses_lock_the_account(world):
    email = world.patient.user.email
    for _ in range(10):
        ip = new_address()
        for _ in range(4):
            attempt(Client(), email, ip=ip)
    assert not signs_in(email), "the right password from an eleventh address got in"


def test_the_lock_starts_at_five_minutes_and_doubles_up_to_an_hour(world):
    email = world.front_desk.email
    fail_from_many_addresses(email, 20)
    assert 290 <= retry_after(email) <= 300
    for expected_minutes in (10, 20, 40, 60, 60):
        end_the_lock(world.front_desk)
        assert attempt(Client(), email).status_code == 200  # one more guess, then locked again
        assert expected_minutes * 60 - 10 <= retry_after(email) <= expected_minutes * 60


def test_an_address_the_user_signed_in_from_is_spared_the_lock(world):
    email = world.patient.user.email
    home = new_address()
    assert signs_in(email, ip=home)
    fail_from_many_addresses(email, 20)
    assert not signs_in(email)
    assert signs_in(email, ip=home)


def test_an_address_last_used_long_ago_is_not_spared(world):
    from telehealth.accounts.models import SignInAddress

    email = world.patient.user.email
    old_home = new_address()
    assert signs_in(email, ip=old_home)
    SignInAddress.objects.filter(user=world.patient.user).update(
        last_success_at=timezone.now() - timedelta(days=91)
    )
    fail_from_many_addresses(email, 20)
    assert not signs_in(email, ip=old_home)


def test_a_successful_sign_in_starts_the_count_again(world):
    email = world.clinician.email
    fail_from_many_addresses(email, 19)
    assert signs_in(email)
    fail_from_many_addresses(email, 19)
    assert attempt(Client(), email).status_code == 200  # the 20th since the sign-in
    assert attempt(Client(), email, PASSWORD).status_code == 429


def test_a_password_reset_lifts_the_account_lock(world):
    email = world.patient.user.email
    fail_from_many_addresses(email, 20)
    assert not signs_in(email)
    client = Client()
    client.post("/accounts/password-reset/", {"email": email})
    link = next(line for line in mail.outbox[-1].body.splitlines() if "/password-reset/" in line)
    form = client.get(link.split("testserver", 1)[1].strip(), follow=True)
    new_password = "a brand new passphrase 42"
    client.post(
        form.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password}
    )
    response = attempt(Client(), email, new_password)
    assert response.status_code == 302


def test_a_locked_account_is_told_when_to_try_again(world):
    email = world.patient.user.email
    fail_from_many_addresses(email, 20)
    response = attempt(Client(), email, PASSWORD)
    assert response.status_code == 429
    assert "Try again in 5 minutes." in response.content.decode()
    assert SESSION_KEY not in response.wsgi_request.session


def test_an_address_locked_by_axes_is_told_when_to_try_again(world):
    email = world.patient.user.email
    ip = new_address()
    for _ in range(5):
        last = attempt(Client(), email, ip=ip)
    assert last.status_code == 429
    assert "Try again in 30 minutes." in last.content.decode()
    again = attempt(Client(), email, PASSWORD, ip=ip)
    assert again.status_code == 429
    assert "Try again in 30 minutes." in again.content.decode()


def test_failures_for_an_unknown_email_lock_nothing(world):
    fail_from_many_addresses("nobody@alpha.test", 30)
    assert signs_in(world.patient.user.email)


@pytest.mark.django_db(transaction=True)
def test_parallel_failures_are_each_counted_once(require_postgres, world):
    """Twenty wrong passwords at once, each on its own connection and address: exactly twenty
    are counted and exactly one lock is set."""
    from telehealth.accounts.models import SignInBackoff

    email = world.front_desk.email
    addresses = [new_address() for _ in range(20)]
    barrier = threading.Barrier(len(addresses))
    statuses: list[object] = []
    lock = threading.Lock()

    def guess(ip: str) -> None:
        try:
            barrier.wait()
            result: object = attempt(Client(), email, ip=ip).status_code
        except Exception as exc:  # anything else is a failure the assertions will show
            result = repr(exc)
        finally:
            connection.close()
        with lock:
            statuses.append(result)

    threads = [threading.Thread(target=guess, args=(ip,)) for ip in addresses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 20
    backoff = SignInBackoff.objects.get(user=world.front_desk)
    assert (backoff.failures, backoff.locks) == (20, 1)
    assert not signs_in(email)
