"""A real visit with every packet through coturn: ICE_TRANSPORT_POLICY=relay reaches both
pages of the visit room, each browser gathers only relay candidates with the TURN credentials
the app minted, the selected pair is relay/relay on both sides, and video is decoded."""

import re

import pytest
from playwright.sync_api import expect

from scheduling.links import JOIN
from telehealth import links
from tests.asgi_server import AsgiServer
from tests.coturn import coturn, turn_settings  # noqa: F401 (fixtures)
from tests.e2e.conftest import DESKTOP, PHONE, screenshot, wait_until
from tests.e2e.test_video_visit import signed_in_context, video_appointment

pytestmark = pytest.mark.django_db(transaction=True)

SELECTED_PAIRS = """async () => {
  const pairs = [];
  for (const { pc } of visitPeers.values()) {
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type !== "transport" || !s.selectedCandidatePairId) return;
      const pair = stats.get(s.selectedCandidatePairId);
      pairs.push({
        local: stats.get(pair.localCandidateId).candidateType,
        remote: stats.get(pair.remoteCandidateId).candidateType,
        localAddress: stats.get(pair.localCandidateId).address,
        bytesReceived: pair.bytesReceived,
      });
    });
    pairs.push({ policy: pc.getConfiguration().iceTransportPolicy });
  }
  return pairs;
}"""


def test_relay_only_visit_sends_media_through_coturn(
    require_postgres,
    world,
    video_type,
    browser,
    turn_settings,  # noqa: F811
    settings,
):
    settings.ICE_TRANSPORT_POLICY = "relay"
    appointment = video_appointment(world, video_type)
    with AsgiServer() as server:
        patient_context = browser.new_context(
            viewport=DESKTOP, permissions=["camera", "microphone"]
        )
        patient = patient_context.new_page()
        patient.goto(f"{server.url}/visit/{links.token_for(JOIN, appointment)}/")
        patient.get_by_label("Your date of birth").fill("1980-01-02")
        patient.get_by_role("button", name="Continue to the waiting room").click()
        expect(patient.get_by_role("heading", name="You're in the waiting room")).to_be_visible()

        clinician_context = signed_in_context(browser, server, world.clinician)
        clinician = clinician_context.new_page()
        clinician.goto(f"{server.url}/visits/")
        clinician.get_by_role("button", name="Open visit room").click()
        clinician.get_by_role("button", name="Admit patient").click()
        patient.wait_for_url("**/visits/*/room/", timeout=10000)

        for page in (patient, clinician):
            wait_until(
                page,
                "() => (window.visitState || []).some(s => s === 'connected' || s === 'completed')",
                timeout=30,
            )
            wait_until(page, "() => inboundVideoFramesDecoded().then(n => n > 5)", timeout=30)
        for page in (patient, clinician):
            stats = page.evaluate(SELECTED_PAIRS)
            pairs = [s for s in stats if "local" in s]
            assert [s["policy"] for s in stats if "policy" in s] == ["relay"]
            assert len(pairs) == 1, stats
            assert pairs[0]["local"] == "relay" and pairs[0]["remote"] == "relay", stats
            assert pairs[0]["localAddress"] == turn_settings.relay_ip
            assert pairs[0]["bytesReceived"] > 10_000
        screenshot(patient, "visit-relay-patient-desktop")
        screenshot(clinician, "visit-relay-clinician-desktop")
        patient.set_viewport_size(PHONE)
        screenshot(patient, "visit-relay-patient-phone")

        # coturn saw an allocation from each participant, under the usernames the app minted.
        log = turn_settings.log_text()
        users = set(
            re.findall(r"user <(\d+:\d+)>: incoming packet ALLOCATE processed, success", log)
        )
        participants = {str(p) for p in appointment.visit.participants.values_list("pk", flat=True)}
        assert {u.split(":")[1] for u in users} == participants, log[-3000:]
        patient_context.close()
        clinician_context.close()
