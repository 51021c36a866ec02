"""The group session room in real Chromium pages with fake cameras, through a real Janus
(tests/janus_server.py): three invited patients open their pages and wait (a waiting screen
with the device check) until the host admits one, then everyone; each decodes the other
three's video; a chat message reaches another patient's page, a raised hand shows on the
host's page; the host shares their screen, mutes one (nobody receives their sound any more,
and their page says they were muted) and removes another (their page says so, their
attendance closes); a patient leaves (their attendance closes) and comes back through the
waiting room. All under the project's CSP, with the Janus origin in connect-src. Screenshots
at phone and desktop widths."""

import copy
import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from telehealth.audit.models import AuditEvent
from tests.asgi_server import AsgiServer
from tests.conftest import make_patient
from tests.e2e.conftest import ARTIFACTS, DESKTOP, PHONE, screenshot, wait_until
from tests.e2e.test_video_visit import signed_in_context
from tests.visits.group_helpers import open_group_session
from visits.models import GroupAttendance

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def janus_server():
    from tests.conftest import missing_service
    from tests.janus_server import janus_installed, start_janus

    if not janus_installed():
        missing_service("Janus is not installed (make media, or apt-get install janus)")
    server = start_janus("media-a")
    yield server
    server.stop()


@pytest.fixture
def janus_room_settings(settings, janus_server):
    """The instance, and the connect-src settings.py derives from it when it is configured
    through JANUS_INSTANCES (tests/visits/test_group_room.py checks that derivation)."""
    settings.JANUS_INSTANCES = [janus_server.entry]
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    ws = urlparse(janus_server.entry["ws_url"])
    policy["DIRECTIVES"]["connect-src"].append(f"{ws.scheme}://{ws.netloc}")
    settings.CONTENT_SECURITY_POLICY = policy
    return settings


def open_page(browser, server, user):
    page = signed_in_context(browser, server, user).new_page()
    page.csp_violations = []
    page.on(
        "console",
        lambda m: (
            page.csp_violations.append(m.text) if "Content Security Policy" in m.text else None
        ),
    )
    return page


def join(page) -> None:
    expect(page.get_by_role("heading", name="Check your camera and microphone")).to_be_visible()
    wait_until(page, "() => document.querySelector('[data-preview]').videoWidth > 0")
    expect(page.get_by_label("Camera", exact=True)).not_to_have_value("")
    page.get_by_role("button", name="Join the session").click()
    wait_until(page, "() => window.groupRoom.published === true", timeout=20)


def arrive(page) -> None:
    """A patient's page waits: the waiting screen with the device check, no way in yet."""
    expect(page.get_by_role("heading", name="You're in the waiting room")).to_be_visible()
    expect(page.get_by_role("heading", name="Check your camera and microphone")).to_be_visible()
    wait_until(page, "() => document.querySelector('[data-preview]').videoWidth > 0")
    expect(page.get_by_label("Speaker", exact=True)).to_be_attached()
    expect(page.get_by_role("button", name="Join the session")).to_be_hidden()


def admitted(page) -> None:
    """Once admitted, the page joins the media room by itself."""
    wait_until(page, "() => window.groupRoom.published === true", timeout=20)


def shot(page, name: str) -> None:
    """A screenshot kept with the test artifacts, and in SHOTS when that folder exists."""
    screenshot(page, name)
    shots = Path("/work/shots/grouplive")
    if shots.is_dir():
        shutil.copy(ARTIFACTS / f"{name}.png", shots / f"{name}.png")


def decodes_everyone(page, count: int) -> None:
    wait_until(
        page,
        f"""() => window.groupRoom.inbound('video', 'framesDecoded').then(
                 f => Object.keys(f).length === {count} && Object.values(f).every(n => n > 0))""",
        timeout=30,
    )


