"""A patient finds their superbills from the portal's home, in a real browser, and downloads
one; the list is captured at phone and desktop widths."""

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from django.db import connections
from playwright.sync_api import expect

from billing.models import Encounter
from tests.asgi_server import AsgiServer
from tests.billing.test_encounters import billing_set_up
from tests.billing.test_superbill import card, superbill_of
from tests.e2e.conftest import ARTIFACTS, DESKTOP, PHONE, screenshot
from tests.e2e.test_video_visit import signed_in_context

pytestmark = pytest.mark.django_db(transaction=True)


def two_visits(world) -> None:
    billing_set_up(world)
    card(world.patient)
    superbill_of(world, date_of_service=date(2026, 1, 5))
    superbill_of(world, date_of_service=date(2026, 3, 2), status=Encounter.Status.EXPORTED)
    connections.close_all()  # the live server shares the small pool


def test_a_patient_opens_their_superbills_from_home_and_downloads_one(world, browser):
    with ThreadPoolExecutor(1) as pool:  # off Playwright's event-loop thread
        pool.submit(two_visits, world).result()
    with AsgiServer() as server:
        context = signed_in_context(browser, server, world.patient.user)
        page = context.new_page()
        violations: list[str] = []
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{server.url}/")
        page.get_by_role("link", name="My superbills").click()

        expect(page.get_by_role("heading", name="My superbills")).to_be_visible()
        table = page.get_by_role("table", name="Your superbills, newest first")
        expect(table.get_by_role("row")).to_have_count(3)  # the heading row and two visits
        expect(table.get_by_role("row").nth(1)).to_contain_text("2 Mar 2026")
        expect(table.get_by_role("row").nth(1)).to_contain_text("Dr Alpha")
        expect(table.get_by_role("row").nth(1)).to_contain_text("$136.50")
        link = page.get_by_role("link", name="Download PDF superbill for 2 Mar 2026")
        response = page.request.get(server.url + link.get_attribute("href"))
        assert response.status == 200
        assert response.headers["content-type"] == "application/pdf"
        assert response.body().startswith(b"%PDF")
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "superbill.pdf").write_bytes(response.body())
        assert violations == []

        for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(viewport)
            screenshot(page, f"superbills-{size}")
        page.goto(f"{server.url}/")
        expect(page.get_by_role("link", name="My superbills")).to_be_visible()
        screenshot(page, "superbills-home-link")
