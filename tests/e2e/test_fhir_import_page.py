"""The FHIR import page in a real browser: a practice admin uploads a Bundle from another EHR,
reads the dry run's report (one row refused with its reason), applies it and reads the result;
captured at phone and desktop widths."""

import pytest
from playwright.sync_api import expect

from scheduling.models import Appointment
from tests.asgi_server import AsgiServer
from tests.e2e.test_fhir_notifications_page import capture_both_widths
from tests.e2e.test_video_visit import signed_in_context
from tests.fhir_import.test_import import appointment_example, bundle, patient_example
from tests.scheduling.conftest import local

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_checks_a_file_then_applies_it(world, video_type, browser, tmp_path):
    past = appointment_example(world, local(-2, 10)) | {"id": "past"}
    export = tmp_path / "export.json"
    export.write_bytes(bundle(patient_example(), appointment_example(world, local(3, 10)), past))
    with AsgiServer() as server:
        context = signed_in_context(browser, server, world.admin)
        page = context.new_page()
        page.goto(f"{server.url}/")
        page.get_by_role("link", name="Import from another EHR").click()
        page.get_by_label("FHIR file").set_input_files(str(export))
        capture_both_widths(page, "fhir-import-upload")
        page.get_by_role("button", name="Check the file").click()
        expect(page.get_by_role("heading", name="What the import would do")).to_be_visible()
        expect(page.get_by_text("Only upcoming appointments are imported")).to_be_visible()
        capture_both_widths(page, "fhir-import-dry-run")
        assert not Appointment.objects.exists()

        page.get_by_role("button", name="Apply the import").click()
        expect(page.get_by_role("heading", name="Import applied")).to_be_visible()
        capture_both_widths(page, "fhir-import-applied")
        assert Appointment.objects.count() == 1
        context.close()