def test_host_admits_three_patients_who_chat_raise_hands_then_mute_remove_and_leave(
    world, browser, janus_room_settings
):
    third = make_patient(world.practice, "Tess Gamma", "tess@alpha.test")
    session = open_group_session(
        host=world.clinician, patients=[world.patient, world.other_patient, third]
    )
    with AsgiServer() as server:
        host = open_page(browser, server, world.clinician)
        host.goto(server.url + reverse("visits:group", args=[session.pk]))
        host.get_by_role("link", name="Join", exact=True).click()
        for width, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
            host.set_viewport_size(width)
            wait_until(host, "() => document.querySelector('[data-preview]').videoWidth > 0")
            screenshot(host, f"group-room-device-check-{name}")
        join(host)

        patients = {}
        for patient in (world.patient, world.other_patient, third):
            page = open_page(browser, server, patient.user)
            page.goto(f"{server.url}/")
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Groups").click()
            page.get_by_role("link", name="Join Diabetes education").click()
            arrive(page)
            patients[patient.legal_name.split()[0]] = page
        for width, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
            patients["Pat"].set_viewport_size(width)
            patients["Pat"].wait_for_timeout(300)
            shot(patients["Pat"], f"group-room-waiting-{name}")
        assert not GroupAttendance.objects.filter(patient__isnull=False).exists()

        # The host sees who waits; admits Pat alone, then everyone else at once.
        waiting = host.get_by_role("list", name="Waiting room")
        for name in ("Pat", "Other", "Tess"):
            expect(waiting.get_by_role("button", name=f"Admit {name}")).to_be_visible()
        host.get_by_role("button", name="Admit Pat").click()
        admitted(patients["Pat"])
        expect(waiting.get_by_role("button", name="Admit Pat")).to_have_count(0)
        expect(
            patients["Tess"].get_by_role("heading", name="You're in the waiting room")
        ).to_be_visible()
        host.get_by_role("button", name="Admit everyone").click()
        for name in ("Other", "Tess"):
            admitted(patients[name])
        expect(host.get_by_text("Nobody is waiting.")).to_be_visible()

        pages = [host, *patients.values()]
        for page in pages:
            decodes_everyone(page, 3)
        expect(host.get_by_text("Tess", exact=True)).to_be_visible()
        expect(patients["Pat"].get_by_text("Dr Alpha", exact=True)).to_be_visible()
        expect(
            # Other and Tess came in together: either is announced last.
            patients["Pat"].get_by_role("status").filter(has_text=re.compile("(Tess|Other) joined"))
        ).to_be_attached()

        # Pat writes to the room; Tess's page shows it under Pat's first name.
        patients["Pat"].get_by_label("Message").fill("Hello everyone")
        patients["Pat"].get_by_role("button", name="Send").click()
        expect(patients["Tess"].get_by_role("list", name="Chat")).to_contain_text(
            "Pat: Hello everyone"
        )
        expect(host.get_by_role("list", name="Chat")).to_contain_text("Pat: Hello everyone")
        # Tess raises her hand; the host sees it.
        patients["Tess"].get_by_role("button", name="Raise hand").click()
        expect(patients["Tess"].get_by_role("button", name="Lower hand")).to_have_attribute(
            "aria-pressed", "true"
        )
        hands = host.get_by_role("list", name="Raised hands")
        expect(hands.get_by_role("button", name="Lower Tess's hand")).to_be_visible()
        for width, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
            for who, page in (("host", host), ("patient", patients["Pat"])):
                page.set_viewport_size(width)
                page.wait_for_timeout(300)
                shot(page, f"group-room-{who}-{name}")
        hands.get_by_role("button", name="Lower Tess's hand").click()
        expect(patients["Tess"].get_by_role("button", name="Raise hand")).to_have_attribute(
            "aria-pressed", "false"
        )
        expect(host.get_by_text("No hands raised.")).to_be_visible()

        # The host shares their screen (the fake screen is 1280x720, the camera 640x480).
        host_feed = GroupAttendance.objects.get(user=world.clinician).feed
        host.get_by_role("button", name="Share screen").click()
        expect(host.get_by_role("button", name="Share screen")).to_have_attribute(
            "aria-pressed", "true"
        )
        wait_until(
            patients["Pat"],
            f"""() => {{ const v = document.querySelector('[data-tile="{host_feed}"] video');
                return v.videoWidth
                    && Math.abs(v.videoWidth / v.videoHeight - 16 / 9) < 0.05; }}""",
            timeout=20,
        )
        host.get_by_role("button", name="Share screen").click()
        expect(host.get_by_role("button", name="Share screen")).to_have_attribute(
            "aria-pressed", "false"
        )

        # The host mutes Pat: Janus stops forwarding Pat's sound, Tess's still flows.
        feeds = {
            name: GroupAttendance.objects.get(patient=patient).feed
            for name, patient in (("Pat", world.patient), ("Tess", third))
        }
        host.get_by_role("button", name="Mute Pat").click()
        expect(host.get_by_role("button", name="Unmute Pat")).to_have_attribute(
            "aria-pressed", "true"
        )
        expect(host.get_by_text("muted by the host")).to_be_visible()
        expect(
            patients["Pat"].get_by_role("status").filter(has_text="The host muted your microphone")
        ).to_be_visible()
        patients["Pat"].set_viewport_size(PHONE)
        shot(patients["Pat"], "group-room-muted-phone")
        listener = patients["Other"]
        listener.wait_for_timeout(500)  # packets already on their way
        before = listener.evaluate("() => window.groupRoom.inbound('audio', 'packetsReceived')")
        listener.wait_for_timeout(2000)
        after = listener.evaluate("() => window.groupRoom.inbound('audio', 'packetsReceived')")
        pat, tess = str(feeds["Pat"]), str(feeds["Tess"])
        assert after[pat] - before[pat] <= 2, (before, after)
        assert after[tess] - before[tess] > 20, (before, after)
        assert AuditEvent.objects.filter(detail="muted in the group session").count() == 1

        # The host removes Other: their page says so, the others lose their tile.
        host.get_by_role("button", name="Remove Other").click()
        removed = patients["Other"]
        expect(
            removed.get_by_role("heading", name="The host removed you from this session.")
        ).to_be_visible()
        for width, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
            removed.set_viewport_size(width)
            screenshot(removed, f"group-room-removed-{name}")
        for page in (host, patients["Pat"], patients["Tess"]):
            wait_until(page, "() => window.groupRoom.remotes.size === 2")
        expect(patients["Pat"].get_by_role("status").filter(has_text="Other left")).to_be_attached()
        stretch = GroupAttendance.objects.get(patient=world.other_patient)
        assert stretch.left_at is not None

        # Tess leaves: her attendance closes, and the host's page drops her tile.
        patients["Tess"].get_by_role("button", name="Leave").click()
        expect(
            patients["Tess"].get_by_role("heading", name="You left the session.")
        ).to_be_visible()
        wait_until(host, "() => window.groupRoom.remotes.size === 1")
        assert GroupAttendance.objects.get(patient=third).left_at is not None
        assert GroupAttendance.objects.get(patient=world.patient).left_at is None

        # Tess comes back after the removal changed the pin: the pages already in the room
        # hold the old pin, are refused (433) when they subscribe to her, fetch the new one
        # and see her.
        back = open_page(browser, server, third.user)
        back.goto(server.url + reverse("visits:group-room", args=[session.pk]))
        arrive(back)  # leaving ended her stretch: she waits to be let in again
        host.get_by_role("button", name="Admit Tess").click()
        admitted(back)
        for page in (host, patients["Pat"], back):
            decodes_everyone(page, 2)
        pages.append(back)
        for page in pages:
            assert page.csp_violations == [], page.csp_violations
