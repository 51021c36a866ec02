"""Registering SMART backend clients: a practice admin's setting, in the practice-scoped
admin; the key set is checked before it is saved; the service user never signs in."""

import json

import pytest
from django.contrib.auth.hashers import is_password_usable
from django.urls import reverse
from jwcrypto import jwk
from oauth2_provider.models import AccessToken, Application

from telehealth.accounts.models import Role
from telehealth.smart.models import SmartClient
from tests.conftest import PASSWORD, sign_in
from tests.smart.conftest import key_pair, public_jwks, register


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


ADD_URL = "admin:smart_smartclient_add"


def change_url(client: SmartClient) -> str:
    return reverse("admin:smart_smartclient_change", args=[client.pk])


def form_data(**changes) -> dict:
    data = {
        "name": "County HIE",
        "jwks": json.dumps(public_jwks(key_pair("ES384", "hie-1"))),
        "scopes": "system/Patient.rs  system/Observation.read",
        "is_active": "on",
    }
    data.update(changes)
    return data


def test_practice_admin_registers_a_client_for_their_practice(client, world):
    sign_in(client, world.admin)
    assert client.get(reverse(ADD_URL)).status_code == 200
    response = client.post(reverse(ADD_URL), form_data())
    assert response.status_code == 302, (
        response.context and response.context["adminform"].form.errors
    )
    registered = SmartClient.objects.get()
    assert registered.practice == world.practice
    assert registered.scopes == "system/Patient.rs system/Observation.read"
    user = registered.service_user
    assert (user.role, user.practice, user.is_staff) == (Role.PRACTICE_ADMIN, world.practice, False)
    assert not is_password_usable(user.password)
    assert not user.user_permissions.exists()
    application = registered.application
    assert application.authorization_grant_type == Application.GRANT_CLIENT_CREDENTIALS
    assert application.client_type == Application.CLIENT_CONFIDENTIAL
    page = client.get(change_url(registered)).content.decode()
    assert application.client_id in page


def test_settings_home_links_to_the_clients(client, world):
    sign_in(client, world.admin)
    page = client.get(reverse("home")).content.decode()
    assert reverse("admin:smart_smartclient_changelist") in page


def test_practice_admin_edits_the_keys_and_deactivates(client, world, vendor_keys):
    vendor = register(world.practice, "Regional EHR", scopes="system/*.rs", keys=vendor_keys)
    AccessToken.objects.create(
        application=vendor.client.application, token="t", expires="2099-01-01T00:00:00Z"
    )
    sign_in(client, world.admin)
    new_keys = public_jwks(key_pair("RS384", "rsa-2"))
    response = client.post(
        change_url(vendor.client), form_data(name="Regional EHR", jwks=json.dumps(new_keys))
    )
    assert response.status_code == 302
    vendor.client.refresh_from_db()
    assert [key["kid"] for key in vendor.client.jwks["keys"]] == ["rsa-2"]
    assert AccessToken.objects.count() == 1
    data = form_data(name="Regional EHR", jwks=json.dumps(new_keys))
    del data["is_active"]
    assert client.post(change_url(vendor.client), data).status_code == 302
    vendor.client.refresh_from_db()
    assert not vendor.client.is_active
    assert not vendor.client.service_user.is_active
    assert not AccessToken.objects.exists()


def rsa_1024_public() -> dict:
    key = jwk.JWK.generate(kty="RSA", size=1024, kid="small")
    return public_jwks(key)


