"""The EHR launch of the visit room, driven end to end against a stand-in EHR (tests/ehr/
standin.py) that issues real tokens: Django's test client plays the browser on our side and
`requests` follows the EHR's authorize redirect."""

import base64
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from scheduling.models import Appointment, AppointmentType
from telehealth.accounts.fhir import patient_system
from telehealth.audit.models import AuditEvent
from telehealth.ehr import launch as flow
from telehealth.ehr.landing import appointment_system
from telehealth.ehr.models import EhrServer
from tests.conftest import PASSWORD, current_totp, sign_in
from tests.ehr.standin import StandInEhr
from visits.models import Visit


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


@pytest.fixture
def ehr(settings):
    standin = StandInEhr()
    standin.start()
    settings.EHR_INSECURE_ORIGINS = [standin.origin]
    yield standin
    standin.stop()


@pytest.fixture
def registration(world, ehr):
    return EhrServer.objects.create(
        practice=world.practice, name="Stand-in EHR", iss=ehr.iss, client_id=ehr.client_id
    )


def our_identifier(patient) -> dict:
    return {"system": patient_system(patient.practice), "value": str(patient.pk)}


def book(patient, *, start=None, modality="video") -> Appointment:
    """An appointment written directly: these tests are about the launch, not booking."""
    kind, _ = AppointmentType.objects.get_or_create(
        practice=patient.practice, slug="video", defaults={"name": "Video visit"}
    )
    start = start or timezone.now()
    return Appointment.objects.create(
        practice=patient.practice,
        provider=patient.practice.providers.first(),
        patient=patient,
        appointment_type=kind,
        start=start,
        end=start + timedelta(minutes=20),
        blocked_start=start,
        blocked_end=start + timedelta(minutes=20),
        modality=modality,
        booked_via="staff",
    )


def start_launch(client, ehr, *, iss=None, launch="launch-abc"):
    return client.get(
        reverse("ehr:launch"), {"iss": ehr.iss if iss is None else iss, "launch": launch}
    )


