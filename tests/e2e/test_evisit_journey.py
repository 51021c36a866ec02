"""On a phone-sized screen, a patient starts an e-visit for a rash, answers its questions,
attaches a photo from the camera input and sends it; a clinician takes the case from the
queue, zooms into the photo with the keyboard and answers; the patient reads the response."""

import io

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.asgi_server import AsgiServer
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.e2e.test_video_visit import signed_in_context
from visits.models import EVisit

pytestmark = pytest.mark.django_db(transaction=True)

# A post with a photo is decoded, scaled and encrypted before the page answers: on a shared,
# loaded machine that can take longer than Playwright's default 5 seconds.
AFTER_POST = 20_000


def camera_photo() -> bytes:
    image = Image.new("RGB", (2000, 1500), (205, 130, 110))
    image.paste((170, 60, 60), (800, 600, 1200, 900))  # the rash
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (42.0, 21.0, 30.0)})  # where it was taken
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def watch_csp(page, violations: list[str]) -> None:
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )


def test_patient_sends_an_evisit_with_a_photo_from_a_phone(world, browser):
    violations: list[str] = []
    with AsgiServer() as server:
        context = signed_in_context(browser, server, world.patient.user)
        page = context.new_page()
        watch_csp(page, violations)
        page.set_viewport_size(PHONE)
        page.goto(f"{server.url}/evisits/")
        expect(page.get_by_role("heading", name="E-visits", exact=True)).to_be_visible()
        screenshot(page, "evisit-start-phone")
        page.get_by_role("button", name="Rash or skin problem").click()

        expect(page.get_by_role("heading", name="Rash or skin problem")).to_be_visible()
        page.get_by_label("Where on your body is the rash?").fill("Left forearm")
        page.get_by_role("group", name="When did it start?").get_by_label("1-3 days ago").check()
        page.get_by_role("group", name="How does it feel?").get_by_label("Itchy").check()
        page.get_by_role("group", name="Is it spreading?").get_by_label("No").check()
        photos = page.get_by_label("Take or choose photos (up to 6 more)")
        expect(photos).to_have_attribute("capture", "environment")
        photos.set_input_files(
            files=[{"name": "IMG_0042.jpg", "mimeType": "image/jpeg", "buffer": camera_photo()}]
        )
        page.get_by_role("button", name="Send to my care team").click()
        # The fever question was left out: the page says so, the photo is kept.
        expect(page.get_by_text("This question needs an answer.")).to_be_visible(timeout=AFTER_POST)
        expect(page.get_by_role("img", name="Your photo 1")).to_be_visible()
        expect(page.get_by_label("Where on your body is the rash?")).to_have_value("Left forearm")
        page.get_by_role("group", name="Do you have a fever?").get_by_label("No").check()
        screenshot(page, "evisit-draft-phone")
        page.get_by_role("button", name="Send to my care team").click()

        expect(page.get_by_text("Sent. Your care team will answer here.")).to_be_visible(
            timeout=AFTER_POST
        )
        expect(page.locator("[data-evisit-state]")).to_have_text("Submitted")
        expect(page.get_by_text("Left forearm")).to_be_visible()
        screenshot(page, "evisit-sent-phone")
        evisit = EVisit.objects.get(patient=world.patient)
        assert evisit.state == EVisit.State.SUBMITTED and evisit.photos.count() == 1

        staff = signed_in_context(browser, server, world.clinician)
        desk = staff.new_page()
        watch_csp(desk, violations)
        desk.set_viewport_size(DESKTOP)
        desk.goto(f"{server.url}/evisits/queue/")
        screenshot(desk, "evisit-queue-desktop")
        desk.set_viewport_size(PHONE)
        screenshot(desk, "evisit-queue-phone")
        desk.set_viewport_size(DESKTOP)
        desk.get_by_role("button", name=f"Take it {world.patient.legal_name}").click()
        expect(desk.get_by_role("heading", name=world.patient.legal_name)).to_be_visible(
            timeout=AFTER_POST
        )
        # The heading shows before the deferred zoom script has run: keys pressed then are lost.
        desk.wait_for_load_state("domcontentloaded")
        frame = desk.get_by_role("group", name="Photo 1: scroll with the arrow keys when zoomed")
        frame.focus()
        desk.keyboard.press("+")
        desk.keyboard.press("+")
        expect(desk.locator("[data-zoom-level]")).to_have_text("150%")
        screenshot(desk, "evisit-review-desktop")
        desk.set_viewport_size(PHONE)
        screenshot(desk, "evisit-review-phone")
        desk.set_viewport_size(DESKTOP)
        desk.get_by_label("Assessment", exact=True).fill("Contact dermatitis")
        desk.get_by_label("Plan", exact=True).fill("Hydrocortisone 1% twice daily")
        desk.get_by_label("Response to the patient").fill("Use the cream twice a day.")
        desk.get_by_role("button", name="Complete and send").click()
        expect(desk.locator("[data-evisit-state]")).to_have_text("Completed", timeout=AFTER_POST)

        page.reload()
        expect(page.get_by_text("Use the cream twice a day.")).to_be_visible(timeout=AFTER_POST)
        screenshot(page, "evisit-response-phone")
        assert violations == []  # the zoom script and styles live within the CSP
        context.close()
        staff.close()
