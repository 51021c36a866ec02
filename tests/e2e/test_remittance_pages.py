"""The remittance pages in a real browser: the front desk uploads a payer's 835 through the
labelled file input, reads what it did to each claim, meets the refusal of a file that is not
an 835, and opens the denials to work. Screenshots of each page at phone and desktop widths."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import expect

from billing.remittances import remittance_import
from tests.asgi_server import AsgiServer
from tests.billing.test_remittances import FIXTURES, exported_encounter, round_trip_era
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.e2e.test_video_visit import signed_in_context

pytestmark = pytest.mark.django_db(transaction=True)


def both_widths(page, name: str) -> None:
    page.set_viewport_size(PHONE)
    screenshot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)
    screenshot(page, f"{name}-desktop")


def claims_and_an_earlier_import(world) -> str:
    visit = exported_encounter(
        world, world.patient, [("99214", ["95"], "165.00"), ("99454", [], "48.00")]
    )
    management = exported_encounter(world, world.other_patient, [("99457", [], "52.00")])
    published = (FIXTURES / "pyx12_835_mult_loops.txt").read_text()
    remittance_import(practice=world.practice, content=published, by=world.admin)
    return round_trip_era(visit, management)


def test_front_desk_imports_an_835_and_works_the_denials(world, browser, tmp_path: Path):
    with ThreadPoolExecutor(1) as pool:  # off Playwright's event-loop thread
        era = pool.submit(claims_and_an_earlier_import, world).result()
    good = tmp_path / "acme-eft7788.835"
    good.write_text(era)
    garbage = tmp_path / "letter.txt"
    garbage.write_text("Dear provider, your payment is on its way.")
    with AsgiServer() as server:
        page = signed_in_context(browser, server, world.front_desk).new_page()
        violations: list[str] = []
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{server.url}/billing/remittances/")
        expect(page.get_by_role("heading", name="Remittances", exact=True)).to_be_visible()
        expect(page.get_by_role("row").filter(has_text="000000000")).to_be_visible()
        both_widths(page, "remit-list")

        page.get_by_label("835 remittance file").set_input_files(str(garbage))
        page.get_by_role("button", name="Import").click()
        expect(page.get_by_text("Not an X12 document")).to_be_visible()
        both_widths(page, "remit-refused")

        page.get_by_label("835 remittance file").set_input_files(str(good))
        page.get_by_role("button", name="Import").click()
        expect(page.get_by_role("heading", name="Payment EFT7788 from ACME HEALTH")).to_be_visible()
        expect(
            page.get_by_text("Claims matched: 2. Not matched: 0. Lines denied: 1.")
        ).to_be_visible()
        lines = page.get_by_role("table", name="Lines of claim")
        expect(lines.first.get_by_role("row").filter(has_text="99214")).to_contain_text(
            "Paid in part"
        )
        expect(page.get_by_text("medically necessary")).to_be_visible()
        both_widths(page, "remit-payment")

        page.goto(f"{server.url}/billing/remittances/")
        page.get_by_role("link", name="000000000").click()
        expect(page.get_by_text("No claim of this practice has this number.")).to_be_visible()
        both_widths(page, "remit-unmatched")

        page.goto(f"{server.url}/billing/denials/")
        table = page.get_by_role("table", name="Denied and adjusted lines")
        expect(table.get_by_role("row").filter(has_text="Other Alpha")).to_contain_text("Denied")
        expect(table.get_by_role("row").filter(has_text="Pat Alpha")).to_contain_text("CO-45")
        both_widths(page, "remit-denials")
        assert violations == []
