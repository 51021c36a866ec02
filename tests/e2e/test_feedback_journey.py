"""A patient answers the post-visit survey from its link with the keyboard, and the practice
admin reads the result in the dashboard's Feedback section; both captured at phone and desktop
widths."""

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import expect

from feedback import links as feedback_links
from feedback.models import Survey
from telehealth import links
from tests.asgi_server import AsgiServer
from tests.e2e.conftest import ARTIFACTS, DESKTOP, PHONE, screenshot
from tests.e2e.test_video_visit import signed_in_context
from tests.feedback.helpers import survey_of

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = Path("/work/shots/feedback")


def surveys(world) -> str:
    survey_of(world.patient, satisfaction=4, ease=5)
    survey_of(world.other_patient, satisfaction=2, ease=3)
    token = links.token_for(feedback_links.SURVEY, survey_of(world.patient))
    connections.close_all()  # the live server shares the small pool
    return token


def keep(page, name: str) -> None:
    screenshot(page, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(ARTIFACTS / f"{name}.png", SHOTS / f"{name}.png")


def test_a_patient_answers_by_keyboard_and_the_admin_sees_the_figures(world, browser):
    with ThreadPoolExecutor(1) as pool:  # off Playwright's event-loop thread
        token = pool.submit(surveys, world).result()
    with AsgiServer() as server:
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        violations: list[str] = []
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{server.url}/feedback/s/{token}/")
        expect(page.get_by_role("heading", name="How was your visit?")).to_be_visible()
        keep(page, "survey-phone")
        page.set_viewport_size(DESKTOP)
        keep(page, "survey-desktop")
        satisfied = page.get_by_role("group", name="How satisfied are you with your visit?")
        satisfied.get_by_label("5 – Very good").focus()
        page.keyboard.press("Space")
        expect(satisfied.get_by_label("5 – Very good")).to_be_checked()
        ease = page.get_by_role("group", name="How easy was it to join the video visit?")
        ease.get_by_label("4 – Easy").check()
        page.get_by_label("Anything you would like to tell us? (optional)").fill("Clear sound")
        page.get_by_label("Don't ask me to write public reviews").check()
        page.get_by_role("button", name="Send my answers").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_text("Thank you for your answers!")).to_be_visible()
        context.close()

        admin = signed_in_context(browser, server, world.admin)
        page = admin.new_page()
        page.goto(f"{server.url}/practice/analytics/#feedback")
        section = page.get_by_role("region", name="Patient feedback", exact=True)
        expect(section.get_by_text("3.7").first).to_be_visible()  # (4 + 2 + 5) / 3
        expect(page.get_by_role("img", name="Satisfaction ratings")).to_be_visible()
        for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(viewport)
            section.screenshot(path=str(SHOTS / f"dashboard-section-{size}.png"))
        page.goto(f"{server.url}/feedback/responses/")
        expect(page.get_by_text("Clear sound")).to_be_visible()
        keep(page, "responses-desktop")
        assert violations == []
    assert (
        Survey.objects.get(comment__isnull=False, no_review_requests=True).comment == "Clear sound"
    )
