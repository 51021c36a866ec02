"""The join link from booking to the waiting room, in Chromium against the real ASGI app.

A patient without text consent books a video visit minutes away on the public page; the
confirmation email carries the join link; following it, they pass the date-of-birth check and
reach the waiting room. Before the room opens the same link counts down, then moves on by
itself. Screens of the pages that show the join link, at phone and desktop widths."""

import re
from datetime import datetime, time, timedelta
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from scheduling.links import WAITING_ROOM_OPENS
from scheduling.models import Appointment, AvailabilityRule, ReminderRule
from scheduling.reminders import context_for
from telehealth.notify.models import OutboundMessage
from tests.asgi_server import AsgiServer
from tests.conftest import sign_in
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.scheduling.conftest import video_visit_at as appointment_at

pytestmark = pytest.mark.django_db(transaction=True)

JOIN_LINK = re.compile(r"https?://\S+?(/visit/[^/\s]+/)")
SIZES = {"phone": PHONE, "desktop": DESKTOP}


def open_from_now(video_type) -> None:
    """The provider's only hours today start three minutes from now, and booking needs one
    minute's notice: the first open time is minutes away."""
    provider = video_type.providers.get()
    zone = ZoneInfo(provider.time_zone)  # weekly hours are wall-clock times in it
    first = timezone.localtime(timezone.now() + timedelta(minutes=3), zone)
    first = first.replace(second=0, microsecond=0)
    last = min(
        first + timedelta(hours=2), datetime.combine(first.date(), time(23, 59), first.tzinfo)
    )
    AvailabilityRule.objects.filter(provider=provider).delete()
    AvailabilityRule.objects.create(
        provider=provider, weekday=first.weekday(), start_time=first.time(), end_time=last.time()
    )
    video_type.minimum_notice_minutes = 1
    video_type.save(update_fields=["minimum_notice_minutes"])


@pytest.fixture
def contexts():
    """Browser contexts of one test; closed before its server stops, so no page keeps a
    socket (and a database connection) open into the next test."""
    return []


@pytest.fixture
def server(contexts):
    with AsgiServer() as running:
        yield running
        while contexts:
            contexts.pop().close()


def new_page(browser, viewport, contexts, server=None, user=None):
    context = browser.new_context(viewport=viewport, permissions=["camera", "microphone"])
    contexts.append(context)
    if user is not None:
        client = sign_in(Client(), user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": server.url}]
        )
    page = context.new_page()
    page.csp_violations = []
    page.on(
        "console",
        lambda m: (
            page.csp_violations.append(m.text) if "Content Security Policy" in m.text else None
        ),
    )
    return page


def test_patient_without_text_consent_books_minutes_ahead_and_joins_from_the_email(
    world, video_type, browser, contexts, server
):
    open_from_now(video_type)
    page = new_page(browser, PHONE, contexts)
    page.goto(f"{server.url}/book/alpha/?type=video&tz={world.practice.time_zone}")
    expect(page.get_by_role("heading", name="All open times")).to_be_visible()
    # The earliest open time: the day's list, whose links are named "<day> <time>, <who>".
    page.get_by_role("link", name=re.compile(r", Dr Alpha$")).first.click()
    expect(page.get_by_role("heading", name="3. Your details")).to_be_visible()
    page.get_by_label("Full legal name").fill("Nora New")
    page.get_by_label("Date of birth").fill("1990-05-04")
    page.get_by_label("Mobile phone").fill("(617) 555-0177")
    page.get_by_label("Email").fill("nora@example.com")
    page.get_by_label("State where you will be during the visit").select_option("MA")
    expect(page.get_by_label(re.compile("Text me confirmations"))).not_to_be_checked()
    page.get_by_role("button", name="Book this visit").click()
    expect(page.get_by_role("heading", name="Your appointment")).to_be_visible()
    expect(page.get_by_role("heading", name="How to join your video visit")).to_be_visible()
    screenshot(page, "join-manage-phone")
    page.set_viewport_size(DESKTOP)
    screenshot(page, "join-manage-desktop")

    appointment = Appointment.objects.get(patient__legal_name="Nora New")
    assert not appointment.patient.sms_consent
    assert appointment.start - timezone.now() < WAITING_ROOM_OPENS
    subjects = [m.subject for m in mail.outbox]
    assert "Your visit with Alpha Health is booked" in subjects
    # Booked later than the join reminder's lead time: the join link came at once too.
    assert "Your video visit with Alpha Health: how to join" in subjects
    confirmation = next(m for m in mail.outbox if m.subject.endswith("is booked"))
    assert "How to join your video visit" in confirmation.body
    found = JOIN_LINK.search(str(confirmation.body))
    assert found, confirmation.body

    page.set_viewport_size(PHONE)
    page.goto(server.url + found.group(1))
    expect(page.get_by_role("heading", name="Join your video visit")).to_be_visible()
    screenshot(page, "join-open-phone")
    page.set_viewport_size(DESKTOP)
    screenshot(page, "join-open-desktop")
    page.get_by_label("Your date of birth").fill("1990-05-04")
    page.get_by_role("button", name="Continue to the waiting room").click()
    expect(page.get_by_role("heading", name="You're in the waiting room")).to_be_visible()
    assert page.csp_violations == []


