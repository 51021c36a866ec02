"""A clinician reads on the e-visit case page which online visit code the case's minutes
reach, and follows the link to its encounter once the billing pull has built it."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from billing import evisit_services
from billing.models import Encounter
from tests.asgi_server import AsgiServer
from tests.billing.test_evisit_encounters import seen_long_ago, set_up, worked_case
from tests.e2e.conftest import PHONE, screenshot
from tests.e2e.test_video_visit import signed_in_context

pytestmark = pytest.mark.django_db(transaction=True)
DESKTOP = {"width": 1280, "height": 900}


def test_the_case_page_shows_the_code_and_the_encounter(world, video_type, browser):
    set_up(world)
    seen_long_ago(world, video_type)
    evisit = worked_case(world, minutes_by_day_ago=[(8, 10), (6, 7), (5, 2)])
    evisit_services.pull_completed_evisits()
    encounter = Encounter.objects.get(kind=Encounter.Kind.EVISIT)
    violations: list[str] = []
    with AsgiServer() as server:
        context = signed_in_context(browser, server, world.clinician)
        page = context.new_page()
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        for name, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.goto(server.url + reverse("visits:evisit-review", args=[evisit.pk]))
            panel = page.get_by_role("region", name="Billing codes")
            expect(panel).to_contain_text("14 minutes from")
            expect(panel).to_contain_text("of 19 recorded")
            expect(panel.get_by_role("list", name="Codes the case reaches")).to_contain_text(
                "99422"
            )
            screenshot(page, f"evisit-codes-case-{name}")
        page.get_by_role("link", name="Open the encounter (Draft)").click()
        expect(page).to_have_url(server.url + reverse("billing:encounter", args=[encounter.pk]))
        expect(page.get_by_text("E-visit", exact=True)).to_be_visible()
        for name, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.reload()
            screenshot(page, f"evisit-codes-encounter-{name}")
    assert violations == []