def through_ehr(client, response):
    """Follow our redirect to the EHR's authorize endpoint, and its redirect back to us."""
    assert response.status_code == 302, response.content[:500]
    answer = requests.get(response["Location"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert back.path == reverse("ehr:callback")
    return client.get(f"{back.path}?{back.query}")


def launched(client, ehr, **kwargs):
    return through_ehr(client, start_launch(client, ehr, **kwargs))


@pytest.fixture
def ready(world, ehr, registration, client):
    """The clinician signed in, the EHR's patient carrying our record number, a visit today."""
    ehr.patient_identifiers = [our_identifier(world.patient)]
    ehr.practitioner_npi = world.clinician.provider.npi
    sign_in(client, world.clinician)
    return book(world.patient)


def test_launch_lands_the_clinician_in_todays_visit_room(client, world, ehr, ready):
    response = launched(client, ehr)
    visit = Visit.objects.get(appointment=ready)
    assert response.status_code == 302
    assert response["Location"] == reverse("visits:room", args=[visit.pk])
    assert client.get(response["Location"]).status_code == 200
    event = AuditEvent.objects.filter(detail__startswith="EHR launch from").get()
    assert event.actor_id == world.clinician.pk
    assert event.patient_id == world.patient.pk


def test_authorize_request_carries_launch_aud_scope_and_s256_challenge(client, ehr, ready):
    launched(client, ehr, launch="L-42")
    (asked,) = ehr.authorized
    assert asked["launch"] == "L-42"
    assert asked["aud"] == ehr.iss
    assert asked["scope"] == "launch openid fhirUser patient/Patient.read patient/Encounter.read"
    assert asked["code_challenge_method"] == "S256"
    assert asked["redirect_uri"].endswith(reverse("ehr:callback"))
    token_call = next(r for r in ehr.requests if r[1] == "/token")
    assert token_call[2]["client_id"] == ehr.client_id
    assert len(token_call[2]["code_verifier"]) >= 43


def test_confidential_client_authenticates_with_its_secret(client, ehr, ready, registration):
    ehr.client_secret = "s3cret-from-the-ehr"
    registration.confidential = True
    registration.client_secret = "s3cret-from-the-ehr"
    registration.save()
    response = launched(client, ehr)
    assert response["Location"].endswith("/room/")


def test_wrong_client_secret_is_refused_by_the_ehr_and_reported(client, ehr, ready, registration):
    ehr.client_secret = "the-real-one"
    registration.confidential = True
    registration.client_secret = "an-old-one"
    registration.save()
    response = launched(client, ehr)
    assert response.status_code == 400
    assert b"invalid_client" in response.content
    assert not Visit.objects.exists()


def test_client_secret_is_encrypted_at_rest(registration):
    from django.db import connection

    registration.confidential = True
    registration.client_secret = "plain-secret-value"
    registration.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM ehr_ehrserver WHERE id = %s", [registration.pk])
        (stored,) = cursor.fetchone()
    assert "plain-secret-value" not in stored
    assert EhrServer.objects.get(pk=registration.pk).client_secret == "plain-secret-value"


def test_encounter_naming_our_appointment_picks_that_visit(client, world, ehr, ready):
    later = book(world.patient, start=timezone.now() + timedelta(days=2))
    ehr.encounter_identifiers = [
        {"system": appointment_system(world.practice), "value": str(later.pk)}
    ]
    response = launched(client, ehr)
    assert response["Location"] == reverse(
        "visits:room", args=[Visit.objects.get(appointment=later).pk]
    )
    assert not Visit.objects.filter(appointment=ready).exists()


def test_encounter_naming_another_patients_appointment_is_refused(client, world, ehr, ready):
    theirs = book(world.other_patient, start=timezone.now() + timedelta(hours=3))
    ehr.encounter_identifiers = [
        {"system": appointment_system(world.practice), "value": str(theirs.pk)}
    ]
    response = launched(client, ehr)
    assert response.status_code == 404
    assert f"appointment {theirs.pk}".encode() in response.content
    assert not Visit.objects.exists()


def test_unregistered_iss_is_refused_without_fetching_anything(client, world, ehr):
    sign_in(client, world.clinician)
    response = start_launch(client, ehr)
    assert response.status_code == 400
    assert b"registered" in response.content
    assert ehr.requests == []


@pytest.mark.parametrize(
    "iss",
    [
        "http://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
        "",
    ],
)
def test_arbitrary_iss_is_never_fetched(client, world, ehr, registration, iss):
    sign_in(client, world.clinician)
    response = start_launch(client, ehr, iss=iss)
    assert response.status_code == 400
    assert ehr.requests == []


def test_inactive_registration_is_refused(client, world, ehr, registration):
    registration.is_active = False
    registration.save()
    sign_in(client, world.clinician)
    assert start_launch(client, ehr).status_code == 400
    assert ehr.requests == []


def test_iss_is_matched_after_normalising(client, world, ehr, ready):
    response = start_launch(client, ehr, iss=ehr.iss.replace("http://", "HTTP://") + "/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{ehr.origin}/authorize?")


def test_plain_http_ehr_is_refused_unless_allowed(client, settings, ehr, ready):
    settings.EHR_INSECURE_ORIGINS = []
    response = start_launch(client, ehr)
    assert response.status_code == 502
    assert b"https" in response.content
    assert ehr.requests == []


def test_ehr_without_s256_pkce_is_refused(client, ehr, ready):
    ehr.code_challenge_methods = ["plain"]
    response = start_launch(client, ehr)
    assert response.status_code == 502
    assert b"S256" in response.content


def test_unknown_state_is_refused(client, ehr, ready):
    start = start_launch(client, ehr)
    answer = requests.get(start["Location"], allow_redirects=False, timeout=5)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    response = client.get(reverse("ehr:callback"), {"code": code, "state": "made-up"})
    assert response.status_code == 400
    assert b"unknown, already used or expired" in response.content
    assert not [r for r in ehr.requests if r[1] == "/token"]


def test_reused_state_is_refused(client, ehr, ready):
    start = start_launch(client, ehr)
    answer = requests.get(start["Location"], allow_redirects=False, timeout=5)
    back = urlsplit(answer.headers["Location"])
    first = client.get(f"{back.path}?{back.query}")
    assert first.status_code == 302
    again = client.get(f"{back.path}?{back.query}")
    assert again.status_code == 400
    assert b"already used" in again.content


def test_expired_state_is_refused(client, settings, ehr, ready):
    start = start_launch(client, ehr)
    session = client.session
    for entry in session[flow.PENDING_KEY].values():
        entry["at"] -= settings.EHR_LAUNCH_SECONDS + 1
    session.save()
    response = through_ehr(client, start)
    assert response.status_code == 400


def test_state_of_another_user_is_refused(client, world, ehr, ready):
    start = start_launch(client, ehr)
    answer = requests.get(start["Location"], allow_redirects=False, timeout=5)
    back = urlsplit(answer.headers["Location"])
    session = client.session
    pending = session[flow.PENDING_KEY]
    sign_in(client, world.other_clinician)
    session = client.session
    session[flow.PENDING_KEY] = pending
    session.save()
    assert client.get(f"{back.path}?{back.query}").status_code == 400


def test_pkce_mismatch_is_refused_by_the_ehr_and_reported(client, ehr, ready):
    start = start_launch(client, ehr)
    session = client.session
    for entry in session[flow.PENDING_KEY].values():
        entry["verifier"] = "x" * 64  # not the verifier the challenge was made from
    session.save()
    response = through_ehr(client, start)
    assert response.status_code == 400
    assert b"PKCE verification failed" in response.content
    assert not Visit.objects.exists()


def test_ehr_error_on_authorize_is_reported_and_ends_that_launch(client, ehr, ready):
    start_launch(client, ehr)
    (state,) = client.session[flow.PENDING_KEY]
    response = client.get(reverse("ehr:callback"), {"error": "access_denied", "state": state})
    assert response.status_code == 400
    assert b"access_denied" in response.content
    assert client.session[flow.PENDING_KEY] == {}


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"id_token_foreign_key": True}, b"signature matches none"),
        ({"id_token_aud": "someone-else"}, b"aud"),
        ({"id_token_exp_offset": -600}, b"expired"),
    ],
)
def test_bad_id_token_is_refused(client, ehr, ready, fault, reason):
    for name, value in fault.items():
        setattr(ehr, name, value)
    response = launched(client, ehr)
    assert response.status_code == 400
    assert b"identity token was refused" in response.content
    assert reason in response.content
    assert not Visit.objects.exists()


