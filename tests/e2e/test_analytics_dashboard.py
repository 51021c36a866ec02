"""A practice admin opens the analytics from their home page in a real browser, narrows the
period, reads a chart's table and downloads it; the page is captured at phone and desktop
widths."""

import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import expect

from tests.analytics.seed import WEEK_ONE, seed_monitoring, seed_practice, seed_week
from tests.asgi_server import AsgiServer
from tests.e2e.conftest import ARTIFACTS, DESKTOP, PHONE, screenshot
from tests.e2e.test_video_visit import signed_in_context

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = Path("/work/shots/analytics")


def two_weeks(world) -> None:
    seed_practice(world)
    seed_week(world, WEEK_ONE, tag="a")
    seed_week(world, WEEK_ONE + timedelta(days=7), tag="b")
    seed_monitoring(world)
    connections.close_all()  # the live server shares the small pool


def test_an_admin_reads_the_no_show_rate_and_downloads_its_table(world, browser):
    with ThreadPoolExecutor(1) as pool:  # off Playwright's event-loop thread
        pool.submit(two_weeks, world).result()
    with AsgiServer() as server:
        context = signed_in_context(browser, server, world.admin)
        page = context.new_page()
        violations: list[str] = []
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{server.url}/")
        page.get_by_role("link", name="Open analytics").click()
        expect(page.get_by_role("heading", name="Practice analytics", level=1)).to_be_visible()
        page.get_by_label("From", exact=True).fill("2026-11-02")
        page.get_by_label("To", exact=True).fill("2026-11-15")
        page.get_by_role("button", name="Show").click()

        appointments = page.get_by_role("region", name="Appointments", exact=True)
        expect(appointments.get_by_text("24", exact=True).first).to_be_visible()
        expect(appointments.get_by_text("20.0 %").first).to_be_visible()
        chart = page.get_by_role("img", name="Appointments booked per week")
        expect(chart).to_be_visible()
        weeks = page.get_by_role("table", name="Appointments by week")
        expect(weeks.get_by_role("row")).to_have_count(3)  # the heading row and two weeks
        link = page.get_by_role("link", name="CSV of Appointments by week")
        response = page.request.get(server.url + link.get_attribute("href"))
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.text().splitlines()[0].startswith("Week of,Booked")
        assert violations == []

        SHOTS.mkdir(parents=True, exist_ok=True)
        for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(viewport)
            screenshot(page, f"analytics-{size}")
            shutil.copy(ARTIFACTS / f"analytics-{size}.png", SHOTS / f"dashboard-{size}.png")
