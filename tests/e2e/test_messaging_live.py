"""A patient and the front desk in two real Chromium pages: messages, typing and read
receipts go both ways live; an internal note stays on the staff side; the inbox updates."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from messaging import services
from tests.asgi_server import AsgiServer
from tests.e2e.conftest import DESKTOP, PHONE, screenshot, wait_until
from tests.e2e.test_video_visit import signed_in_context

pytestmark = pytest.mark.django_db(transaction=True)
CONNECTED = "() => !!window.threadState && window.threadState.connected"


def test_patient_and_front_desk_talk_live(world, browser):
    # Off this thread: Playwright's event loop lives here, and the service pushes live events.
    with ThreadPoolExecutor(1) as pool:
        thread, _ = pool.submit(
            services.thread_start,
            patient=world.patient,
            subject="Refill of lisinopril",
            body="I have three pills left.",
            category="refill",
            by=world.patient.user,
        ).result()
    with AsgiServer() as server:
        patient_context = signed_in_context(browser, server, world.patient.user)
        desk_context = signed_in_context(browser, server, world.front_desk)
        patient = patient_context.new_page()
        desk = desk_context.new_page()
        inbox = desk_context.new_page()
        patient.goto(f"{server.url}/messaging/threads/{thread.pk}/")
        desk.goto(f"{server.url}/messaging/inbox/{thread.pk}/")
        inbox.goto(f"{server.url}/messaging/inbox/")
        for page in (patient, desk):
            wait_until(page, CONNECTED)

        patient.get_by_label("Reply").fill("Pharmacy is Main Street.")
        expect(desk.get_by_text("Pat Alpha is typing…")).to_be_visible()
        patient.get_by_role("button", name="Send").click()
        expect(desk.get_by_text("Pharmacy is Main Street.")).to_be_visible()
        expect(patient.get_by_text("Pharmacy is Main Street.")).to_be_visible()
        expect(patient.get_by_label("Reply")).to_have_value("")
        expect(patient.get_by_text("✓ Read")).to_be_visible()  # the desk page is open

        desk.get_by_label("Internal note (never shown to the patient)").check()
        desk.get_by_label("Reply").fill("Dr Alpha to sign today")
        desk.get_by_role("button", name="Send").click()
        expect(desk.get_by_text("Dr Alpha to sign today")).to_be_visible()
        desk.get_by_label("Internal note (never shown to the patient)").uncheck()
        desk.get_by_label("Reply").fill("Sent to your pharmacy this afternoon.")
        expect(patient.get_by_text("Alpha Health is typing…")).to_be_visible()
        desk.get_by_role("button", name="Send").click()
        expect(patient.get_by_text("Sent to your pharmacy this afternoon.")).to_be_visible()
        expect(desk.get_by_text("✓ Read")).to_be_visible()
        assert patient.get_by_text("Dr Alpha to sign today").count() == 0

        # A reload shows the same thread, each message once.
        patient.reload()
        wait_until(patient, CONNECTED)
        assert patient.locator("li[data-seq]").count() == 3
        assert patient.evaluate("() => window.threadState.lastSeq") == 4

        # The inbox hears about new patient messages without a reload.
        screenshot(desk, "messaging-staff-thread-desktop")
        desk.close()
        expect(inbox.get_by_text("Waiting on patient")).to_be_visible()
        patient.get_by_label("Reply").fill("Thank you!")
        patient.get_by_role("button", name="Send").click()
        row = inbox.get_by_role("row").filter(has_text="Refill of lisinopril")
        expect(row.get_by_text("Unread")).to_be_visible()
        expect(row.get_by_text("Open")).to_be_visible()
        screenshot(inbox, "messaging-inbox-desktop")
        screenshot(patient, "messaging-patient-thread-desktop")
        patient.set_viewport_size(PHONE)
        screenshot(patient, "messaging-patient-thread-phone")
        patient.goto(f"{server.url}/messaging/new/")
        expect(patient.get_by_label("What is it about?")).to_be_visible()
        screenshot(patient, "messaging-new-phone")
        patient.set_viewport_size(DESKTOP)
        patient.goto(f"{server.url}/messaging/chat/alpha/")
        expect(patient.get_by_label("Mobile number")).to_be_visible()
        patient.set_viewport_size(PHONE)
        screenshot(patient, "messaging-web-chat-phone")
        patient_context.close()
        desk_context.close()
