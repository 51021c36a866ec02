"""Two real Chromium pages with fake cameras: the patient opens their join link, passes the
date-of-birth check and waits; the clinician cannot admit them from the state they booked in,
until the patient says where they really are; then both reach ICE `connected` and decode
each other's video."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from scheduling.links import JOIN
from scheduling.models import Appointment
from telehealth import links
from tests.asgi_server import AsgiServer
from tests.conftest import sign_in
from tests.e2e.conftest import DESKTOP, PHONE, screenshot, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def video_appointment(world, video_type, *, patient_state="MA"):
    start = timezone.now() + timedelta(minutes=5)
    return Appointment.objects.create(
        practice=world.practice,
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=start,
        end=start + timedelta(minutes=20),
        blocked_start=start,
        blocked_end=start + timedelta(minutes=30),
        modality="video",
        booked_via="staff",
        patient_state=patient_state,  # where they said they would be, as bookings record
    )


def signed_in_client(user) -> Client:
    return sign_in(Client(), user)


def signed_in_context(browser, server, user):
    client = signed_in_client(user)
    context = browser.new_context(viewport=DESKTOP, permissions=["camera", "microphone"])
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": server.url}]
    )
    return context


def test_patient_waits_clinician_admits_and_both_see_video(world, video_type, browser):
    # Booked from Texas, where Dr Alpha is not licensed; on the day they are home in Boston.
    appointment = video_appointment(world, video_type, patient_state="TX")
    with AsgiServer() as server:
        patient_context = browser.new_context(
            viewport=DESKTOP, permissions=["camera", "microphone"]
        )
        patient = patient_context.new_page()
        patient.goto(f"{server.url}/visit/{links.token_for(JOIN, appointment)}/")
        patient.get_by_label("Your date of birth").fill("1980-01-02")
        patient.get_by_role("button", name="Continue to the waiting room").click()
        expect(patient.get_by_role("heading", name="You're in the waiting room")).to_be_visible()
        wait_until(patient, "() => document.querySelector('[data-preview]').videoWidth > 0")
        patient.get_by_role("button", name="Test my connection").click()
        wait_until(patient, "() => window.connectionTest.done", timeout=20)
        result = patient.evaluate("() => window.connectionTest")
        assert result.get("mediaFlowed") is True, result
        assert 0 < result["rtt"] < 500
        screenshot(patient, "visit-waiting-room-desktop")

        clinician_context = signed_in_context(browser, server, world.clinician)
        clinician = clinician_context.new_page()
        clinician.goto(f"{server.url}/visits/")
        expect(clinician.get_by_text("Waiting 0 minutes")).to_be_visible()
        expect(clinician.get_by_text("Texas (from booking) Not licensed in Texas")).to_be_visible()
        clinician.get_by_role("button", name="Open visit room").click()
        expect(clinician.get_by_role("button", name="Admit patient")).to_be_enabled()
        clinician.get_by_role("button", name="Admit patient").click()
        expect(clinician.get_by_role("alert")).to_contain_text("You are not licensed in Texas")
        expect(patient.get_by_role("alert")).to_contain_text(
            "Your clinician can't see you while you're in Texas."
        )
        patient.get_by_label("State you are in now").select_option("MA")
        patient.get_by_label("At home").check()
        patient.get_by_role("button", name="Save my location").click()
        expect(patient.get_by_text("Saved: you are in Massachusetts, at home.")).to_be_visible()
        expect(patient.get_by_role("alert")).to_be_hidden()
        expect(clinician.get_by_text("Massachusetts · at home", exact=True)).to_be_visible()
        expect(clinician.get_by_role("alert")).to_be_hidden()
        clinician.get_by_role("button", name="Admit patient").click()

        patient.wait_for_url("**/visits/*/room/", timeout=10000)
        for page in (patient, clinician):
            wait_until(
                page,
                "() => (window.visitState || []).some(s => s === 'connected' || s === 'completed')",
                timeout=20,
            )
            wait_until(page, "() => inboundVideoFramesDecoded().then(n => n > 0)", timeout=20)
        # Screen share: the patient is told, and the clinician's tile turns 16:9 (the fake
        # screen is 1280x720; the fake camera 640x480).
        clinician.get_by_role("button", name="Share screen").click()
        expect(patient.get_by_text("Dr Alpha is sharing their screen")).to_be_visible()
        wait_until(
            patient,
            """() => [...document.querySelectorAll('[data-tiles] video:not([data-local])')]
                .some(v => v.videoWidth
                      && Math.abs(v.videoWidth / v.videoHeight - 16 / 9) < 0.05)""",
            timeout=20,
        )
        expect(clinician.get_by_role("button", name="Share screen")).to_have_attribute(
            "aria-pressed", "true"
        )
        screenshot(patient, "visit-room-patient-sees-screen-share")
        clinician.get_by_role("button", name="Share screen").click()
        expect(patient.get_by_text("is sharing their screen")).to_be_hidden()

        # Low-bandwidth mode caps what the patient's browser sends.
        patient.get_by_role("button", name="Low bandwidth").click()
        wait_until(
            patient,
            """() => [...visitPeers.values()].every(({pc}) => pc.getSenders()
                .filter(s => s.track && s.track.kind === 'video')
                .every(s => (s.getParameters().encodings[0] || {}).maxBitrate === 150000))""",
        )
        # Sustained loss pauses video for both sides; either can try video again.
        for _ in range(3):
            patient.evaluate("() => visitQuality.observe({loss: 0.25, kbps: 80})")
        for page in (patient, clinician):
            expect(
                page.get_by_text("Video is paused because the connection is poor")
            ).to_be_visible()
        screenshot(clinician, "visit-room-clinician-video-paused")
        clinician.get_by_role("button", name="Try video again").click()
        for page in (patient, clinician):
            expect(
                page.get_by_text("Video is paused because the connection is poor")
            ).to_be_hidden()

        clinician.get_by_label("Message").fill("Can you hear me?")
        clinician.get_by_role("button", name="Send").click()
        expect(patient.get_by_text("Can you hear me?")).to_be_visible()
        clinician.get_by_label("Subjective").fill("Sore throat for three days.")
        expect(clinician.get_by_role("status").filter(has_text="✓")).to_be_visible()
        screenshot(patient, "visit-room-patient-desktop")
        screenshot(clinician, "visit-room-clinician-desktop")
        clinician.get_by_role("button", name="End visit").click()
        expect(patient.get_by_role("heading", name="This visit has ended")).to_be_visible()
        expect(clinician.get_by_role("heading", name="Pat Alpha")).to_be_visible()  # the record
        clinician.get_by_label("Plan").fill("Salt-water gargles; call if a fever starts.")
        clinician.get_by_role("button", name="Sign and lock note").click()
        expect(clinician.get_by_text("Note signed and locked.")).to_be_visible()
        screenshot(clinician, "visit-record-clinician-desktop")
        patient.reload()
        patient.get_by_role("link", name="Read your visit summary").click()
        expect(patient.get_by_text("Salt-water gargles; call if a fever starts.")).to_be_visible()
        screenshot(patient, "visit-summary-patient-desktop")
        patient.set_viewport_size(PHONE)
        screenshot(patient, "visit-summary-patient-phone")
        patient_context.close()
        clinician_context.close()
    appointment.refresh_from_db()
    assert appointment.status == "completed"
    assert appointment.visit.patient_video is True and appointment.visit.audio_only is False
    assert appointment.visit.note.soap["subjective"] == "Sore throat for three days."
    assert appointment.visit.chat.get().body == "Can you hear me?"
