"""The monitoring pages in a real browser: a clinician sees the patient with a critical alert
first, opens their trends, acknowledges and resolves the alert; the patient sees their own
readings on a phone. Screenshots of each page are saved."""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from rpm import services
from rpm.models import Alert
from tests.asgi_server import AsgiServer
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.e2e.test_video_visit import signed_in_context

pytestmark = pytest.mark.django_db(transaction=True)


def readings_for(world):
    services.enroll(
        patient=world.patient,
        program="hypertension",
        clinicians=[world.clinician],
        by=world.clinician,
    )
    _device, token = services.device_create(
        patient=world.patient, kind="bp_cuff", by=world.clinician, serial="BP-77"
    )
    now = timezone.now()
    batch = [
        {
            "type": "blood_pressure",
            "systolic": 124 + (n * 7) % 15,
            "diastolic": 78 + (n * 3) % 8,
            "heart_rate": 64 + n % 9,
            "measured_at": (now - timedelta(hours=12 * n + 1)).isoformat(),
        }
        for n in range(60)
    ]
    batch.append(
        {"type": "blood_pressure", "systolic": 186, "diastolic": 98, "measured_at": now.isoformat()}
    )
    Client().post(
        "/api/v1/rpm/readings",
        data=json.dumps(batch),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_clinician_works_an_alert_and_the_patient_sees_trends(world, browser):
    with ThreadPoolExecutor(1) as pool:  # off Playwright's event-loop thread
        pool.submit(readings_for, world).result()
    with AsgiServer() as server:
        staff = signed_in_context(browser, server, world.clinician)
        page = staff.new_page()
        page.set_viewport_size(DESKTOP)
        page.goto(f"{server.url}/rpm/")
        row = page.get_by_role("row").filter(has_text="Pat Alpha")
        expect(row.get_by_text("Critical")).to_be_visible()
        expect(row.get_by_text("Blood pressure 186/98 mmHg", exact=True).first).to_be_visible()
        expect(row.get_by_text("Heart rate")).to_be_visible()
        screenshot(page, "rpm-dashboard-desktop")
        page.set_viewport_size(PHONE)
        screenshot(page, "rpm-dashboard-phone")
        page.set_viewport_size(DESKTOP)
        page.get_by_role("link", name="Pat Alpha").click()
        expect(page.get_by_role("img", name="Systolic blood pressure")).to_be_visible()
        # Each select is named by its own label: the device kinds, not the kinds of time.
        expect(page.get_by_label("Device", exact=True)).to_contain_text("Scale")
        expect(page.get_by_label("Kind of time", exact=True)).to_contain_text("Monitoring")
        screenshot(page, "rpm-patient-trends-desktop")
        page.set_viewport_size(PHONE)
        screenshot(page, "rpm-patient-trends-phone")
        page.set_viewport_size(DESKTOP)
        page.get_by_role("button", name="Acknowledge").click()
        expect(page.get_by_text("Alert acknowledged.")).to_be_visible()
        page.get_by_label("What was done").fill("Called the patient: rechecked 142/88.")
        page.get_by_role("button", name="Resolve").click()
        expect(page.get_by_text("Alert resolved.")).to_be_visible()
        staff.close()

        own = signed_in_context(browser, server, world.patient.user)
        mine = own.new_page()
        mine.set_viewport_size(PHONE)
        mine.goto(f"{server.url}/rpm/mine/?days=90")
        expect(mine.get_by_role("img", name="Diastolic blood pressure")).to_be_visible()
        screenshot(mine, "rpm-patient-readings-phone")
        own.close()
    alert = Alert.objects.get()
    assert alert.status == "resolved" and alert.acknowledged_by == world.clinician
