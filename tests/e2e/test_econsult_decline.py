"""The specialist declines an e-consult from the case page with a reason, by role and label
within the CSP; the requester reads why; the billing codes panel shows each side its own
codes. Screenshots of the changed pages at phone and desktop widths."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.asgi_server import AsgiServer
from tests.billing.test_econsult_encounters import set_up
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.e2e.test_evisit_journey import AFTER_POST, watch_csp
from tests.e2e.test_video_visit import signed_in_context
from tests.visits.econsult_helpers import sent_econsult
from visits import econsult_services
from visits.models import EConsult

pytestmark = pytest.mark.django_db(transaction=True)
REASON = "Better seen in the heart failure clinic: please refer."


def test_a_specialist_declines_an_econsult_and_the_requester_reads_why(world, browser):
    set_up(world)
    econsult = sent_econsult(
        patient=world.patient, requester=world.clinician, to=world.other_clinician
    )
    answered = sent_econsult(
        patient=world.patient, requester=world.clinician, to=world.other_clinician
    )
    today = timezone.localdate(timezone=world.practice.zone)
    econsult_services.econsult_time_record(
        econsult=answered,
        clinician=world.other_clinician,
        minutes=14,
        work_date=today,
        activity="Read the records",
        discussion=True,
    )
    econsult_services.econsult_time_record(
        econsult=answered,
        clinician=world.clinician,
        minutes=18,
        work_date=today,
        activity="Prepared the request",
    )
    econsult_services.econsult_answer(
        econsult=answered,
        specialist=world.other_clinician,
        answer="Add amlodipine 5 mg.",
        verbal_report=True,
    )
    violations: list[str] = []
    with AsgiServer() as server:
        consultant = signed_in_context(browser, server, world.other_clinician)
        desk = consultant.new_page()
        watch_csp(desk, violations)
        desk.set_viewport_size(PHONE)
        desk.goto(f"{server.url}/econsults/{econsult.pk}/")
        decline = desk.get_by_role("region", name="Decline")
        expect(decline).to_be_visible()
        screenshot(desk, "econsult-decline-form-phone")
        desk.set_viewport_size(DESKTOP)
        screenshot(desk, "econsult-decline-form-desktop")
        decline.get_by_label("Why you decline", exact=False).fill(REASON)
        decline.get_by_role("button", name="Decline the e-consult").click()
        expect(desk.locator("[data-econsult-state]")).to_have_text(
            "Declined by the specialist", timeout=AFTER_POST
        )
        expect(desk.get_by_role("region", name="Answer in writing")).to_have_count(0)

        desk.goto(f"{server.url}/econsults/{answered.pk}/")
        codes = desk.get_by_role("region", name="Billing codes")
        expect(codes).to_contain_text("99447")
        expect(codes).not_to_contain_text("99452")
        screenshot(desk, "econsult-codes-specialist-desktop")
        desk.set_viewport_size(PHONE)
        screenshot(desk, "econsult-codes-specialist-phone")

        requester = signed_in_context(browser, server, world.clinician)
        page = requester.new_page()
        watch_csp(page, violations)
        page.set_viewport_size(PHONE)
        page.goto(f"{server.url}/econsults/{econsult.pk}/")
        expect(page.locator("[data-econsult-decline]")).to_have_text(REASON)
        expect(page.get_by_role("button", name="Withdraw the e-consult")).to_have_count(0)
        expect(page.get_by_role("region", name="Billing codes")).to_have_count(0)
        screenshot(page, "econsult-declined-requester-phone")
        page.set_viewport_size(DESKTOP)
        screenshot(page, "econsult-declined-requester-desktop")
        page.goto(f"{server.url}/econsults/{answered.pk}/")
        codes = page.get_by_role("region", name="Billing codes")
        expect(codes).to_contain_text("99452")
        expect(codes).not_to_contain_text("99447")
        screenshot(page, "econsult-codes-requester-desktop")
        page.set_viewport_size(PHONE)
        screenshot(page, "econsult-codes-requester-phone")

        assert EConsult.objects.get(pk=econsult.pk).state == EConsult.State.DECLINED
        assert violations == []
        consultant.close()
        requester.close()