def test_practitioner_with_another_npi_is_refused(client, ehr, ready):
    ehr.practitioner_npi = "1245319599"
    response = launched(client, ehr)
    assert response.status_code == 403
    assert b"1245319599" in response.content
    assert not Visit.objects.exists()
    assert AuditEvent.objects.filter(detail__startswith="EHR launch refused").exists()


def test_practitioner_without_npi_is_not_compared(client, ehr, ready):
    ehr.practitioner_npi = None
    assert launched(client, ehr)["Location"].endswith("/room/")


def test_signed_out_clinician_signs_in_and_the_launch_resumes(client, world, ehr, registration):
    ehr.patient_identifiers = [our_identifier(world.patient)]
    appointment = book(world.patient)
    response = start_launch(client, ehr)
    assert response.status_code == 302
    assert ehr.requests == []  # nothing is fetched for a visitor
    login = response["Location"]
    assert login.startswith(reverse("accounts:login"))
    response = client.post(login, {"username": "doc@alpha.test", "password": PASSWORD})
    assert response["Location"] == reverse("ehr:resume")
    response = client.get(response["Location"])
    assert response["Location"].startswith(reverse("accounts:mfa-verify"))
    device = TOTPDevice.objects.get(user=world.clinician)
    response = client.post(
        response["Location"], {"token": current_totp(device), "next": reverse("ehr:resume")}
    )
    assert response["Location"] == reverse("ehr:resume")
    response = through_ehr(client, client.get(reverse("ehr:resume")))
    visit = Visit.objects.get(appointment=appointment)
    assert response["Location"] == reverse("visits:room", args=[visit.pk])
    assert ehr.authorized[0]["launch"] == "launch-abc"


