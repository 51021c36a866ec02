"""A peer-to-peer visit moves to a group room, in real Chromium pages with fake cameras and a
real Janus: the clinician and the patient see each other peer-to-peer; the clinician makes two
guest links (the visit now holds four) and asks for a third; the room offers to move the visit
to a group room; the clinician confirms; both pages go to the group room and, once joined,
decode each other's video through Janus. Screenshots of the offer at phone and desktop widths
go to /work/shots/visitsfu/ (SHOTS_DIR)."""

import os
import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.asgi_server import AsgiServer
from tests.e2e.conftest import DESKTOP, PHONE, wait_until
from tests.e2e.test_group_room import (  # the Janus fixtures and room steps of the group e2e
    decodes_everyone,
    janus_room_settings,  # noqa: F401 (a fixture)
    janus_server,  # noqa: F401 (a fixture)
    join,
    open_page,
)
from tests.e2e.test_video_visit import video_appointment
from visits import services
from visits.models import GroupAttendance, GroupSession, Presence

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = Path(os.environ.get("SHOTS_DIR", "/work/shots/visitsfu"))


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def peer_to_peer(page) -> None:
    wait_until(
        page,
        "() => (window.visitState || []).some(s => s === 'connected' || s === 'completed')",
        timeout=20,
    )
    wait_until(page, "() => inboundVideoFramesDecoded().then(n => n > 0)", timeout=20)


def test_the_fifth_invitation_moves_the_visit_and_both_see_each_other_through_janus(
    world,
    video_type,
    browser,
    janus_room_settings,  # noqa: F811
):
    visit = services.visit_for_appointment(video_appointment(world, video_type))
    services.patient_arrives(visit=visit)
    services.clinician_joins(visit=visit, user=world.clinician)
    services.admit(visit=visit, by=world.clinician)
    room_url = reverse("visits:room", args=[visit.pk])
    with AsgiServer() as server:
        clinician = open_page(browser, server, world.clinician)
        patient = open_page(browser, server, world.patient.user)
        clinician.goto(server.url + room_url)
        # In the room first (its socket welcomed): the newcomer is offered to, never both.
        expect(clinician.get_by_role("button", name="Send")).to_be_enabled(timeout=15000)
        patient.goto(server.url + room_url)
        for page in (clinician, patient):
            peer_to_peer(page)

        # Two guest links: with the patient and the clinician, the visit holds four.
        name = clinician.get_by_label("Guest's name")
        for guest in ("Interpreter", "Daughter"):
            name.fill(guest)
            clinician.get_by_role("button", name="Make link").click()
            expect(
                clinician.get_by_role("status").filter(has_text="/visits/guest/")
            ).to_be_visible()
        name.fill("Son")
        clinician.get_by_role("button", name="Make link").click()
        offer = clinician.get_by_role("alertdialog", name="Move this visit to a group room?")
        expect(offer).to_be_visible()
        expect(offer).to_contain_text("This visit already has 4 people")
        expect(offer.get_by_role("button", name="Move to a group room")).to_be_focused()
        assert not GroupSession.objects.exists()
        for width, label in ((PHONE, "phone"), (DESKTOP, "desktop")):
            clinician.set_viewport_size(width)
            offer.scroll_into_view_if_needed()
            clinician.wait_for_timeout(300)
            shot(clinician, f"move-offer-{label}")

        offer.get_by_role("button", name="Move to a group room").click()
        for page in (clinician, patient):
            page.wait_for_url(re.compile(r"/groups/\d+/room/$"), timeout=15000)
        session = GroupSession.objects.get(visit=visit)
        group_room = server.url + reverse("visits:group-room", args=[session.pk])
        assert clinician.url == group_room and patient.url == group_room
        # Attendance opened at the move; the visit's presences closed there.
        assert GroupAttendance.objects.filter(session=session, left_at__isnull=True).count() == 2
        assert not Presence.objects.filter(participant__visit=visit, left_at__isnull=True).exists()
        stretches = set(GroupAttendance.objects.values_list("pk", flat=True))

        for page in (clinician, patient):
            page.set_viewport_size(DESKTOP)
            join(page)
        for page in (clinician, patient):
            decodes_everyone(page, 1)
        # Their joins went on with the stretches the move opened.
        assert set(GroupAttendance.objects.values_list("pk", flat=True)) == stretches
        for width, label in ((PHONE, "phone"), (DESKTOP, "desktop")):
            patient.set_viewport_size(width)
            patient.wait_for_timeout(300)
            shot(patient, f"moved-group-room-patient-{label}")

        # Opening the visit's room again leads to the group room.
        patient.goto(server.url + room_url)
        patient.wait_for_url(group_room)
        for page in (clinician, patient):
            assert page.csp_violations == [], page.csp_violations
