"""A user's email is stored encrypted; sign-in, matching, uniqueness and the admin all go
through its blind index."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from telehealth.accounts.models import Role, User
from telehealth.audit.models import Action, AuditEvent
from telehealth.crypto.keys import blind_index
from tests.conftest import PASSWORD, sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


LOGIN = reverse("accounts:login")


def email_index(email: str) -> str:
    return blind_index(email.strip().lower())


def stored_email(user: User) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT email FROM accounts_user WHERE id = %s", [user.pk])
        return cursor.fetchone()[0]


def test_the_email_is_ciphertext_in_the_database(world):
    raw = stored_email(world.clinician)
    assert raw.startswith("gAAAA") and "alpha" not in raw
    assert User.objects.get(pk=world.clinician.pk).email == "doc@alpha.test"


def test_sign_in_by_email_in_any_case(client, world):
    response = client.post(LOGIN, {"username": "  Doc@ALPHA.test", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(world.clinician.pk)


def test_matching_ignores_case_and_surrounding_spaces(world):
    assert User.objects.with_email(" PAT@Alpha.Test ").get() == world.patient.user
    assert User.objects.get_by_natural_key("DOC@alpha.test") == world.clinician
    assert not User.objects.with_email("nobody@alpha.test").exists()


def test_a_second_account_with_the_same_email_in_other_case_is_refused(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="DOC@Alpha.Test", full_name="Copy", role=Role.CLINICIAN)


def test_changing_the_email_moves_the_index(world):
    world.front_desk.email = "front@alpha.test"
    world.front_desk.save(update_fields=["email"])
    assert User.objects.with_email("FRONT@alpha.test").get() == world.front_desk
    assert not User.objects.with_email("desk@alpha.test").exists()


def test_password_reset_finds_the_account_by_email(
    client, world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:password-reset"), {"email": "Desk@Alpha.test"})
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["desk@alpha.test"]]


def test_admin_finds_a_user_by_email_in_the_list_and_the_lookup_popup(client, world):
    sign_in(client, world.admin)
    listed = client.get("/admin/accounts/user/", {"q": "Doc@Alpha.test"})
    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == [world.clinician]
    popup = client.get("/admin/accounts/user/", {"q": "doc@alpha.test", "_popup": 1})
    assert list(popup.context["cl"].result_list) == [world.clinician]
    by_name = client.get("/admin/accounts/user/", {"q": "Dr Second"})
    assert list(by_name.context["cl"].result_list) == [world.other_clinician]
    outsider = client.get("/admin/accounts/user/", {"q": "doc@beta.test"})
    assert list(outsider.context["cl"].result_list) == []
    change = client.get(f"/admin/accounts/user/{world.clinician.pk}/change/")
    assert change.status_code == 200
    assert b'type="email" name="email" value="doc@alpha.test"' in change.content


def test_admin_refuses_a_taken_email_with_a_message(client, world):
    sign_in(client, world.admin)
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "DOC@alpha.test",
            "full_name": "Copy",
            "role": Role.CLINICIAN,
            "password1": "a long unusual passphrase 42",
            "password2": "a long unusual passphrase 42",
            "usable_password": "true",
        },
    )
    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    assert User.objects.with_email("doc@alpha.test").count() == 1


def test_admin_adds_a_user_who_can_then_sign_in(client, world):
    sign_in(client, world.admin)
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "New.Nurse@Alpha.test",
            "full_name": "New Nurse",
            "role": Role.FRONT_DESK,
            "password1": "a long unusual passphrase 42",
            "password2": "a long unusual passphrase 42",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    added = User.objects.with_email("new.nurse@alpha.test").get()
    assert added.email == "new.nurse@alpha.test"


def test_the_lockout_and_the_audit_trail_hold_no_email(client, world):
    client.post(LOGIN, {"username": "doc@alpha.test", "password": "wrong"})
    client.post(LOGIN, {"username": "ghost@alpha.test", "password": "wrong"})
    client.post(LOGIN, {"username": "doc@alpha.test", "password": PASSWORD})
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {
        email_index("ghost@alpha.test")
    }
    labels = set(
        AuditEvent.objects.filter(action__in=[Action.LOGIN, Action.LOGIN_FAILED]).values_list(
            "actor_label", flat=True
        )
    )
    assert labels == {
        f"user #{world.clinician.pk} (clinician)",
        f"unknown email {email_index('ghost@alpha.test')}",
    }
    assert not any(
        "@" in label for label in AuditEvent.objects.values_list("actor_label", flat=True)
    )
