import time
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from telehealth.accounts.models import Role
from telehealth.accounts.policy import AUTHENTICATED_AT_KEY, LAST_SEEN_KEY
from telehealth.audit.models import Action, AuditEvent
from tests.conftest import PASSWORD, current_totp, make_staff, sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


LOGIN = "/accounts/login/"


def post_login(client, email, password=PASSWORD):
    return client.post(LOGIN, {"username": email, "password": password})


def test_staff_login_then_totp_reaches_patient_list(client, world):
    response = post_login(client, "DOC@alpha.test")
    assert response.status_code == 302
    response = client.get(reverse("accounts:patient-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:mfa-verify"))
    device = TOTPDevice.objects.get(user=world.clinician)
    response = client.post(
        reverse("accounts:mfa-verify"), {"token": current_totp(device), "next": "/patients/"}
    )
    assert response["Location"] == "/patients/"
    assert client.get("/patients/").status_code == 200


def test_login_issues_a_new_session_id(client, world):
    client.get(LOGIN)
    client.session.save()
    before = client.session.session_key
    post_login(client, "desk@alpha.test")
    assert client.session.session_key != before
    assert client.session[SESSION_KEY] == str(world.front_desk.pk)


def test_staff_without_a_device_must_enrol_before_any_phi(client, world):
    nurse = make_staff(world.practice, Role.CLINICIAN, "new@alpha.test", "New", enrol=False)
    post_login(client, nurse.email)
    for path in ["/", "/patients/", f"/patients/{world.patient.pk}/", "/admin/"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(reverse("accounts:mfa-setup")), path
    assert client.get("/api/v1/me").status_code == 403


def test_enrolment_with_a_real_code_turns_on_mfa_and_shows_backup_codes(client, world):
    nurse = make_staff(world.practice, Role.FRONT_DESK, "new@alpha.test", "New", enrol=False)
    post_login(client, nurse.email)
    page = client.get(reverse("accounts:mfa-setup"))
    assert page.status_code == 200
    assert b"data:image/svg+xml" in page.content
    device = TOTPDevice.objects.get(user=nurse, confirmed=False)
    bad = client.post(reverse("accounts:mfa-setup"), {"token": "000000"})
    assert b"did not match" in bad.content
    assert AuditEvent.objects.filter(actor=nurse, action=Action.MFA_FAILED).exists()
    time.sleep(1.1)  # django-otp throttles: one second after the first failure
    done = client.post(reverse("accounts:mfa-setup"), {"token": current_totp(device)})
    assert done.status_code == 200
    assert len(done.context["codes"]) == 10
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/patients/").status_code == 200


def test_wrong_code_is_refused_and_audited(client, world):
    post_login(client, "admin@alpha.test")
    response = client.post(reverse("accounts:mfa-verify"), {"token": "123456"})
    assert response.status_code == 200
    assert b"did not match" in response.content
    assert AuditEvent.objects.filter(actor=world.admin, action=Action.MFA_FAILED).count() == 1
    assert client.get("/patients/").status_code == 302


def test_a_backup_code_works_once(client, world):
    sign_in(client, world.admin)
    codes = client.post(reverse("accounts:security"), {"action": "regenerate"}).context["codes"]
    first = Client()
    post_login(first, "admin@alpha.test")
    assert first.post(reverse("accounts:mfa-verify"), {"token": codes[0]}).status_code == 302
    assert first.get("/patients/").status_code == 200
    second = Client()
    post_login(second, "admin@alpha.test")
    second.post(reverse("accounts:mfa-verify"), {"token": codes[0]})
    assert second.get("/patients/").status_code == 302
    assert StaticToken.objects.filter(device__user=world.admin).count() == 9


def test_changing_mfa_ends_the_users_other_sessions(world):
    laptop, phone = Client(), Client()
    sign_in(laptop, world.admin)
    sign_in(phone, world.admin)
    assert phone.get("/patients/").status_code == 200
    assert laptop.post(reverse("accounts:security"), {"action": "regenerate"}).status_code == 200
    assert laptop.get("/patients/").status_code == 200  # the session that made the change
    response = phone.get("/patients/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_password_reset_never_signs_in_and_mfa_still_applies(client, world):
    client.post(reverse("accounts:password-reset"), {"email": "doc@alpha.test"})
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/password-reset/" in line)
    path = link.split("testserver", 1)[1].strip()
    form = client.get(path, follow=True)
    new_password = "a brand new passphrase 42"
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password}
    )
    assert done.status_code == 302
    assert SESSION_KEY not in client.session
    post_login(client, "doc@alpha.test", new_password)
    response = client.get("/patients/")
    assert response["Location"].startswith(reverse("accounts:mfa-verify"))


def test_patient_without_mfa_signs_in_with_password_only(client, world):
    post_login(client, "pat@alpha.test")
    response = client.get("/")
    assert response.status_code == 200
    assert b"Pat" in response.content


