"""Group sessions in the browser: the front desk schedules one through the form, sees it
listed and opens it; the invited patient finds it under "Groups" and chooses to show their
full name. Screenshots at phone and desktop widths."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.asgi_server import AsgiServer
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.e2e.test_video_visit import signed_in_context
from visits.models import GroupParticipant, GroupSession

pytestmark = pytest.mark.django_db(transaction=True)


def test_front_desk_schedules_a_group_and_the_patient_chooses_their_name(world, browser):
    start = timezone.localtime() + timedelta(days=2)
    with AsgiServer() as server:
        desk = signed_in_context(browser, server, world.front_desk).new_page()
        desk.goto(f"{server.url}/visits/")
        desk.get_by_role("link", name="Group sessions").click()
        desk.get_by_role("link", name="Schedule a group session").click()
        desk.get_by_label("Title").fill("Diabetes education")
        desk.get_by_label("Host").select_option(label="Dr Alpha")
        desk.get_by_label("Dr Second").check()
        desk.get_by_label("Starts").fill(start.strftime("%Y-%m-%dT10:00"))
        desk.get_by_label("Ends").fill(start.strftime("%Y-%m-%dT11:00"))
        desk.get_by_label("Patients at once").fill("10")
        desk.get_by_label("Invite patients").select_option(
            label=["Pat Alpha (1980-01-02)", "Other Alpha (1980-01-02)"]
        )
        for width, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
            desk.set_viewport_size(width)
            screenshot(desk, f"group-new-{name}")
        desk.get_by_role("button", name="Schedule").click()
        expect(desk.get_by_role("heading", name="Diabetes education")).to_be_visible()
        expect(desk.get_by_role("cell", name="Pat Alpha")).to_be_visible()
        for width, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
            desk.set_viewport_size(width)
            screenshot(desk, f"group-detail-{name}")
        desk.get_by_role("link", name="Group sessions").first.click()
        expect(desk.get_by_role("link", name="Diabetes education")).to_be_visible()
        for width, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
            desk.set_viewport_size(width)
            screenshot(desk, f"group-list-{name}")

        session = GroupSession.objects.get()
        assert session.capacity == 10 and session.invitees.count() == 2
        patient = signed_in_context(browser, server, world.patient.user).new_page()
        patient.goto(f"{server.url}/")
        patient.get_by_role("navigation", name="Main").get_by_role("link", name="Groups").click()
        expect(patient.get_by_role("strong").filter(has_text="Diabetes education")).to_be_visible()
        patient.get_by_label("Full name").check()
        for width, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
            patient.set_viewport_size(width)
            screenshot(patient, f"group-mine-{name}")
        patient.get_by_role("button", name="Save Diabetes education").click()
        expect(patient.get_by_text("Saved.")).to_be_visible()
        assert GroupParticipant.objects.get(patient=world.patient).show_full_name is True


def test_a_patient_books_a_place_in_an_open_class_and_gives_it_up(world, browser):
    from tests.visits.group_helpers import bookable_group_session

    full = bookable_group_session(
        host=world.clinician, capacity=1, patients=[world.other_patient], title="Yoga for back pain"
    )
    bookable_group_session(host=world.clinician, capacity=12, title="Walking group")
    with AsgiServer() as server:
        patient = signed_in_context(browser, server, world.patient.user).new_page()
        patient.goto(f"{server.url}/")
        patient.get_by_role("navigation", name="Main").get_by_role("link", name="Groups").click()
        expect(patient.get_by_role("heading", name="Open to book")).to_be_visible()
        expect(patient.get_by_text("12 places left")).to_be_visible()
        yoga = patient.get_by_role("button", name="Book a place Yoga for back pain")
        expect(yoga).to_have_count(0)
        for width, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
            patient.set_viewport_size(width)
            screenshot(patient, f"group-open-to-book-{name}")
        patient.get_by_role("button", name="Book a place Walking group").click()
        expect(patient.get_by_text("Your place is booked.")).to_be_visible()
        expect(patient.get_by_role("link", name="Join Walking group")).to_be_visible()
        for width, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
            patient.set_viewport_size(width)
            screenshot(patient, f"group-booked-{name}")
        patient.get_by_role("button", name="Give up my place Walking group").click()
        expect(patient.get_by_text("You gave up your place.")).to_be_visible()
        expect(patient.get_by_role("button", name="Book a place Walking group")).to_be_visible()
    assert full.invitees.count() == 1
    assert not GroupParticipant.objects.filter(patient=world.patient).exists()