def test_resume_without_a_waiting_launch_is_a_clear_400(client, world):
    sign_in(client, world.clinician)
    response = client.get(reverse("ehr:resume"))
    assert response.status_code == 400
    assert b"No EHR launch is waiting" in response.content


def test_patient_without_our_record_number_gets_a_clear_page(client, ehr, ready):
    ehr.patient_identifiers = [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "999"}]
    response = launched(client, ehr)
    assert response.status_code == 404
    assert b"has no record number of this practice" in response.content
    assert reverse("visits:today").encode() in response.content


def test_patient_with_no_visit_today_gets_a_clear_page(client, world, ehr, ready):
    ready.delete()
    book(world.patient, start=timezone.now() + timedelta(days=3))
    response = launched(client, ehr)
    assert response.status_code == 404
    assert b"has no video or phone visit with you today" in response.content
    assert reverse("visits:today").encode() in response.content


def test_in_person_appointment_is_not_a_room(client, world, ehr, ready):
    ready.delete()
    book(world.patient, modality="in_person")
    assert launched(client, ehr).status_code == 404


def test_another_practices_registration_cannot_be_used_here(client, world, ehr):
    """Practice B registered this EHR, practice A did not: A's clinician is refused before
    anything is fetched."""
    EhrServer.objects.create(
        practice=world.outside_practice, name="B's EHR", iss=ehr.iss, client_id=ehr.client_id
    )
    book(world.patient)
    ehr.patient_identifiers = [our_identifier(world.patient)]
    sign_in(client, world.clinician)
    response = start_launch(client, ehr)
    assert response.status_code == 400
    assert b"not registered for your practice" in response.content
    assert ehr.requests == []


def test_another_practices_launch_cannot_land_in_this_practices_visit(client, world, ehr):
    """Practice B's registration, whose EHR says the patient is one of practice A's (by A's
    record-number system): B's clinician lands nowhere in A."""
    from telehealth.accounts.models import Provider

    Provider.objects.create(
        user=world.outside_clinician,
        practice=world.outside_practice,
        slug="beta-doc",
        display_name="Dr Beta",
        npi="1245319599",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )
    EhrServer.objects.create(
        practice=world.outside_practice,
        name="B's EHR",
        iss=ehr.iss,
        client_id=ehr.client_id,
        patient_identifier_system=patient_system(world.practice),
    )
    book(world.patient)
    ehr.patient_identifiers = [our_identifier(world.patient)]
    sign_in(client, world.outside_clinician)
    response = launched(client, ehr)
    assert response.status_code == 404
    assert not Visit.objects.exists()


def test_pending_launch_of_another_practices_registration_is_refused(client, world, ehr, ready):
    other = EhrServer.objects.create(
        practice=world.outside_practice, name="B's EHR", iss=ehr.iss, client_id=ehr.client_id
    )
    start = start_launch(client, ehr)
    session = client.session
    for entry in session[flow.PENDING_KEY].values():
        entry["server"] = other.pk
    session.save()
    response = through_ehr(client, start)
    assert response.status_code == 400
    assert not Visit.objects.exists()


def test_front_desk_cannot_launch(client, world, ehr, registration):
    sign_in(client, world.front_desk)
    assert start_launch(client, ehr).status_code == 403
    assert ehr.requests == []


def test_tokens_are_not_kept_in_the_session(client, ehr, ready):
    launched(client, ehr)
    session = json.dumps(dict(client.session))
    assert all(token not in session for token in ehr.tokens)
    assert client.session[flow.PENDING_KEY] == {}


def test_basic_credentials_are_what_the_ehr_expects(ehr):
    # The stand-in's own check, so the confidential-client tests can fail.
    ehr.client_secret = "abc"
    expected = base64.b64encode(b"telehealth-app:abc").decode()
    status, _headers, _body = ehr.token({"code": "nope"}, f"Basic {expected}")
    assert status.startswith("400")
    status, _headers, _body = ehr.token({"code": "nope"}, "Basic eDp5")
    assert status.startswith("401")
