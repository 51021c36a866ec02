"""On a phone-sized screen, a patient fills in their medical history (a follow-up question
appears when they answer yes) and signs the telehealth consent by drawing; the clinician
then reads the summary."""

import pytest
from playwright.sync_api import expect

from intake import services
from intake.models import Signature
from tests.asgi_server import AsgiServer
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.e2e.test_video_visit import signed_in_context

pytestmark = pytest.mark.django_db(transaction=True)


def test_patient_completes_history_and_signs_consent_on_a_phone(world, browser):
    services.install_builtin(world.practice)
    with AsgiServer() as server:
        context = signed_in_context(browser, server, world.patient.user)
        page = context.new_page()
        page.set_viewport_size(PHONE)
        page.goto(f"{server.url}/intake/")
        expect(page.get_by_role("heading", name="Before your visit")).to_be_visible()
        screenshot(page, "intake-checklist-phone")
        page.get_by_role("link", name="Start Medical history").click()
        form_url = page.url

        follow_up = page.get_by_label("Which ones, with the dose and how often")
        expect(follow_up).to_be_hidden()
        medicines = page.get_by_role("group", name="Do you take any medicines")
        medicines.get_by_label("Yes").check()
        expect(follow_up).to_be_visible()
        follow_up.fill("Metformin 500 mg twice a day")
        page.get_by_role("group", name="Conditions you have been diagnosed with").get_by_label(
            "Diabetes"
        ).check()
        page.get_by_role("group", name="Are you allergic").get_by_label("No").check()
        page.get_by_role("group", name="Have you had any operations").get_by_label("No").check()
        screenshot(page, "intake-medical-history-phone")
        page.get_by_role("button", name="Submit").click()
        # Smoking was left out: the server says so and keeps the answers.
        expect(page.get_by_text("This question needs an answer.")).to_be_visible()
        expect(page.get_by_label("Which ones, with the dose and how often")).to_have_value(
            "Metformin 500 mg twice a day"
        )
        page.get_by_role("group", name="Do you smoke or vape?").get_by_label("Never").check()
        page.get_by_role("button", name="Submit").click()
        expect(page.get_by_text("Medical history is done")).to_be_visible()
        # Opening the sent form again shows what was sent; it does not start it over.
        page.goto(form_url)
        expect(page.get_by_role("status")).to_contain_text("You sent this form on")
        expect(page.get_by_text("Metformin 500 mg twice a day")).to_be_visible()
        screenshot(page, "intake-form-sent-phone")
        page.set_viewport_size(DESKTOP)
        screenshot(page, "intake-form-sent-desktop")
        page.set_viewport_size(PHONE)
        page.get_by_role("link", name="Back to your forms").click()

        page.get_by_role("link", name="Read and sign Consent to telehealth care").click()
        page.get_by_label("Type your full name").fill("Pat Alpha")
        pad = page.get_by_role("img", name="Draw your signature")
        pad.scroll_into_view_if_needed()
        box = pad.bounding_box()
        page.mouse.move(box["x"] + 20, box["y"] + box["height"] * 0.7)
        page.mouse.down()
        for step in range(1, 12):
            page.mouse.move(
                box["x"] + 20 + step * 25, box["y"] + box["height"] * (0.3 + 0.4 * (step % 2))
            )
        page.mouse.up()
        page.get_by_label("I have read this consent and agree to it.").check()
        screenshot(page, "intake-consent-phone")
        page.get_by_role("button", name="Sign", exact=True).click()
        expect(page.get_by_text("All done")).to_be_visible()
        context.close()

        staff = signed_in_context(browser, server, world.clinician)
        desk = staff.new_page()
        desk.set_viewport_size(DESKTOP)
        desk.goto(f"{server.url}/intake/patients/{world.patient.pk}/")
        expect(desk.get_by_text("Intake complete")).to_be_visible()
        expect(desk.get_by_text("Metformin 500 mg twice a day")).to_be_visible()
        expect(desk.get_by_role("link", name="Signed PDF")).to_be_visible()
        screenshot(desk, "intake-summary-clinician-desktop")
        staff.close()
    signature = Signature.objects.get()
    assert signature.method == "drawn" and signature.image
