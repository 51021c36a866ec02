"""A new patient books a video visit from the public link on a phone, by keyboard and pointer,
and gets the confirmation page and an email with a parseable ICS."""

import re

import pytest
from django.core import mail
from icalendar import Calendar
from playwright.sync_api import expect

from intake import services as intake_services
from intake.models import Form
from scheduling.models import Appointment
from tests.e2e.conftest import DESKTOP, PHONE, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_new_patient_books_from_the_public_link(
    live_server, world, video_type, page_factory, viewport
):
    size = "phone" if viewport is PHONE else "desktop"
    intake_services.install_builtin(world.practice)
    Form.objects.get(practice=world.practice, slug="medical-history").appointment_types.add(
        video_type
    )
    page = page_factory(viewport)
    page.goto(f"{live_server.url}/book/alpha/?tz=America/New_York")
    expect(page.get_by_role("heading", name="Book a visit")).to_be_visible()
    screenshot(page, f"book-types-{size}")
    page.get_by_role("link", name=re.compile("Video visit")).click()
    expect(page.get_by_role("heading", name="Suggested times")).to_be_visible()
    screenshot(page, f"book-slots-{size}")
    page.get_by_role("list").filter(has=page.locator(".slot--suggested")).get_by_role(
        "link"
    ).first.click()
    expect(page.get_by_role("heading", name="3. Your details")).to_be_visible()
    page.get_by_label("Full legal name").fill("Nora New")
    page.get_by_label("Date of birth").fill("1990-05-04")
    page.get_by_label("Mobile phone").fill("(617) 555-0177")
    page.get_by_label("Email").fill("nora@example.com")
    state = page.get_by_label("State where you will be during the visit")
    state.select_option(label="Massachusetts")
    page.get_by_label("Reason for the visit").fill("Sore throat for three days")
    page.get_by_label(re.compile("Text me confirmations")).check()
    screenshot(page, f"book-details-{size}")
    page.get_by_role("button", name="Book this visit").click()
    expect(page.get_by_role("heading", name="Your appointment")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="booked")).to_be_visible()
    expect(page.get_by_role("heading", name="Forms waiting for you")).to_be_visible()
    expect(page.get_by_role("heading", name="How to join your video visit")).to_be_visible()
    screenshot(page, f"book-confirmed-{size}")
    appointment = Appointment.objects.get(patient__legal_name="Nora New")
    assert appointment.reason == "Sore throat for three days"
    assert len(mail.outbox) == 1
    ics = mail.outbox[0].attachments[0][1]
    event = Calendar.from_ical(ics).walk("VEVENT")[0]
    assert event.decoded("dtstart") == appointment.start
    assert page.csp_violations == []
    confirmation = page.url
    page.get_by_role("link", name="Fill in your forms").click()
    page.get_by_label("Date of birth").fill("1990-05-04")
    page.get_by_role("button", name="Open my forms").click()
    expect(page.get_by_role("heading", name="Before your visit")).to_be_visible()
    page.goto(confirmation)
    page.get_by_role("link", name="Open the join page").click()
    # Booked at least an hour ahead: the join page counts down to the waiting room.
    expect(page.get_by_role("heading", name="Your video visit")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("The waiting room opens")


def test_booking_form_works_by_keyboard_alone(live_server, world, video_type, page_factory):
    page = page_factory(DESKTOP)
    page.goto(f"{live_server.url}/book/alpha/?type=video&tz=America/New_York")
    first_slot = page.locator(".slot--suggested").first
    first_slot.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="3. Your details")).to_be_visible()
    page.get_by_label("Full legal name").focus()
    page.keyboard.type("Kay Board")
    page.keyboard.press("Tab")
    page.keyboard.type("02031985")  # a date input takes mm dd yyyy digits in en-US
    page.get_by_label("Mobile phone").focus()
    page.keyboard.type("6175550188")
    page.keyboard.press("Tab")
    page.keyboard.type("kay@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type("Massachusetts")  # type-ahead on the state names
    page.get_by_role("button", name="Book this visit").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your appointment")).to_be_visible()
    assert Appointment.objects.filter(patient__legal_name="Kay Board").exists()


def test_staff_schedule_renders(live_server, world, video_type, page_factory):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from scheduling import services
    from scheduling.models import BookedVia
    from tests.conftest import PASSWORD, current_totp
    from tests.scheduling.conftest import local

    services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(1, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    page = page_factory(DESKTOP)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill("desk@alpha.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Verification code").fill(
        current_totp(TOTPDevice.objects.get(user=world.front_desk))
    )
    page.get_by_role("button", name="Verify").click()
    page.goto(f"{live_server.url}/scheduling/?day={local(1, 10).date().isoformat()}")
    expect(page.get_by_role("cell", name="Pat Alpha", exact=True)).to_be_visible()
    screenshot(page, "schedule-desktop")
    page.get_by_role("button", name="Check in").click()
    expect(page.get_by_text("Checked in")).to_be_visible()
    page.goto(f"{live_server.url}/patients/{world.other_patient.pk}/")
    page.get_by_role("link", name="Book an appointment").click()
    page.get_by_role("link", name=re.compile("Video visit")).click()
    page.get_by_role("button", name=re.compile("Dr Alpha")).first.click()
    expect(page.get_by_role("status")).to_contain_text("Booked.")
    expect(page.get_by_role("cell", name="Other Alpha", exact=True)).to_be_visible()
    screenshot(page, "schedule-after-staff-booking-desktop")