JWKS_ERRORS = {
    "not json": ("{keys: [", "Enter a valid JSON"),
    "no keys": (json.dumps({"keys": []}), "non-empty"),
    "a private key": (
        json.dumps({"keys": [json.loads(key_pair("RS384", "priv").export_private())]}),
        "private or secret",
    ),
    "a shared secret": (
        json.dumps({"keys": [json.loads(jwk.JWK.generate(kty="oct", size=256, kid="s").export())]}),
        "private or secret",
    ),
    "rsa 1024": (json.dumps(rsa_1024_public()), "cannot verify RS384 or ES384"),
    "ec p-256": (
        json.dumps(public_jwks(jwk.JWK.generate(kty="EC", crv="P-256", kid="p256"))),
        "cannot verify RS384 or ES384",
    ),
    "no kid": (
        json.dumps({"keys": [json.loads(jwk.JWK.generate(kty="EC", crv="P-384").export_public())]}),
        "kid",
    ),
    "an encryption key": (
        json.dumps(public_jwks(jwk.JWK.generate(kty="EC", crv="P-384", kid="enc", use="enc"))),
        "cannot verify RS384 or ES384",
    ),
    "a malformed key": (
        json.dumps({"keys": [{"kty": "RSA", "kid": "x", "n": "?"}]}),
        "could not be read",
    ),
}


@pytest.mark.parametrize("case", sorted(JWKS_ERRORS))
def test_a_bad_key_set_is_shown_in_the_form_and_nothing_is_saved(client, world, case):
    jwks, message = JWKS_ERRORS[case]
    sign_in(client, world.admin)
    response = client.post(reverse(ADD_URL), form_data(jwks=jwks))
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors.get("jwks", []))
    assert message in errors
    assert message in response.content.decode().replace("&quot;", '"').replace("&#x27;", "'")
    assert not SmartClient.objects.exists()
    assert not Application.objects.exists()


def test_an_unknown_scope_is_shown_in_the_form(client, world):
    sign_in(client, world.admin)
    response = client.post(reverse(ADD_URL), form_data(scopes="system/Patient.rs launch/patient"))
    assert response.status_code == 200
    assert "launch/patient" in " ".join(response.context["adminform"].form.errors["scopes"])
    assert not SmartClient.objects.exists()


def test_a_second_client_of_the_same_name_is_a_form_error(client, world, vendor_keys):
    register(world.practice, "County HIE", scopes="system/*.rs", keys=vendor_keys)
    sign_in(client, world.admin)
    response = client.post(reverse(ADD_URL), form_data())
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors()
    assert SmartClient.objects.count() == 1


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.FRONT_DESK, Role.PATIENT])
def test_other_roles_cannot_open_the_registration(client, world, role):
    sign_in(client, world.user_for(role))
    for url in (reverse(ADD_URL), reverse("admin:smart_smartclient_changelist")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert client.post(reverse(ADD_URL), form_data()).status_code == 302
    assert not SmartClient.objects.exists()


def test_anonymous_is_sent_to_sign_in(client, world):
    response = client.get(reverse(ADD_URL))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_another_practices_client_is_neither_listed_nor_opened(client, world, outsider_keys):
    theirs = register(
        world.outside_practice, "Beta warehouse", scopes="system/*.rs", keys=outsider_keys
    )
    sign_in(client, world.admin)
    listing = client.get(reverse("admin:smart_smartclient_changelist")).content.decode()
    assert "Beta warehouse" not in listing
    # Django's admin answers an object outside the admin's rows by sending them to the index.
    response = client.get(change_url(theirs.client))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    response = client.post(change_url(theirs.client), form_data(is_active=""))
    assert response.status_code == 302
    theirs.client.refresh_from_db()
    assert theirs.client.is_active


def test_the_service_user_cannot_sign_in(client, world, vendor_keys):
    vendor = register(world.practice, "Regional EHR", scopes="system/*.rs", keys=vendor_keys)
    user = vendor.client.service_user
    # Even with a password set (a practice admin can set one on the staff page).
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    response = client.post(
        reverse("accounts:login"), {"username": user.email, "password": PASSWORD}
    )
    assert response.status_code == 200  # the form again, not a redirect in
    assert "_auth_user_id" not in client.session
    response = client.post(reverse("admin:login"), {"username": user.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session


def test_password_sign_in_of_ordinary_staff_still_works(client, world):
    response = client.post(
        reverse("accounts:login"), {"username": "desk@alpha.test", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(world.front_desk.pk)
