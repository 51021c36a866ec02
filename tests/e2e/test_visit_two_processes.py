"""The video visit journey in two real Chromium pages served by two uvicorn processes: the
patient's pages come from process A, the clinician's from process B, and only the Redis
channel layer and PostgreSQL join them. Admission, video both ways, chat and the end of the
visit all cross between the processes."""

import pytest
from playwright.sync_api import expect

from scheduling.links import JOIN
from telehealth import links
from tests.e2e.conftest import DESKTOP, screenshot, wait_until
from tests.e2e.test_video_visit import signed_in_context, video_appointment
from tests.visits.test_two_processes import two_processes  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_patient_on_process_a_and_clinician_on_process_b_see_each_other(
    world,
    video_type,
    browser,
    two_processes,  # noqa: F811
):
    a, b = two_processes
    appointment = video_appointment(world, video_type)
    patient_context = browser.new_context(viewport=DESKTOP, permissions=["camera", "microphone"])
    clinician_context = signed_in_context(browser, b, world.clinician)
    try:
        patient = patient_context.new_page()
        patient.goto(f"{a.http}/visit/{links.token_for(JOIN, appointment)}/")
        patient.get_by_label("Your date of birth").fill("1980-01-02")
        patient.get_by_role("button", name="Continue to the waiting room").click()
        expect(patient.get_by_role("heading", name="You're in the waiting room")).to_be_visible()

        clinician = clinician_context.new_page()
        clinician.goto(f"{b.http}/visits/")
        clinician.get_by_role("button", name="Open visit room").click()
        clinician.get_by_role("button", name="Admit patient").click()
        patient.wait_for_url(f"{a.http}/visits/*/room/", timeout=15000)
        for page in (patient, clinician):
            wait_until(
                page,
                "() => (window.visitState || []).some(s => s === 'connected' || s === 'completed')",
                timeout=30,
            )
            wait_until(page, "() => inboundVideoFramesDecoded().then(n => n > 0)", timeout=30)

        clinician.get_by_label("Message").fill("Typed on process B")
        clinician.get_by_role("button", name="Send").click()
        expect(patient.get_by_text("Typed on process B")).to_be_visible()
        patient.get_by_label("Message").fill("Typed on process A")
        patient.get_by_role("button", name="Send").click()
        expect(clinician.get_by_text("Typed on process A")).to_be_visible()
        screenshot(patient, "visit-two-processes-patient-on-a")
        screenshot(clinician, "visit-two-processes-clinician-on-b")
        clinician.get_by_role("button", name="End visit").click()
        expect(patient.get_by_role("heading", name="This visit has ended")).to_be_visible()
    finally:
        patient_context.close()
        clinician_context.close()
    appointment.refresh_from_db()
    assert appointment.status == "completed"
