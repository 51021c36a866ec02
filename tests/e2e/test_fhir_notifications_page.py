"""The FHIR change notifications page in a real browser: a practice admin connects a system,
sees its signing secret once, sends a test notification that a real receiver gets; captured
at phone and desktop widths."""

import pytest
from playwright.sync_api import expect

from tests.asgi_server import AsgiServer
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.e2e.test_video_visit import signed_in_context
from tests.fhir_subscriptions.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def capture_both_widths(page, name: str) -> None:
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        screenshot(page, f"{name}-{size}")
    page.set_viewport_size(DESKTOP)


def test_admin_connects_a_system_and_sends_a_test_notification(world, browser, settings):
    settings.FHIR_NOTIFY_ALLOWED_HOSTS = ["127.0.0.1"]
    with Receiver() as receiver, AsgiServer() as server:
        context = signed_in_context(browser, server, world.admin)
        page = context.new_page()
        page.goto(f"{server.url}/")
        page.get_by_role("link", name="FHIR change notifications").click()
        expect(page.get_by_text("No system is connected yet.")).to_be_visible()
        page.get_by_label("Name").fill("Partner EHR")
        page.get_by_label("Endpoint URL").fill(receiver.url)
        page.get_by_label("Appointments booked, rescheduled, cancelled or changing status").check()
        page.get_by_label("New home monitoring readings").check()
        capture_both_widths(page, "fhir-notifications-connect")

        page.get_by_role("button", name="Connect").click()
        expect(page.get_by_role("heading", name="System connected")).to_be_visible()
        secret = page.locator(".secret code").inner_text()
        assert len(secret) >= 40
        capture_both_widths(page, "fhir-notifications-secret")

        page.get_by_role("link", name="Continue").click()
        page.get_by_role("button", name="Send a test notification").click()
        expect(page.get_by_text("Test notification queued.")).to_be_visible()
        page.reload()
        expect(page.get_by_text("Delivered (HTTP 200)")).to_be_visible()
        assert secret not in page.content()
        capture_both_widths(page, "fhir-notifications-detail")
        assert len(receiver.requests) == 1
        context.close()