@override_settings(AXES_FAILURE_LIMIT=5)
def test_five_failures_lock_the_account_even_with_the_right_password(client, world):
    for _ in range(5):
        response = post_login(client, "doc@alpha.test", "wrong password")
    assert response.status_code in (200, 429)
    response = post_login(client, "doc@alpha.test")
    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    assert SESSION_KEY not in client.session
    failures = AuditEvent.objects.filter(
        action=Action.LOGIN_FAILED, actor_label=world.clinician.audit_label
    )
    assert failures.count() >= 5


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"username": "not-an-email", "password": "x"},
        {"username": "a" * 5000 + "@x.test", "password": "x"},
        {"username": "doc@alpha.test", "password": "p" * 10000},
        {"username": ["a", "b"], "password": "x"},
    ],
)
def test_malformed_login_gets_a_clear_error_not_a_500(client, world, data):
    response = client.post(LOGIN, data)
    assert response.status_code == 200
    assert response.context["form"].errors
    assert SESSION_KEY not in client.session


def age_session(client, *, idle: int = 0, since_login: int = 0):
    session = client.session
    now = int(time.time())
    session[LAST_SEEN_KEY] = now - idle
    session[AUTHENTICATED_AT_KEY] = now - since_login
    session.save()


def test_staff_session_ends_after_fifteen_idle_minutes(client, world):
    sign_in(client, world.front_desk)
    age_session(client, idle=14 * 60, since_login=14 * 60)
    assert client.get("/patients/").status_code == 200
    age_session(client, idle=15 * 60 + 5, since_login=20 * 60)
    response = client.get("/patients/")
    assert response["Location"].startswith(LOGIN)
    assert SESSION_KEY not in client.session


def test_patient_session_lasts_thirty_idle_minutes(client, world):
    sign_in(client, world.patient.user)
    age_session(client, idle=29 * 60, since_login=29 * 60)
    assert client.get("/").status_code == 200
    age_session(client, idle=31 * 60, since_login=40 * 60)
    assert client.get("/")["Location"].startswith(LOGIN)


def test_absolute_timeout_ends_even_an_active_session(client, world):
    sign_in(client, world.patient.user)
    age_session(client, idle=5, since_login=12 * 3600 + 1)
    assert client.get("/")["Location"].startswith(LOGIN)


def test_api_answers_401_when_the_session_has_ended(client, world):
    sign_in(client, world.clinician)
    age_session(client, idle=3600, since_login=3600)
    assert client.get("/api/v1/me").status_code == 401


def test_keepalive_counts_as_activity(client, world):
    sign_in(client, world.clinician)
    age_session(client, idle=10 * 60, since_login=10 * 60)
    assert client.post(reverse("accounts:keepalive")).status_code == 200
    assert time.time() - client.session[LAST_SEEN_KEY] < 5


def test_phi_pages_are_not_stored_by_caches(client, world):
    sign_in(client, world.front_desk)
    response = client.get(f"/patients/{world.patient.pk}/")
    assert "no-store" in response["Cache-Control"]
    api = client.get(f"/api/v1/patients/{world.patient.pk}")
    assert "no-store" in api["Cache-Control"]


def test_admin_site_sits_behind_mfa(client, world):
    world.admin.refresh_from_db()
    assert world.admin.is_staff
    sign_in(client, world.admin, verified=False)
    assert client.get("/admin/")["Location"].startswith(reverse("accounts:mfa-verify"))
    sign_in(client, world.admin)
    assert client.get("/admin/").status_code == 200


def test_front_desk_sees_demographics_but_no_clinical_sections(client, world):
    sign_in(client, world.front_desk)
    page = client.get(f"/patients/{world.patient.pk}/").content.decode()
    assert "(617) 555-0123" in page  # the stored +16175550123, shown in national format
    # Sections from the apps above the core decide for themselves: tests/visits checks that
    # the front desk sees when visits happened but never the state of a clinical note.
    assert "Note signed" not in page and "Note to sign" not in page


def test_login_and_logout_are_audited(client, world):
    post_login(client, "pat@alpha.test")
    client.post(reverse("accounts:logout"))
    actions = list(
        AuditEvent.objects.filter(actor=world.patient.user).values_list("action", flat=True)
    )
    assert actions == [Action.LOGIN, Action.LOGOUT]
    last = AuditEvent.objects.last()
    assert last is not None and timezone.now() - last.occurred_at < timedelta(seconds=10)


def test_a_password_reset_ends_every_other_session(world):
    other = Client()
    sign_in(other, world.front_desk)
    assert other.get("/patients/").status_code == 200
    world.front_desk.set_password("another long passphrase 7")
    world.front_desk.save(update_fields=["password"])
    assert other.get("/patients/")["Location"].startswith(LOGIN)


def test_practice_admin_configures_providers_but_cannot_make_a_superuser(client, world):
    sign_in(client, world.admin)
    assert client.get("/admin/accounts/provider/").status_code == 200
    page = client.get(f"/admin/accounts/user/{world.front_desk.pk}/change/")
    assert page.status_code == 200
    assert b'name="is_superuser"' not in page.content
    # Users of another practice are not even listed.
    assert (
        client.get(f"/admin/accounts/user/{world.outside_clinician.pk}/change/").status_code == 302
    )
