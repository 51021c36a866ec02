"""From a finished video visit to a claim file, in a real browser: billing's pull builds the
encounter; the clinician finds it on the worklist, adds a diagnosis from the ICD-10-CM search,
confirms what the rules flagged and signs; the front desk exports the batch and downloads the
837P, which pyx12 accepts. The worklist and the review page are captured at phone and desktop
widths."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from playwright.sync_api import expect

from billing import services
from billing.models import Encounter
from billing.x12 import validate
from tests.asgi_server import AsgiServer
from tests.billing.test_claims import HOME, card
from tests.billing.test_encounters import billing_set_up, ended_visit
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.e2e.test_video_visit import signed_in_context

pytestmark = pytest.mark.django_db(transaction=True)


def visit_to_bill(world, video_type) -> int:
    billing_set_up(world)
    world.patient.address = HOME
    world.patient.save(update_fields=["address"])
    card(world.patient)
    ended_visit(world, video_type, minutes=25, at_home=True)
    assert services.pull_completed_visits().built == 1
    encounter = Encounter.objects.get()
    connections.close_all()
    return encounter.pk


def both_widths(page, name: str) -> None:
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        screenshot(page, f"{name}-{size}")
    page.set_viewport_size(DESKTOP)


def test_clinician_signs_the_suggested_encounter_and_the_front_desk_sends_the_claim(
    world, video_type, browser
):
    with ThreadPoolExecutor(1) as pool:  # off Playwright's event-loop thread
        encounter_id = pool.submit(visit_to_bill, world, video_type).result()
    with AsgiServer() as server:
        clinician = signed_in_context(browser, server, world.clinician)
        page = clinician.new_page()
        page.goto(f"{server.url}/")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing").click()
        expect(page.get_by_role("heading", name="Encounters", level=1)).to_be_visible()
        both_widths(page, "billing-worklist")
        page.get_by_role("row").filter(has_text="Pat Alpha").get_by_role("link").click()

        problems = page.get_by_role("region", name="Not ready: fix these first")
        expect(problems.get_by_text("No diagnosis yet", exact=False)).to_be_visible()
        lines = page.get_by_role("region", name="Claim lines")
        expect(lines.get_by_text("99202")).to_be_visible()
        expect(lines.get_by_text("95", exact=True)).to_be_visible()

        page.get_by_label("Search ICD-10-CM by code or words").fill("I10")
        page.get_by_role("button", name="Search", exact=True).click()
        page.get_by_role("button", name="Add I10").click()
        expect(page.get_by_label("Diagnosis 1", exact=True)).to_have_value("I10")
        expect(page.get_by_role("region", name="Not ready: fix these first")).to_have_count(0)
        both_widths(page, "billing-review")

        sign = page.get_by_role("region", name="Sign")
        for box in sign.get_by_role("checkbox").all():
            box.check()
        sign.get_by_role("button", name="Sign encounter").click()
        expect(page.get_by_text("Encounter signed.")).to_be_visible()
        clinician.close()

        desk = signed_in_context(browser, server, world.front_desk)
        page = desk.new_page()
        page.goto(f"{server.url}/billing/encounters/")
        page.get_by_role("navigation", name="Billing").get_by_role("link", name="Claims").click()
        ready = page.get_by_role("region", name="Ready to send")
        expect(ready.get_by_role("checkbox")).to_be_checked()
        ready.get_by_role("button", name="Export chosen claims as 837P").click()
        expect(page.get_by_text("Batch 000000001: 1 claim exported.")).to_be_visible()
        with page.expect_download() as download:
            page.get_by_role("link", name="Download batch 000000001").click()
        claim_file = download.value.path().read_text()
        desk.close()

    assert validate(claim_file) == []
    assert f"CLM*E{encounter_id}*" in claim_file
    assert "HI*ABK:I10~" in claim_file
    assert "SV1*HC:99202:95*" in claim_file
    assert Encounter.objects.get().status == Encounter.Status.EXPORTED
