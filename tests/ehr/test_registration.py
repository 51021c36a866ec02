"""A practice admin registers an EHR on the practice's settings (the scoped Django admin),
and sees the two addresses the EHR asks for."""

import pytest
from django.urls import reverse

from telehealth.ehr import smart
from telehealth.ehr.models import DEFAULT_SCOPES, EhrServer
from tests.conftest import sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


ADD = "admin:ehr_ehrserver_add"
PUBLIC_ADDRESS = "93.184.215.14"


@pytest.fixture(autouse=True)
def public_dns(monkeypatch):
    """EHR host names resolve to a public address (the machine has no DNS for them); a test
    that needs a name on a private network says so."""
    resolved = {"address": PUBLIC_ADDRESS}
    monkeypatch.setattr(smart, "addresses_of", lambda host, port: [resolved["address"]])
    return resolved


def form(**fields) -> dict:
    return {
        "name": "Epic sandbox",
        "iss": "https://FHIR.epic.com/interconnect-fhir-oauth/api/FHIR/R4/",
        "client_id": "0f7c-non-production",
        "scopes": DEFAULT_SCOPES,
        "patient_identifier_system": "",
        "is_active": "on",
        **fields,
    }


def test_practice_admin_registers_an_ehr_for_their_practice(client, world):
    sign_in(client, world.admin)
    page = client.get(reverse(ADD))
    assert page.status_code == 200
    assert b"http://localhost:8000/ehr/launch" in page.content
    assert b"http://localhost:8000/ehr/callback" in page.content
    response = client.post(reverse(ADD), form())
    assert response.status_code == 302, response.content[:2000]
    server = EhrServer.objects.get()
    assert server.practice == world.practice
    assert server.iss == "https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4"
    assert server.scopes == DEFAULT_SCOPES
    assert server.client_secret == ""


def test_confidential_client_needs_a_secret_which_is_never_shown_again(client, world):
    sign_in(client, world.admin)
    response = client.post(reverse(ADD), form(confidential="on"))
    assert response.status_code == 200
    assert b"needs its client secret" in response.content
    client.post(reverse(ADD), form(confidential="on", client_secret="s3cr3t-value"))
    server = EhrServer.objects.get()
    assert server.client_secret == "s3cr3t-value"
    change = reverse("admin:ehr_ehrserver_change", args=[server.pk])
    assert b"s3cr3t-value" not in client.get(change).content
    client.post(change, form(confidential="on", name="Renamed"))  # blank: keep the secret
    server.refresh_from_db()
    assert (server.name, server.client_secret) == ("Renamed", "s3cr3t-value")


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"iss": "http://ehr.example.org/fhir"}, b"must be an https address"),
        ({"iss": "https://ehr.example.org/fhir?x=1"}, b"without query or fragment"),
        ({"scopes": "patient/Patient.read"}, b"must include"),
        ({"client_secret": "x"}, b"A public client has no secret"),
    ],
)
def test_bad_registration_is_refused_with_the_reason(client, world, fields, error):
    sign_in(client, world.admin)
    response = client.post(reverse(ADD), form(**fields))
    assert response.status_code == 200
    assert error in response.content
    assert not EhrServer.objects.exists()


def test_another_practices_registration_is_not_listed_or_opened(client, world):
    theirs = EhrServer.objects.create(
        practice=world.outside_practice, name="Theirs", iss="https://b.example/fhir", client_id="b"
    )
    sign_in(client, world.admin)
    listing = client.get(reverse("admin:ehr_ehrserver_changelist"))
    assert listing.status_code == 200
    assert b"Theirs" not in listing.content
    opened = client.get(reverse("admin:ehr_ehrserver_change", args=[theirs.pk]))
    assert opened.status_code == 302  # the admin's "does not exist" redirect
    assert b"Theirs" not in client.get(opened["Location"]).content


def test_clinician_cannot_register_an_ehr(client, world):
    sign_in(client, world.clinician)
    assert client.get(reverse(ADD)).status_code == 302  # to the admin's own sign-in


def test_settings_home_links_to_the_registrations(client, world):
    sign_in(client, world.admin)
    home = client.get(reverse("home"))
    assert reverse("admin:ehr_ehrserver_changelist").encode() in home.content


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("https://EHR.example.org/FHIR/R4/", "https://ehr.example.org/FHIR/R4"),
        (" https://ehr.example.org:8443/fhir ", "https://ehr.example.org:8443/fhir"),
        ("https://ehr.example.org/fhir#x", ""),
        ("https://user:pw@ehr.example.org/fhir", ""),
        ("ftp://ehr.example.org/fhir", ""),
        ("ehr.example.org/fhir", ""),
    ],
)
def test_iss_normalisation(raw, normalised):
    assert smart.normalise_iss(raw) == normalised


@pytest.mark.parametrize(
    ("iss", "address"),
    [
        ("https://127.0.0.1/fhir", "127.0.0.1"),
        ("https://169.254.169.254/latest", "169.254.169.254"),
        ("https://ehr.internal.example/fhir", "10.0.0.5"),
    ],
)
def test_an_ehr_on_a_private_network_needs_the_operators_leave(
    client, world, settings, public_dns, iss, address
):
    public_dns["address"] = address
    settings.EHR_INSECURE_ORIGINS = []
    sign_in(client, world.admin)
    response = client.post(reverse(ADD), form(iss=iss))
    assert response.status_code == 200
    assert "public internet" in response.content.decode()
    assert not EhrServer.objects.exists()
    settings.EHR_INSECURE_ORIGINS = [smart.normalise_iss(iss).rsplit("/", 1)[0]]
    response = client.post(reverse(ADD), form(iss=iss))
    assert response.status_code == 302
