"""A clinician asks a specialist of the practice about a patient's blood pressure, including
the latest vitals and an e-visit photo; the specialist finds it in their inbox, reads the
copies, records their time and answers in writing on a phone-sized screen; the requester
sees the new answer in their inbox and reads it. Only by role and label, within the CSP."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from rpm import services as rpm
from rpm.models import Reading
from tests.asgi_server import AsgiServer
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.e2e.test_evisit_journey import AFTER_POST, watch_csp
from tests.e2e.test_video_visit import signed_in_context
from tests.visits.econsult_helpers import specialist
from tests.visits.evisit_helpers import taken_evisit
from visits.econsult_selectors import consult_minutes
from visits.models import EConsult

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_specialist_answers_an_econsult_from_a_phone(world, browser):
    specialist(world.other_clinician, "Cardiology")
    device, _token = rpm.device_create(
        patient=world.patient, kind="bp_cuff", by=world.clinician, serial="SN-1"
    )
    Reading.objects.create(
        patient=world.patient,
        device=device,
        vital="systolic",
        value=156,
        measured_at=timezone.now() - timedelta(hours=2),
    )
    taken_evisit(patient=world.patient, clinician=world.clinician)
    violations: list[str] = []
    with AsgiServer() as server:
        requester = signed_in_context(browser, server, world.clinician)
        page = requester.new_page()
        watch_csp(page, violations)
        page.set_viewport_size(DESKTOP)
        page.goto(f"{server.url}/patients/{world.patient.pk}/")
        page.get_by_role("link", name="Ask a specialist (e-consult)").click()
        expect(page.get_by_role("heading", name=world.patient.legal_name)).to_be_visible()
        page.get_by_label("Specialist").select_option(label="Dr Second · Cardiology")
        page.get_by_label("Your question").fill("Home systolic 150s on two drugs: next step?")
        records = page.get_by_role("group", name="Records to include")
        records.get_by_label("Latest vitals").check()
        records.get_by_label("E-visit photo", exact=False).check()
        screenshot(page, "econsult-new-desktop")
        page.set_viewport_size(PHONE)
        screenshot(page, "econsult-new-phone")
        consent = page.get_by_label("The patient agreed to this e-consult")
        expect(consent).to_have_attribute("required", "")  # the server refuses it too (400)
        consent.check()
        page.get_by_role("button", name="Send to the specialist").click()
        expect(page.locator("[data-econsult-state]")).to_have_text(
            "Waiting for the specialist", timeout=AFTER_POST
        )

        consultant = signed_in_context(browser, server, world.other_clinician)
        desk = consultant.new_page()
        watch_csp(desk, violations)
        desk.set_viewport_size(PHONE)
        desk.goto(f"{server.url}/econsults/")
        screenshot(desk, "econsult-inbox-phone")
        desk.set_viewport_size(DESKTOP)
        screenshot(desk, "econsult-inbox-desktop")
        desk.get_by_role("link", name=world.patient.legal_name).click()
        expect(desk.get_by_role("heading", name="Included records")).to_be_visible()
        expect(desk.get_by_text("156 mmHg", exact=False)).to_be_visible()
        expect(desk.get_by_role("img", name="E-visit photo", exact=False)).to_be_visible()
        screenshot(desk, "econsult-case-specialist-desktop")
        desk.set_viewport_size(PHONE)
        screenshot(desk, "econsult-case-specialist-phone")
        time = desk.get_by_role("region", name="Time on this e-consult")
        time.get_by_label("Minutes").fill("12")
        time.get_by_label("What you did").fill("Reviewed readings; called Dr Alpha")
        time.get_by_label("This was discussion", exact=False).check()
        time.get_by_role("button", name="Record your time").click()
        expect(desk.locator("[data-minutes=specialist]")).to_contain_text(
            "12 minutes", timeout=AFTER_POST
        )
        answer = desk.get_by_role("region", name="Answer in writing")
        answer.get_by_label("Your answer").fill("Add amlodipine 5 mg; recheck in two weeks.")
        answer.get_by_label("I also discussed it", exact=False).check()
        answer.get_by_role("button", name="Send the answer").press("Enter")
        expect(desk.locator("[data-econsult-state]")).to_have_text("Answered", timeout=AFTER_POST)

        page.set_viewport_size(DESKTOP)
        page.goto(f"{server.url}/econsults/")
        expect(page.get_by_text("New", exact=True)).to_be_visible()
        page.get_by_role("link", name=world.patient.legal_name).click()
        expect(page.locator("[data-econsult-answer]")).to_contain_text("amlodipine 5 mg")
        expect(page.get_by_role("img", name="E-visit photo", exact=False)).to_be_visible()
        screenshot(page, "econsult-answered-desktop")
        page.set_viewport_size(PHONE)
        screenshot(page, "econsult-answered-phone")
        page.goto(f"{server.url}/econsults/profile/")
        screenshot(page, "econsult-profile-phone")
        page.set_viewport_size(DESKTOP)
        screenshot(page, "econsult-profile-desktop")

        econsult = EConsult.objects.get()
        assert econsult.answer_read_at is not None and econsult.verbal_report
        assert consult_minutes(econsult).specialist_discussion == 12
        assert violations == []
        requester.close()
        consultant.close()
