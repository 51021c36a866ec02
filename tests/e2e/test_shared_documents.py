"""A clinician shares a lab result (a PDF) from the patient's chart; the patient, on a phone,
finds it under Documents, opens and downloads it; the chart then shows when they first
opened it."""

import io

import pytest
from playwright.sync_api import expect
from reportlab.pdfgen import canvas

from documents.models import SharedDocument
from telehealth.audit.models import AuditEvent
from tests.asgi_server import AsgiServer
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.e2e.test_video_visit import signed_in_context

pytestmark = pytest.mark.django_db(transaction=True)
TITLE = "Blood tests of 3 March"


def lab_report() -> bytes:
    out = io.BytesIO()
    pdf = canvas.Canvas(out)
    pdf.drawString(72, 720, "HbA1c 5.4 %  (reference 4.0-5.6)")
    pdf.save()
    return out.getvalue()


def tab_to(page, target, *, limit: int = 30) -> None:
    """Press Tab from the top of the page until `target` has the focus."""
    page.locator("body").focus()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError(f"{target} not reached with {limit} presses of Tab")


def test_staff_share_a_pdf_and_the_patient_opens_it(world, browser, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    report = lab_report()
    with AsgiServer() as server:
        staff = signed_in_context(browser, server, world.clinician).new_page()
        patient = signed_in_context(browser, server, world.patient.user).new_page()
        violations: list[str] = []
        for page in (staff, patient):
            page.on(
                "console",
                lambda m: (
                    violations.append(m.text) if "Content Security Policy" in m.text else None
                ),
            )

        # The practice's library first: a leaflet added with the keyboard alone.
        staff.goto(f"{server.url}/documents/library/")
        tab_to(staff, staff.get_by_label("Title"))
        staff.keyboard.type("Low-salt diet")
        staff.get_by_label("File").set_input_files(
            {"name": "low-salt.pdf", "mimeType": "application/pdf", "buffer": report}
        )
        tab_to(staff, staff.get_by_role("button", name="Add to the library"))
        staff.keyboard.press("Enter")
        expect(staff.get_by_role("link", name="Low-salt diet", exact=True)).to_be_visible()
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            staff.set_viewport_size(viewport)
            screenshot(staff, f"documents-library-{size}")
        staff.set_viewport_size(DESKTOP)

        staff.goto(f"{server.url}/patients/{world.patient.pk}/")
        staff.get_by_role("link", name="Share a document").click()
        expect(staff.get_by_role("heading", name="Share a document")).to_be_visible()
        staff.get_by_label("Kind of document").select_option(label="Lab results")
        staff.get_by_label("Title").fill(TITLE)
        staff.get_by_label("File").set_input_files(
            {"name": "labs-pat-alpha.pdf", "mimeType": "application/pdf", "buffer": report}
        )
        staff.get_by_label("Comment for the patient (optional)").fill("All within range.")
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            staff.set_viewport_size(viewport)
            screenshot(staff, f"documents-share-{size}")
        staff.set_viewport_size(DESKTOP)
        staff.get_by_role("button", name="Share with the patient").click()
        expect(staff.get_by_text("Shared. The patient is told")).to_be_visible()
        section = staff.get_by_role("region", name="Shared documents")
        expect(section.get_by_text("Not opened yet")).to_be_visible()

        patient.set_viewport_size(PHONE)
        patient.goto(f"{server.url}/")
        patient.get_by_role("link", name="Documents", exact=True).click()
        expect(patient.get_by_role("heading", name=TITLE)).to_be_visible()
        expect(patient.get_by_text("All within range.")).to_be_visible()
        for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            patient.set_viewport_size(viewport)
            screenshot(patient, f"documents-mine-{size}")
        patient.set_viewport_size(PHONE)

        # Keyboard: the View link is reachable with Tab and named after the document.
        view = patient.get_by_role("link", name=f"View {TITLE}")
        tab_to(patient, view)
        opened = patient.context.request.get(f"{server.url}{view.get_attribute('href')}")
        assert opened.status == 200 and opened.body() == report
        assert opened.headers["content-disposition"].startswith("inline")
        with patient.expect_download() as download:
            patient.get_by_role("link", name=f"Download {TITLE}").click()
        assert download.value.suggested_filename == "labs-pat-alpha.pdf"
        assert download.value.path().read_bytes() == report

        staff.reload()
        section = staff.get_by_role("region", name="Shared documents")
        expect(section.get_by_text("Opened ")).to_be_visible()
        expect(section.get_by_text("Not opened yet")).to_have_count(0)
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            staff.set_viewport_size(viewport)
            section.scroll_into_view_if_needed()
            screenshot(staff, f"documents-chart-{size}")
    assert violations == []

    document = SharedDocument.objects.get()
    assert document.first_opened_at is not None
    actions = list(
        AuditEvent.objects.about_record(document)
        .filter(actor=world.patient.user)
        .values_list("action", flat=True)
        .order_by("id")
    )
    assert actions == ["view", "view", "export"]  # the list, the file, the download


def test_admin_shares_a_leaflet_with_a_providers_patients_then_retires_it(
    world, browser, tmp_path, settings
):
    """From the library: a provider's patients listed and pre-chosen, one left out by
    keyboard, shared in one go; then the leaflet is retired and put back."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from documents import services

    settings.MEDIA_ROOT = tmp_path / "media"
    item = services.library_item_add(
        by=world.admin,
        title="Low-salt diet",
        upload=SimpleUploadedFile("low-salt.pdf", lab_report(), content_type="application/pdf"),
    )
    with AsgiServer() as server:
        staff = signed_in_context(browser, server, world.admin).new_page()
        violations: list[str] = []
        staff.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        staff.goto(f"{server.url}/documents/library/")
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            staff.set_viewport_size(viewport)
            screenshot(staff, f"documents-library-items-{size}")
        staff.set_viewport_size(DESKTOP)
        staff.get_by_role("link", name="Share with many patients Low-salt diet").click()
        expect(
            staff.get_by_role("heading", name="Share “Low-salt diet” with many patients")
        ).to_be_visible()
        staff.get_by_label("Patients of").select_option(label="Dr Alpha")
        staff.get_by_role("button", name="Find patients").click()
        expect(staff.get_by_role("checkbox", name="Pat Alpha")).to_be_checked()
        other = staff.get_by_role("checkbox", name="Other Alpha")
        expect(other).to_be_checked()
        other.focus()
        staff.keyboard.press("Space")  # leave one out, with the keyboard
        expect(other).not_to_be_checked()
        staff.get_by_label("Comment for the patients (optional)").fill("Bring questions.")
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            staff.set_viewport_size(viewport)
            screenshot(staff, f"documents-library-share-{size}")
        staff.set_viewport_size(DESKTOP)
        staff.get_by_role("button", name="Share with the chosen patients").click()
        expect(staff.get_by_text("Shared with 1 patient.")).to_be_visible()

        staff.get_by_role("button", name="Retire Low-salt diet").click()
        expect(staff.get_by_text("Retired. It is no longer offered")).to_be_visible()
        retired = staff.get_by_role("region", name="Retired items")
        expect(retired.get_by_role("button", name="Put back Low-salt diet")).to_be_visible()
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            staff.set_viewport_size(viewport)
            screenshot(staff, f"documents-library-retired-{size}")
        staff.set_viewport_size(DESKTOP)
        retired.get_by_role("button", name="Put back Low-salt diet").click()
        expect(staff.get_by_text("Put back. It can be shared again.")).to_be_visible()
    assert violations == []
    assert list(SharedDocument.objects.values_list("patient", "comment")) == [
        (world.patient.pk, "Bring questions.")
    ]
    item.refresh_from_db()
    assert not item.is_retired
