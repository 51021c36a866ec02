"""The clinician's and front desk's home pages in a real browser, with a day's data: each
role sees its own panels, a new critical alert appears in the clinician's alerts panel
without a reload, and both homes are captured at phone and desktop widths."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from channels.layers import channel_layers
from django.db import connections
from playwright.sync_api import expect

from tests.accounts.test_staff_home import alert, book, thread, waiting
from tests.asgi_server import AsgiServer
from tests.e2e.conftest import DESKTOP, PHONE, screenshot, wait_until
from tests.e2e.test_live_alerts import LISTENING, ingest, monitored_device
from tests.e2e.test_video_visit import signed_in_context

pytestmark = pytest.mark.django_db(transaction=True)
CRITICAL = "Blood pressure 214/97 mmHg (systolic ≥ 180)"


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def a_busy_day(world, video_type) -> str:
    token = monitored_device(world)
    waiting(book(world.clinician.provider, world.patient, video_type, 9))
    book(world.clinician.provider, world.other_patient, video_type, 11)
    alert(world.patient, "warning", "Weight up 2.1 kg in 3 days", minutes_ago=50)
    thread(world.patient, "Refill of lisinopril", assignee=world.clinician, by=world.front_desk)
    thread(world.other_patient, "Can I move my Thursday visit to the afternoon?")
    # Hand this thread's connection back: the live server shares the small pool.
    connections.close_all()
    return token


def capture_both_widths(page, name: str) -> None:
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        screenshot(page, f"{name}-{size}")
    page.set_viewport_size(DESKTOP)


def test_clinician_home_shows_the_day_and_a_new_alert_without_reload(world, video_type, browser):
    with ThreadPoolExecutor(1) as pool:  # off Playwright's event-loop thread
        token = pool.submit(a_busy_day, world, video_type).result()
    with AsgiServer() as server:
        context = signed_in_context(browser, server, world.clinician)
        page = context.new_page()
        page.goto(f"{server.url}/")
        schedule = page.get_by_role("region", name="Your visits today")
        expect(schedule.get_by_text("Pat Alpha")).to_be_visible()
        expect(schedule.get_by_text("Waiting", exact=False)).to_be_visible()
        messages = page.get_by_role("region", name="Messages for you")
        expect(messages.get_by_role("link", name="Refill of lisinopril")).to_be_visible()
        alerts = page.get_by_role("region", name="Monitoring alerts")
        expect(alerts.get_by_text("Weight up 2.1 kg in 3 days")).to_be_visible()
        wait_until(page, LISTENING)

        ingest(server, token, {"type": "blood_pressure", "systolic": 214, "diastolic": 97})
        # The panel is re-read from the server: the new alert is listed first.
        expect(alerts.get_by_role("listitem").first).to_contain_text(CRITICAL)
        for notice in page.get_by_role("button", name=f"Dismiss alert: {CRITICAL}").all():
            notice.click()
        capture_both_widths(page, "home-clinician")
        alerts.get_by_role("link", name="Pat Alpha").first.click()
        expect(page).to_have_url(f"{server.url}/rpm/patients/{world.patient.pk}/")
        context.close()


def test_front_desk_home_shows_the_day_and_inbox_and_no_vitals(world, video_type, browser):
    with ThreadPoolExecutor(1) as pool:
        pool.submit(a_busy_day, world, video_type).result()
    with AsgiServer() as server:
        context = signed_in_context(browser, server, world.front_desk)
        page = context.new_page()
        page.goto(f"{server.url}/")
        day = page.get_by_role("region", name="Today at the practice")
        expect(day.get_by_text("2 visits today")).to_be_visible()
        expect(day.get_by_text("Pat Alpha")).to_be_visible()
        inbox = page.get_by_role("region", name="Shared inbox")
        expect(
            inbox.get_by_role("link", name="Can I move my Thursday visit to the afternoon?")
        ).to_be_visible()
        expect(page.get_by_role("region", name="Monitoring alerts")).to_have_count(0)
        expect(page.get_by_text("2.1 kg")).to_have_count(0)
        capture_both_widths(page, "home-front-desk")
        inbox.get_by_role("link", name="Open the inbox").click()
        expect(page).to_have_url(f"{server.url}/messaging/inbox/?view=unassigned")
        context.close()
