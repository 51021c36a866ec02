"""A patient texts two pictures while the front desk has the thread open: the message shows
at once, the picture that could be fetched appears on the open page when it arrives, and the
one that could not is marked, with a way to try again."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from messaging import services, sms_media, tasks
from messaging.models import MediaFetch
from telehealth.notify.media import Media
from tests.asgi_server import AsgiServer
from tests.e2e.conftest import DESKTOP, PHONE, screenshot, wait_until
from tests.e2e.test_video_visit import signed_in_context
from tests.messaging.test_sms_media import MEDIA_PATH, cdn, twilio_media  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
CONNECTED = "() => !!window.threadState && window.threadState.connected"


def give_up_on_due_pictures() -> None:
    for _ in range(sms_media.MAX_ATTEMPTS):
        MediaFetch.objects.filter(status="pending").update(next_attempt_at="2000-01-01T00:00Z")
        tasks.fetch_due_sms_media()


# PostgreSQL only: on SQLite the test server, its socket consumers and this test share one
# in-memory database whose shared-cache locks refuse (rather than wait for) a concurrent
# write, so the live push and the retry's page failed now and then with "database table is
# locked", a fault of the test set-up that a file database in production does not have.
def test_texted_pictures_arrive_on_the_open_thread(
    require_postgres,
    world,
    browser,
    twilio_media,  # noqa: F811
):
    with ThreadPoolExecutor(1) as pool:  # off Playwright's event-loop thread
        thread, _ = pool.submit(
            services.thread_start,
            patient=world.patient,
            subject="Rash",
            body="It itches since Monday.",
            category="clinical",
            by=world.patient.user,
        ).result()
        with AsgiServer() as server:
            # Both sign in before any page is open: on SQLite, the server thread shares
            # the test database and a write from here could find its tables locked.
            desk = signed_in_context(browser, server, world.front_desk).new_page()
            patient = signed_in_context(browser, server, world.patient.user).new_page()
            desk.goto(f"{server.url}/messaging/inbox/{thread.pk}/")
            wait_until(desk, CONNECTED)
            pool.submit(
                services.sms_received,
                patient=world.patient,
                body="",
                media=[
                    Media(f"{twilio_media.origin}{MEDIA_PATH}photo", "image/jpeg"),
                    Media(f"{twilio_media.origin}{MEDIA_PATH}down", "image/jpeg"),
                ],
            ).result()
            expect(desk.get_by_role("link", name="picture-1.jpg")).to_be_visible()
            expect(desk.get_by_role("img", name="picture-1.jpg")).to_be_visible()  # drawn live
            assert desk.get_by_text("(empty text)").count() == 0

            pool.submit(give_up_on_due_pictures).result()
            for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                desk.set_viewport_size(viewport)
                desk.reload()
                failed = desk.get_by_text("Picture 2 sent by text could not be fetched")
                expect(failed).to_be_visible()
                screenshot(desk, f"texted-pictures-staff-{size}")

            twilio_media.failures["down"] = 0
            desk.get_by_role("button", name="Try again").click()
            expect(desk.get_by_role("link", name="picture-2.jpg")).to_be_visible()
            assert desk.get_by_text("could not be fetched").count() == 0

            patient.set_viewport_size(PHONE)
            patient.goto(f"{server.url}/messaging/threads/{thread.pk}/")
            expect(patient.get_by_role("link", name="picture-2.jpg")).to_be_visible()
            expect(patient.get_by_role("img", name="picture-2.jpg")).to_be_visible()
            screenshot(patient, "texted-pictures-patient-phone")
