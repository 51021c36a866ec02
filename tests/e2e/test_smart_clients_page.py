"""A practice admin registers a SMART backend client in a real browser, on a phone and on a
desktop: the key set is refused with its reason, then accepted, and the client_id shown."""

import json

import pytest
from django.conf import settings
from django.test import Client
from jwcrypto import jwk
from playwright.sync_api import expect

from telehealth.smart.models import SmartClient
from tests.asgi_server import AsgiServer
from tests.conftest import sign_in
from tests.e2e.conftest import DESKTOP, PHONE, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def public_jwks() -> str:
    key = jwk.JWK.generate(kty="EC", crv="P-384", kid="hie-2026", alg="ES384", use="sig")
    return json.dumps({"keys": [json.loads(key.export_public())]})


@pytest.mark.parametrize(("viewport", "label"), [(PHONE, "phone"), (DESKTOP, "desktop")])
def test_practice_admin_registers_a_client(world, browser, viewport, label):
    client = sign_in(Client(), world.admin)
    with AsgiServer() as server:
        context = browser.new_context(viewport=viewport)
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": server.url,
                }
            ]
        )
        page = context.new_page()
        violations: list[str] = []
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{server.url}/")
        page.get_by_role("link", name="FHIR API clients").click()
        page.get_by_role("link", name="Add SMART backend client").click()
        page.get_by_label("Name").fill("County HIE")
        page.get_by_label("Public keys (JWKS)").fill(
            '{"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}'
        )
        page.get_by_label("Allowed scopes").fill("system/Patient.rs system/Observation.rs")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_text("holds private or secret material")).to_be_visible()
        screenshot(page, f"smart-client-refused-{label}")
        page.get_by_label("Public keys (JWKS)").fill(public_jwks())
        page.get_by_role("button", name="Save and continue editing").click()
        registered = SmartClient.objects.get()
        expect(page.get_by_text(registered.application.client_id)).to_be_visible()
        screenshot(page, f"smart-client-registered-{label}")
        context.close()
        assert violations == []
    assert registered.practice == world.practice