def test_the_join_page_counts_down_then_opens_by_itself(
    world, video_type, browser, contexts, server
):
    far = appointment_at(world, video_type, timezone.now() + timedelta(hours=2, minutes=20))
    for size, viewport in SIZES.items():
        page = new_page(browser, viewport, contexts)
        page.goto(server.url + urlparse(context_for(far)["join_link"]).path)
        # "opens at …" today, "opens on <day> at …" when that is past the practice's midnight
        expect(page.get_by_role("status")).to_contain_text("The waiting room opens ")
        expect(page.get_by_role("status")).to_contain_text("(in 2")
        screenshot(page, f"join-countdown-{size}")
    # Booked only now, so that the seconds before its room opens are all for the page below
    # (on a busy machine the pages above took longer than those seconds).
    start = timezone.now() + WAITING_ROOM_OPENS + timedelta(seconds=8)
    near = appointment_at(world, video_type, start)
    page = new_page(browser, DESKTOP, contexts)
    page.goto(server.url + urlparse(context_for(near)["join_link"]).path)
    expect(page.get_by_role("heading", name="Your video visit")).to_be_visible()
    assert not page.get_by_label("Your date of birth").count()
    # No click: the page loads itself again when the room opens.
    expect(page.get_by_role("heading", name="Join your video visit")).to_be_visible(timeout=20_000)
    expect(page.get_by_label("Your date of birth")).to_be_visible()
    assert page.csp_violations == []


def test_portal_and_staff_pages_show_the_join_actions(world, video_type, browser, contexts, server):
    soon = appointment_at(world, video_type, timezone.now() + timedelta(minutes=10))
    for size, viewport in SIZES.items():
        patient = new_page(browser, viewport, contexts, server, world.patient.user)
        patient.goto(f"{server.url}/")
        expect(patient.get_by_role("heading", name="Your next visit")).to_be_visible()
        screenshot(patient, f"join-patient-home-{size}")
        patient.goto(f"{server.url}/scheduling/mine/")
        join = patient.get_by_role("link", name=re.compile("^Join the video visit on"))
        expect(join).to_have_count(1)
        screenshot(patient, f"join-my-appointments-{size}")

        staff = new_page(browser, viewport, contexts, server, world.front_desk)
        staff.goto(f"{server.url}/visits/")
        field = staff.get_by_label("Join link for Pat Alpha")
        expect(field).to_have_value(re.compile(r"^https?://.+/visit/"))
        field.scroll_into_view_if_needed()  # on a phone the table scrolls sideways
        screenshot(staff, f"join-staff-today-{size}")
        staff.goto(f"{server.url}/scheduling/")
        staff.get_by_label("Join link for Pat Alpha").scroll_into_view_if_needed()
        screenshot(staff, f"join-staff-schedule-{size}")
        assert staff.csp_violations == [] and patient.csp_violations == []
        if size == "phone":
            staff.goto("about:blank")

    staff.goto(f"{server.url}/visits/")

    staff.context.grant_permissions(["clipboard-read", "clipboard-write"])
    staff.get_by_role("button", name="Copy join link for Pat Alpha").click()
    expect(staff.get_by_text("Join link copied.")).to_have_count(1)  # read out, not shown
    copied = staff.evaluate("() => navigator.clipboard.readText()")
    assert "/visit/" in copied
    staff.get_by_role("button", name="Send join link to Pat Alpha").click()
    expect(staff.get_by_text("The join link is on its way by email.")).to_be_visible()
    sent = OutboundMessage.objects.get(
        related_id=str(soon.pk), template=ReminderRule.Kind.JOIN_LINK
    )
    assert sent.channel == "email" and "/visit/" in sent.body
    staff.goto("about:blank")  # stop the list's polling before the server stops
