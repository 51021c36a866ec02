"""SMART Backend Services end to end: a vendor's signed assertion buys a short-lived token,
and the token reads the FHIR API as the client's practice, within its scopes."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from jwcrypto import jwk
from oauth2_provider.models import AccessToken

from telehealth.smart import services
from telehealth.smart.models import AssertionJti
from tests.smart.conftest import Vendor, key_pair, unsigned


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


def token_for(get_token, vendor, scope: str, alg: str = "RS384") -> str:
    status, body = get_token(vendor.token_request(vendor.assertion(alg), scope=scope))
    assert status == 200, body
    return body["access_token"]


def patient_ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    bundle = response.json()
    Bundle.model_validate(bundle)
    return {entry["resource"]["id"] for entry in bundle.get("entry", [])}


# The token endpoint


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_signed_assertion_gets_a_five_minute_bearer_token(get_token, vendor, alg):
    status, body = get_token(vendor.token_request(vendor.assertion(alg)))
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "system/Patient.rs"
    assert "refresh_token" not in body
    stored = AccessToken.objects.get(application=vendor.client.application)
    assert stored.expires - timezone.now() <= timedelta(minutes=5)
    assert stored.token == ""  # kept hashed, never in clear


def test_granted_scopes_are_those_asked_for_within_the_registered_ones(get_token, vendor):
    asked = "system/Patient.rs system/Patient.cruds system/Observation.r system/Coverage.rs"
    status, body = get_token(vendor.token_request(vendor.assertion(), scope=asked))
    assert status == 200, body
    assert body["scope"] == "system/Patient.rs system/Observation.r"


def test_v1_scope_within_a_v1_registration_is_granted(get_token, vendor):
    status, body = get_token(
        vendor.token_request(vendor.assertion(), scope="system/Practitioner.read")
    )
    assert (status, body["scope"]) == (200, "system/Practitioner.read")


@pytest.mark.parametrize("scope", ["system/Coverage.rs", "system/*.rs", "", "patient/*.read"])
def test_asking_for_nothing_the_client_may_have_is_invalid_scope(get_token, vendor, scope):
    status, body = get_token(vendor.token_request(vendor.assertion(), scope=scope))
    assert (status, body["error"]) == (400, "invalid_scope")
    assert not AccessToken.objects.exists()


def hs256(vendor) -> str:
    secret = jwk.JWK.generate(kty="oct", size=256, kid="rsa-1")
    return vendor.assertion("HS256", key=secret)


ASSERTION_FAILURES = {
    "hs256": hs256,
    "alg none": lambda v: unsigned({"alg": "none", "kid": "rsa-1"}, v.claims()),
    "rs256 with a registered key": lambda v: v.assertion("RS256", key=v.keys["RS384"]),
    "unknown kid": lambda v: v.assertion(key=key_pair("RS384", "rsa-unknown")),
    "registered kid, another key": lambda v: v.assertion(key=key_pair("RS384", "rsa-1")),
    "forged signature": lambda v: v.assertion()[:-8] + "AAAAAAAA",
    "wrong aud": lambda v: v.assertion(aud="http://testserver/fhir/R4"),
    "expired": lambda v: v.assertion(exp=int(time.time()) - 5),
    "exp ten minutes ahead": lambda v: v.assertion(exp=int(time.time()) + 600),
    "no exp": lambda v: v.assertion(exp=None),
    "no jti": lambda v: v.assertion(jti=None),
    "sub is not the client": lambda v: v.assertion(sub="someone-else"),
    "iss is not a client": lambda v: v.assertion(iss="nobody", sub="nobody"),
    "not a jwt": lambda v: "not-a-jwt",
}


@pytest.mark.parametrize("failure", sorted(ASSERTION_FAILURES))
def test_a_bad_assertion_is_invalid_client(get_token, vendor, failure):
    status, body = get_token(vendor.token_request(ASSERTION_FAILURES[failure](vendor)))
    assert (status, body["error"]) == (401, "invalid_client"), body
    assert not AccessToken.objects.exists()


def test_a_replayed_assertion_is_invalid_client(get_token, vendor):
    assertion = vendor.assertion()
    assert get_token(vendor.token_request(assertion))[0] == 200
    status, body = get_token(vendor.token_request(assertion))
    assert (status, body["error"]) == (401, "invalid_client")
    assert "used already" in body["error_description"]
    assert AccessToken.objects.count() == 1


def test_used_jtis_are_forgotten_once_their_assertion_expired(vendor):
    past = timezone.now() - timedelta(minutes=1)
    AssertionJti.objects.create(client=vendor.client, jti="old", expires_at=past)
    later = timezone.now() + timedelta(minutes=4)
    assert services.assertion_jti_spend(client=vendor.client, jti="new", expires_at=later)
    assert list(AssertionJti.objects.values_list("jti", flat=True)) == ["new"]
    assert not services.assertion_jti_spend(client=vendor.client, jti="new", expires_at=later)


def test_the_same_jti_from_two_clients_is_no_replay(get_token, vendor, outside_vendor):
    assert get_token(vendor.token_request(vendor.assertion(jti="shared")))[0] == 200
    request = outside_vendor.token_request(outside_vendor.assertion(jti="shared"))
    assert get_token(request)[0] == 200


def test_an_inactive_client_gets_no_token(get_token, vendor):
    vendor.client.is_active = False
    services.smart_client_update(client=vendor.client, by=None)
    status, body = get_token(vendor.token_request(vendor.assertion()))
    assert (status, body["error"]) == (401, "invalid_client")


def test_an_assertion_signed_with_another_clients_key_is_refused(get_token, vendor, outside_vendor):
    # Client B's key, under B's kid and under A's kid, for an assertion claiming to be A.
    for key in (
        outside_vendor.keys["RS384"],
        jwk.JWK(**{**outside_vendor.keys["RS384"], "kid": "rsa-1"}),
    ):
        status, body = get_token(vendor.token_request(vendor.assertion(key=key)))
        assert (status, body["error"]) == (401, "invalid_client")


@pytest.mark.parametrize(
    "credentials",
    [
        {"client_secret": "guess"},
        {"client_assertion_type": "urn:example:other"},
        {"client_assertion": ""},
    ],
)
def test_anything_but_a_jwt_assertion_is_invalid_client(get_token, vendor, credentials):
    data = {**vendor.token_request(vendor.assertion()), "client_id": vendor.client_id}
    data.update(credentials)
    status, body = get_token(data)
    assert (status, body["error"]) == (401, "invalid_client")


def test_a_client_cannot_use_the_password_grant(get_token, vendor, world):
    from tests.conftest import PASSWORD

    data = {
        **vendor.token_request(vendor.assertion()),
        "grant_type": "password",
        "username": "admin@alpha.test",
        "password": PASSWORD,
    }
    status, body = get_token(data)
    assert (status, body["error"]) == (400, "unauthorized_client")
    assert not AccessToken.objects.exists()


def test_an_unknown_grant_type_is_unsupported(get_token, vendor):
    data = {**vendor.token_request(vendor.assertion()), "grant_type": "urn:example:magic"}
    status, body = get_token(data)
    assert (status, body["error"]) == (400, "unsupported_grant_type")


# The FHIR API with a token


def test_token_searches_its_practices_patients_and_only_those(get_token, bearer, vendor, world):
    token = token_for(get_token, vendor, "system/Patient.rs")
    found = patient_ids(bearer("Patient", token))
    assert found == {str(world.patient.pk), str(world.other_patient.pk)}
    assert bearer(f"Patient/{world.patient.pk}", token).status_code == 200
    outsider = bearer(f"Patient/{world.outside_patient.pk}", token)
    assert outsider.status_code == 404
    OperationOutcome.model_validate(outsider.json())


def test_outside_practices_token_sees_only_its_own_patients(
    get_token, bearer, outside_vendor, world
):
    token = token_for(get_token, outside_vendor, "system/*.rs")
    assert patient_ids(bearer("Patient", token)) == {str(world.outside_patient.pk)}


def test_reads_are_audited_as_the_clients_service_user(get_token, bearer, vendor, world):
    from telehealth.audit.models import AuditEvent

    token = token_for(get_token, vendor, "system/Patient.rs")
    assert bearer(f"Patient/{world.patient.pk}", token).status_code == 200
    event = AuditEvent.objects.filter(patient_id=world.patient.pk).latest("pk")
    assert event.actor_id == vendor.client.service_user_id


def test_observation_scope_cannot_read_patients(get_token, bearer, vendor, world):
    token = token_for(get_token, vendor, "system/Observation.rs")
    for path in ("Patient", f"Patient/{world.patient.pk}"):
        response = bearer(path, token)
        assert response.status_code == 403
        assert response["WWW-Authenticate"] == 'Bearer realm="fhir", error="insufficient_scope"'
        outcome = OperationOutcome.model_validate(response.json())
        assert outcome.issue[0].code == "forbidden"
    assert bearer("Observation", token).status_code == 200


def test_v2_read_without_search_reads_but_cannot_search(get_token, bearer, vendor, world):
    token = token_for(get_token, vendor, "system/Patient.r")
    assert bearer(f"Patient/{world.patient.pk}", token).status_code == 200
    assert bearer("Patient", token).status_code == 403


def test_v1_read_scope_reads_and_searches(get_token, bearer, vendor, world):
    token = token_for(get_token, vendor, "system/Practitioner.read")
    assert bearer("Practitioner", token).status_code == 200
    assert bearer("Patient", token).status_code == 403


def test_an_unsupported_type_is_still_404_with_a_token(get_token, bearer, vendor):
    token = token_for(get_token, vendor, "system/Patient.rs")
    assert bearer("MedicationRequest", token).status_code == 404


def assert_invalid_token(response):
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="fhir", error="invalid_token"'
    assert OperationOutcome.model_validate(response.json()).issue[0].code == "login"


def test_an_expired_token_is_401_invalid_token(get_token, bearer, vendor):
    token = token_for(get_token, vendor, "system/Patient.rs")
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert_invalid_token(bearer("Patient", token))


@pytest.mark.parametrize("token", ["made-up", ""])
def test_an_unknown_or_empty_token_is_401_invalid_token(bearer, world, token):
    assert_invalid_token(bearer("Patient", token))


def test_deactivating_a_client_ends_its_tokens_at_once(get_token, bearer, vendor):
    token = token_for(get_token, vendor, "system/Patient.rs")
    vendor.client.is_active = False
    services.smart_client_update(client=vendor.client, by=None)
    assert_invalid_token(bearer("Patient", token))


def test_a_bad_token_is_not_rescued_by_a_session(client, bearer, world):
    from tests.conftest import sign_in

    sign_in(client, world.admin)
    assert client.get("/fhir/R4/Patient").status_code == 200
    assert_invalid_token(bearer("Patient", "made-up"))


def test_metadata_stays_public_whatever_token_comes_with_it(bearer, world):
    assert bearer("metadata", "made-up").status_code == 200


def test_an_empty_token_request_is_an_oauth_error(client, db):
    response = client.post("/oauth/token")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert response["Cache-Control"] == "no-store"


def test_include_adds_only_types_the_token_may_read(
    get_token, bearer, world, vendor_keys, video_type
):
    from scheduling.models import Appointment
    from tests.smart.conftest import register

    start = timezone.now() + timedelta(days=2)
    Appointment.objects.create(
        practice=world.practice,
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=start,
        end=start + timedelta(minutes=20),
        blocked_start=start,
        blocked_end=start + timedelta(minutes=20),
        modality="video",
        booked_via="staff",
        patient_state="MA",
    )
    scheduler = register(
        world.practice,
        "Scheduler",
        scopes="system/Appointment.rs system/Patient.rs",
        keys=vendor_keys,
        by=world.admin,
    )

    def included(token: str) -> list[str]:
        response = bearer("Appointment", token, _include="Appointment:patient")
        assert response.status_code == 200, response.content
        entries = response.json()["entry"]
        return [e["resource"]["resourceType"] for e in entries if e["search"]["mode"] == "include"]

    assert included(token_for(get_token, scheduler, "system/Appointment.rs")) == []
    both = "system/Appointment.rs system/Patient.rs"
    assert included(token_for(get_token, scheduler, both)) == ["Patient"]


# Writes with a token


@pytest.fixture
def writer(world, vendor_keys) -> Vendor:
    from tests.smart.conftest import register

    return register(
        world.practice,
        "Front door sync",
        scopes="system/Patient.crus system/Observation.rs",
        keys=vendor_keys,
        by=world.admin,
    )


def _post(client, path: str, body: dict, token: str):
    import json

    return client.post(
        f"/fhir/R4/{path}",
        json.dumps(body),
        content_type="application/fhir+json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_a_bearer_write_needs_no_csrf_token_even_beside_a_session(get_token, writer, world):
    from django.test import Client

    from telehealth.accounts.models import Patient
    from tests.conftest import sign_in
    from tests.fhir.test_writes import patient_example

    token = token_for(get_token, writer, "system/Patient.cru")
    browser = sign_in(Client(enforce_csrf_checks=True), world.front_desk)
    response = _post(browser, "Patient", patient_example(), token)
    assert response.status_code == 201, response.content
    assert Patient.objects.filter(legal_name="Peter James Chalmers").count() == 1


def test_a_transactions_entries_need_the_tokens_create_scope(get_token, writer, world, client):
    from telehealth.accounts.models import Patient
    from tests.fhir.test_writes import patient_example

    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": patient_example(), "request": {"method": "POST", "url": "Patient"}}],
    }
    read_only = token_for(get_token, writer, "system/Patient.rs")
    response = _post(client, "", bundle, read_only)
    assert response.status_code == 403, response.content
    assert "create" in response.json()["issue"][0]["diagnostics"]
    assert not Patient.objects.filter(legal_name="Peter James Chalmers").exists()
    creator = token_for(get_token, writer, "system/Patient.c")
    response = _post(client, "", bundle, creator)
    assert response.status_code == 200, response.content
    assert Patient.objects.filter(legal_name="Peter James Chalmers").count() == 1


# $export with a token


def test_an_export_holds_only_the_types_the_token_may_read(
    get_token, vendor, world, client, django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    token = token_for(get_token, vendor, "system/Patient.rs")
    headers = {
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_ACCEPT": "application/fhir+json",
        "HTTP_PREFER": "respond-async",
    }
    refused = client.get("/fhir/R4/$export", {"_type": "Patient,Observation"}, **headers)
    assert refused.status_code == 403, refused.content
    assert "insufficient_scope" in refused["WWW-Authenticate"]

    with django_capture_on_commit_callbacks(execute=True):
        started = client.get("/fhir/R4/Patient/$export", **headers)
    assert started.status_code == 202, started.content
    manifest = client.get(started["Content-Location"], **headers)
    assert manifest.status_code == 200, manifest.content
    assert {output["type"] for output in manifest.json()["output"]} == {"Patient"}


# Every registered type, walked from the registry: the next type is covered without anyone
# adding it here.


def _registered_types() -> list[str]:
    from telehealth.fhir.registry import registered

    return [mapper.resource_type for mapper in registered()]


@pytest.mark.parametrize("resource_type", _registered_types())
def test_each_type_needs_its_own_scope(get_token, bearer, world, vendor_keys, resource_type):
    from tests.smart.conftest import register

    everything = register(
        world.practice, "Warehouse", scopes="system/*.rs", keys=vendor_keys, by=world.admin
    )
    other = "Organization" if resource_type != "Organization" else "Patient"
    params = {"start": ["ge2026-12-10", "lt2026-12-11"]} if resource_type == "Slot" else {}
    refused = bearer(
        resource_type, token_for(get_token, everything, f"system/{other}.rs"), **params
    )
    assert refused.status_code == 403, refused.content
    assert "insufficient_scope" in refused["WWW-Authenticate"]
    allowed = bearer(
        resource_type, token_for(get_token, everything, f"system/{resource_type}.rs"), **params
    )
    assert allowed.status_code == 200, allowed.content
    Bundle.model_validate(allowed.json())
