"""The claims page in a real browser: the front desk sees what can go and what cannot (with
the reasons), exports the chosen claims and finds the batch to download; captured at phone
and desktop widths. The patient's insurance form shows the policy holder's questions only when
the patient is not the policy holder."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from playwright.sync_api import expect

from tests.asgi_server import AsgiServer
from tests.billing.test_claims import HOME, card, signed_encounter
from tests.billing.test_encounters import billing_set_up
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.e2e.test_video_visit import signed_in_context

pytestmark = pytest.mark.django_db(transaction=True)


def claims_to_work(world) -> None:
    billing_set_up(world)
    for patient in (world.patient, world.other_patient):
        patient.address = HOME
        patient.save(update_fields=["address"])
        card(patient)
    signed_encounter(
        world,
        world.patient,
        lines=(
            ("99213", ["95"], "10", "120.00", [1, 2]),
            ("99417", ["95"], "10", "45.50", [1]),
        ),
    )
    signed_encounter(
        world,
        world.other_patient,
        codes=("J45.909",),
        lines=(("99214", ["95"], "10", "165.00", [1]),),
    )
    signed_encounter(world, world.other_patient, codes=("E11.9", "XYZ.1"))
    signed_encounter(world, world.patient, lines=(("99212", [], "10", "0.00", [1]),))
    connections.close_all()


def capture_both_widths(page, name: str) -> None:
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        screenshot(page, f"{name}-{size}")
    page.set_viewport_size(DESKTOP)


def test_front_desk_exports_the_ready_claims_and_sees_the_rest_with_reasons(world, browser):
    with ThreadPoolExecutor(1) as pool:
        pool.submit(claims_to_work, world).result()
    with AsgiServer() as server:
        context = signed_in_context(browser, server, world.front_desk)
        page = context.new_page()
        page.goto(f"{server.url}/billing/claims/")
        ready = page.get_by_role("region", name="Ready to send")
        expect(
            ready.get_by_role("checkbox", name="Send the claim for Pat Alpha on 20 Nov 2026")
        ).to_be_checked()
        refused = page.get_by_role("region", name="Cannot be sent yet")
        expect(refused.get_by_text("The charge for 99212 is zero.")).to_be_visible()
        expect(refused.get_by_text("'XYZ.1' is not an ICD-10-CM code", exact=False)).to_be_visible()
        capture_both_widths(page, "claims-ready")

        ready.get_by_role("button", name="Export chosen claims as 837P").click()
        expect(page.get_by_text("Batch 000000001: 2 claims exported.")).to_be_visible()
        batches = page.get_by_role("region", name="Past batches")
        expect(batches.get_by_role("link", name="Download batch 000000001")).to_be_visible()
        expect(batches.get_by_text("330.50")).to_be_visible()
        capture_both_widths(page, "claims-exported")
        with page.expect_download() as download:
            batches.get_by_role("link", name="Download batch 000000001").click()
        assert download.value.suggested_filename == "837P-000000001.txt"
        context.close()


def test_the_insurance_form_asks_about_the_policy_holder_only_for_someone_else(world, browser):
    with AsgiServer() as server:
        context = signed_in_context(browser, server, world.patient.user)
        page = context.new_page()
        page.goto(f"{server.url}/intake/insurance/")
        holder = page.get_by_role("group", name="About the policy holder")
        expect(holder).to_be_hidden()
        page.get_by_label("Your relationship to the policy holder").select_option("spouse")
        expect(holder).to_be_visible()
        expect(holder.get_by_label("Policy holder's date of birth")).to_be_visible()
        capture_both_widths(page, "insurance-policy-holder")
        context.close()
