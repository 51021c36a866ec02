"""Journeys in a real browser: keyboard sign-in with TOTP, role landing pages, the patient
chart, Spanish for a patient who prefers it, and no CSP violations on the way."""

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from tests.conftest import PASSWORD, current_totp
from tests.e2e.conftest import DESKTOP, PHONE, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in_by_keyboard(page, base: str, email: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_clinician_signs_in_with_totp_and_opens_a_chart(live_server, world, page_factory, viewport):
    page = page_factory(viewport)
    size = "phone" if viewport is PHONE else "desktop"
    page.goto(f"{live_server.url}/accounts/login/")
    screenshot(page, f"login-{size}")
    sign_in_by_keyboard(page, live_server.url, "doc@alpha.test")
    expect(page.get_by_role("heading", name="Enter your verification code")).to_be_visible()
    screenshot(page, f"mfa-verify-{size}")
    device = TOTPDevice.objects.get(user=world.clinician)
    page.get_by_label("Verification code").fill(current_totp(device))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Today", exact=True)).to_be_visible()
    screenshot(page, f"home-clinician-{size}")
    page.get_by_role("link", name="Patients", exact=True).click()
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    screenshot(page, f"patients-{size}")
    page.get_by_role("link", name="Pat Alpha").click()
    expect(page.get_by_role("heading", name=re.compile("Pat Alpha"))).to_be_visible()
    expect(page.get_by_text("(617) 555-0123")).to_be_visible()
    screenshot(page, f"chart-{size}")
    assert page.csp_violations == []


def test_new_staff_member_enrols_totp_in_the_browser(live_server, world, page_factory):
    from telehealth.accounts.models import Role
    from tests.conftest import make_staff

    nurse = make_staff(
        world.practice, Role.FRONT_DESK, "nurse@alpha.test", "Nia Nurse", enrol=False
    )
    page = page_factory(PHONE)
    sign_in_by_keyboard(page, live_server.url, nurse.email)
    expect(page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    screenshot(page, "mfa-setup-phone")
    device = TOTPDevice.objects.get(user=nurse, confirmed=False)
    page.get_by_label("Verification code").fill(current_totp(device))
    page.get_by_role("button", name="Verify and turn on").click()
    expect(page.get_by_role("heading", name="Save your backup codes")).to_be_visible()
    expect(page.get_by_role("list", name="Backup codes").get_by_role("listitem")).to_have_count(10)
    screenshot(page, "backup-codes-phone")
    page.get_by_role("link", name="I have saved them").click()
    expect(page.get_by_role("heading", name="Front desk")).to_be_visible()
    assert page.csp_violations == []


def test_spanish_patient_gets_a_spanish_portal(live_server, world, page_factory):
    world.patient.preferred_language = "es"
    world.patient.save(update_fields=["preferred_language"])
    page = page_factory(PHONE, locale="en-US")
    sign_in_by_keyboard(page, live_server.url, "pat@alpha.test")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pat")
    screenshot(page, "home-patient-es-phone")
    assert page.csp_violations == []


def test_wrong_password_shows_an_error_tied_to_the_form(live_server, world, page_factory):
    page = page_factory(DESKTOP)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill("doc@alpha.test")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    screenshot(page, "login-error-desktop")


def test_admin_pages_render(live_server, world, page_factory):
    page = page_factory(DESKTOP)
    sign_in_by_keyboard(page, live_server.url, "admin@alpha.test")
    device = TOTPDevice.objects.get(user=world.admin)
    page.get_by_label("Verification code").fill(current_totp(device))
    page.get_by_label("Verification code").press("Enter")
    expect(page.get_by_role("heading", name="Practice administration")).to_be_visible()
    screenshot(page, "home-admin-desktop")
    page.goto(f"{live_server.url}/patients/{world.patient.pk}/audit/")
    expect(page.get_by_role("table")).to_be_visible()
    screenshot(page, "audit-trail-desktop")
    assert page.csp_violations == []
