"""A new patient books from the public link, asks the confirmation page to email them a link
to create their portal account, opens the invitation from that email (date of birth, then a
password the validators accept), lands signed in on the patient home, finds the visit under
"My appointments", and signs in again later with the new password. Front desk sends the
invitation from a chart."""

import re

import pytest
from django.core import mail
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from scheduling.models import Appointment
from telehealth.accounts.models import Role, User
from telehealth.notify.models import OutboundMessage
from tests.conftest import PASSWORD, current_totp, make_patient
from tests.e2e.conftest import DESKTOP, PHONE, screenshot

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "lantern orchard velvet 42"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_set_a_password_from_the_confirmation_page(
    live_server, world, video_type, page_factory, viewport
):
    size = "phone" if viewport is PHONE else "desktop"
    page = page_factory(viewport)
    page.goto(f"{live_server.url}/book/alpha/?tz=America/New_York")
    page.get_by_role("link", name=re.compile("Video visit")).click()
    page.get_by_role("list").filter(has=page.locator(".slot--suggested")).get_by_role(
        "link"
    ).first.click()
    page.get_by_label("Full legal name").fill("Nora New")
    page.get_by_label("Date of birth").fill("1990-05-04")
    page.get_by_label("Mobile phone").fill("(617) 555-0177")
    page.get_by_label("Email").fill("nora@example.com")
    page.get_by_label("State where you will be during the visit").select_option("MA")
    page.get_by_role("button", name="Book this visit").click()
    expect(page.get_by_role("heading", name="Your appointment")).to_be_visible()

    # The confirmation page offers the account and says what it gives, but carries no
    # invitation: it emails one to the address on the record, shown only masked.
    offer = page.get_by_role("region", name="Create your account")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("message your care team")
    expect(offer).to_contain_text("see a clinician now")
    expect(offer).to_contain_text("n•••@example.com")
    expect(offer.get_by_role("link")).to_have_count(0)
    screenshot(page, f"account-confirmation-{size}")
    offer.get_by_role("button", name="Email me a link to create my account").click()
    expect(
        page.get_by_role("status").filter(
            has_text="We emailed a link to create your account to n•••@example.com"
        )
    ).to_be_visible()
    offer = page.get_by_role("region", name="Create your account")
    expect(offer).to_contain_text("We emailed a link to create your account to n•••@example.com")
    expect(offer.get_by_role("button", name="Email me a link to create my account")).to_have_count(
        0
    )
    assert "nora@example.com" not in page.content()
    screenshot(page, f"account-confirmation-sent-{size}")

    # The invitation arrives at the record's email; its link opens the invitation.
    [sent] = [m for m in mail.outbox if m.subject.startswith("Create your patient account")]
    assert sent.to == ["nora@example.com"]
    found = re.search(r"https?://\S+?(/accounts/invitation/\S+/)", str(sent.body))
    assert found, sent.body
    page.goto(live_server.url + found.group(1))

    # Date of birth first: a wrong one is refused, the right one opens the password form.
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    invitation = page.url
    screenshot(page, f"account-date-of-birth-{size}")
    page.get_by_label("Your date of birth").fill("1990-05-05")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("That date of birth does not match our records.")).to_be_visible()
    page.get_by_label("Your date of birth").fill("1990-05-04")
    page.get_by_role("button", name="Continue").click()

    # The email is the sign-in name; a weak password gets the validator's own words.
    email = page.get_by_label("Email (your sign-in name)")
    expect(email).to_have_value("nora@example.com")
    expect(email).not_to_be_editable()
    page.get_by_label("Password", exact=True).fill("password")
    page.get_by_label("Confirm password").fill("password")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_text("This password is too short.")).to_be_visible()
    expect(page.get_by_text("This password is too common.")).to_be_visible()
    screenshot(page, f"account-weak-password-{size}")
    assert not User.objects.with_email("nora@example.com").exists()
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Create my account").click()

    # Signed in at once, on the patient home; the booked visit is under "My appointments".
    expect(page.get_by_role("heading", name="Welcome, Nora")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Your account is ready")).to_be_visible()
    screenshot(page, f"account-home-{size}")
    appointment = Appointment.objects.get(patient__legal_name="Nora New")
    assert appointment.patient.user is not None
    assert appointment.patient.user.role == Role.PATIENT
    page.get_by_role("link", name="My appointments").click()
    expect(page.get_by_role("heading", name="My appointments")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="Video visit · Dr Alpha")).to_be_visible()

    # The invitation worked once: opened again, it says so and offers sign-in.
    page.goto(invitation)
    expect(
        page.get_by_role("heading", name="This invitation was already used or has expired")
    ).to_be_visible()
    screenshot(page, f"account-invitation-used-{size}")

    # Later: sign out, and sign in again with the new password.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.get_by_label("Email").fill("nora@example.com")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Welcome, Nora")).to_be_visible()

    # With an account, the appointment page offers none.
    page.goto(f"{live_server.url}/scheduling/mine/")
    page.get_by_role("link", name="Reschedule or cancel").click()
    expect(page.get_by_role("heading", name="Your appointment")).to_be_visible()
    expect(page.get_by_role("region", name="Create your account")).to_have_count(0)
    assert page.csp_violations == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_front_desk_sends_an_account_invitation_from_the_chart(
    live_server, world, page_factory, viewport
):
    size = "phone" if viewport is PHONE else "desktop"
    patient = make_patient(world.practice, "Nina Newcomer", "nina@example.com", login=False)
    page = page_factory(viewport)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill("desk@alpha.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Verification code").fill(
        current_totp(TOTPDevice.objects.get(user=world.front_desk))
    )
    page.get_by_role("button", name="Verify").click()
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    account = page.get_by_role("region", name="Portal account")
    expect(account).to_contain_text("No portal account yet")
    screenshot(page, f"account-chart-{size}")
    account.get_by_role("button", name="Email an account invitation").click()
    expect(page.get_by_role("status").filter(has_text="Invitation sent by email.")).to_be_visible()
    screenshot(page, f"account-chart-sent-{size}")
    sent = OutboundMessage.objects.get(template="account.invitation")
    assert sent.channel == "email"
    assert "/accounts/invitation/" in sent.body
    assert page.csp_violations == []
